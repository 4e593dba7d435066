package bridge

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLockOrder checks the lock order of the package doc on the package's
// source: every lock of the bridge is a leaf, taken with no other held and
// released before anything but a leaf operation is called, and kick, which
// the engine calls with its fan-out lock held, takes no lock at all. A new
// nesting (a lock taken under another, a call into the Follower, the
// engine, gorilla or the edge with a lock held) fails here, and
// whoever adds it must write the new order down in the package doc and
// here.
//
// The check is syntactic: a lock is held from X.Lock() to X.Unlock() in
// the same block, to the end of the function after defer X.Unlock(), and in
// the whole of a function whose name ends in Locked; a branch that unlocks
// must return. Calls made with a lock held must be in isLeafCall.
func TestLockOrder(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) < 10 {
		t.Fatalf("found %d files of the package; run the test in its directory", len(files))
	}
	for _, v := range checkLocks(fset, files) {
		t.Error(v)
	}
	if v := checkNoLock(fset, files, "writer.kick", "Load", "CompareAndSwap"); v != "" {
		t.Error(v)
	}
}

// TestLockOrderCheckerCatches feeds the checker the mistakes it is there to
// catch, so that TestLockOrder passing means something.
func TestLockOrderCheckerCatches(t *testing.T) {
	t.Parallel()
	const src = `package p
func (t *T) nested() { t.mu.Lock(); t.other.Lock(); t.other.Unlock(); t.mu.Unlock() }
func (t *T) deferred() { t.mu.Lock(); defer t.mu.Unlock(); t.f.Close() }
func (t *T) branch() { t.mu.Lock(); if t.x { t.mu.Unlock(); return }; t.f.Follow(); t.mu.Unlock() }
func (t *T) loop() { for { t.mu.Lock(); t.w.kick(); t.mu.Unlock() } }
func (t *T) helperLocked() { t.f.Close() }
func (t *T) kick() { t.mu.Lock(); t.mu.Unlock() }
func (t *T) fine() { t.mu.Lock(); n := len(t.q); t.q = append(t.q, n); t.mu.Unlock(); t.f.Close() }
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(checkLocks(fset, []*ast.File{f}), "\n")
	for _, want := range []string{"T.nested takes t.other while holding t.mu", "T.deferred calls Close",
		"T.branch calls Follow", "T.loop calls kick", "T.helperLocked calls Close"} {
		if !strings.Contains(got, want) {
			t.Errorf("the checker missed %q; it said:\n%s", want, got)
		}
	}
	if strings.Contains(got, "T.fine") {
		t.Errorf("the checker flagged T.fine:\n%s", got)
	}
	if v := checkNoLock(fset, []*ast.File{f}, "T.kick", "Load"); !strings.Contains(v, "T.kick takes t.mu") {
		t.Errorf("checkNoLock missed the lock in T.kick: %q", v)
	}
}

// isLeafCall reports what the bridge may call with a lock held: builtins, the
// package's pure helpers and clip's, and the standard library's leaf
// operations (an atomic, a sync.Map, a WaitGroup's Add, a context's cancel,
// the clock, a timer's Reset and Stop, a deadline or a write on the network
// connection, which take no lock but the runtime's own). Functions named
// …Locked run with the lock held and are checked as such.
func isLeafCall(name string) bool {
	switch name {
	case "append", "cap", "clear", "close", "copy", "delete", "len", "make", "max", "min", "new",
		"putBuf", "getBuf", "clip.String", "invalidFrame", "appendTextHeader", "textPayload",
		"fmt.Sprintf", "time.Now",
		"Load", "Store", "Delete", "Add", "cancel", "IsZero", "After", "Sub", "Reset", "Stop", "Equal", "Before",
		"SetReadDeadline", "SetWriteDeadline", "Write":
		return true
	}
	return strings.HasSuffix(name, "Locked")
}

// checkLocks returns the places in files where a lock is taken or a call
// is made that the lock order does not allow.
func checkLocks(fset *token.FileSet, files []*ast.File) []string {
	lc := &lockChecker{fset: fset}
	for _, f := range files {
		lc.imports = map[string]bool{}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			name := p[strings.LastIndex(p, "/")+1:]
			if im.Name != nil {
				name = im.Name.Name
			}
			lc.imports[name] = true
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil {
				lc.fn = funcName(fd)
				held := ""
				if strings.HasSuffix(fd.Name.Name, "Locked") {
					held = "the caller's lock"
				}
				lc.block(fd.Body.List, held)
			}
		}
	}
	return lc.out
}

type lockChecker struct {
	fset    *token.FileSet
	imports map[string]bool // the package names of the file
	fn      string          // the function being checked
	out     []string
}

func (lc *lockChecker) report(n ast.Node, format string, args ...any) {
	lc.out = append(lc.out, fmt.Sprintf("%s: %s %s", lc.fset.Position(n.Pos()), lc.fn, fmt.Sprintf(format, args...)))
}

func (lc *lockChecker) block(stmts []ast.Stmt, held string) {
	for _, st := range stmts {
		held = lc.stmt(st, held)
	}
}

// stmt checks a statement run with held ("" for no lock) and returns the
// lock held after it. A branch does not change what is held after it: one
// that unlocks returns.
func (lc *lockChecker) stmt(st ast.Stmt, held string) string {
	switch s := st.(type) {
	case *ast.ExprStmt:
		switch x, op := lockOp(s.X); op {
		case "Lock":
			if held != "" {
				lc.report(s, "takes %s while holding %s", x, held)
			}
			return x
		case "Unlock":
			return ""
		}
	case *ast.DeferStmt:
		if _, op := lockOp(s.Call); op == "Unlock" {
			return held
		}
	case *ast.LabeledStmt:
		return lc.stmt(s.Stmt, held)
	case *ast.BlockStmt:
		lc.block(s.List, held)
		return held
	case *ast.IfStmt:
		lc.header(held, s.Init, s.Cond)
		lc.block(s.Body.List, held)
		if s.Else != nil {
			lc.stmt(s.Else, held)
		}
		return held
	case *ast.ForStmt:
		lc.header(held, s.Init, s.Cond, s.Post)
		lc.block(s.Body.List, held)
		return held
	case *ast.RangeStmt:
		lc.header(held, s.X)
		lc.block(s.Body.List, held)
		return held
	case *ast.SwitchStmt:
		lc.header(held, s.Init, s.Tag)
		lc.clauses(s.Body, held)
		return held
	case *ast.TypeSwitchStmt:
		lc.header(held, s.Init, s.Assign)
		lc.clauses(s.Body, held)
		return held
	case *ast.SelectStmt:
		lc.clauses(s.Body, held)
		return held
	case *ast.GoStmt:
		return held // runs elsewhere
	}
	if held != "" {
		lc.calls(st, held)
	}
	return held
}

func (lc *lockChecker) clauses(body *ast.BlockStmt, held string) {
	for _, c := range body.List {
		switch c := c.(type) {
		case *ast.CaseClause:
			for _, e := range c.List {
				lc.header(held, e)
			}
			lc.block(c.Body, held)
		case *ast.CommClause:
			if c.Comm != nil {
				lc.header(held, c.Comm)
			}
			lc.block(c.Body, held)
		}
	}
}

// header checks the expressions and simple statements of a compound
// statement's header.
func (lc *lockChecker) header(held string, nodes ...ast.Node) {
	if held == "" {
		return
	}
	for _, n := range nodes {
		if n != nil {
			lc.calls(n, held)
		}
	}
}

// calls reports every call in n that may not be made with held held. The
// bodies of function literals run later and are not checked.
func (lc *lockChecker) calls(n ast.Node, held string) {
	ast.Inspect(n, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.CallExpr:
			if name, ok := lc.callee(n); !ok {
				lc.report(n, "calls %s while holding %s", name, held)
			}
		}
		return true
	})
}

// callee names what a call calls and reports whether it is a leaf call.
// Conversions ([]byte(x)) are leaves.
func (lc *lockChecker) callee(call *ast.CallExpr) (string, bool) {
	var name string
	switch f := call.Fun.(type) {
	case *ast.Ident:
		name = f.Name
	case *ast.SelectorExpr:
		name = f.Sel.Name
		if id, ok := f.X.(*ast.Ident); ok && lc.imports[id.Name] {
			name = id.Name + "." + name
		}
	default:
		return types.ExprString(call.Fun), true
	}
	return name, isLeafCall(name)
}

// lockOp recognizes X.Lock() and X.Unlock() (and their R forms).
func lockOp(e ast.Expr) (x, op string) {
	call, ok := e.(*ast.CallExpr)
	if !ok || len(call.Args) != 0 {
		return "", ""
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return "", ""
	}
	switch sel.Sel.Name {
	case "Lock", "RLock":
		return types.ExprString(sel.X), "Lock"
	case "Unlock", "RUnlock":
		return types.ExprString(sel.X), "Unlock"
	}
	return "", ""
}

// checkNoLock checks that the function fn (Type.method) takes no lock and
// calls nothing but allowed, outside the goroutines it starts.
func checkNoLock(fset *token.FileSet, files []*ast.File, fn string, allowed ...string) string {
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || funcName(fd) != fn {
				continue
			}
			var v []string
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.GoStmt, *ast.FuncLit:
					return false
				case *ast.CallExpr:
					if x, op := lockOp(n); op == "Lock" {
						v = append(v, fmt.Sprintf("%s: %s takes %s", fset.Position(n.Pos()), fn, x))
					} else if sel, ok := n.Fun.(*ast.SelectorExpr); !ok || !contains(allowed, sel.Sel.Name) {
						v = append(v, fmt.Sprintf("%s: %s calls %s", fset.Position(n.Pos()), fn, types.ExprString(n.Fun)))
					}
				}
				return true
			})
			return strings.Join(v, "\n")
		}
	}
	return fn + " not found"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// funcName is Type.method, or the function's name.
func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	return types.ExprString(t) + "." + fd.Name.Name
}
