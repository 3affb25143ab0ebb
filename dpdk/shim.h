/* shim.h: one-line C wrappers for DPDK's static inline functions and macros,
 * so that Go can call them through cgo. Nothing here loops per packet except
 * where a whole burst is handled in one call. */
#ifndef PODWIRE_DPDK_SHIM_H
#define PODWIRE_DPDK_SHIM_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>

#include <rte_config.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_thread.h>
#include <rte_dev.h>
#include <rte_bus.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

/* Field offsets of struct rte_mbuf, read by Go as constants so that per-packet
 * field access never crosses cgo (rte_mbuf has anonymous unions and markers
 * that cgo cannot describe). */
enum {
	PW_MBUF_OFF_BUF_ADDR = offsetof(struct rte_mbuf, buf_addr),
	PW_MBUF_OFF_DATA_OFF = offsetof(struct rte_mbuf, data_off),
	PW_MBUF_OFF_REFCNT = offsetof(struct rte_mbuf, refcnt),
	PW_MBUF_OFF_NB_SEGS = offsetof(struct rte_mbuf, nb_segs),
	PW_MBUF_OFF_PORT = offsetof(struct rte_mbuf, port),
	PW_MBUF_OFF_OL_FLAGS = offsetof(struct rte_mbuf, ol_flags),
	PW_MBUF_OFF_PACKET_TYPE = offsetof(struct rte_mbuf, packet_type),
	PW_MBUF_OFF_PKT_LEN = offsetof(struct rte_mbuf, pkt_len),
	PW_MBUF_OFF_DATA_LEN = offsetof(struct rte_mbuf, data_len),
	PW_MBUF_OFF_VLAN_TCI = offsetof(struct rte_mbuf, vlan_tci),
	PW_MBUF_OFF_HASH = offsetof(struct rte_mbuf, hash),
	PW_MBUF_OFF_BUF_LEN = offsetof(struct rte_mbuf, buf_len),
	PW_MBUF_OFF_POOL = offsetof(struct rte_mbuf, pool),
	PW_MBUF_OFF_NEXT = offsetof(struct rte_mbuf, next),
	PW_MBUF_SIZE = sizeof(struct rte_mbuf),
};

/* Offload and flag values as plain constants (the headers define them with
 * RTE_BIT64 and 1ULL shifts). */
extern const uint64_t pw_mbuf_f_rx_rss_hash;
extern const uint64_t pw_mbuf_f_rx_vlan;
extern const uint64_t pw_mbuf_f_rx_vlan_stripped;
extern const uint64_t pw_mbuf_f_rx_ip_cksum_bad;
extern const uint64_t pw_mbuf_f_rx_ip_cksum_good;
extern const uint64_t pw_mbuf_f_rx_l4_cksum_bad;
extern const uint64_t pw_mbuf_f_rx_l4_cksum_good;
extern const uint64_t pw_mbuf_f_tx_vlan;
extern const uint64_t pw_mbuf_f_tx_ipv4;
extern const uint64_t pw_mbuf_f_tx_ipv6;
extern const uint64_t pw_mbuf_f_tx_ip_cksum;
extern const uint64_t pw_mbuf_f_tx_udp_cksum;
extern const uint64_t pw_mbuf_f_tx_tcp_cksum;
extern const uint64_t pw_rx_offload_rss_hash;
extern const uint64_t pw_rx_offload_scatter;
extern const uint64_t pw_rx_offload_vlan_strip;
extern const uint64_t pw_rx_offload_checksum;
extern const uint64_t pw_tx_offload_mbuf_fast_free;
extern const uint64_t pw_tx_offload_multi_segs;
extern const uint64_t pw_tx_offload_vlan_insert;
extern const uint64_t pw_tx_offload_ipv4_cksum;

static inline int pw_errno(void) { return rte_errno; }
static inline unsigned pw_lcore_id(void) { return rte_lcore_id(); }
static inline unsigned pw_lcore_any(void) { return LCORE_ID_ANY; }

static inline uint16_t pw_rx_burst(uint16_t port, uint16_t q, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, q, pkts, n);
}

/* Rx burst only while the link is up: for PMDs (memif) whose rx path must
 * not run once the peer has gone. One C call either way. */
static inline uint16_t pw_rx_burst_if_up(uint16_t port, uint16_t q, struct rte_mbuf **pkts, uint16_t n)
{
	struct rte_eth_link l;

	if (rte_eth_link_get_nowait(port, &l) != 0 || l.link_status == RTE_ETH_LINK_DOWN)
		return 0;
	return rte_eth_rx_burst(port, q, pkts, n);
}

static inline uint16_t pw_tx_burst(uint16_t port, uint16_t q, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, q, pkts, n);
}

/* Batches: one C call polls (or sends on) many queues, so that a worker
 * crosses cgo twice per loop however many queues it serves. */
