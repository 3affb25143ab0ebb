package daemon

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/podwire/podwire/dpdk"
)

// FuzzConfig feeds arbitrary bytes to podwired's config file path
// (parseConfig, as LoadConfig does, then Validate). Properties:
//   - it never panics;
//   - every error says something, and every Validate error is a
//     *ConfigError naming a field;
//   - a config that validates is also one the daemon can start from: EAL
//     takes its options (dpdk.Options.Args, as Start builds them), its
//     networks' non-zero VLANs are distinct (the engine refuses a second
//     network on a VLAN) and its ports are specs the API would accept (no
//     status fields, no socketDir);
//   - a config that validates survives YAML and JSON re-encoding: decoded
//     and validated again, it is equal.
//
// Seeds: the embedded default, deploy/podwired/podwired.yaml, the configs
// of the daemon tests, and testdata/fuzz/FuzzConfig.
func FuzzConfig(f *testing.F) {
	f.Add(DefaultConfigYAML)
	if b, err := os.ReadFile("../deploy/podwired/podwired.yaml"); err == nil {
		f.Add(b)
	} else {
		f.Fatal(err)
	}
	for _, s := range []string{
		"",
		"workers:\n  idleSleep: 0s\n",
		"reconcileInterval: 200ms\n",
		"uplink:\n  name: up\n  vdev: net_null7,nosuchkey=1\n",
		"uplink:\n  name: up\n  pci: \"0000:00:04.0\"\n  rxQueues: 2\neal:\n  allow: [\"0000:00:04.0\"]\n",
		"networks:\n  - name: a\n    vlan: 10\n    maxMACs: 100\n    macAgeingSeconds: 60\n  - name: b\n    vlan: 20\n",
		"ports:\n  - containerID: c\n    ifName: net1\n    network: default\n    kind: memif\n    mac: \"02:00:00:00:00:01\"\n",
		"ports:\n  - containerID: c\n    ifName: vhu0\n    network: default\n    kind: vhostuser\n    vhostMode: server\n    ownerUID: 1000\n    socketMode: \"660\"\n    queues: 2\n",
		"ports:\n  - containerID: c\n    ifName: eth1\n    network: default\n    kind: kernel\n    netns: /var/run/netns/x\n    mtu: 1400\n",
		"metrics:\n  addr: 127.0.0.1:9120\napi:\n  group: \"0\"\n  mode: \"0600\"\n",
		"eal:\n  lcores: [2, 3, 4]\n  mainLcore: 2\n  vdevs: [net_null0]\n  extra: [\"--no-shconf\"]\nworkers:\n  lcores: [3, 4]\n  burst: 64\n  rxDesc: 4096\n  txDesc: 64\n",
		// TestBadConfig's.
		"bogus: 1\n",
		"eal:\n  lcores: [0]\n",
		"workers:\n  burst: 1000\n",
		"socketDir: sockets\n",
		"mac:\n  ageing: forever\n",
		"networks:\n  - name: a\n  - name: a\n",
		"networks:\n  - name: ../x\n",
		"ports:\n  - containerID: c\n    ifName: net1\n    network: nope\n    kind: memif\n",
		"uplink:\n  name: up\n",
		"eal: [\n",
		"workers:\n  burst: many\n",
		`{"eal": {"lcores": [0, 1]}, "mac": {"ageing": "1h"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseConfig(data, "fuzz.yaml")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("parseConfig: empty error")
			}
			return
		}
		if err := c.Validate(); err != nil {
			checkConfigErrors(t, err)
			return
		}
		checkStartable(t, c)
		y, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("valid config does not marshal to YAML: %v\n%+v", err, c)
		}
		j, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("valid config does not marshal to JSON: %v\n%+v", err, c)
		}
		for _, enc := range []struct {
			name string
			b    []byte
		}{{"YAML", y}, {"JSON", j}} {
			c2, err := parseConfig(enc.b, "re-encoded")
			if err != nil {
				t.Fatalf("%s re-encoding does not parse: %v\n%s", enc.name, err, enc.b)
			}
			if err := c2.Validate(); err != nil {
				t.Fatalf("%s re-encoding does not validate: %v\n%s", enc.name, err, enc.b)
			}
			if !reflect.DeepEqual(c, c2) {
				t.Fatalf("%s round trip changed the config:\n before %+v\n after  %+v\n%s", enc.name, c, c2, enc.b)
			}
		}
	})
}

// checkConfigErrors: err, from Validate, is one or more (errors.Join)
// *ConfigError, each naming a field and saying what is wrong.
func checkConfigErrors(t *testing.T, err error) {
	t.Helper()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	if len(errs) == 0 {
		t.Fatalf("Validate: empty joined error %v", err)
	}
	for _, e := range errs {
		ce, ok := e.(*ConfigError)
		if !ok {
			t.Fatalf("Validate error %T %q is not a *ConfigError", e, e)
		}
		if ce.Field == "" || (ce.Msg == "" && (ce.Err == nil || ce.Err.Error() == "")) {
			t.Fatalf("Validate error without a field or a message: %+v", ce)
		}
	}
}

// checkStartable checks what Validate promises about a config beyond its
// own checks: that Start will not refuse it for a reason Validate could
// have seen.
func checkStartable(t *testing.T, c *Config) {
	t.Helper()
	e := c.EAL
	o := dpdk.Options{Lcores: e.Lcores, FilePrefix: e.FilePrefix, InMemory: e.InMemory, NoHuge: e.NoHuge, MemoryMB: e.MemoryMB,
		NoPCI: e.NoPCI, Allow: e.Allow, Vdevs: e.Vdevs, LogLevel: e.LogLevel, Extra: e.Extra, NoTelemetry: true}
	if e.MainLcore != nil {
		o.MainLcore, o.HasMainLcore = *e.MainLcore, true
	}
	if _, err := o.Args(); err != nil {
		t.Fatalf("valid config's EAL options are refused: %v", err)
	}
	vlans := map[uint16]string{}
	for _, n := range c.Networks {
		if n.VLAN == 0 {
			continue
		}
		if o, ok := vlans[n.VLAN]; ok {
			t.Fatalf("valid config has networks %s and %s on VLAN %d", o, n.Name, n.VLAN)
		}
		vlans[n.VLAN] = n.Name
	}
	for i, p := range c.Ports {
		if !reflect.DeepEqual(p.Spec(), p) {
			t.Fatalf("valid config's ports[%d] has status fields: %+v", i, p)
		}
		if p.SocketDir != "" {
			t.Fatalf("valid config's ports[%d] has socketDir %q, which podwired does not support", i, p.SocketDir)
		}
	}
}
