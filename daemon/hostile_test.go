package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podwire/podwire/api"
)

// Hostile API input against a real podwired, beyond what
// TestAPIValidationAndIdempotency and TestAttachmentOwnerMTUPod cover:
// every bad request gets a 4xx naming the bad field (or the limit), and
// nothing changes: the attachment and network lists, the state file and
// the socket directory on disk stay as they were, and podwired stays up.

// apiSnapshot is what bad input must not change.
type apiSnapshot struct {
	attachments, networks string
	state                 []byte
	files                 []string
}

func snapshotAPI(t *testing.T, in *instance) apiSnapshot {
	t.Helper()
	ctx := ctxT(t)
	as, err := in.client.Attachments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := in.client.Networks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(as)
	jn, _ := json.Marshal(ns)
	st, _ := os.ReadFile(filepath.Join(in.dir, "state", "state.json"))
	var files []string
	_ = filepath.WalkDir(filepath.Join(in.dir, "s"), func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			files = append(files, p)
		}
		return nil
	})
	// Anything podwired might create next to its own directories.
	ents, _ := os.ReadDir(in.dir)
	for _, e := range ents {
		files = append(files, "top:"+e.Name())
	}
	sort.Strings(files)
	return apiSnapshot{attachments: string(ja), networks: string(jn), state: st, files: files}
}

func (s apiSnapshot) diff(o apiSnapshot) string {
	switch {
	case s.attachments != o.attachments:
		return fmt.Sprintf("attachments changed:\n%s\n%s", s.attachments, o.attachments)
	case s.networks != o.networks:
		return fmt.Sprintf("networks changed:\n%s\n%s", s.networks, o.networks)
	case !bytes.Equal(s.state, o.state):
		return "state file changed"
	case strings.Join(s.files, "\n") != strings.Join(o.files, "\n"):
		return fmt.Sprintf("files changed:\n%s\n---\n%s", strings.Join(s.files, "\n"), strings.Join(o.files, "\n"))
	}
	return ""
}

func apiHTTPClient(in *instance) *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", filepath.Join(in.dir, "api.sock"))
		}}, Timeout: 15 * time.Second}
}

// rawReq sends one request with a content type and any body reader (a
// reader of unknown length goes chunked).
func rawReq(t *testing.T, hc *http.Client, method, path, ctype string, body io.Reader) (int, api.ErrorBody, error) {
	req, err := http.NewRequest(method, "http://podwired"+path, body)
	if err != nil {
		return 0, api.ErrorBody{}, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, api.ErrorBody{}, err
	}
	defer resp.Body.Close()
	var eb api.ErrorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = json.Unmarshal(b, &eb)
	return resp.StatusCode, eb, nil
}

// onlyReader hides a reader's length, so that the client sends it chunked.
type onlyReader struct{ io.Reader }

