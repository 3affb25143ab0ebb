package daemon_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/podwire/podwire/api"
)

// TestAttachmentOwnerMTUPod: the attachment fields owner, mtu, pod and
// podMount are validated, persisted across a restart, and pod places the
// socket at <socketDir>/pods/<pod>/<ifName>/ with device-info naming the
// in-pod path.
func TestAttachmentOwnerMTUPod(t *testing.T) {
	in := newInstance(t, "")
	in.start()
	ctx := ctxT(t)
	bad := []struct {
		name, body string
		status     int
		field      string
	}{
		{"owner with a space", `{"network":"default","kind":"memif","owner":"a b"}`, 400, "owner"},
		{"mtu on memif", `{"network":"default","kind":"memif","mtu":1400}`, 400, "mtu"},
		{"kernel mtu too big", `{"network":"default","kind":"kernel","netns":"/var/run/netns/x","mtu":9000}`, 400, "mtu"},
		{"kernel mtu too small", `{"network":"default","kind":"kernel","netns":"/var/run/netns/x","mtu":20}`, 400, "mtu"},
		{"pod on kernel", `{"network":"default","kind":"kernel","netns":"/var/run/netns/x","pod":"u1"}`, 400, "pod"},
		{"pod with a slash", `{"network":"default","kind":"memif","pod":"a/b"}`, 400, "pod"},
		{"pod too long for sun_path", `{"network":"default","kind":"memif","pod":"` + strings.Repeat("u", 63) + `"}`, 422, "pod"},
		{"podMount without pod", `{"network":"default","kind":"memif","podMount":"/var/run/podwire"}`, 400, "podMount"},
		{"podMount relative", `{"network":"default","kind":"memif","pod":"u1","podMount":"run/podwire"}`, 400, "podMount"},
		{"podMount too long", `{"network":"default","kind":"memif","pod":"u1","podMount":"/` + strings.Repeat("m", 80) + `"}`, 400, "podMount"},
		{"podMount with a comma", `{"network":"default","kind":"memif","pod":"u1","podMount":"/a,b"}`, 400, "podMount"},
	}
	for _, c := range bad {
		status, body := in.raw(t, "PUT", "/v1/attachments/c1/net1", c.body)
		if status != c.status || body.Field != c.field || body.Error == "" {
			t.Errorf("%s: status %d field %q (%s), want %d field %q", c.name, status, body.Field, body.Error, c.status, c.field)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(in.dir, "s")); len(ents) != 0 {
		t.Fatalf("bad input left socket directory entries: %v", ents)
	}

	uid := "0b9c7e6a-2f41-4d3b-9a55-5e4c3b2a1f00"
	a := api.Attachment{ContainerID: "pc1", IfName: "net1", Network: "default", Kind: api.KindMemif, Owner: "cni-net-a", Pod: uid, PodMount: "/var/run/podwire"}
	got, err := in.client.PutAttachment(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	podDir := filepath.Join(in.dir, "s", "pods", uid)
	wantSock := filepath.Join(podDir, "net1", "memif.sock")
	if got.SocketPath != wantSock || got.PodSocketPath != "/var/run/podwire/net1/memif.sock" || got.Owner != "cni-net-a" {
		t.Fatalf("attachment %+v", got)
	}
	if fi, err := os.Stat(wantSock); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket through the pod link: %v %v", fi, err)
	}
	var di struct {
		Memif struct{ Path string } `json:"memif"`
	}
	b, err := os.ReadFile(filepath.Join(podDir, "net1", "device-info.json"))
	if err != nil || json.Unmarshal(b, &di) != nil || di.Memif.Path != "/var/run/podwire/net1/memif.sock" {
		t.Fatalf("device-info %s %v", b, err)
	}
	// Same pod, same interface, another sandbox: refused while pc1 holds it.
	b2 := a
	b2.ContainerID = "pc2"
	if _, err := in.client.PutAttachment(ctx, b2); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("second sandbox of the pod: %v", err)
	}
	// A vhost-user interface of the same pod shares its directory.
	v := api.Attachment{ContainerID: "pc1", IfName: "vhu0", Network: "default", Kind: api.KindVhostUser, VhostMode: api.VhostServer, Pod: uid}
	if got, err := in.client.PutAttachment(ctx, v); err != nil || got.SocketPath != filepath.Join(podDir, "vhu0", "vhost.sock") || got.PodSocketPath != got.SocketPath {
		t.Fatalf("vhu0: %+v %v", got, err)
	}

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		in.stop(sig)
		in.start()
		got, err := in.client.Attachment(ctx, "pc1", "net1")
		if err != nil || got.SocketPath != wantSock || got.Owner != "cni-net-a" || got.Pod != uid || got.PortID == nil {
			t.Fatalf("after %v: %+v %v", sig, got, err)
		}
		if _, err := os.Stat(wantSock); err != nil {
			t.Fatalf("after %v: %v", sig, err)
		}
	}
	for _, ifn := range []string{"net1", "vhu0"} {
		if err := in.client.DeleteAttachment(ctx, "pc1", ifn); err != nil {
			t.Fatal(err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(in.dir, "s")); len(ents) != 0 {
		t.Fatalf("after DELETE, socket directory entries left: %v", ents)
	}
}

// TestStateWithoutNewFields: a state file written before owner, mtu, pod
// and podMount existed still loads, and its attachments come back.
func TestStateWithoutNewFields(t *testing.T) {
	in := newInstance(t, "")
	stateDir := filepath.Join(in.dir, "state")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := `{"savedAt":"2026-11-01T10:00:00Z","state":{"version":1,"networks":[{"name":"default"}],` +
		`"attachments":[{"containerID":"old1","ifName":"net1","network":"default","kind":"memif","queues":1}]}}`
	if err := os.WriteFile(filepath.Join(stateDir, "state.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	in.start()
	a, err := in.client.Attachment(ctxT(t), "old1", "net1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Owner != "" || a.Pod != "" || a.PortID == nil || filepath.Dir(filepath.Dir(a.SocketPath)) != filepath.Join(in.dir, "s") {
		t.Fatalf("restored attachment %+v", a)
	}
	if err := in.client.DeleteAttachment(ctxT(t), "old1", "net1"); err != nil {
		t.Fatal(err)
	}
}
