package api

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeServer is a small in-memory stand-in for podwired's API, for client
// tests only: it routes with the Route* patterns, so a client path that does
// not match a route fails here.
type fakeServer struct {
	mu          sync.Mutex
	networks    map[string]Network
	attachments map[string]Attachment
	agents      []string
}

func newFakeServer() *fakeServer {
	return &fakeServer{networks: map[string]Network{}, attachments: map[string]Attachment{}}
}

func (f *fakeServer) handler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn func(r *http.Request) (int, any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.agents = append(f.agents, r.UserAgent())
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
			status, v, err := fn(r)
			if err != nil {
				WriteError(w, err)
				return
			}
			if v == nil {
				w.WriteHeader(status)
				return
			}
			WriteJSON(w, status, v)
		})
	}
	h(RouteStatus, func(r *http.Request) (int, any, error) {
		return 200, Status{Version: "test", APIVersion: Version, Networks: len(f.networks)}, nil
	})
	h(RouteNetworks, func(r *http.Request) (int, any, error) {
		l := NetworkList{Networks: []Network{}}
		for _, n := range f.networks {
			l.Networks = append(l.Networks, n)
		}
		return 200, l, nil
	})
	h(RouteNetworkGet, func(r *http.Request) (int, any, error) {
		n, ok := f.networks[r.PathValue(PathName)]
		if !ok {
			return 0, nil, &Error{Status: 404, Message: "network " + r.PathValue(PathName) + " not found"}
		}
		return 200, n, nil
	})
	h(RouteNetworkPut, func(r *http.Request) (int, any, error) {
		var n Network
		if err := DecodeStrict(r.Body, &n); err != nil {
			return 0, nil, err
		}
		if n.Name != r.PathValue(PathName) {
			return 0, nil, &FieldError{Field: FieldName, Message: "does not match the path"}
		}
		if err := n.Validate(); err != nil {
			return 0, nil, err
		}
		f.networks[n.Name] = n
		return 200, n, nil
	})
	h(RouteNetworkDelete, func(r *http.Request) (int, any, error) {
		name := r.PathValue(PathName)
		if _, ok := f.networks[name]; !ok {
			return 0, nil, &Error{Status: 404, Message: "network " + name + " not found"}
		}
		delete(f.networks, name)
		return 204, nil, nil
	})
	h(RouteNetworkMACs, func(r *http.Request) (int, any, error) {
		return 200, MACList{Network: r.PathValue(PathName), MACs: []MACEntry{{MAC: "02:00:00:00:00:01", Port: "vhu0", Static: true}}}, nil
	})
	h(RouteAttachmentPut, func(r *http.Request) (int, any, error) {
		var a Attachment
		if err := DecodeStrict(r.Body, &a); err != nil {
			return 0, nil, err
		}
		if a.ContainerID != r.PathValue(PathContainerID) || a.IfName != r.PathValue(PathIfName) {
			return 0, nil, &FieldError{Field: FieldIfName, Message: "does not match the path: " + r.PathValue(PathIfName)}
		}
		if err := a.Validate(); err != nil {
			return 0, nil, err
		}
		a = a.Spec().WithDefaults()
		if old, ok := f.attachments[a.Key()]; ok {
			if field := old.SpecDiff(a); field != "" {
				return 0, nil, &Error{Status: 409, Field: field, Message: "attachment exists with another " + field}
			}
			return 200, old, nil
		}
		id := uint16(len(f.attachments))
		a.PortName, a.PortID, a.State, a.CreatedAt = "vhu"+a.IfName, &id, StateWaiting, time.Unix(1700000000, 0).UTC()
		f.attachments[a.Key()] = a
		return 201, a, nil
	})
	h(RouteAttachmentGet, func(r *http.Request) (int, any, error) {
		a, ok := f.attachments[r.PathValue(PathContainerID)+"/"+r.PathValue(PathIfName)]
		if !ok {
			return 0, nil, ErrNotFound
		}
		return 200, a, nil
	})
	h(RouteAttachmentDelete, func(r *http.Request) (int, any, error) {
		k := r.PathValue(PathContainerID) + "/" + r.PathValue(PathIfName)
		if _, ok := f.attachments[k]; !ok {
			return 0, nil, &Error{Status: 404, Message: "attachment " + k + " not found"}
		}
		delete(f.attachments, k)
		return 204, nil, nil
	})
	h(RouteAttachments, func(r *http.Request) (int, any, error) {
		l := AttachmentList{Attachments: []Attachment{}}
		for _, a := range f.attachments {
			l.Attachments = append(l.Attachments, a)
		}
		return 200, l, nil
	})
	h(RoutePorts, func(r *http.Request) (int, any, error) {
		return 200, PortList{Ports: []Port{{Name: "uplink", Kind: PortKindUplink, Link: Link{Up: true, SpeedMbps: 10000},
			Counters: Counters{RxPackets: 1, Drops: map[string]uint64{DropNoMbuf: 3}}}}}, nil
	})
	h(RouteCounters, func(r *http.Request) (int, any, error) {
		return 200, CounterReport{Ports: []PortCounters{{Port: "uplink", Counters: Counters{TxBytes: 1 << 40}}},
			Workers: []WorkerCounters{{Worker: 0, Lcore: 1, Counters: Counters{Drops: map[string]uint64{DropTxFull: 9}}}}}, nil
	})
	h(RouteWorkers, func(r *http.Request) (int, any, error) {
		return 200, WorkerList{Workers: []Worker{{ID: 0, Lcore: 1, CPU: 1, RxQueues: []QueueRef{{Port: "uplink", Queue: 0}}, Busy: 12.5}}}, nil
	})
	return mux
}

