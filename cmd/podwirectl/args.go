package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/podwire/podwire/api"
)

// socketEnv names another default socket path.
const socketEnv = "PODWIRE_SOCKET"

// invocation is a parsed command line.
type invocation struct {
	socket  string
	output  string // "table" or "json"
	timeout time.Duration
	help    bool // -h: print usage and exit 0

	cmd     *command
	args    []string       // positional arguments after the command's words
	network api.Network    // network add
	attach  api.Attachment // attach
}

// command is one podwirectl command.
type command struct {
	words []string // "network", "add"
	usage string   // arguments, for the usage text
	help  string
	nargs int // exact number of positional arguments
	// flags registers the command's own flags.
	flags func(fs *flag.FlagSet, inv *invocation, o *attachOpts)
	// build fills the invocation from positionals and flags, and checks it.
	build func(inv *invocation, o *attachOpts) error
}

func (c *command) name() string { return strings.Join(c.words, " ") }

// positional is the positional part of usage: "CONTAINERID IFNAME".
func (c *command) positional() string {
	u := c.usage
	for _, cut := range []string{" [", " -", "["} {
		if i := strings.Index(u, cut); i >= 0 {
			u = u[:i]
		}
	}
	return strings.TrimSpace(u)
}

// attachOpts are flags whose values need converting before they go into
// the invocation.
type attachOpts struct {
	vlan int
}

// optionalInt is an int flag that stays nil unless given.
type optionalInt struct{ p **int }

func (o optionalInt) String() string {
	if o.p == nil || *o.p == nil {
		return ""
	}
	return strconv.Itoa(**o.p)
}

func (o optionalInt) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("not an integer")
	}
	*o.p = &v
	return nil
}

var commands = []*command{
	{words: []string{"status"}, help: "podwired's version, uptime and object counts"},
	{words: []string{"ports"}, help: "ports with link, MAC, queues and counters"},
	{words: []string{"networks"}, help: "networks (bridge domains)"},
	{words: []string{"macs"}, usage: "NETWORK", nargs: 1, help: "a network's MAC table",
		build: func(inv *invocation, _ *attachOpts) error {
			return api.ValidateName("NETWORK", inv.args[0])
		}},
	{words: []string{"counters"}, help: "rx/tx packets and bytes, and drops, per port and per worker"},
	{words: []string{"drops"}, help: "packets not forwarded, by port or worker and reason"},
	{words: []string{"workers"}, help: "poll-mode workers: lcore, CPU, rx queues, load"},
	{words: []string{"attachments"}, help: "pod interfaces attached to podwired, with state and socket"},
	{words: []string{"network", "add"}, usage: "NAME [--vlan N] [--max-macs N] [--mac-ageing SECONDS]", nargs: 1,
		help: "create or update a network",
		flags: func(fs *flag.FlagSet, inv *invocation, o *attachOpts) {
			fs.IntVar(&o.vlan, "vlan", 0, "VLAN `ID` on the uplink (0: untagged)")
			fs.IntVar(&inv.network.MaxMACs, "max-macs", 0, "MAC table size (0: podwired's default)")
			fs.IntVar(&inv.network.MACAgeingSeconds, "mac-ageing", 0, "MAC ageing time in `seconds` (0: podwired's default)")
		},
		build: func(inv *invocation, o *attachOpts) error {
			if o.vlan < 0 || o.vlan > api.MaxVLAN {
				return &api.FieldError{Field: api.FieldVLAN, Message: fmt.Sprintf("%d is out of range: 0 (untagged) or 1..%d", o.vlan, api.MaxVLAN)}
			}
			inv.network.Name, inv.network.VLAN = inv.args[0], uint16(o.vlan)
			return inv.network.Validate()
		}},
	{words: []string{"network", "del"}, usage: "NAME", nargs: 1, help: "delete a network (no attachment may use it)",
		build: func(inv *invocation, _ *attachOpts) error {
			return api.ValidateName(api.FieldName, inv.args[0])
		}},
	{words: []string{"attach"}, usage: "CONTAINERID IFNAME --network N --kind vhostuser|memif|kernel [flags]", nargs: 2,
		help: "attach a pod interface (what the CNI plugin does)",
		flags: func(fs *flag.FlagSet, inv *invocation, o *attachOpts) {
			a := &inv.attach
			fs.StringVar(&a.Network, "network", "", "network `name` (required)")
			fs.StringVar(&a.Kind, "kind", "", "vhostuser, memif or kernel (required)")
			fs.StringVar(&a.VhostMode, "vhost-mode", "", "vhostuser: client (pod is the server; default) or server")
			fs.StringVar(&a.MAC, "mac", "", "the pod interface's MAC, as a static MAC table entry")
			fs.StringVar(&a.Netns, "netns", "", "the pod's network namespace `path` (required for kernel)")
			fs.StringVar(&a.SocketDir, "socket-dir", "", "socket `directory` (default: podwired's per-pod directory)")
			fs.Var(optionalInt{&a.OwnerUID}, "uid", "socket owner `uid`")
			fs.Var(optionalInt{&a.OwnerGID}, "gid", "socket group `gid`")
			fs.StringVar(&a.SocketMode, "socket-mode", "", "socket permissions in octal, e.g. 0660")
			fs.IntVar(&a.Queues, "queues", 0, "queue pairs (default 1)")
			fs.StringVar(&a.Owner, "owner", "", "who made the attachment (the CNI plugin sets its network's name; GC is scoped by it)")
			fs.IntVar(&a.MTU, "mtu", 0, "kernel: MTU of both veth ends (default 1500)")
			fs.StringVar(&a.Pod, "pod", "", "vhostuser, memif: the pod's `UID`, for a per-pod socket directory <socketDir>/pods/UID/IFNAME")
			fs.StringVar(&a.PodMount, "pod-mount", "", "with --pod: where the pod mounts its directory (`path` in the pod)")
		},
		build: func(inv *invocation, _ *attachOpts) error {
			a := &inv.attach
			a.ContainerID, a.IfName = inv.args[0], inv.args[1]
			if a.Network == "" {
				return usageErrorf("attach: --network is required")
			}
			if a.Kind == "" {
				return usageErrorf("attach: --kind is required (vhostuser, memif or kernel)")
			}
			return a.Validate()
		}},
	{words: []string{"detach"}, usage: "CONTAINERID IFNAME", nargs: 2, help: "detach a pod interface and remove its port",
		build: func(inv *invocation, _ *attachOpts) error {
			if err := api.ValidateContainerID(inv.args[0]); err != nil {
				return err
			}
			return api.ValidateIfName(inv.args[1])
		}},
	{words: []string{"help"}, help: "this text"},
}

