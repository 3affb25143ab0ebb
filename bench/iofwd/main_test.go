package iofwd

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
)

// inCI reports whether a missing prerequisite must fail instead of skip.
func inCI() bool { v, _ := strconv.ParseBool(os.Getenv("CI")); return v }

// needPrereq skips (or, under CI=true, fails) when a prerequisite is missing.
func needPrereq(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if inCI() {
		t.Fatalf("missing prerequisite under CI: %s", what)
	}
	t.Skip("missing prerequisite: " + what)
}

// The EAL can be initialized once per process, so the tests that need it
// share one Forwarder, made on first use: the parser and statistics tests
// run without hugepages.
var shared struct {
	once sync.Once
	fwd  *Forwarder
	err  error
}

func testForwarder(t testing.TB) *Forwarder {
	t.Helper()
	shared.once.Do(func() {
		shared.fwd, shared.err = NewForwarder(slog.New(slog.NewTextHandler(io.Discard, nil)), DefaultSetup)
	})
	needPrereq(t, shared.err == nil, fmt.Sprintf("a working EAL (hugepages: run scripts/setup-node.sh): %v", shared.err))
	checkPool(t, shared.fwd)
	return shared.fwd
}

// checkPool registers a check that the test leaves no mbuf in use.
func checkPool(t testing.TB, f *Forwarder) {
	t.Helper()
	t.Cleanup(func() {
		if n := f.pool.InUse(); n != 0 {
			t.Errorf("mempool: %d mbufs in use after the test", n)
		}
	})
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.fwd != nil {
		if err := shared.fwd.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: forwarder close:", err)
			code = 1
		}
	}
	os.Exit(code)
}
