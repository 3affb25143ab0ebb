package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/podwire/podwire/api"
)

// report is what the summary shows: the measured window (Base to Last) and
// podwired's tables read right after it.
type report struct {
	Seconds    float64
	Base, Last sample
	Pods       []*podSpec
	Ports      []api.Port
	MACs       []api.MACEntry
	Workers    []api.Worker
}

// flow is one direction in the measured window, from podwired's counters:
// what it received from the source pod's port, and what it sent out of the
// destination pod's port.
type flow struct {
	RxPackets, TxPackets, TxBytes uint64
}

func (r report) delta(port string) api.Counters {
	b, l := r.Base.ports[port], r.Last.ports[port]
	return api.Counters{RxPackets: l.RxPackets - b.RxPackets, RxBytes: l.RxBytes - b.RxBytes,
		TxPackets: l.TxPackets - b.TxPackets, TxBytes: l.TxBytes - b.TxBytes}
}

func (r report) direction(from, to *podSpec) flow {
	src, dst := r.delta(from.att.PortName), r.delta(to.att.PortName)
	return flow{RxPackets: src.RxPackets, TxPackets: dst.TxPackets, TxBytes: dst.TxBytes}
}

// dropRow is one non-zero drop counter of one port in the window.
type dropRow struct {
	port, reason string
	n            uint64
}

func (r report) drops() []dropRow {
	var rows []dropRow
	for port, l := range r.Last.ports {
		b := r.Base.ports[port]
		for reason, n := range l.Drops {
			if d := n - b.Drops[reason]; d > 0 {
				rows = append(rows, dropRow{port, reason, d})
			}
		}
	}
	slices.SortFunc(rows, func(a, b dropRow) int {
		return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.port, b.port), cmp.Compare(a.reason, b.reason))
	})
	return rows
}

// podOf names the pod behind a podwired port: "pod A", or "" for another
// port.
func (r report) podOf(port string) string {
	for _, p := range r.Pods {
		if p.att.PortName == port {
			return "pod " + p.name
		}
	}
	return ""
}

// printSummary prints the result tables. The test reads the "A -> B" and
// "B -> A" rows: direction, then packets.
func printSummary(w io.Writer, r report) {
	a, b := r.Pods[0], r.Pods[1]
	fmt.Fprintf(w, "\n%s: %.1f s of traffic between two dpdk-testpmd pods (cpu 0) through podwired (lcore 1, cpu 1)\n\n",
		prog, r.Seconds)
	t := newTable(w)
	for _, p := range r.Pods {
		t.row("pod "+p.name, p.mac, p.how(), "port "+p.att.PortName, "netns "+p.netns)
	}
	t.flush()

	fmt.Fprintln(w)
	t = newTable(w, "DIRECTION", "PACKETS", "BYTES", "MPPS", "GBIT/S", "RECEIVED FROM SOURCE")
	for _, d := range []struct {
		name     string
		from, to *podSpec
	}{{"A -> B", a, b}, {"B -> A", b, a}} {
		f := r.direction(d.from, d.to)
		t.row(d.name, strconv.FormatUint(f.TxPackets, 10), strconv.FormatUint(f.TxBytes, 10),
			fmt.Sprintf("%.3f", mpps(f.TxPackets, r.Seconds)), fmt.Sprintf("%.3f", gbps(f.TxBytes, r.Seconds)),
			strconv.FormatUint(f.RxPackets, 10))
	}
	t.flush()
	fmt.Fprintln(w, "(packets and bytes that podwired sent out of the destination pod's port; bytes without FCS)")

	fmt.Fprintln(w)
	if rows := r.drops(); len(rows) == 0 {
		fmt.Fprintln(w, "drops by reason: none (podwired counted no packet that it did not forward)")
	} else {
		var total uint64
		fmt.Fprintln(w, "drops by reason (podwired, in the measured window)")
		t = newTable(w, "PORT", "POD", "REASON", "PACKETS")
		for _, d := range rows {
			t.row(d.port, r.podOf(d.port), d.reason, strconv.FormatUint(d.n, 10))
			total += d.n
		}
		t.row("total", "", "", strconv.FormatUint(total, 10))
		t.flush()
	}

	fmt.Fprintln(w, "\nports (podwired, totals since each port was created)")
	t = newTable(w, "NAME", "ID", "POD", "KIND", "NETWORK", "LINK", "MAC", "RXQ", "RX PKTS", "RX BYTES", "TX PKTS", "TX BYTES", "DROPS")
	for _, p := range r.Ports {
		c := p.Counters
		t.row(p.Name, strconv.Itoa(int(p.ID)), r.podOf(p.Name), p.Kind, p.Network, p.Link.String(), p.MAC, strconv.Itoa(p.RxQueues),
			u(c.RxPackets), u(c.RxBytes), u(c.TxPackets), u(c.TxBytes), u(c.TotalDrops()))
	}
	t.flush()

	if r.Pods[0].statsOK || r.Pods[1].statsOK {
		fmt.Fprintln(w, "\nthe pods' own counts (testpmd port 0, whole run, tx_first included) against podwired's ports")
		t = newTable(w, "POD", "TESTPMD RX", "PODWIRED TX", "TESTPMD TX", "PODWIRED RX", "TESTPMD TX DROPPED")
		for _, p := range r.Pods {
			if !p.statsOK {
				continue
			}
			var c api.Counters
			for _, port := range r.Ports {
				if port.Name == p.att.PortName {
					c = port.Counters
				}
			}
			t.row("pod "+p.name, u(p.stats.RxPackets), u(c.TxPackets), u(p.stats.TxPackets), u(c.RxPackets), u(p.stats.TxDropped))
		}
		t.flush()
	}

	fmt.Fprintf(w, "\nMAC table of network %s\n", network)
	t = newTable(w, "MAC", "PORT", "POD", "TYPE", "AGE")
	for _, m := range r.MACs {
		typ, age := "learned", (time.Duration(m.AgeSeconds) * time.Second).String()
		if m.Static {
			typ, age = "static", ""
		}
		t.row(m.MAC, m.Port, r.podOf(m.Port), typ, age)
	}
	t.flush()

	fmt.Fprintln(w, "\nworkers")
	t = newTable(w, "ID", "LCORE", "CPU", "BUSY", "LOOPS", "PACKETS", "RX QUEUES")
	for _, wk := range r.Workers {
		qs := make([]string, len(wk.RxQueues))
		for i, q := range wk.RxQueues {
			qs[i] = q.Port + "/" + strconv.Itoa(int(q.Queue))
		}
		t.row(strconv.Itoa(wk.ID), strconv.Itoa(wk.Lcore), strconv.Itoa(wk.CPU), strconv.FormatFloat(wk.Busy, 'f', 1, 64)+"%",
			u(wk.Loops), u(wk.Packets), strings.Join(qs, ","))
	}
	t.flush()
}

func u(n uint64) string { return strconv.FormatUint(n, 10) }

func mpps(pkts uint64, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return float64(pkts) / secs / 1e6
}

func gbps(bytes uint64, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return float64(bytes) * 8 / secs / 1e9
}

// table writes aligned columns, as podwirectl does: two spaces between
// columns, "-" for an empty cell.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() { _ = t.tw.Flush() }
