// Validates AG-UI values with the official 1.0 schemas of @ag-ui/core. It
// reads one JSON value per line from stdin, {"kind": "event" | "input",
// "value": ...}, and writes one line per value: "ok", or what the schema
// refused. An event is checked against the schema of its own type, made
// strict, so that a field AG-UI does not know is refused too (the client
// would strip it).
import * as schemas from "@ag-ui/core/schemas";
import { createInterface } from "node:readline";

function schemaOf(kind, value) {
  if (kind === "input") return schemas.RunAgentInputSchema.strict();
  const name = String(value.type).toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c) => c.toUpperCase());
  const schema = schemas[`${name}EventSchema`];
  if (!schema) throw new Error(`no schema for event type ${value.type}`);
  return schema.strict();
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const { kind, value } = JSON.parse(line);
  const parsed = schemaOf(kind, value).safeParse(value);
  console.log(parsed.success ? "ok" : JSON.stringify(parsed.error.issues));
}
