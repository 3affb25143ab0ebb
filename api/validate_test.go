package api

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func intp(v int) *int { return &v }

func TestNetworkValidate(t *testing.T) {
	tests := []struct {
		name  string
		n     Network
		field string // "" = valid
	}{
		{"minimal", Network{Name: "blue"}, ""},
		{"all set", Network{Name: "net_1.a-b", VLAN: 4094, MaxMACs: 4096, MACAgeingSeconds: 300}, ""},
		{"63 chars", Network{Name: strings.Repeat("a", 63)}, ""},
		{"empty name", Network{}, FieldName},
		{"64 chars", Network{Name: strings.Repeat("a", 64)}, FieldName},
		{"slash", Network{Name: "a/b"}, FieldName},
		{"dot", Network{Name: "."}, FieldName},
		{"dotdot", Network{Name: ".."}, FieldName},
		{"space", Network{Name: "a b"}, FieldName},
		{"unicode", Network{Name: "blé"}, FieldName},
		{"vlan 4095", Network{Name: "x", VLAN: 4095}, FieldVLAN},
		{"negative max macs", Network{Name: "x", MaxMACs: -1}, FieldMaxMACs},
		{"huge max macs", Network{Name: "x", MaxMACs: MaxMACsLimit + 1}, FieldMaxMACs},
		{"negative ageing", Network{Name: "x", MACAgeingSeconds: -1}, FieldMACAgeingSeconds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkField(t, tt.n.Validate(), tt.field)
		})
	}
}

func checkField(t testing.TB, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("Validate: %v, want nil", err)
		}
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("Validate: %v (%T), want *FieldError for %q", err, err, field)
	}
	if fe.Field != field {
		t.Fatalf("Validate: field %q (%v), want %q", fe.Field, err, field)
	}
	if !strings.HasPrefix(fe.Error(), field+": ") || fe.Message == "" {
		t.Fatalf("Error() = %q, want %q and a message", fe.Error(), field+": ...")
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("errors.Is(%v, ErrInvalid) = false", err)
	}
}

