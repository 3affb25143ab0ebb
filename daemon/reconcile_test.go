package daemon_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/podwire/podwire/api"
)

// TestReconcileRemovesGonePods: attachments whose pod netns was deleted
// without a DEL are removed with their ports, veths and socket directories;
// an attachment whose pod still exists stays.
func TestReconcileRemovesGonePods(t *testing.T) {
	in := newInstance(t, "reconcileInterval: 200ms\n")
	in.start()
	ctx := ctxT(t)
	kpod, mpod, live := newKernelPod(t, "ka"), newKernelPod(t, "ma"), newKernelPod(t, "la")
	_, err := in.client.PutAttachment(ctx, api.Attachment{ContainerID: "gone1", IfName: "eth0", Network: "default", Kind: api.KindKernel, Netns: kpod.path})
	if err != nil {
		t.Fatal(err)
	}
	ma, err := in.client.PutAttachment(ctx, api.Attachment{ContainerID: "gone2", IfName: "net1", Network: "default", Kind: api.KindMemif, Netns: mpod.path})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.client.PutAttachment(ctx, api.Attachment{ContainerID: "alive", IfName: "net1", Network: "default", Kind: api.KindMemif, Netns: live.path}); err != nil {
		t.Fatal(err)
	}
	host := hostEnd("gone1", "eth0")
	if !hostHasLink(host) {
		t.Fatalf("no host end %s for the kernel pod", host)
	}
	for _, ns := range []string{kpod.ns, mpod.ns} {
		run(t, "ip", "netns", "del", ns)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := in.client.Attachments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) == 1 && l[0].ContainerID == "alive" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attachments after their pods' netns went: %+v", l)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if hostHasLink(host) {
		t.Fatalf("veth %s left behind", host)
	}
	if _, err := os.Stat(filepath.Dir(ma.SocketPath)); !os.IsNotExist(err) {
		t.Fatalf("socket directory of the gone memif pod: %v", err)
	}
	// The state file no longer lists them: a restart does not bring them back.
	in.stop(syscall.SIGTERM)
	in.start()
	if l, _ := in.client.Attachments(ctx); len(l) != 1 {
		t.Fatalf("after restart: %+v", l)
	}
}
