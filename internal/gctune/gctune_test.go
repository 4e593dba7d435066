package gctune

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"
)

func TestContainerMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		content string
		want    int64
		ok      bool
	}{
		{"536870912\n", 536870912, true},
		{"max\n", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"lots", 0, false},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ContainerMemoryLimit(dir)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("memory.max %q: got %d, %v; want %d, ok %v", tc.content, got, err, tc.want, tc.ok)
		}
	}
	if _, err := ContainerMemoryLimit(t.TempDir()); err == nil {
		t.Error("a missing memory.max gave no error")
	}
}

func TestApply(t *testing.T) {
	// Apply changes process-wide settings: put them back.
	oldPercent := debug.SetGCPercent(100)
	oldLimit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(oldPercent)
		debug.SetMemoryLimit(oldLimit)
	})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte("1000000000\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	none := func(string) (string, bool) { return "", false }
	s := Apply(none, dir)
	if s.GCPercent != DefaultGCPercent || debug.SetGCPercent(DefaultGCPercent) != DefaultGCPercent {
		t.Errorf("GC percent: applied %d", s.GCPercent)
	}
	if s.MemoryLimit != 900000000 || debug.SetMemoryLimit(-1) != 900000000 {
		t.Errorf("memory limit: applied %d", s.MemoryLimit)
	}

	// The environment wins: nothing is touched.
	debug.SetGCPercent(100)
	set := func(k string) (string, bool) { return "50", k == "GOGC" || k == "GOMEMLIMIT" }
	if s := Apply(set, dir); s != (Settings{}) {
		t.Errorf("with GOGC and GOMEMLIMIT set, Apply set %+v", s)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent changed to %d despite GOGC", got)
	}
}

func TestReleaserAtMostOncePerInterval(t *testing.T) {
	r := NewReleaser(time.Minute)
	now := time.Unix(1000, 0)
	freed := 0
	r.now = func() time.Time { return now }
	r.free = func() { freed++ }
	for _, step := range []struct {
		after time.Duration
		want  bool
	}{{0, true}, {time.Second, false}, {58 * time.Second, false}, {time.Second, true}, {0, false}} {
		now = now.Add(step.after)
		if got := r.Release(); got != step.want {
			t.Fatalf("Release at %v: %v, want %v", now, got, step.want)
		}
	}
	if freed != 2 {
		t.Fatalf("freed %d times, want 2", freed)
	}
}
