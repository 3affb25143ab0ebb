package main_test

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// build builds the plugin as it ships: CGO_ENABLED=0.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "podwire")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build with CGO_ENABLED=0: %v\n%s", err, out)
	}
	return bin
}

// TestStatic: the binary is statically linked (it runs from the host root
// under Multus' chroot and on any node) and imports none of the cgo
// packages.
func TestStatic(t *testing.T) {
	bin := build(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary has a dynamic loader (PT_INTERP): not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) != 0 {
		t.Fatalf("the binary needs shared libraries %v", libs)
	}
	list := exec.Command("go", "list", "-deps", ".")
	list.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := list.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(out)) {
		for _, bad := range []string{
			"github.com/podwire/podwire/dpdk", "github.com/podwire/podwire/forwarder",
			"github.com/podwire/podwire/vhostuser", "github.com/podwire/podwire/daemon",
			"k8s.io/client-go",
		} {
			if p == bad || strings.HasPrefix(p, bad+"/") {
				t.Errorf("cmd/podwire depends on %s", p)
			}
		}
	}
}

// TestAboutAndVersion: without CNI_COMMAND the binary says what it is on
// stderr and exits 0; VERSION lists the four spec versions on stdout.
func TestAboutAndVersion(t *testing.T) {
	bin := build(t)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Env = []string{}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if stdout.Len() != 0 || !strings.Contains(stderr.String(), "podwire CNI plugin") || !strings.Contains(stderr.String(), "0.3.1, 0.4.0, 1.0.0, 1.1.0") {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
	cmd = exec.Command(bin)
	cmd.Env = []string{"CNI_COMMAND=VERSION"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		CNIVersion        string   `json:"cniVersion"`
		SupportedVersions []string `json:"supportedVersions"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if v.CNIVersion != "1.1.0" || strings.Join(v.SupportedVersions, " ") != "0.3.1 0.4.0 1.0.0 1.1.0" {
		t.Fatalf("VERSION: %s", out)
	}
}
