package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/podwire/podwire/api"
)

func intp(v int) *int { return &v }

func noEnv(string) string { return "" }

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want invocation // cmd is compared by name, through wantCmd
		cmd  string
	}{
		{"defaults", []string{"status"}, nil,
			invocation{socket: api.DefaultSocket, output: "table", timeout: 30 * time.Second}, "status"},
		{"env socket", []string{"ports"}, map[string]string{socketEnv: "/tmp/x.sock"},
			invocation{socket: "/tmp/x.sock", output: "table", timeout: 30 * time.Second}, "ports"},
		{"flag beats env", []string{"-s", "/a.sock", "ports"}, map[string]string{socketEnv: "/tmp/x.sock"},
			invocation{socket: "/a.sock", output: "table", timeout: 30 * time.Second}, "ports"},
		{"globals after the command", []string{"networks", "-o", "json", "--socket=/b.sock", "-timeout", "2s"}, nil,
			invocation{socket: "/b.sock", output: "json", timeout: 2 * time.Second}, "networks"},
		{"macs", []string{"macs", "blue"}, nil,
			invocation{socket: api.DefaultSocket, output: "table", timeout: 30 * time.Second, args: []string{"blue"}}, "macs"},
		{"network add", []string{"network", "add", "blue", "--vlan", "100", "--max-macs=512"}, nil,
			invocation{socket: api.DefaultSocket, output: "table", timeout: 30 * time.Second, args: []string{"blue"},
				network: api.Network{Name: "blue", VLAN: 100, MaxMACs: 512}}, "network add"},
		{"network add, flags first", []string{"-o", "json", "network", "add", "--vlan", "7", "blue", "--mac-ageing", "60"}, nil,
			invocation{socket: api.DefaultSocket, output: "json", timeout: 30 * time.Second, args: []string{"blue"},
				network: api.Network{Name: "blue", VLAN: 7, MACAgeingSeconds: 60}}, "network add"},
		{"network rm alias", []string{"network", "rm", "blue"}, nil,
			invocation{socket: api.DefaultSocket, output: "table", timeout: 30 * time.Second, args: []string{"blue"}}, "network del"},
		{"network ls alias", []string{"network", "ls"}, nil,
			invocation{socket: api.DefaultSocket, output: "table", timeout: 30 * time.Second}, "networks"},
		{"attach, flags interspersed", []string{"attach", "--kind", "vhostuser", "c0ffee", "--network=blue", "net1",
			"--vhost-mode", "server", "--mac", "02:00:00:00:00:01", "--uid", "1000", "--gid", "0", "--socket-mode", "0660", "--queues", "2"}, nil,
			invocation{socket: api.DefaultSocket, output: "table", timeout: 30 * time.Second, args: []string{"c0ffee", "net1"},
				attach: api.Attachment{ContainerID: "c0ffee", IfName: "net1", Network: "blue", Kind: api.KindVhostUser, VhostMode: api.VhostServer,
					MAC: "02:00:00:00:00:01", OwnerUID: intp(1000), OwnerGID: intp(0), SocketMode: "0660", Queues: 2}}, "attach"},
		{"attach per-pod", []string{"attach", "c2", "net1", "--kind", "memif", "--network", "blue", "--owner", "podwire-memif",
			"--pod", "0b6a4c1e-7d5c-4f7e-9a3b-2f1d6c8e9a01", "--pod-mount", "/run/podwire"}, nil,
			invocation{socket: api.DefaultSocket, output: "table", timeout: 30 * time.Second, args: []string{"c2", "net1"},
				attach: api.Attachment{ContainerID: "c2", IfName: "net1", Network: "blue", Kind: api.KindMemif, Owner: "podwire-memif",
					Pod: "0b6a4c1e-7d5c-4f7e-9a3b-2f1d6c8e9a01", PodMount: "/run/podwire"}}, "attach"},
		{"attach kernel mtu", []string{"attach", "c1", "eth0", "--kind", "kernel", "--network", "pods", "--netns", "/var/run/netns/cni-1", "--mtu", "1400"}, nil,
			invocation{socket: api.DefaultSocket, output: "table", timeout: 30 * time.Second, args: []string{"c1", "eth0"},
				attach: api.Attachment{ContainerID: "c1", IfName: "eth0", Network: "pods", Kind: api.KindKernel, Netns: "/var/run/netns/cni-1", MTU: 1400}}, "attach"},
		{"attach kernel", []string{"attach", "c1", "eth0", "--kind", "kernel", "--network", "pods", "--netns", "/var/run/netns/cni-1"}, nil,
			invocation{socket: api.DefaultSocket, output: "table", timeout: 30 * time.Second, args: []string{"c1", "eth0"},
				attach: api.Attachment{ContainerID: "c1", IfName: "eth0", Network: "pods", Kind: api.KindKernel, Netns: "/var/run/netns/cni-1"}}, "attach"},
		{"double dash", []string{"detach", "--", "c1", "eth0"}, nil,
			invocation{socket: api.DefaultSocket, output: "table", timeout: 30 * time.Second, args: []string{"c1", "eth0"}}, "detach"},
		{"help", []string{"help"}, nil,
			invocation{socket: api.DefaultSocket, output: "table", timeout: 30 * time.Second, help: true}, "help"},
		{"help for a command", []string{"help", "attach"}, nil,
			invocation{socket: api.DefaultSocket, output: "table", timeout: 30 * time.Second, help: true}, "attach"},
		{"-h on a command", []string{"network", "add", "-h"}, nil,
			invocation{socket: api.DefaultSocket, output: "table", timeout: 30 * time.Second, help: true}, "network add"},
		{"no command", nil, nil,
			invocation{socket: api.DefaultSocket, output: "table", timeout: 30 * time.Second, help: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.args, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatalf("parse(%q): %v", tt.args, err)
			}
			name := ""
			if got.cmd != nil {
				name = got.cmd.name()
			}
			if name != tt.cmd {
				t.Fatalf("command %q, want %q", name, tt.cmd)
			}
			got.cmd = nil
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("parse(%q) =\n%+v\nwant\n%+v", tt.args, *got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		args  []string
		want  string // substring of the error
		field string // for *api.FieldError; "" for a usage error
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`, ""},
		{[]string{"network"}, `unknown command "network"`, ""},
		{[]string{"network", "frob", "x"}, "network takes add or del", ""},
		{[]string{"-o", "yaml", "status"}, `-o "yaml": want table or json`, ""},
		{[]string{"status", "-o", "xml"}, `-o "xml"`, ""},
		{[]string{"-timeout", "0s", "status"}, "-timeout", ""},
		{[]string{"-x", "status"}, "flag provided but not defined: -x", ""},
		{[]string{"status", "extra"}, "status: want no arguments, got 1: extra", ""},
		{[]string{"macs"}, "macs: want NETWORK, got none", ""},
		{[]string{"network", "add"}, "network add: want NAME, got none", ""},
		{[]string{"network", "add", "a", "b"}, "want NAME, got 2: a b", ""},
		{[]string{"network", "add", "a", "--vlan"}, "flag needs an argument: -vlan", ""},
		{[]string{"network", "add", "a", "--vlan", "x"}, `invalid value "x" for flag -vlan`, ""},
		{[]string{"network", "add", "a", "--vlan", "4095"}, "4095 is out of range", api.FieldVLAN},
		{[]string{"network", "add", "a", "--vlan", "-1"}, "-1 is out of range", api.FieldVLAN},
		{[]string{"network", "add", "../etc"}, `"../etc" contains '/'`, api.FieldName},
		{[]string{"network", "del", ".."}, `".." is not allowed`, api.FieldName},
		{[]string{"attach", "c1", "eth0", "--kind", "memif"}, "--network is required", ""},
		{[]string{"attach", "c1", "eth0", "--network", "n"}, "--kind is required", ""},
		{[]string{"attach", "c1", "eth0", "--network", "n", "--kind", "tap"}, `"tap" is not one of`, api.FieldKind},
		{[]string{"attach", "c1", "eth0", "--network", "n", "--kind", "kernel"}, "required for kind kernel", api.FieldNetns},
		{[]string{"attach", "c1", "eth0:1", "--network", "n", "--kind", "memif"}, `contains ':'`, api.FieldIfName},
		{[]string{"attach", "c1", "eth0", "--network", "n", "--kind", "memif", "--uid", "x"}, `invalid value "x" for flag -uid: not an integer`, ""},
		{[]string{"attach", "c1", "eth0", "--network", "n", "--kind", "memif", "--socket-mode", "999"}, "octal", api.FieldSocketMode},
		{[]string{"detach", "c1"}, "detach: want CONTAINERID IFNAME, got 1: c1", ""},
		{[]string{"detach", "c/1", "eth0"}, "contains '/'", api.FieldContainerID},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			inv, err := parse(tt.args, noEnv)
			if err == nil {
				t.Fatalf("parse succeeded: %+v", inv)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
			var fe *api.FieldError
			var ue *usageError
			switch {
			case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
				t.Fatalf("error %v (%T), want a *FieldError for %q", err, err, tt.field)
			case tt.field == "" && !errors.As(err, &ue):
				t.Fatalf("error %v (%T), want a usage error", err, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is more than one line", err)
			}
		})
	}
}

func TestUsageListsEveryCommand(t *testing.T) {
	var b strings.Builder
	writeUsage(&b, nil)
	for _, c := range commands {
		if !strings.Contains(b.String(), "\n  "+c.name()) {
			t.Errorf("usage does not list %q", c.name())
		}
	}
	for _, c := range commands {
		b.Reset()
		writeUsage(&b, c)
		if c.name() != "help" && !strings.Contains(b.String(), c.name()+" "+c.usage) {
			t.Errorf("usage of %q: %s", c.name(), b.String())
		}
	}
}