// aliases map other spellings to a command's words.
var aliases = map[string][]string{
	"network ls":     {"networks"},
	"network list":   {"networks"},
	"network rm":     {"network", "del"},
	"network delete": {"network", "del"},
	"attachment ls":  {"attachments"},
	"port ls":        {"ports"},
	"worker ls":      {"workers"},
	"version":        {"status"},
}

// usageError is a malformed command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func addGlobalFlags(fs *flag.FlagSet, inv *invocation) {
	for _, name := range []string{"s", "socket"} {
		fs.StringVar(&inv.socket, name, inv.socket, "podwired's API `socket`")
	}
	for _, name := range []string{"o", "output"} {
		fs.StringVar(&inv.output, name, inv.output, "output `format`: table or json")
	}
	fs.DurationVar(&inv.timeout, "timeout", inv.timeout, "give up on podwired after this long")
	fs.BoolVar(&inv.help, "h", false, "show usage")
	fs.BoolVar(&inv.help, "help", false, "show usage")
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses podwirectl's arguments (without the program name). Global
// flags may come before or after the command; a command's flags may come
// before, between or after its positional arguments; "--" ends flags.
func parse(args []string, getenv func(string) string) (*invocation, error) {
	inv := &invocation{socket: api.DefaultSocket, output: "table", timeout: 30 * time.Second}
	if s := getenv(socketEnv); s != "" {
		inv.socket = s
	}
	fs := newFlagSet("podwirectl")
	addGlobalFlags(fs, inv)
	if err := fs.Parse(args); err != nil {
		return nil, flagError("", err)
	}
	rest := fs.Args()
	if inv.help || len(rest) == 0 {
		inv.help = true
		return inv, checkGlobals(inv)
	}

	cmd, n := lookup(rest)
	if cmd == nil {
		if len(rest) > 1 && rest[0] == "network" {
			return nil, usageErrorf("unknown command %q: network takes add or del", "network "+rest[1])
		}
		return nil, usageErrorf("unknown command %q", rest[0])
	}
	inv.cmd = cmd
	if cmd.name() == "help" {
		inv.help = true
		if sub, _ := lookup(rest[n:]); sub != nil {
			inv.cmd = sub // "help attach"
		}
		return inv, nil
	}

	cfs := newFlagSet(cmd.name())
	addGlobalFlags(cfs, inv)
	var opts attachOpts
	if cmd.flags != nil {
		cmd.flags(cfs, inv, &opts)
	}
	pos, err := parseInterspersed(cfs, rest[n:])
	if err != nil {
		return nil, flagError(cmd.name(), err)
	}
	if inv.help {
		return inv, checkGlobals(inv)
	}
	if err := checkGlobals(inv); err != nil {
		return nil, err
	}
	if len(pos) != cmd.nargs {
		want, got := "no arguments", "none"
		if cmd.nargs > 0 {
			want = cmd.positional()
		}
		if len(pos) > 0 {
			got = fmt.Sprintf("%d: %s", len(pos), strings.Join(pos, " "))
		}
		return nil, usageErrorf("%s: want %s, got %s", cmd.name(), want, got)
	}
	inv.args = pos
	if cmd.build != nil {
		if err := cmd.build(inv, &opts); err != nil {
			return nil, err
		}
	}
	return inv, nil
}

