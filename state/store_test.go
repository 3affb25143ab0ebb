package state

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podwire/podwire/api"
)

func intp(v int) *int { return &v }

// logBuffer collects a Store's log output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// openStore opens a Store on dir (a new temporary directory if empty),
// logging into the returned buffer, and closes it when the test ends.
func openStore(t testing.TB, dir string) (*Store, *logBuffer) {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	logs := &logBuffer{}
	s, err := Open(dir, WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

func sampleState() State {
	return State{
		Networks: []api.Network{
			{Name: "red", VLAN: 20},
			{Name: "blue", VLAN: 10, MaxMACs: 1024, MACAgeingSeconds: 60},
		},
		Attachments: []api.Attachment{
			{ContainerID: "ffff", IfName: "net1", Network: "red", Kind: api.KindMemif, Queues: 2,
				PortName: "memif0", State: api.StateUp, SocketPath: "/run/podwire/x/memif.sock", CreatedAt: time.Now()},
			{ContainerID: "aaaa", IfName: "eth0", Network: "blue", Kind: api.KindKernel, Netns: "/var/run/netns/cni-1",
				MAC: "02:00:00:00:00:01", OwnerUID: intp(1000), OwnerGID: intp(0), SocketMode: "0660"},
			{ContainerID: "aaaa", IfName: "net1", Network: "blue", Kind: api.KindVhostUser, VhostMode: api.VhostClient},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	s, logs := openStore(t, "")
	st := sampleState()
	if err := s.Save(st); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := normalize(st)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %+v\nwant %+v", got, want)
	}
	// Sorted by key, status dropped, version set.
	if got.Version != FormatVersion || got.Networks[0].Name != "blue" || got.Attachments[0].IfName != "eth0" ||
		got.Attachments[2].ContainerID != "ffff" || got.Attachments[2].PortName != "" || !got.Attachments[2].CreatedAt.IsZero() {
		t.Fatalf("Load = %+v", got)
	}
	// The caller's State is not modified.
	if st.Attachments[0].PortName != "memif0" || st.Networks[0].Name != "red" {
		t.Fatal("Save modified its argument")
	}
	// Mode 0600, and a second Save keeps the first as state.json.prev.
	fi, err := os.Stat(filepath.Join(s.Dir(), FileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state.json: %v, %v", fi.Mode(), err)
	}
	st2 := State{Networks: []api.Network{{Name: "green"}}}
	if err := s.Save(st2); err != nil {
		t.Fatal(err)
	}
	prev, err := readFile(filepath.Join(s.Dir(), PrevFileName))
	if err != nil || !reflect.DeepEqual(prev, want) {
		t.Fatalf("state.json.prev = %+v, %v", prev, err)
	}
	if got, err := s.Load(); err != nil || !reflect.DeepEqual(got, normalize(st2)) {
		t.Fatalf("Load after second Save = %+v, %v", got, err)
	}
	assertNoTemp(t, s.Dir())
	if logs.String() != "" {
		t.Fatalf("unexpected logs: %s", logs)
	}
}

func TestLoadEmptyDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "state")
	s, _ := openStore(t, dir)
	st, err := s.Load()
	if err != nil || st.Version != FormatVersion || len(st.Networks) != 0 || len(st.Attachments) != 0 || st.Networks == nil {
		t.Fatalf("Load of a new directory = %+v, %v", st, err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir: %v %v", fi.Mode(), err)
	}
}

func TestConcurrentSave(t *testing.T) {
	s, _ := openStore(t, "")
	const n = 16
	states := make([]State, n)
	for i := range states {
		states[i] = genState(i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n*5)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				errs <- s.Save(states[i])
			}
		}()
	}
	// Loads run alongside and always see one whole state.
	stop := make(chan struct{})
	loadErr := make(chan error, 1)
	go func() {
		defer close(loadErr)
		for {
			select {
			case <-stop:
				return
			default:
			}
			st, err := s.Load()
			if err != nil {
				loadErr <- err
				return
			}
			if len(st.Networks) > 0 {
				if _, ok := genOf(st); !ok {
					loadErr <- fmt.Errorf("Load returned a state nobody saved: %+v", st)
					return
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Save: %v", err)
		}
	}
	if err := <-loadErr; err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{FileName, PrevFileName} {
		st, err := readFile(filepath.Join(s.Dir(), name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := genOf(st); !ok {
			t.Fatalf("%s holds a state nobody saved: %+v", name, st)
		}
	}
	assertNoTemp(t, s.Dir())
}

func assertNoTemp(t testing.TB, dir string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*tmp*"))
	if len(m) > 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}

// damage returns ways to damage a state file's bytes.
func damages() map[string]func([]byte) []byte {
	return map[string]func([]byte) []byte{
		"truncated":  func(b []byte) []byte { return b[:len(b)*2/3] },
		"empty":      func(b []byte) []byte { return nil },
		"zeros":      func(b []byte) []byte { return make([]byte, len(b)) },
		"bit flip":   func(b []byte) []byte { return bytes.Replace(b, []byte(`"name": "`), []byte(`"name": "x`), 1) },
		"not json":   func(b []byte) []byte { return append([]byte("#"), b...) },
		"no state":   func(b []byte) []byte { return []byte(`{"sha256":"00"}`) },
		"null state": func(b []byte) []byte { return []byte(`{"state":null}`) },
	}
}

func TestDamagedWithoutPrev(t *testing.T) {
	for name, damage := range damages() {
		t.Run(name, func(t *testing.T) {
			s, _ := openStore(t, "")
			if err := s.Save(sampleState()); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(s.Dir(), FileName)
			b, _ := os.ReadFile(path)
			if err := os.WriteFile(path, damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := s.Load()
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Load = %+v, %v; want a *CorruptError", st, err)
			}
			if ce.Path != path || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "no "+PrevFileName) {
				t.Fatalf("error %q does not name %s and say there is no fallback", err, path)
			}
			if name == "truncated" && !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("error %q does not say truncated", err)
			}
			if st.Networks != nil || st.Attachments != nil {
				t.Fatalf("Load returned state with its error: %+v", st)
			}
			// Still there, for the operator to look at.
			if _, err := os.Stat(path); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDamagedFallsBackToPrev(t *testing.T) {
	for name, damage := range damages() {
		t.Run(name, func(t *testing.T) {
			s, logs := openStore(t, "")
			first, second := sampleState(), genState(7)
			if err := s.Save(first); err != nil {
				t.Fatal(err)
			}
			if err := s.Save(second); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(s.Dir(), FileName)
			b, _ := os.ReadFile(path)
			damaged := damage(b)
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := s.Load()
			if err != nil || !reflect.DeepEqual(got, normalize(first)) {
				t.Fatalf("Load = %+v, %v; want the previous state", got, err)
			}
			if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "damaged") || !strings.Contains(l, PrevFileName) {
				t.Fatalf("no warning logged: %q", l)
			}
			aside, _ := filepath.Glob(path + corruptInfix + "*")
			if len(aside) != 1 {
				t.Fatalf("damaged file not moved aside: %v", aside)
			}
			if kept, _ := os.ReadFile(aside[0]); !bytes.Equal(kept, damaged) {
				t.Fatal("the file moved aside is not the damaged file")
			}
			// Until the next Save, Load keeps using the previous state.
			if got, err := s.Load(); err != nil || !reflect.DeepEqual(got, normalize(first)) {
				t.Fatalf("second Load = %+v, %v", got, err)
			}
			// A Save recovers; the previous file stays the last good one.
			third := genState(9)
			if err := s.Save(third); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Load(); err != nil || !reflect.DeepEqual(got, normalize(third)) {
				t.Fatalf("Load after recovery = %+v, %v", got, err)
			}
			if p, err := readFile(filepath.Join(s.Dir(), PrevFileName)); err != nil || !reflect.DeepEqual(p, normalize(first)) {
				t.Fatalf("state.json.prev = %+v, %v", p, err)
			}
		})
	}
}

func TestDamagedCurrentIsNotRotated(t *testing.T) {
	// A Save over a damaged state.json (nobody called Load) must not make
	// the damaged file the previous state.
	s, logs := openStore(t, "")
	if err := s.Save(sampleState()); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(genState(1)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.Dir(), FileName)
	if err := os.WriteFile(path, []byte(`{"state":`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(genState(2)); err != nil {
		t.Fatal(err)
	}
	if p, err := readFile(filepath.Join(s.Dir(), PrevFileName)); err != nil || !reflect.DeepEqual(p, normalize(sampleState())) {
		t.Fatalf("state.json.prev = %+v, %v", p, err)
	}
	if !strings.Contains(logs.String(), "not keeping") {
		t.Fatalf("no warning: %q", logs)
	}
}

func TestMissingCurrentWithPrev(t *testing.T) {
	s, logs := openStore(t, "")
	if err := s.Save(sampleState()); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(genState(3)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(s.Dir(), FileName)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil || !reflect.DeepEqual(got, normalize(sampleState())) {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	if !strings.Contains(logs.String(), "missing") {
		t.Fatalf("no warning: %q", logs)
	}
	// Missing current and a damaged previous file: an error, not empty state.
	if err := os.WriteFile(filepath.Join(s.Dir(), PrevFileName), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Load(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load = %+v, %v; want ErrCorrupt", st, err)
	}
}

func TestIntactButInvalid(t *testing.T) {
	// Problems in an intact file are errors, with no fallback even when a
	// good previous file exists.
	tests := []struct {
		name, state, want string
	}{
		{"newer version", `{"version":2,"networks":[],"attachments":[]}`, "format version 2"},
		{"version 0", `{"networks":[],"attachments":[]}`, "format version 0"},
		{"unknown field", `{"version":1,"networks":[],"attachments":[],"routes":[]}`, `unknown field "routes"`},
		{"invalid network", `{"version":1,"networks":[{"name":"a/b"}],"attachments":[]}`, `networks[0] "a/b": name:`},
		{"invalid attachment", `{"version":1,"networks":[],"attachments":[{"containerID":"c","ifName":"eth0:1","network":"n","kind":"memif"}]}`, "attachments[0] c/eth0:1: ifName:"},
		{"duplicate network", `{"version":1,"networks":[{"name":"a"},{"name":"a"}],"attachments":[]}`, `network "a" appears twice`},
		{"duplicate attachment", `{"version":1,"networks":[],"attachments":[
			{"containerID":"c","ifName":"e","network":"n","kind":"memif"},{"containerID":"c","ifName":"e","network":"m","kind":"memif"}]}`, "attachment c/e appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openStore(t, "")
			if err := s.Save(sampleState()); err != nil {
				t.Fatal(err)
			}
			if err := s.Save(sampleState()); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(s.Dir(), FileName)
			// No checksum: as if edited by hand.
			if err := os.WriteFile(path, []byte(`{"state":`+tt.state+`}`), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := s.Load()
			if err == nil || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Load = %v; want an error naming %s and containing %q", err, path, tt.want)
			}
		})
	}
}

func TestHandEditedWithoutChecksum(t *testing.T) {
	s, _ := openStore(t, "")
	doc := `{"state": {"version": 1, "networks": [{"name": "blue", "vlan": 5}], "attachments": []}}`
	if err := os.WriteFile(filepath.Join(s.Dir(), FileName), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := s.Load()
	if err != nil || len(st.Networks) != 1 || st.Networks[0].VLAN != 5 {
		t.Fatalf("Load = %+v, %v", st, err)
	}
}

func TestSaveRejectsInvalid(t *testing.T) {
	s, _ := openStore(t, "")
	if err := s.Save(sampleState()); err != nil {
		t.Fatal(err)
	}
	bad := sampleState()
	bad.Attachments = append(bad.Attachments, bad.Attachments[0])
	if err := s.Save(bad); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Fatalf("Save with a duplicate = %v", err)
	}
	bad = State{Networks: []api.Network{{Name: "x", VLAN: 5000}}}
	var fe *api.FieldError
	if err := s.Save(bad); !errors.As(err, &fe) || fe.Field != api.FieldVLAN {
		t.Fatalf("Save with vlan 5000 = %v", err)
	}
	if got, err := s.Load(); err != nil || !reflect.DeepEqual(got, normalize(sampleState())) {
		t.Fatalf("a refused Save changed the state: %+v, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), PrevFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused Save rotated state.json.prev: %v", err)
	}
	assertNoTemp(t, s.Dir())
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	s, _ := openStore(t, dir)
	_, err := Open(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second Open = %v, want ErrLocked naming our pid", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Load after Close = %v", err)
	}
	if err := s.Save(State{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close = %v", err)
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

func TestOpenRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"state.json.tmp-123", "state.json.tmp-x", prevTmpName} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, logs := openStore(t, dir)
	assertNoTemp(t, s.Dir())
	if strings.Count(logs.String(), "interrupted save") != 3 {
		t.Fatalf("logs: %q", logs)
	}
}