func TestAttachmentValidate(t *testing.T) {
	base := Attachment{ContainerID: "0123abcdef", IfName: "net1", Network: "blue", Kind: KindVhostUser}
	with := func(f func(a *Attachment)) Attachment {
		a := base
		f(&a)
		return a
	}
	tests := []struct {
		name  string
		a     Attachment
		field string
	}{
		{"minimal vhostuser", base, ""},
		{"memif", with(func(a *Attachment) { a.Kind = KindMemif }), ""},
		{"kernel", with(func(a *Attachment) { a.Kind, a.Netns = KindKernel, "/var/run/netns/cni-1234" }), ""},
		{"everything", with(func(a *Attachment) {
			a.VhostMode, a.MAC, a.SocketDir = VhostServer, "02:00:00:00:00:01", "/run/podwire/pods/x"
			a.OwnerUID, a.OwnerGID, a.SocketMode, a.Queues = intp(1000), intp(0), "0660", 16
			a.Netns = "/proc/42/ns/net"
		}), ""},
		{"status fields ignored", with(func(a *Attachment) { a.State, a.PortName = "bogus", "../x" }), ""},
		{"mac dashes", with(func(a *Attachment) { a.MAC = "02-AA-bb-00-00-01" }), ""},
		{"128-char container id", with(func(a *Attachment) { a.ContainerID = strings.Repeat("f", 128) }), ""},
		{"15-byte ifname", with(func(a *Attachment) { a.IfName = "abcdefghijklmno" }), ""},
		{"ifname with odd chars", with(func(a *Attachment) { a.IfName = "e%#?-é" }), ""},

		{"no container id", with(func(a *Attachment) { a.ContainerID = "" }), FieldContainerID},
		{"long container id", with(func(a *Attachment) { a.ContainerID = strings.Repeat("f", 129) }), FieldContainerID},
		{"container id traversal", with(func(a *Attachment) { a.ContainerID = ".." }), FieldContainerID},
		{"container id slash", with(func(a *Attachment) { a.ContainerID = "../etc" }), FieldContainerID},
		{"no ifname", with(func(a *Attachment) { a.IfName = "" }), FieldIfName},
		{"16-byte ifname", with(func(a *Attachment) { a.IfName = "abcdefghijklmnop" }), FieldIfName},
		{"ifname slash", with(func(a *Attachment) { a.IfName = "a/b" }), FieldIfName},
		{"ifname colon", with(func(a *Attachment) { a.IfName = "eth0:1" }), FieldIfName},
		{"ifname space", with(func(a *Attachment) { a.IfName = "eth 0" }), FieldIfName},
		{"ifname tab", with(func(a *Attachment) { a.IfName = "eth\t0" }), FieldIfName},
		{"ifname dot", with(func(a *Attachment) { a.IfName = "." }), FieldIfName},
		{"ifname dotdot", with(func(a *Attachment) { a.IfName = ".." }), FieldIfName},
		{"ifname NUL", with(func(a *Attachment) { a.IfName = "eth\x000" }), FieldIfName},
		{"ifname bad utf8", with(func(a *Attachment) { a.IfName = "eth\xff" }), FieldIfName},
		{"no network", with(func(a *Attachment) { a.Network = "" }), FieldNetwork},
		{"bad network", with(func(a *Attachment) { a.Network = "a/b" }), FieldNetwork},
		{"no kind", with(func(a *Attachment) { a.Kind = "" }), FieldKind},
		{"bad kind", with(func(a *Attachment) { a.Kind = "veth" }), FieldKind},
		{"bad vhost mode", with(func(a *Attachment) { a.VhostMode = "both" }), FieldVhostMode},
		{"vhost mode on memif", with(func(a *Attachment) { a.Kind, a.VhostMode = KindMemif, VhostClient }), FieldVhostMode},
		{"bad mac", with(func(a *Attachment) { a.MAC = "02:00:00:00:00" }), FieldMAC},
		{"multicast mac", with(func(a *Attachment) { a.MAC = "01:00:5e:00:00:01" }), FieldMAC},
		{"broadcast mac", with(func(a *Attachment) { a.MAC = "ff:ff:ff:ff:ff:ff" }), FieldMAC},
		{"zero mac", with(func(a *Attachment) { a.MAC = "00:00:00:00:00:00" }), FieldMAC},
		{"eui-64 mac", with(func(a *Attachment) { a.MAC = "02:00:00:00:00:00:00:01" }), FieldMAC},
		{"kernel without netns", with(func(a *Attachment) { a.Kind = KindKernel }), FieldNetns},
		{"relative netns", with(func(a *Attachment) { a.Kind, a.Netns = KindKernel, "netns/x" }), FieldNetns},
		{"netns traversal", with(func(a *Attachment) { a.Kind, a.Netns = KindKernel, "/var/run/netns/../../etc" }), FieldNetns},
		{"relative socket dir", with(func(a *Attachment) { a.SocketDir = "pods/x" }), FieldSocketDir},
		{"long socket dir", with(func(a *Attachment) { a.SocketDir = "/" + strings.Repeat("d", 110) }), FieldSocketDir},
		{"negative uid", with(func(a *Attachment) { a.OwnerUID = intp(-1) }), FieldOwnerUID},
		{"huge gid", with(func(a *Attachment) { a.OwnerGID = intp(1 << 32) }), FieldOwnerGID},
		{"mode not octal", with(func(a *Attachment) { a.SocketMode = "0689" }), FieldSocketMode},
		{"mode setuid", with(func(a *Attachment) { a.SocketMode = "4755" }), FieldSocketMode},
		{"mode symbolic", with(func(a *Attachment) { a.SocketMode = "rw-rw----" }), FieldSocketMode},
		{"queues 17", with(func(a *Attachment) { a.Queues = 17 }), FieldQueues},
		{"queues negative", with(func(a *Attachment) { a.Queues = -1 }), FieldQueues},

		{"owner", with(func(a *Attachment) { a.Owner = "cni-net_1.a" }), ""},
		{"kernel mtu", with(func(a *Attachment) { a.Kind, a.Netns, a.MTU = KindKernel, "/n", 1280 }), ""},
		{"pod and podMount", with(func(a *Attachment) { a.Pod, a.PodMount = "3f1e9a8c-1b2d-4c5e-8f70-123456789abc", "/var/run/podwire" }), ""},
		{"80-byte podMount", with(func(a *Attachment) { a.Pod, a.PodMount = "u", "/"+strings.Repeat("m", 79) }), ""},
		{"owner with a space", with(func(a *Attachment) { a.Owner = "a b" }), FieldOwner},
		{"owner too long", with(func(a *Attachment) { a.Owner = strings.Repeat("o", MaxOwnerLen+1) }), FieldOwner},
		{"mtu on vhostuser", with(func(a *Attachment) { a.MTU = 1500 }), FieldMTU},
		{"kernel mtu 67", with(func(a *Attachment) { a.Kind, a.Netns, a.MTU = KindKernel, "/n", 67 }), FieldMTU},
		{"kernel mtu 1501", with(func(a *Attachment) { a.Kind, a.Netns, a.MTU = KindKernel, "/n", 1501 }), FieldMTU},
		{"pod on kernel", with(func(a *Attachment) { a.Kind, a.Netns, a.Pod = KindKernel, "/n", "u" }), FieldPod},
		{"pod traversal", with(func(a *Attachment) { a.Pod = ".." }), FieldPod},
		{"pod slash", with(func(a *Attachment) { a.Pod = "a/b" }), FieldPod},
		{"podMount without pod", with(func(a *Attachment) { a.PodMount = "/var/run/podwire" }), FieldPodMount},
		{"81-byte podMount", with(func(a *Attachment) { a.Pod, a.PodMount = "u", "/"+strings.Repeat("m", 80) }), FieldPodMount},
		{"podMount not clean", with(func(a *Attachment) { a.Pod, a.PodMount = "u", "/var/run/../podwire" }), FieldPodMount},
		{"podMount with '='", with(func(a *Attachment) { a.Pod, a.PodMount = "u", "/var/a=b" }), FieldPodMount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkField(t, tt.a.Validate(), tt.field)
		})
	}
}