func TestHostileAPIInput(t *testing.T) {
	in := newInstance(t, "")
	in.start()
	ctx := ctxT(t)
	// Something to keep: a network and an attachment.
	if _, err := in.client.PutNetwork(ctx, api.Network{Name: "blue", VLAN: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := in.client.PutAttachment(ctx, api.Attachment{ContainerID: "keep", IfName: "net1", Network: "default", Kind: api.KindMemif}); err != nil {
		t.Fatal(err)
	}
	before := snapshotAPI(t, in)
	hc := apiHTTPClient(in)

	att := func(extra string) string { return `{"network":"default","kind":"memif"` + extra + `}` }
	long := strings.Repeat("x", 300)
	big := `{"network":"default","kind":"memif","owner":"` + strings.Repeat("o", api.MaxBodyBytes) + `"}`
	cases := []struct {
		name, method, path, ctype string
		body                      func() io.Reader
		status                    int
		field, msg                string // the answer's field, and text its message must contain
	}{
		// Bodies over the limit: the answer names it, chunked or not.
		{"oversized attachment", "PUT", "/v1/attachments/c1/net1", "application/json",
			func() io.Reader { return strings.NewReader(big) }, 413, "", "1048576"},
		{"oversized chunked", "PUT", "/v1/attachments/c1/net1", "application/json",
			func() io.Reader { return onlyReader{strings.NewReader(big)} }, 413, "", "1048576"},
		{"oversized whitespace", "PUT", "/v1/networks/n2", "application/json",
			func() io.Reader {
				return onlyReader{io.MultiReader(strings.NewReader(`{"name":"n2"}`), bytes.NewReader(bytes.Repeat([]byte(" "), api.MaxBodyBytes)))}
			}, 413, "", "1048576"},
		// Malformed JSON not covered elsewhere.
		{"trailing data", "PUT", "/v1/attachments/c1/net1", "", str(att("") + `{}`), 400, "", "after the JSON value"},
		{"array", "PUT", "/v1/attachments/c1/net1", "", str(`[` + att("") + `]`), 400, "", ""},
		{"null", "PUT", "/v1/attachments/c1/net1", "", str(`null`), 400, "", ""},
		{"deep nesting", "PUT", "/v1/networks/n2", "", str(strings.Repeat(`{"a":`, 20000)), 400, "", ""},
		{"invalid utf-8", "PUT", "/v1/attachments/c1/net1", "", str("{\"network\":\"de\xff\xfe\",\"kind\":\"memif\"}"), 400, "network", ""},
		{"unknown nested field", "PUT", "/v1/networks/n2", "", str(`{"name":"n2","extra":{"vlan":1}}`), 400, "extra", ""},
		// Values out of range.
		{"queues 17", "PUT", "/v1/attachments/c1/net1", "", str(att(`,"queues":17`)), 400, "queues", ""},
		{"queues -1", "PUT", "/v1/attachments/c1/net1", "", str(att(`,"queues":-1`)), 400, "queues", ""},
		{"queues 2^63", "PUT", "/v1/attachments/c1/net1", "", str(att(`,"queues":9223372036854775808`)), 400, "queues", ""},
		{"queues float", "PUT", "/v1/attachments/c1/net1", "", str(att(`,"queues":1.5`)), 400, "queues", ""},
		{"mtu -1", "PUT", "/v1/attachments/c1/net1", "", str(`{"network":"default","kind":"kernel","netns":"/var/run/netns/x","mtu":-1}`), 400, "mtu", ""},
		{"mtu huge", "PUT", "/v1/attachments/c1/net1", "", str(`{"network":"default","kind":"kernel","netns":"/var/run/netns/x","mtu":4294967296}`), 400, "mtu", ""},
		{"vlan -1", "PUT", "/v1/networks/n2", "", str(`{"vlan":-1}`), 400, "vlan", ""},
		{"vlan 4095", "PUT", "/v1/networks/n2", "", str(`{"vlan":4095}`), 400, "vlan", ""},
		{"vlan 65536", "PUT", "/v1/networks/n2", "", str(`{"vlan":65536}`), 400, "vlan", ""},
		{"maxMACs -1", "PUT", "/v1/networks/n2", "", str(`{"maxMACs":-1}`), 400, "maxMACs", ""},
		{"ageing huge", "PUT", "/v1/networks/n2", "", str(`{"macAgeingSeconds":1000000001}`), 400, "macAgeingSeconds", ""},
		{"socketMode 9999", "PUT", "/v1/attachments/c1/net1", "", str(att(`,"socketMode":"9999"`)), 400, "socketMode", ""},
		{"socketMode setuid", "PUT", "/v1/attachments/c1/net1", "", str(att(`,"socketMode":"4777"`)), 400, "socketMode", ""},
		{"socketMode words", "PUT", "/v1/attachments/c1/net1", "", str(att(`,"socketMode":"rw-rw----"`)), 400, "socketMode", ""},
		{"socketMode number", "PUT", "/v1/attachments/c1/net1", "", str(att(`,"socketMode":660`)), 400, "socketMode", ""},
		{"vhostMode", "PUT", "/v1/attachments/c1/net1", "", str(`{"network":"default","kind":"vhostuser","vhostMode":"both"}`), 400, "vhostMode", ""},
		// Names: traversal, separators, NUL, length, in the path and in the body.
		{"containerID ../x", "PUT", "/v1/attachments/..%2Fx/net1", "", str(att("")), 400, "containerID", ""},
		{"containerID ..", "PUT", "/v1/attachments/%2E%2E/net1", "", str(att("")), 400, "", ""},
		{"containerID a/b", "PUT", "/v1/attachments/a%2Fb/net1", "", str(att("")), 400, "containerID", ""},
		{"containerID NUL", "PUT", "/v1/attachments/a%00b/net1", "", str(att("")), 400, "containerID", ""},
		{"containerID 300", "PUT", "/v1/attachments/" + long + "/net1", "", str(att("")), 400, "containerID", ""},
		{"containerID ../x in body", "PUT", "/v1/attachments/c1/net1", "", str(`{"containerID":"../x","ifName":"net1","network":"default","kind":"memif"}`), 400, "containerID", ""},
		{"ifName a/b", "PUT", "/v1/attachments/c1/a%2Fb", "", str(att("")), 400, "ifName", ""},
		{"ifName ..", "PUT", "/v1/attachments/c1/%2E%2E", "", str(att("")), 400, "", ""},
		{"ifName NUL", "PUT", "/v1/attachments/c1/n%00", "", str(att("")), 400, "ifName", ""},
		{"network ..", "PUT", "/v1/attachments/c1/net1", "", str(`{"network":"..","kind":"memif"}`), 400, "network", ""},
		{"network ../default", "PUT", "/v1/attachments/c1/net1", "", str(`{"network":"../default","kind":"memif"}`), 400, "network", ""},
		{"network 300", "PUT", "/v1/networks/" + long, "", str(`{}`), 400, "name", ""},
		{"network a/b", "PUT", "/v1/networks/a%2Fb", "", str(`{}`), 400, "name", ""},
		{"network NUL in body", "PUT", "/v1/networks/n2", "", str(`{"name":"n2\u0000"}`), 400, "name", ""},
		{"pod ..", "PUT", "/v1/attachments/c1/net1", "", str(att(`,"pod":".."`)), 400, "pod", ""},
		{"netns relative", "PUT", "/v1/attachments/c1/net1", "", str(`{"network":"default","kind":"kernel","netns":"../../proc/1/ns/net"}`), 400, "netns", ""},
		{"delete ..", "DELETE", "/v1/networks/%2E%2E", "", nil, 404, "name", ""},
		{"delete keep/../net1", "DELETE", "/v1/attachments/keep/..%2Fnet1", "", nil, 400, "", ""},
		// Content types that are not JSON, with bodies that are not either.
		{"form body", "PUT", "/v1/attachments/c1/net1", "application/x-www-form-urlencoded", str(`network=default&kind=memif`), 400, "", ""},
		{"multipart body", "PUT", "/v1/networks/n2", "multipart/form-data; boundary=x", str("--x\r\nContent-Disposition: form-data; name=\"vlan\"\r\n\r\n5\r\n--x--\r\n"), 400, "", ""},
		{"text body", "PUT", "/v1/networks/n2", "text/plain", str("vlan 5"), 400, "", ""},
		{"binary body", "PUT", "/v1/networks/n2", "application/octet-stream", str("\x00\x01\x02\xff"), 400, "", ""},
		// Methods and paths the API does not have: 404 naming them.
		{"POST attachment", "POST", "/v1/attachments/c1/net1", "", str(att("")), 404, "", "POST /v1/attachments/c1/net1"},
		{"PATCH network", "PATCH", "/v1/networks/blue", "", str(`{"vlan":8}`), 404, "", "PATCH"},
		{"PUT on a list", "PUT", "/v1/networks", "", str(`{"name":"n2"}`), 404, "", "PUT /v1/networks"},
	}
	for _, c := range cases {
		var body io.Reader
		if c.body != nil {
			body = c.body()
		}
		status, eb, err := rawReq(t, hc, c.method, c.path, c.ctype, body)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		bad := status != c.status || eb.Error == "" || (c.field != "" && eb.Field != c.field) ||
			(c.msg != "" && !strings.Contains(eb.Error, c.msg))
		if bad {
			t.Errorf("%s: status %d field %q error %q; want %d field %q message with %q", c.name, status, eb.Field, eb.Error, c.status, c.field, c.msg)
		}
		if d := before.diff(snapshotAPI(t, in)); d != "" {
			t.Fatalf("after %s: %s", c.name, d)
		}
	}
	if _, err := in.client.Status(ctx); err != nil {
		t.Fatalf("podwired after the bad input: %v\n%s", err, in.log)
	}
}

func str(s string) func() io.Reader { return func() io.Reader { return strings.NewReader(s) } }

// TestHostileAPIClients: many clients at once sending bad and oversized
// requests get their answers and change nothing; clients that connect and
// send nothing hold no slot forever (the header timeout frees them), so
// podwired answers again while they hang on.
func TestHostileAPIClients(t *testing.T) {
	in := newInstance(t, "")
	in.start()
	ctx := ctxT(t)
	if _, err := in.client.PutAttachment(ctx, api.Attachment{ContainerID: "keep", IfName: "net1", Network: "default", Kind: api.KindMemif}); err != nil {
		t.Fatal(err)
	}
	before := snapshotAPI(t, in)

	const clients = 200
	var wg sync.WaitGroup
	errs := make(chan string, clients*3)
	big := strings.Repeat("x", 2<<20)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := apiHTTPClient(in)
			reqs := []struct {
				method, path, body string
				status             int
			}{
				{"PUT", fmt.Sprintf("/v1/attachments/c%d/net1", i), `{"network":"default","kind":"memif","queues":99}`, 400},
				{"PUT", fmt.Sprintf("/v1/networks/n%d", i), []string{`{"vlan":5000}`, `{"maxMACs":-1}`, `{"name":"` + big + `"}`}[i%3],
					[]int{400, 400, 413}[i%3]},
				{"GET", "/v1/status", "", 200},
			}
			for _, r := range reqs {
				status, _, err := rawReq(t, hc, r.method, r.path, "application/json", strings.NewReader(r.body))
				if err != nil || status != r.status {
					errs <- fmt.Sprintf("client %d %s %s: status %d, want %d (%v)", i, r.method, r.path, status, r.status, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for e := range errs {
		if n++; n <= 5 {
			t.Error(e)
		}
	}
	if n > 5 {
		t.Errorf("... %d failures in all", n)
	}
	if d := before.diff(snapshotAPI(t, in)); d != "" {
		t.Fatalf("after %d concurrent bad clients: %s", clients, d)
	}

	// Idle connections, more than the API's client limit.
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 80 {
		c, err := net.Dial("unix", filepath.Join(in.dir, "api.sock"))
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	time.Sleep(300 * time.Millisecond) // let podwired accept what it will
	// A new connection (the client's kept-alive one holds a slot already).
	t0 := time.Now()
	status, _, err := rawReq(t, apiHTTPClient(in), "GET", "/v1/status", "", nil)
	if err != nil || status != 200 {
		t.Fatalf("with 80 idle connections open, status: %d %v after %v", status, err, time.Since(t0))
	}
	if took := time.Since(t0); took > 8*time.Second {
		t.Fatalf("with 80 idle connections open, status took %v", took)
	}
	t.Logf("status on a new connection answered %v with 80 idle connections open (API limit 64)",
		time.Since(t0).Round(time.Millisecond))
	select {
	case <-in.done:
		t.Fatalf("podwired exited: %v\n%s", in.cmd.ProcessState, in.log)
	default:
	}
}