// shortDir is a temporary directory with a short path: unix socket paths
// must stay under 108 bytes, and t.TempDir's include the test name.
func shortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pwapi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// serve serves h on a unix socket in a new temporary directory until the
// test ends, and returns the socket's path.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(shortDir(t), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return sock
}

func TestClientRoundTrip(t *testing.T) {
	ctx := context.Background()
	fake := newFakeServer()
	c := New(serve(t, fake.handler()))
	c.UserAgent = "api-test"
	t.Cleanup(c.CloseIdleConnections)

	st, err := c.Status(ctx)
	if err != nil || st.Version != "test" || st.APIVersion != Version {
		t.Fatalf("Status = %+v, %v", st, err)
	}

	// Networks: put twice (idempotent), get, list, delete, delete again.
	blue := Network{Name: "blue", VLAN: 100}
	for i := 0; i < 2; i++ {
		got, err := c.PutNetwork(ctx, blue)
		if err != nil || got != blue {
			t.Fatalf("PutNetwork #%d = %+v, %v", i, got, err)
		}
	}
	if got, err := c.Network(ctx, "blue"); err != nil || got != blue {
		t.Fatalf("Network = %+v, %v", got, err)
	}
	if l, err := c.Networks(ctx); err != nil || !reflect.DeepEqual(l, []Network{blue}) {
		t.Fatalf("Networks = %+v, %v", l, err)
	}
	if m, err := c.MACs(ctx, "blue"); err != nil || len(m) != 1 || !m[0].Static {
		t.Fatalf("MACs = %+v, %v", m, err)
	}

	// Attachments, with an interface name that needs escaping in a path.
	a := Attachment{ContainerID: "c0ffee", IfName: "n%1#?é", Network: "blue", Kind: KindVhostUser, MAC: "02:00:00:00:00:0A"}
	got, err := c.PutAttachment(ctx, a)
	if err != nil {
		t.Fatalf("PutAttachment: %v", err)
	}
	if got.IfName != a.IfName || got.State != StateWaiting || got.PortID == nil || got.VhostMode != VhostClient || got.MAC != "02:00:00:00:00:0a" {
		t.Fatalf("PutAttachment = %+v", got)
	}
	if again, err := c.PutAttachment(ctx, a); err != nil || !again.CreatedAt.Equal(got.CreatedAt) {
		t.Fatalf("repeated PutAttachment = %+v, %v", again, err)
	}
	b := a
	b.Kind = KindMemif
	_, err = c.PutAttachment(ctx, b)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 409 || ae.Field != FieldKind || !errors.Is(err, ErrConflict) {
		t.Fatalf("conflicting PutAttachment = %v, want 409 on field kind", err)
	}
	if g, err := c.Attachment(ctx, a.ContainerID, a.IfName); err != nil || g.PortName != got.PortName {
		t.Fatalf("Attachment = %+v, %v", g, err)
	}
	if l, err := c.Attachments(ctx); err != nil || len(l) != 1 {
		t.Fatalf("Attachments = %+v, %v", l, err)
	}
	if err := c.DeleteAttachment(ctx, a.ContainerID, a.IfName); err != nil {
		t.Fatalf("DeleteAttachment: %v", err)
	}
	if err := c.DeleteAttachment(ctx, a.ContainerID, a.IfName); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteAttachment = %v, want ErrNotFound", err)
	}
	if _, err := c.Attachment(ctx, a.ContainerID, a.IfName); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Attachment after delete = %v", err)
	}
	if err := c.DeleteNetwork(ctx, "blue"); err != nil {
		t.Fatalf("DeleteNetwork: %v", err)
	}
	if err := c.DeleteNetwork(ctx, "blue"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteNetwork = %v, want ErrNotFound", err)
	}

	// Read-only views.
	ports, err := c.Ports(ctx)
	if err != nil || len(ports) != 1 || ports[0].Counters.Drops[DropNoMbuf] != 3 || ports[0].Link.String() != "up 10G" {
		t.Fatalf("Ports = %+v, %v", ports, err)
	}
	cr, err := c.Counters(ctx)
	if err != nil || cr.Ports[0].TxBytes != 1<<40 || cr.Workers[0].Drops[DropTxFull] != 9 {
		t.Fatalf("Counters = %+v, %v", cr, err)
	}
	ws, err := c.Workers(ctx)
	if err != nil || len(ws) != 1 || ws[0].RxQueues[0].Port != "uplink" || ws[0].Busy != 12.5 {
		t.Fatalf("Workers = %+v, %v", ws, err)
	}

	// Raw JSON, as podwirectl -o json uses it.
	var raw json.RawMessage
	if err := c.Do(ctx, http.MethodGet, "/v1/status", nil, &raw); err != nil || !strings.Contains(string(raw), `"apiVersion":"v1"`) {
		t.Fatalf("Do raw = %s, %v", raw, err)
	}
	for _, ua := range fake.agents {
		if ua != "api-test" {
			t.Fatalf("server saw User-Agent %q", ua)
		}
	}
}

