package iofwd

import (
	"bufio"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Prompt is testpmd's interactive prompt.
const Prompt = "testpmd> "

// PortStats is one port's counters from a testpmd "show port stats" block
// ("NIC statistics for port N"): the port's ethdev counters, and testpmd's
// own rate since the previous show (0 on the first).
type PortStats struct {
	Port      int    `json:"port"`
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	RxPPS     uint64 `json:"rx_pps"`
	TxPPS     uint64 `json:"tx_pps"`
}

// Snapshot is one "show port stats all": a block per port, in port order.
type Snapshot []PortStats

// RxPackets is the total RX-packets over the snapshot's ports.
func (s Snapshot) RxPackets() uint64 {
	var n uint64
	for _, p := range s {
		n += p.RxPackets
	}
	return n
}

// RxPPS is the total of testpmd's Rx-pps over the snapshot's ports.
func (s Snapshot) RxPPS() uint64 {
	var n uint64
	for _, p := range s {
		n += p.RxPPS
	}
	return n
}

// CleanTranscript removes testpmd's prompts and their echoes from its
// stdout. testpmd writes the prompt and the echo of each input line with
// write(2) at once, but its printf output through a pipe is block-buffered
// unless line buffering is forced, so "testpmd> cmd\r\n" can land in the
// middle of a line of command output. Every echo of one of cmds is removed
// whole, then every bare prompt that is left.
func CleanTranscript(out string, cmds []string) string {
	for _, c := range cmds {
		for _, eol := range []string{"\r\n", "\n"} {
			out = strings.ReplaceAll(out, Prompt+c+eol, "")
		}
	}
	return strings.ReplaceAll(out, Prompt, "")
}

var (
	reNICHeader = regexp.MustCompile(`NIC statistics for port (\d+)\b`)
	reField     = regexp.MustCompile(`(RX-packets|TX-packets|Rx-pps|Tx-pps):\s+(\d+)`)
	reFwdLcore  = regexp.MustCompile(`Logical Core (\d+) \(socket \d+\) forwards packets on (\d+) streams`)
)

// ParsePortStats parses every "NIC statistics for port N" block of a
// testpmd transcript (cleaned with CleanTranscript) and groups them into
// snapshots, one per "show port stats all": a snapshot ends when the next
// block's port id is not above the previous one. Every block must have
// RX-packets and TX-packets and end with testpmd's line of '#'.
func ParsePortStats(out string) ([]Snapshot, error) {
	var (
		snaps []Snapshot
		cur   *PortStats
		seen  map[string]bool
		line  int
	)
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if m := reNICHeader.FindStringSubmatch(text); m != nil {
			if cur != nil {
				return nil, fmt.Errorf("testpmd output line %d: port %d block not terminated before the next", line, cur.Port)
			}
			port, err := strconv.Atoi(m[1])
			if err != nil {
				return nil, fmt.Errorf("testpmd output line %d: port id %q: %w", line, m[1], err)
			}
			cur, seen = &PortStats{Port: port}, map[string]bool{}
			continue
		}
		if cur == nil {
			continue
		}
		if t := strings.TrimSpace(text); len(t) >= 8 && strings.Trim(t, "#") == "" {
			if !seen["RX-packets"] || !seen["TX-packets"] {
				return nil, fmt.Errorf("testpmd output line %d: port %d block lacks RX-packets or TX-packets", line, cur.Port)
			}
			n := len(snaps)
			if n == 0 || cur.Port <= snaps[n-1][len(snaps[n-1])-1].Port {
				snaps = append(snaps, nil)
				n++
			}
			snaps[n-1] = append(snaps[n-1], *cur)
			cur = nil
			continue
		}
		for _, m := range reField.FindAllStringSubmatch(text, -1) {
			v, err := strconv.ParseUint(m[2], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("testpmd output line %d: %s %q: %w", line, m[1], m[2], err)
			}
			if seen[m[1]] {
				return nil, fmt.Errorf("testpmd output line %d: port %d block has %s twice", line, cur.Port, m[1])
			}
			seen[m[1]] = true
			switch m[1] {
			case "RX-packets":
				cur.RxPackets = v
			case "TX-packets":
				cur.TxPackets = v
			case "Rx-pps":
				cur.RxPPS = v
			case "Tx-pps":
				cur.TxPPS = v
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("testpmd output: %w", err)
	}
	if cur != nil {
		return nil, fmt.Errorf("testpmd output: port %d block truncated", cur.Port)
	}
	return snaps, nil
}

// FwdLcores returns the lcores testpmd says forward packets ("Logical Core
// N (socket S) forwards packets on K streams"), as printed by "start".
func FwdLcores(out string) []int {
	var ids []int
	for _, m := range reFwdLcore.FindAllStringSubmatch(out, -1) {
		if id, err := strconv.Atoi(m[1]); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// RxDelta returns the growth of the total RX packets of ports from snapshot
// a to snapshot b; both must list exactly those ports.
func RxDelta(a, b Snapshot, ports []int) (uint64, error) {
	if err := hasPorts(a, ports); err != nil {
		return 0, fmt.Errorf("first snapshot: %w", err)
	}
	if err := hasPorts(b, ports); err != nil {
		return 0, fmt.Errorf("second snapshot: %w", err)
	}
	ra, rb := a.RxPackets(), b.RxPackets()
	if rb < ra {
		return 0, fmt.Errorf("rx packets went backwards: %d, then %d", ra, rb)
	}
	return rb - ra, nil
}

func hasPorts(s Snapshot, ports []int) error {
	if len(s) != len(ports) {
		return fmt.Errorf("%d ports, want %v", len(s), ports)
	}
	for i, p := range s {
		if p.Port != ports[i] {
			return fmt.Errorf("port %d at %d, want %v", p.Port, i, ports)
		}
	}
	return nil
}

// errNoPrompt is returned when testpmd exits before showing its prompt.
var errNoPrompt = errors.New("testpmd exited before its prompt")
