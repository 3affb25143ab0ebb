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

// table writes aligned columns: two spaces between columns, no trailing
// padding.
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
		// A tab or newline in a value would break the columns.
		cells[i] = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, cells[i])
	}
	io.WriteString(t.tw, strings.Join(cells, "\t")+"\n")
}

func (t *table) flush() error { return t.tw.Flush() }

// count is a packet count for people: exact below 1000, else three
// significant digits with k, M, G, T, P, E (powers of 1000).
func count(n uint64) string {
	if n < 1000 {
		return strconv.FormatUint(n, 10)
	}
	return scaled(float64(n), 1000, "", []string{"k", "M", "G", "T", "P", "E"})
}

// bytesIEC is a byte count for people: "512 B", "1.50 KiB", "12.3 GiB".
func bytesIEC(n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " B"
	}
	return scaled(float64(n), 1024, " ", []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"})
}

// scaled divides v by base until it fits in three digits and formats it
// with three significant digits.
func scaled(v, base float64, sep string, units []string) string {
	for i, u := range units {
		v /= base
		var s string
		switch {
		case v < 9.995:
			s = strconv.FormatFloat(v, 'f', 2, 64)
		case v < 99.95:
			s = strconv.FormatFloat(v, 'f', 1, 64)
		case v < 999.5 || i == len(units)-1:
			s = strconv.FormatFloat(v, 'f', 0, 64)
		default:
			continue
		}
		return s + sep + u
	}
	panic("unreachable")
}

// duration is an age or uptime for people, two units at most: "45s",
// "3m20s", "2h5m", "3d4h".
func duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return twoUnits(s/60, "m", s%60, "s")
	case s < 86400:
		return twoUnits(s/3600, "h", s%3600/60, "m")
	default:
		return twoUnits(s/86400, "d", s%86400/3600, "h")
	}
}

func twoUnits(a int64, au string, b int64, bu string) string {
	if b == 0 {
		return fmt.Sprintf("%d%s", a, au)
	}
	return fmt.Sprintf("%d%s%d%s", a, au, b, bu)
}

func percent(p float64) string { return strconv.FormatFloat(p, 'f', 1, 64) + "%" }

func renderStatus(w io.Writer, st api.Status, socket string, now time.Time) error {
	t := newTable(w)
	t.row("podwired", st.Version+" (api "+st.APIVersion+")")
	t.row("socket", socket)
	if !st.StartedAt.IsZero() {
		t.row("started", st.StartedAt.Local().Format(time.DateTime)+" (up "+duration(now.Sub(st.StartedAt))+")")
	}
	t.row("workers", strconv.Itoa(st.Workers))
	t.row("ports", strconv.Itoa(st.Ports))
	t.row("networks", strconv.Itoa(st.Networks))
	if st.Mbufs > 0 {
		t.row("mbufs", strconv.Itoa(st.MbufsInUse)+" in use of "+strconv.Itoa(st.Mbufs))
	}
	return t.flush()
}

func renderPorts(w io.Writer, ports []api.Port) error {
	t := newTable(w, "NAME", "ID", "KIND", "NETWORK", "LINK", "MAC", "RXQ", "RX PKTS", "RX BYTES", "TX PKTS", "TX BYTES", "DROPS")
	for _, p := range ports {
		c := p.Counters
		t.row(p.Name, strconv.Itoa(int(p.ID)), p.Kind, p.Network, p.Link.String(), p.MAC, strconv.Itoa(p.RxQueues),
			count(c.RxPackets), bytesIEC(c.RxBytes), count(c.TxPackets), bytesIEC(c.TxBytes), count(c.TotalDrops()))
	}
	return t.flush()
}

func renderNetworks(w io.Writer, nets []api.Network) error {
	t := newTable(w, "NAME", "VLAN", "MAX MACS", "MAC AGEING")
	for _, n := range nets {
		vlan, maxMACs, ageing := "untagged", "default", "default"
		if n.VLAN != 0 {
			vlan = strconv.Itoa(int(n.VLAN))
		}
		if n.MaxMACs != 0 {
			maxMACs = strconv.Itoa(n.MaxMACs)
		}
		if n.MACAgeingSeconds != 0 {
			ageing = duration(time.Duration(n.MACAgeingSeconds) * time.Second)
		}
		t.row(n.Name, vlan, maxMACs, ageing)
	}
	return t.flush()
}

func renderMACs(w io.Writer, macs []api.MACEntry) error {
	t := newTable(w, "MAC", "PORT", "TYPE", "AGE")
	for _, m := range macs {
		typ, age := "learned", duration(time.Duration(m.AgeSeconds)*time.Second)
		if m.Static {
			typ, age = "static", "-"
		}
		t.row(m.MAC, m.Port, typ, age)
	}
	return t.flush()
}

