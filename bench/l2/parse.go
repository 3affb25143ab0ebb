package l2

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// FwdStats are testpmd's forward statistics printed by "stop": the
// accumulated counters of all ports, and per port the rx bursts when
// testpmd records burst statistics (--record-burst-stats).
type FwdStats struct {
	RxPackets uint64 `json:"rx_packets"`
	RxDropped uint64 `json:"rx_dropped"`
	TxPackets uint64 `json:"tx_packets"`
	TxDropped uint64 `json:"tx_dropped"`
	// RxBursts is the number of rx bursts (polls, empty ones included) of
	// all ports; 0 without --record-burst-stats.
	RxBursts uint64 `json:"rx_bursts,omitempty"`
	// RxBurstPackets are the RX-packets of the ports that reported bursts.
	RxBurstPackets uint64 `json:"rx_burst_packets,omitempty"`
}

// PktsPerPoll is the mean number of packets an rx burst returned, empty
// polls included; 0 if unknown.
func (s FwdStats) PktsPerPoll() float64 {
	if s.RxBursts == 0 {
		return 0
	}
	return float64(s.RxBurstPackets) / float64(s.RxBursts)
}

var (
	reFwdPort   = regexp.MustCompile(`-+ Forward statistics for port (\d+)\s+-+`)
	reAccum     = regexp.MustCompile(`\++ Accumulated forward statistics for all ports\s*\++`)
	reDropLine  = regexp.MustCompile(`(RX|TX)-packets:\s+(\d+)\s+(RX|TX)-dropped:\s+(\d+)`)
	reRxBursts  = regexp.MustCompile(`RX-bursts\s*:\s*(\d+)`)
	reLinkState = regexp.MustCompile(`Link status:\s+(up|down)`)
)

// ParseFwdStats parses the last forward statistics testpmd printed in out
// (a transcript cleaned of prompts): the "Accumulated forward statistics
// for all ports" block and the per-port blocks before it.
func ParseFwdStats(out string) (FwdStats, error) {
	locs := reAccum.FindAllStringIndex(out, -1)
	if len(locs) == 0 {
		return FwdStats{}, fmt.Errorf("no accumulated forward statistics in testpmd's output")
	}
	// The per-port blocks of this stop lie between the previous
	// accumulated block (if any) and this one.
	begin := 0
	if len(locs) > 1 {
		begin = locs[len(locs)-2][1]
	}
	last := locs[len(locs)-1]
	var s FwdStats
	var rx, tx bool
	sc := bufio.NewScanner(strings.NewReader(out[last[1]:]))
	for sc.Scan() && !(rx && tx) {
		m := reDropLine.FindStringSubmatch(sc.Text())
		if m == nil || m[1] != m[3] {
			continue
		}
		p, _ := strconv.ParseUint(m[2], 10, 64)
		d, _ := strconv.ParseUint(m[4], 10, 64)
		switch {
		case m[1] == "RX" && !rx:
			s.RxPackets, s.RxDropped, rx = p, d, true
		case m[1] == "TX" && !tx:
			s.TxPackets, s.TxDropped, tx = p, d, true
		}
	}
	if !rx || !tx {
		return FwdStats{}, fmt.Errorf("accumulated forward statistics lack RX-packets or TX-packets")
	}
	ports := out[begin:last[0]]
	blocks := reFwdPort.FindAllStringIndex(ports, -1)
	for i, b := range blocks {
		end := len(ports)
		if i+1 < len(blocks) {
			end = blocks[i+1][0]
		}
		block := ports[b[1]:end]
		bm := reRxBursts.FindStringSubmatch(block)
		if bm == nil {
			continue
		}
		var pkts uint64
		for _, m := range reDropLine.FindAllStringSubmatch(block, -1) {
			if m[1] == "RX" && m[3] == "RX" {
				pkts, _ = strconv.ParseUint(m[2], 10, 64)
				break
			}
		}
		n, _ := strconv.ParseUint(bm[1], 10, 64)
		s.RxBursts += n
		s.RxBurstPackets += pkts
	}
	return s, nil
}

// LinksUp counts the ports that testpmd's "show port info all" output says
// are up, and the ports it lists.
func LinksUp(out string) (up, ports int) {
	for _, m := range reLinkState.FindAllStringSubmatch(out, -1) {
		ports++
		if m[1] == "up" {
			up++
		}
	}
	return up, ports
}

// ParseMetrics returns the values of the named unlabelled samples in a
// Prometheus text exposition (what podwired's /metrics serves). A name
// that is missing is an error.
func ParseMetrics(text string, names ...string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	got := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || !want[f[0]] {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: value %q: %w", f[0], f[1], err)
		}
		got[f[0]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	for _, n := range names {
		if _, ok := got[n]; !ok {
			return nil, fmt.Errorf("metrics lack %s", n)
		}
	}
	return got, nil
}

var reMetricsAddr = regexp.MustCompile(`msg=metrics addr=(\S+)`)

// MetricsAddr finds the address podwired logged for its metrics server
// ("msg=metrics addr=127.0.0.1:PORT"), "" if it has not logged one.
func MetricsAddr(log string) string {
	if m := reMetricsAddr.FindStringSubmatch(log); m != nil {
		return m[1]
	}
	return ""
}