// lookup finds the command that args start with, and how many words it
// used.
func lookup(args []string) (*command, int) {
	for n := min(2, len(args)); n >= 1; n-- {
		key := strings.Join(args[:n], " ")
		if words, ok := aliases[key]; ok {
			key = strings.Join(words, " ")
		}
		for _, c := range commands {
			if c.name() == key {
				return c, n
			}
		}
	}
	return nil, 0
}

// parseInterspersed parses flags anywhere among args and returns the
// positional arguments in order.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		// flag stops at "--" (and consumes it) or at the first non-flag.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func checkGlobals(inv *invocation) error {
	switch inv.output {
	case "table", "json":
	default:
		return usageErrorf("-o %q: want table or json", inv.output)
	}
	if inv.socket == "" {
		return usageErrorf("-s: empty socket path")
	}
	if inv.timeout <= 0 {
		return usageErrorf("-timeout %v: want a positive duration", inv.timeout)
	}
	return nil
}

// flagError rewords the flag package's errors into one line.
func flagError(cmd string, err error) error {
	prefix := ""
	if cmd != "" {
		prefix = cmd + ": "
	}
	msg := err.Error()
	var num *strconv.NumError
	if errors.As(err, &num) {
		msg = strings.Replace(msg, ": "+num.Error(), "", 1) // flag adds the NumError after its own text
	}
	return usageErrorf("%s%s", prefix, msg)
}

// writeUsage prints the usage text: all commands, or one command's flags.
func writeUsage(w io.Writer, cmd *command) {
	if cmd != nil && cmd.name() != "help" {
		fmt.Fprintf(w, "usage: podwirectl [-s SOCKET] [-o table|json] %s %s\n\n%s.\n", cmd.name(), cmd.usage, cmd.help)
		if cmd.flags != nil {
			fmt.Fprintln(w, "\nflags:")
			fs := newFlagSet(cmd.name())
			cmd.flags(fs, &invocation{}, &attachOpts{})
			fs.SetOutput(w)
			fs.PrintDefaults()
		}
		return
	}
	fmt.Fprintf(w, `usage: podwirectl [-s SOCKET] [-o table|json] [-timeout D] COMMAND [ARGS]

podwirectl shows and changes what podwired, podwire's node forwarder, is doing,
through its control API on a unix socket.

commands:
`)
	for _, c := range commands {
		syn := strings.TrimSpace(c.name() + " " + c.positional())
		if c.flags != nil {
			syn += " [flags]"
		}
		fmt.Fprintf(w, "  %-36s %s\n", syn, c.help)
	}
	fmt.Fprintf(w, `
global flags (before or after the command):
  -s, -socket PATH   podwired's API socket (default $%s or %s)
  -o, -output FMT    table (for people) or json (the API's JSON, for scripts)
  -timeout D         give up on podwired after D (default 30s)

'podwirectl COMMAND -h' shows a command's flags. Exit status: 0 ok, 1 error.
`, socketEnv, api.DefaultSocket)
}
