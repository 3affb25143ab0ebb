package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podwire/podwire/api"
)

// cannedServer answers podwirectl's requests with fixed responses, on a real
// unix socket, and records what it was sent. For CLI tests only.
type cannedServer struct {
	mu       sync.Mutex
	requests []string // "PUT /v1/networks/blue {...}"
	agent    string
}

func (s *cannedServer) handler() http.Handler {
	mux := http.NewServeMux()
	reply := func(pattern string, status int, body any) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			s.mu.Lock()
			s.requests = append(s.requests, strings.TrimSpace(r.Method+" "+r.URL.EscapedPath()+" "+string(b)))
			s.agent = r.UserAgent()
			s.mu.Unlock()
			switch v := body.(type) {
			case nil:
				w.WriteHeader(status)
			case error:
				api.WriteError(w, v)
			default:
				api.WriteJSON(w, status, v)
			}
		})
	}
	reply(api.RouteStatus, 200, api.Status{Version: "v9", APIVersion: "v1", StartedAt: time.Now().Add(-time.Hour), Workers: 1})
	reply(api.RouteNetworks, 200, api.NetworkList{Networks: []api.Network{{Name: "blue", VLAN: 10}}})
	reply(api.RouteNetworkPut, 200, api.Network{Name: "blue", VLAN: 10})
	reply(api.RouteNetworkDelete, 204, nil)
	reply("DELETE /v1/networks/red", 0, &api.Error{Status: 404, Message: "network red not found"})
	reply(api.RouteNetworkMACs, 200, api.MACList{Network: "blue", MACs: []api.MACEntry{{MAC: "02:00:00:00:00:01", Port: "vhu0", Static: true}}})
	reply(api.RouteAttachmentPut, 201, api.Attachment{ContainerID: "c0ffee", IfName: "net1", Network: "blue", Kind: api.KindVhostUser,
		VhostMode: api.VhostClient, PortName: "vhu0", SocketPath: "/run/podwire/pods/c0ffee/net1.sock", State: api.StateWaiting})
	reply("PUT /v1/attachments/bad/net1", 0, &api.Error{Status: 409, Field: "kind", Message: "attachment bad/net1 exists with another kind"})
	reply(api.RouteAttachmentDelete, 204, nil)
	reply(api.RouteCounters, 200, api.CounterReport{Ports: []api.PortCounters{{Port: "uplink", Counters: api.Counters{Drops: map[string]uint64{"tx_full": 5}}}}})
	reply(api.RouteWorkers, 500, &api.Error{Status: 500, Message: "workers are restarting"})
	return mux
}

func serveCanned(t testing.TB) (string, *cannedServer) {
	t.Helper()
	dir, err := os.MkdirTemp("", "pwctl") // short: socket paths stay under 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	cs := &cannedServer{}
	srv := &http.Server{Handler: cs.handler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return sock, cs
}

func runCLI(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, noEnv, &o, &e)
	return code, o.String(), e.String()
}

