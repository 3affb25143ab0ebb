package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/podwire/podwire/dpdk"
)

// collector reads the engine's counters at scrape time.
type collector struct{ d *Daemon }

var (
	descRxPkts    = prometheus.NewDesc("podwire_port_rx_packets_total", "Packets received on a port.", []string{"port", "kind", "network"}, nil)
	descRxBytes   = prometheus.NewDesc("podwire_port_rx_bytes_total", "Bytes received on a port.", []string{"port", "kind", "network"}, nil)
	descTxPkts    = prometheus.NewDesc("podwire_port_tx_packets_total", "Packets sent on a port.", []string{"port", "kind", "network"}, nil)
	descTxBytes   = prometheus.NewDesc("podwire_port_tx_bytes_total", "Bytes sent on a port.", []string{"port", "kind", "network"}, nil)
	descDrops     = prometheus.NewDesc("podwire_port_drops_total", "Packets not forwarded, by port and reason.", []string{"port", "reason"}, nil)
	descUp        = prometheus.NewDesc("podwire_port_up", "1 if the port's link is up.", []string{"port", "kind", "network"}, nil)
	descLoops     = prometheus.NewDesc("podwire_worker_loops_total", "Poll loop iterations of a worker.", []string{"worker", "lcore"}, nil)
	descBusy      = prometheus.NewDesc("podwire_worker_busy_loops_total", "Poll loop iterations that received packets.", []string{"worker", "lcore"}, nil)
	descMACs      = prometheus.NewDesc("podwire_network_macs", "MAC table entries of a network.", []string{"network"}, nil)
	descMACFull   = prometheus.NewDesc("podwire_network_mac_table_full_total", "MACs not learned because the table was full.", []string{"network"}, nil)
	descPoolUsed  = prometheus.NewDesc("podwire_mempool_in_use", "Mbufs in use.", nil, nil)
	descPoolSize  = prometheus.NewDesc("podwire_mempool_size", "Mbufs in the pool.", nil, nil)
	descAtts      = prometheus.NewDesc("podwire_attachments", "Attachments known to podwired.", nil, nil)
	descUnmapWait = prometheus.NewDesc("podwire_unmap_guard_waits_total",
		"Unmaps by a PMD on EAL's interrupt thread (memif teardown) that waited for a worker to leave its burst.", nil, nil)
	descUnmapTimeout = prometheus.NewDesc("podwire_unmap_guard_timeouts_total",
		"Unmap guard waits that gave up after 100 ms (a worker stuck in its burst).", nil, nil)
	descHangupSends = prometheus.NewDesc("podwire_memif_hangup_sends_total",
		"Sends by a PMD on EAL's interrupt thread to a peer that had hung up (a memif client gone during the handshake).", nil, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRxPkts, descRxBytes, descTxPkts, descTxBytes, descDrops, descUp,
		descLoops, descBusy, descMACs, descMACFull, descPoolUsed, descPoolSize, descAtts, descUnmapWait, descUnmapTimeout, descHangupSends} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.eng == nil {
		return
	}
	for _, p := range d.eng.Ports() {
		l := []string{p.Name, string(p.Kind), p.Network}
		ch <- prometheus.MustNewConstMetric(descRxPkts, prometheus.CounterValue, float64(p.Counters.RxPackets), l...)
		ch <- prometheus.MustNewConstMetric(descRxBytes, prometheus.CounterValue, float64(p.Counters.RxBytes), l...)
		ch <- prometheus.MustNewConstMetric(descTxPkts, prometheus.CounterValue, float64(p.Counters.TxPackets), l...)
		ch <- prometheus.MustNewConstMetric(descTxBytes, prometheus.CounterValue, float64(p.Counters.TxBytes), l...)
		up := 0.0
		if p.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, l...)
		for reason, v := range p.Counters.Drops {
			ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(v), p.Name, reason)
		}
	}
	for _, w := range d.eng.Workers() {
		l := []string{strconv.Itoa(w.ID), strconv.Itoa(int(w.Lcore))}
		ch <- prometheus.MustNewConstMetric(descLoops, prometheus.CounterValue, float64(w.Loops), l...)
		ch <- prometheus.MustNewConstMetric(descBusy, prometheus.CounterValue, float64(w.BusyLoops), l...)
	}
	for _, n := range d.eng.Networks() {
		ch <- prometheus.MustNewConstMetric(descMACs, prometheus.GaugeValue, float64(n.MACs), n.Name)
		ch <- prometheus.MustNewConstMetric(descMACFull, prometheus.CounterValue, float64(n.TableFull), n.Name)
	}
	ch <- prometheus.MustNewConstMetric(descPoolUsed, prometheus.GaugeValue, float64(d.pool.InUse()))
	ch <- prometheus.MustNewConstMetric(descPoolSize, prometheus.GaugeValue, float64(d.pool.Size()))
	ch <- prometheus.MustNewConstMetric(descAtts, prometheus.GaugeValue, float64(len(d.atts)))
	waits, timeouts := dpdk.UnmapGuardStats()
	ch <- prometheus.MustNewConstMetric(descUnmapWait, prometheus.CounterValue, float64(waits))
	ch <- prometheus.MustNewConstMetric(descUnmapTimeout, prometheus.CounterValue, float64(timeouts))
	ch <- prometheus.MustNewConstMetric(descHangupSends, prometheus.CounterValue, float64(dpdk.HangupSends()))
}

// serveMetrics serves /metrics, read-only, on the configured address.
func (d *Daemon) serveMetrics() error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{d}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", d.cfg.Metrics.Addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	d.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := d.metrics.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.served <- fmt.Errorf("metrics server: %w", err)
		}
	}()
	d.log.Info("metrics", "addr", ln.Addr().String())
	return nil
}