func renderCounters(w io.Writer, r api.CounterReport) error {
	t := newTable(w, "PORT", "RX PKTS", "RX BYTES", "TX PKTS", "TX BYTES", "DROPS")
	for _, p := range r.Ports {
		t.row(p.Port, count(p.RxPackets), bytesIEC(p.RxBytes), count(p.TxPackets), bytesIEC(p.TxBytes), count(p.TotalDrops()))
	}
	if err := t.flush(); err != nil {
		return err
	}
	io.WriteString(w, "\n")
	t = newTable(w, "WORKER", "LCORE", "RX PKTS", "RX BYTES", "TX PKTS", "TX BYTES", "DROPS")
	for _, wc := range r.Workers {
		t.row(strconv.Itoa(wc.Worker), strconv.Itoa(wc.Lcore), count(wc.RxPackets), bytesIEC(wc.RxBytes),
			count(wc.TxPackets), bytesIEC(wc.TxBytes), count(wc.TotalDrops()))
	}
	return t.flush()
}

// renderDrops lists every non-zero drop counter: ports first, then
// workers, each in the server's order, reasons by count (highest first).
func renderDrops(w io.Writer, r api.CounterReport) error {
	type drop struct {
		where, reason string
		n             uint64
	}
	var rows []drop
	add := func(where string, m map[string]uint64) {
		start := len(rows)
		for reason, n := range m {
			if n > 0 {
				rows = append(rows, drop{where, reason, n})
			}
		}
		slices.SortFunc(rows[start:], func(a, b drop) int {
			return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.reason, b.reason))
		})
	}
	for _, p := range r.Ports {
		add("port "+p.Port, p.Drops)
	}
	for _, wc := range r.Workers {
		add("worker "+strconv.Itoa(wc.Worker), wc.Drops)
	}
	if len(rows) == 0 {
		_, err := io.WriteString(w, "no drops\n")
		return err
	}
	t := newTable(w, "WHERE", "REASON", "PACKETS")
	for _, d := range rows {
		t.row(d.where, d.reason, count(d.n))
	}
	return t.flush()
}

func renderWorkers(w io.Writer, ws []api.Worker) error {
	t := newTable(w, "ID", "LCORE", "CPU", "BUSY", "LOOPS", "PACKETS", "RX QUEUES")
	for _, wk := range ws {
		qs := make([]string, len(wk.RxQueues))
		for i, q := range wk.RxQueues {
			qs[i] = q.Port + "/" + strconv.Itoa(int(q.Queue))
		}
		t.row(strconv.Itoa(wk.ID), strconv.Itoa(wk.Lcore), strconv.Itoa(wk.CPU), percent(wk.Busy),
			count(wk.Loops), count(wk.Packets), strings.Join(qs, ","))
	}
	return t.flush()
}

func renderAttachments(w io.Writer, as []api.Attachment, now time.Time) error {
	t := newTable(w, "CONTAINER", "IFNAME", "NETWORK", "KIND", "OWNER", "PORT", "STATE", "AGE", "SOCKET")
	for _, a := range as {
		age := ""
		if !a.CreatedAt.IsZero() {
			age = duration(now.Sub(a.CreatedAt))
		}
		t.row(a.ContainerID, a.IfName, a.Network, kindString(a), a.Owner, a.PortName, a.State, age, a.SocketPath)
	}
	return t.flush()
}

// kindString is "vhostuser/client", "memif" or "kernel".
func kindString(a api.Attachment) string {
	if a.Kind == api.KindVhostUser && a.VhostMode != "" {
		return a.Kind + "/" + a.VhostMode
	}
	return a.Kind
}

// renderAttachment shows one attachment, as attach prints it.
func renderAttachment(w io.Writer, a api.Attachment, now time.Time) error {
	t := newTable(w)
	t.row("attachment", a.Key())
	t.row("network", a.Network)
	t.row("kind", kindString(a))
	port := a.PortName
	if a.PortID != nil {
		port += " (id " + strconv.Itoa(int(*a.PortID)) + ")"
	}
	t.row("port", port)
	if a.MAC != "" {
		t.row("mac", a.MAC)
	}
	if a.Netns != "" {
		t.row("netns", a.Netns)
	}
	if a.MTU != 0 {
		t.row("mtu", strconv.Itoa(a.MTU))
	}
	if a.Owner != "" {
		t.row("owner", a.Owner)
	}
	if a.Pod != "" {
		t.row("pod", a.Pod)
	}
	if a.SocketPath != "" {
		t.row("socket", a.SocketPath)
	}
	if a.PodSocketPath != "" {
		t.row("pod socket", a.PodSocketPath)
	}
	state := a.State
	if a.Reason != "" {
		state += " (" + a.Reason + ")"
	}
	t.row("state", state)
	if !a.CreatedAt.IsZero() {
		t.row("created", a.CreatedAt.Local().Format(time.DateTime)+" ("+duration(now.Sub(a.CreatedAt))+" ago)")
	}
	return t.flush()
}