func TestCLI(t *testing.T) {
	sock, cs := serveCanned(t)
	tests := []struct {
		args    []string
		code    int
		stdout  string // substring
		stderr  string // exact, when not ""
		request string // what the server saw, when not ""
	}{
		{args: []string{"status"}, stdout: "podwired  v9 (api v1)\n", request: "GET /v1/status"},
		{args: []string{"networks"}, stdout: "NAME  VLAN  MAX MACS  MAC AGEING\nblue  10    default   default\n"},
		{args: []string{"network", "add", "blue", "--vlan", "10"}, stdout: "blue  10",
			request: `PUT /v1/networks/blue {"name":"blue","vlan":10}`},
		{args: []string{"network", "del", "blue"}, stdout: "deleted network blue\n", request: "DELETE /v1/networks/blue"},
		{args: []string{"network", "del", "red"}, code: 1, stderr: "podwirectl: podwired: network red not found (404 Not Found)\n"},
		{args: []string{"macs", "blue"}, stdout: "02:00:00:00:00:01  vhu0  static  -\n", request: "GET /v1/networks/blue/macs"},
		{args: []string{"attach", "c0ffee", "net1", "--network", "blue", "--kind", "vhostuser", "--socket-mode", "660"},
			stdout:  "socket      /run/podwire/pods/c0ffee/net1.sock\nstate       waiting\n",
			request: `PUT /v1/attachments/c0ffee/net1 {"containerID":"c0ffee","ifName":"net1","network":"blue","kind":"vhostuser","socketMode":"660"}`},
		{args: []string{"attach", "bad", "net1", "--network", "blue", "--kind", "memif"}, code: 1,
			stderr: "podwirectl: podwired: attachment bad/net1 exists with another kind (409 Conflict)\n"},
		{args: []string{"detach", "c0ffee", "n#1"}, stdout: "detached c0ffee/n#1\n", request: "DELETE /v1/attachments/c0ffee/n%231"},
		{args: []string{"drops"}, stdout: "port uplink  tx_full  5\n"},
		{args: []string{"workers"}, code: 1, stderr: "podwirectl: podwired: workers are restarting (500 Internal Server Error)\n"},
		{args: []string{"-o", "json", "detach", "c0ffee", "net1"}, stdout: ""},
		// Invalid input is refused before anything is sent.
		{args: []string{"network", "add", "blue", "--vlan", "4095"}, code: 1,
			stderr: "podwirectl: vlan: 4095 is out of range: 0 (untagged) or 1..4094\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cs.mu.Lock()
			cs.requests = nil
			cs.mu.Unlock()
			code, out, errOut := runCLI(t, append([]string{"-s", sock}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, errOut)
			}
			if !strings.Contains(out, tt.stdout) {
				t.Fatalf("stdout:\n%s\nwant it to contain:\n%s", out, tt.stdout)
			}
			if tt.stdout == "" && out != "" {
				t.Fatalf("stdout %q, want nothing", out)
			}
			if tt.code == 0 && errOut != "" {
				t.Fatalf("stderr %q", errOut)
			}
			if tt.stderr != "" && errOut != tt.stderr {
				t.Fatalf("stderr %q, want %q", errOut, tt.stderr)
			}
			cs.mu.Lock()
			reqs := cs.requests
			cs.mu.Unlock()
			if tt.code == 1 && strings.HasPrefix(tt.stderr, "podwirectl: vlan") && len(reqs) != 0 {
				t.Fatalf("invalid input was sent: %q", reqs)
			}
			if tt.request != "" && (len(reqs) != 1 || reqs[0] != tt.request) {
				t.Fatalf("server saw %q, want %q", reqs, tt.request)
			}
		})
	}
	if !strings.HasPrefix(cs.agent, "podwirectl/") {
		t.Errorf("User-Agent %q", cs.agent)
	}
}

func TestCLIJSON(t *testing.T) {
	sock, _ := serveCanned(t)
	code, out, errOut := runCLI(t, "networks", "-s", sock, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "{\n  \"networks\": [\n    {\n      \"name\": \"blue\",\n      \"vlan\": 10\n    }\n  ]\n}\n"
	if out != want {
		t.Fatalf("stdout:\n%s\nwant:\n%s", out, want)
	}
	// drops -o json is the counters document.
	_, out, _ = runCLI(t, "-s", sock, "-o", "json", "drops")
	var r api.CounterReport
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Ports[0].Drops["tx_full"] != 5 {
		t.Fatalf("drops -o json = %q: %v", out, err)
	}
}

func TestCLIUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	code, out, errOut := runCLI(t, "-s", sock, "status")
	want := "podwirectl: podwired not reachable at " + sock + ": connect: no such file or directory\n"
	if code != 1 || out != "" || errOut != want {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}
	// The environment names the socket when -s does not.
	var o, e bytes.Buffer
	code = run(context.Background(), []string{"ports"}, func(k string) string {
		if k == socketEnv {
			return sock
		}
		return ""
	}, &o, &e)
	if code != 1 || !strings.Contains(e.String(), sock) {
		t.Fatalf("exit %d, stderr %q", code, e.String())
	}
}

func TestCLITimeout(t *testing.T) {
	dir, err := os.MkdirTemp("", "pwctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "slow.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { close(release); srv.Close(); <-done })

	code, _, errOut := runCLI(t, "-s", sock, "-timeout", "200ms", "status")
	want := "podwirectl: no answer from podwired at " + sock + " within 200ms\n"
	if code != 1 || errOut != want {
		t.Fatalf("exit %d, stderr %q, want %q", code, errOut, want)
	}
}

func TestCLIUsage(t *testing.T) {
	code, out, errOut := runCLI(t, "help")
	if code != 0 || !strings.Contains(out, "usage: podwirectl") || errOut != "" {
		t.Fatalf("help: exit %d, %q, %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, "attach", "-h")
	if code != 0 || !strings.Contains(out, "-vhost-mode") {
		t.Fatalf("attach -h: exit %d, %q", code, out)
	}
	code, out, errOut = runCLI(t, "frob")
	if code != 1 || out != "" || errOut != "podwirectl: unknown command \"frob\" (run 'podwirectl help' for usage)\n" {
		t.Fatalf("frob: exit %d, %q, %q", code, out, errOut)
	}
}