struct pw_rxq {
	uint16_t port;
	uint16_t queue;
	uint16_t if_up; /* read the link state first; skip a down port */
	uint16_t n;     /* out: packets received */
};

/* pw_rx_multi polls qs[0..nq) into pkts, burst slots per queue, and
 * returns the total received. */
static inline uint32_t pw_rx_multi(struct pw_rxq *qs, uint16_t nq, struct rte_mbuf **pkts, uint16_t burst)
{
	uint32_t total = 0;

	for (uint16_t i = 0; i < nq; i++) {
		struct pw_rxq *q = &qs[i];
		struct rte_eth_link l;

		if (q->if_up && (rte_eth_link_get_nowait(q->port, &l) != 0 || l.link_status == RTE_ETH_LINK_DOWN)) {
			q->n = 0;
			continue;
		}
		q->n = rte_eth_rx_burst(q->port, q->queue, pkts + (size_t)i * burst, burst);
		total += q->n;
	}
	return total;
}

struct pw_txq {
	struct rte_mbuf **pkts;
	uint16_t port;
	uint16_t queue;
	uint16_t n;
	uint16_t sent; /* out */
};

static inline void pw_tx_multi(struct pw_txq *qs, uint16_t nq)
{
	for (uint16_t i = 0; i < nq; i++)
		qs[i].sent = rte_eth_tx_burst(qs[i].port, qs[i].queue, qs[i].pkts, qs[i].n);
}

static inline int pw_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **pkts, unsigned n)
{
	return rte_pktmbuf_alloc_bulk(mp, pkts, n);
}

static inline struct rte_mbuf *pw_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }
static inline void pw_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }
static inline int pw_pktmbuf_linearize(struct rte_mbuf *m) { return rte_pktmbuf_linearize(m); }
static inline int pw_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail) { return rte_pktmbuf_chain(head, tail); }
static inline void pw_pktmbuf_reset(struct rte_mbuf *m) { rte_pktmbuf_reset(m); }

static inline unsigned pw_ring_enqueue_burst(struct rte_ring *r, void **objs, unsigned n)
{
	return rte_ring_enqueue_burst(r, objs, n, NULL);
}
static inline unsigned pw_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned n)
{
	return rte_ring_dequeue_burst(r, objs, n, NULL);
}
static inline unsigned pw_ring_count(const struct rte_ring *r) { return rte_ring_count(r); }
static inline unsigned pw_ring_free_count(const struct rte_ring *r) { return rte_ring_free_count(r); }
static inline unsigned pw_ring_capacity(const struct rte_ring *r) { return rte_ring_get_capacity(r); }
static inline const char *pw_ring_name(const struct rte_ring *r) { return r->name; }
static inline const char *pw_mempool_name(const struct rte_mempool *mp) { return mp->name; }
static inline unsigned pw_mempool_size(const struct rte_mempool *mp) { return mp->size; }


/* Calls that report failure through rte_errno: read it in the same C call,
 * because a goroutine may move to another OS thread between two cgo calls
 * and rte_errno is thread-local. */
static inline struct rte_mempool *pw_pktmbuf_pool_create(const char *name, unsigned n,
	unsigned cache, uint16_t priv, uint16_t room, int socket, int *err)
{
	struct rte_mempool *mp = rte_pktmbuf_pool_create(name, n, cache, priv, room, socket);
	*err = mp == NULL ? rte_errno : 0;
	return mp;
}
static inline struct rte_mempool *pw_mempool_lookup(const char *name, int *err)
{
	struct rte_mempool *mp = rte_mempool_lookup(name);
	*err = mp == NULL ? rte_errno : 0;
	return mp;
}
static inline struct rte_ring *pw_ring_create(const char *name, unsigned count, int socket,
	unsigned flags, int *err)
{
	struct rte_ring *r = rte_ring_create(name, count, socket, flags);
	*err = r == NULL ? rte_errno : 0;
	return r;
}
static inline struct rte_ring *pw_ring_lookup(const char *name, int *err)
{
	struct rte_ring *r = rte_ring_lookup(name);
	*err = r == NULL ? rte_errno : 0;
	return r;
}
static inline int pw_eal_cleanup(int *err)
{
	int rc = rte_eal_cleanup();
	*err = rc < 0 ? rte_errno : 0;
	return rc;
}

/* Implemented in shim.c. */
int pw_eal_init(int argc, char **argv, int *err);
int pw_lcore_trampoline(void *arg);
int pw_remote_launch(uintptr_t key, unsigned lcore);
int pw_thread_pin_register(int cpu);
int pw_next_lcore(int prev);
int pw_eth_configure(uint16_t port, uint16_t nrx, uint16_t ntx, int rss, uint16_t mtu,
		     uint64_t rx_offloads, uint64_t tx_offloads);
int pw_ports_of_device(const char *name, uint16_t *out, int max);
int pw_port_device_name(uint16_t port, char *buf, size_t len);
int pw_port_remove_device(uint16_t port);
int pw_next_port(int prev);

#endif
