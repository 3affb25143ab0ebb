// Package forwarder is podwire's poll-mode forwarding engine: ports,
// networks (L2 bridge domains with MAC learning), the workers that poll and
// switch, and the counters that explain every packet not forwarded.
//
// # Threads
//
// One worker per forwarding lcore runs a Go poll loop on an EAL worker lcore
// (dpdk.Launch): rx burst, classify, learn, look up, per-destination tx
// buffers, tx burst, free and count what tx refused. A worker owns its rx
// queues and uses tx queue (worker id mod the port's tx queues) on every
// port; when a port has fewer tx queues than there are workers, the workers
// that share a queue take a spin lock around the tx burst, nothing else.
//
// The control plane (Engine methods, any goroutine) serializes on a mutex
// and publishes every change as a new immutable snapshot through one atomic
// pointer. Workers load it once per loop and record its generation; the
// control plane waits until every worker has recorded the new generation
// (a quiescent point) before it stops a removed port, clears its counters or
// hands its rx queue to another worker. The fast path takes no lock (except
// shared tx queues) and allocates nothing.
//
// # MAC tables
//
// Each network has a fixed-size table of 8-slot buckets. Workers learn
// source MACs into it with atomic stores and CAS; the control plane ages
// entries, installs static ones (ports with a known MAC) and flushes a
// removed port's entries. A full bucket refuses to learn (counted as
// table_full); the destination is then flooded, never dropped.
//
// # Ownership
//
// The caller probes a device and hands the stopped ethdev to AddPort; the
// engine configures, starts and polls it. RemovePort takes it out of the
// snapshot, waits for quiescence and stops it; the caller removes the device.
// Mbufs belong to the worker between rx and tx; floods share one mbuf among
// untagged outputs through its reference count and copy for tagged trunks.
package forwarder