func TestClientServerValidation(t *testing.T) {
	ctx := context.Background()
	c := New(serve(t, newFakeServer().handler()))
	t.Cleanup(c.CloseIdleConnections)

	// The server's own checks, reached with Do (the typed methods validate
	// first and would not send these).
	var out Network
	err := c.Do(ctx, http.MethodPut, NetworkPath("blue"), map[string]any{"name": "blue", "vlan": 5000}, &out)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Field != FieldVLAN || !errors.Is(err, ErrInvalid) {
		t.Fatalf("PUT vlan 5000 = %v, want 400 on vlan", err)
	}
	if !strings.HasPrefix(err.Error(), "podwired: vlan: ") || !strings.HasSuffix(err.Error(), "(400 Bad Request)") {
		t.Fatalf("error text %q", err.Error())
	}
	err = c.Do(ctx, http.MethodPut, NetworkPath("blue"), map[string]any{"name": "blue", "colour": "blue"}, &out)
	if !errors.As(err, &ae) || ae.Field != "colour" {
		t.Fatalf("PUT unknown field = %v", err)
	}

	// Client-side validation: nothing is sent.
	for _, call := range []func() error{
		func() error { _, err := c.PutNetwork(ctx, Network{Name: "../x"}); return err },
		func() error { return c.DeleteNetwork(ctx, "..") },
		func() error { _, err := c.Network(ctx, "a/b"); return err },
		func() error { _, err := c.MACs(ctx, ""); return err },
		func() error { return c.DeleteAttachment(ctx, "c1", "eth0/1") },
		func() error { _, err := c.Attachment(ctx, "../c1", "eth0"); return err },
		func() error {
			_, err := c.PutAttachment(ctx, Attachment{ContainerID: "c1", IfName: "eth0", Network: "n", Kind: KindKernel})
			return err
		},
	} {
		err := call()
		var fe *FieldError
		if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
			t.Errorf("got %v (%T), want *FieldError", err, err)
		}
	}
}

func TestClientNonJSONError(t *testing.T) {
	c := New(serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream exploded", http.StatusBadGateway)
	})))
	t.Cleanup(c.CloseIdleConnections)
	_, err := c.Status(context.Background())
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 502 || ae.Message != "upstream exploded" {
		t.Fatalf("Status = %v, want *Error 502 with the body as message", err)
	}
}

func TestClientUnreachable(t *testing.T) {
	dir := shortDir(t)
	ctx := context.Background()

	// No file at all.
	missing := filepath.Join(dir, "missing.sock")
	_, err := New(missing).Status(ctx)
	checkUnreachable(t, err, missing, syscall.ENOENT)

	// A socket file nobody listens on (podwired died without cleanup).
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	_, err = New(stale).Networks(ctx)
	checkUnreachable(t, err, stale, syscall.ECONNREFUSED)

	// A regular file.
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = New(plain).PutNetwork(ctx, Network{Name: "blue"})
	checkUnreachable(t, err, plain, syscall.ECONNREFUSED)

	// The default path when none is given.
	if New("").Socket() != DefaultSocket {
		t.Fatal("New(\"\") does not use DefaultSocket")
	}
}

func checkUnreachable(t testing.TB, err error, sock string, errno syscall.Errno) {
	t.Helper()
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	if !errors.Is(err, errno) {
		t.Errorf("errors.Is(%v, %v) = false", err, errno)
	}
	want := "podwired not reachable at " + sock + ": "
	if !strings.HasPrefix(err.Error(), want) || strings.Count(err.Error(), sock) != 1 {
		t.Errorf("message %q, want it to start with %q and name the socket once", err, want)
	}
}

func TestClientContext(t *testing.T) {
	release := make(chan struct{})
	c := New(serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})))
	defer close(release)
	t.Cleanup(c.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Status(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("Status with a hung server = %v, want DeadlineExceeded (not unreachable)", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}
