# agentgate: one static binary in a small non-root image.
#
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t agentgate .
#   docker run --rm -p 8080:8080 agentgate
#
# Railway builds this file as it is (see .railway/railway.ts and
# docs/deploy.md); it passes the commit as RAILWAY_GIT_COMMIT_SHA when the
# service deploys from GitHub.

# The exact Go release that go.mod names, so the build needs no toolchain
# download and matches what the tests ran with.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src

# Dependencies get their own layer: it is rebuilt only when go.mod or go.sum
# change. This is a layer cache rather than a `RUN --mount=type=cache`,
# because Railway's builder refuses cache mounts whose id does not start with
# the Railway service's id (`id=s/<service id>-...`), which no portable
# Dockerfile can know; docs/deploy.md shows how to add one for a given service.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
ARG VERSION
ARG RAILWAY_GIT_COMMIT_SHA
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION:-${RAILWAY_GIT_COMMIT_SHA:-dev}}" \
      -o /out/agentgate ./cmd/server

# distroless/static rather than scratch: it ships CA certificates (for
# rediss:// and any outbound TLS), /etc/passwd with the nonroot user (65532),
# tzdata and /tmp, and nothing else: no shell, no package manager. The binary
# is static (CGO_ENABLED=0), so it needs no libc.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/agentgate /agentgate
USER nonroot:nonroot
# The server reads PORT (Railway sets its own) and listens on all interfaces,
# IPv4 and IPv6.
ENV PORT=8080
EXPOSE 8080
# Exec form: the binary is PID 1 and receives SIGTERM itself, so it can drain.
ENTRYPOINT ["/agentgate"]