func TestAttachmentDefaultsAndSpecDiff(t *testing.T) {
	a := Attachment{ContainerID: "c1", IfName: "net1", Network: "blue", Kind: KindVhostUser,
		MAC: "02-AA-BB-00-00-01", SocketMode: "660", OwnerUID: intp(7)}
	d := a.WithDefaults()
	if d.VhostMode != VhostClient || d.Queues != 1 || d.MAC != "02:aa:bb:00:00:01" || d.SocketMode != "0660" {
		t.Fatalf("WithDefaults = %+v", d)
	}
	*d.OwnerUID = 8
	if *a.OwnerUID != 7 {
		t.Fatal("WithDefaults shares OwnerUID with its receiver")
	}
	if m := (Attachment{Kind: KindMemif}).WithDefaults(); m.VhostMode != "" {
		t.Fatalf("memif got VhostMode %q", m.VhostMode)
	}

	// Same spec in another spelling, with status: no difference.
	b := Attachment{ContainerID: "c1", IfName: "net1", Network: "blue", Kind: KindVhostUser, VhostMode: VhostClient,
		MAC: "02:aa:bb:00:00:01", SocketMode: "0660", OwnerUID: intp(7), Queues: 1,
		PortName: "vhu0", State: StateUp, PodSocketPath: "/pod/net1/vhost.sock", CreatedAt: time.Now()}
	if f := a.SpecDiff(b); f != "" {
		t.Fatalf("SpecDiff of equal specs = %q", f)
	}
	for _, tt := range []struct {
		field string
		f     func(*Attachment)
	}{
		{FieldNetwork, func(x *Attachment) { x.Network = "red" }},
		{FieldVhostMode, func(x *Attachment) { x.VhostMode = VhostServer }},
		{FieldMAC, func(x *Attachment) { x.MAC = "02:aa:bb:00:00:02" }},
		{FieldOwnerUID, func(x *Attachment) { x.OwnerUID = nil }},
		{FieldOwnerGID, func(x *Attachment) { x.OwnerGID = intp(0) }},
		{FieldSocketMode, func(x *Attachment) { x.SocketMode = "0600" }},
		{FieldQueues, func(x *Attachment) { x.Queues = 2 }},
		{FieldNetns, func(x *Attachment) { x.Netns = "/proc/1/ns/net" }},
		{FieldOwner, func(x *Attachment) { x.Owner = "other-net" }},
		{FieldMTU, func(x *Attachment) { x.MTU = 1400 }},
		{FieldPod, func(x *Attachment) { x.Pod = "uid-2" }},
		{FieldPodMount, func(x *Attachment) { x.PodMount = "/pod" }},
	} {
		c := b
		tt.f(&c)
		if got := a.SpecDiff(c); got != tt.field {
			t.Errorf("SpecDiff after changing %s = %q", tt.field, got)
		}
	}

	s := b.Spec()
	if s.PortName != "" || s.State != "" || s.PodSocketPath != "" || !s.CreatedAt.IsZero() || s.MAC != b.MAC {
		t.Fatalf("Spec() = %+v", s)
	}
}

func TestSocketMode(t *testing.T) {
	for in, want := range map[string]string{"0660": "0660", "660": "0660", "0": "0000", "777": "0777", "0777": "0777"} {
		m, err := ParseSocketMode(in)
		if err != nil || FormatSocketMode(m) != want {
			t.Errorf("ParseSocketMode(%q) = %v, %v; formatted %q, want %q", in, m, err, FormatSocketMode(m), want)
		}
	}
	for _, in := range []string{"", "1000", "07777", "-660", "0x1ff", "8"} {
		if _, err := ParseSocketMode(in); err == nil {
			t.Errorf("ParseSocketMode(%q) succeeded", in)
		}
	}
}

func TestLinkString(t *testing.T) {
	for l, want := range map[Link]string{
		{}:                          "down",
		{Up: true}:                  "up",
		{Up: true, SpeedMbps: 100}:  "up 100M",
		{Up: true, SpeedMbps: 10e3}: "up 10G",
		{Up: true, SpeedMbps: 2500}: "up 2.5G",
	} {
		if got := l.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", l, got, want)
		}
	}
}
