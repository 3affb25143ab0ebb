// shim.c: C helpers that do more than one DPDK call, so that Go makes one
// cgo call where C would make several.
#include "shim.h"
#include "_cgo_export.h"

const uint64_t pw_mbuf_f_rx_rss_hash = RTE_MBUF_F_RX_RSS_HASH;
const uint64_t pw_mbuf_f_rx_vlan = RTE_MBUF_F_RX_VLAN;
const uint64_t pw_mbuf_f_rx_vlan_stripped = RTE_MBUF_F_RX_VLAN_STRIPPED;
const uint64_t pw_mbuf_f_rx_ip_cksum_bad = RTE_MBUF_F_RX_IP_CKSUM_BAD;
const uint64_t pw_mbuf_f_rx_ip_cksum_good = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
const uint64_t pw_mbuf_f_rx_l4_cksum_bad = RTE_MBUF_F_RX_L4_CKSUM_BAD;
const uint64_t pw_mbuf_f_rx_l4_cksum_good = RTE_MBUF_F_RX_L4_CKSUM_GOOD;
const uint64_t pw_mbuf_f_tx_vlan = RTE_MBUF_F_TX_VLAN;
const uint64_t pw_mbuf_f_tx_ipv4 = RTE_MBUF_F_TX_IPV4;
const uint64_t pw_mbuf_f_tx_ipv6 = RTE_MBUF_F_TX_IPV6;
const uint64_t pw_mbuf_f_tx_ip_cksum = RTE_MBUF_F_TX_IP_CKSUM;
const uint64_t pw_mbuf_f_tx_udp_cksum = RTE_MBUF_F_TX_UDP_CKSUM;
const uint64_t pw_mbuf_f_tx_tcp_cksum = RTE_MBUF_F_TX_TCP_CKSUM;
const uint64_t pw_rx_offload_rss_hash = RTE_ETH_RX_OFFLOAD_RSS_HASH;
const uint64_t pw_rx_offload_scatter = RTE_ETH_RX_OFFLOAD_SCATTER;
const uint64_t pw_rx_offload_vlan_strip = RTE_ETH_RX_OFFLOAD_VLAN_STRIP;
const uint64_t pw_rx_offload_checksum = RTE_ETH_RX_OFFLOAD_CHECKSUM;
const uint64_t pw_tx_offload_mbuf_fast_free = RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
const uint64_t pw_tx_offload_multi_segs = RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
const uint64_t pw_tx_offload_vlan_insert = RTE_ETH_TX_OFFLOAD_VLAN_INSERT;
const uint64_t pw_tx_offload_ipv4_cksum = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;

int pw_eal_init(int argc, char **argv, int *err)
{
	int rc = rte_eal_init(argc, argv);

	*err = rc < 0 ? rte_errno : 0;
	return rc;
}

// pw_lcore_trampoline runs on an EAL lcore (rte_eal_remote_launch) and calls
// back into Go, where arg names the function to run.
int pw_lcore_trampoline(void *arg)
{
	return goLcoreEntry((uintptr_t)arg);
}

// pw_thread_pin_register pins the calling thread to cpu and registers it
// with DPDK as a non-EAL lcore. Returns the lcore id or -errno.
int pw_thread_pin_register(int cpu)
{
	rte_cpuset_t set;
	int rc;

	if (cpu >= 0) {
		if (cpu >= CPU_SETSIZE)
			return -EINVAL;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		rc = rte_thread_set_affinity(&set);
		if (rc != 0)
			return -EINVAL; /* cpu not in this process's allowed set */
	}
	if (rte_thread_register() != 0)
		return -rte_errno;
	return (int)rte_lcore_id();
}

int pw_next_lcore(int prev)
{
	// skip the main lcore, no wrap
	return (int)rte_get_next_lcore((unsigned)prev, 1, 0);
}

int pw_next_port(int prev)
{
	uint64_t p = rte_eth_find_next_owned_by((uint16_t)(prev + 1), RTE_ETH_DEV_NO_OWNER);
	if (p >= RTE_MAX_ETHPORTS)
		return -1;
	return (int)p;
}

int pw_eth_configure(uint16_t port, uint16_t nrx, uint16_t ntx, int rss, uint16_t mtu,
		     uint64_t rx_offloads, uint64_t tx_offloads)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	int rc;

	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0)
		return rc;
	if (rss && nrx > 1 && info.flow_type_rss_offloads != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = NULL;
		conf.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) &
			info.flow_type_rss_offloads;
	}
	if ((rx_offloads & info.rx_offload_capa) != rx_offloads)
		return -ENOTSUP;
	if ((tx_offloads & info.tx_offload_capa) != tx_offloads)
		return -ENOTSUP;
	conf.rxmode.offloads = rx_offloads;
	conf.txmode.offloads = tx_offloads;
	if (mtu != 0)
		conf.rxmode.mtu = mtu;
	return rte_eth_dev_configure(port, nrx, ntx, &conf);
}

static struct rte_device *port_device(uint16_t port)
{
	struct rte_eth_dev_info info;

	if (rte_eth_dev_info_get(port, &info) != 0)
		return NULL;
	return info.device;
}

int pw_port_device_name(uint16_t port, char *buf, size_t len)
{
	struct rte_device *dev = port_device(port);

	if (dev == NULL)
		return -ENODEV;
	if (snprintf(buf, len, "%s", rte_dev_name(dev)) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

int pw_ports_of_device(const char *name, uint16_t *out, int max)
{
	uint16_t p;
	int n = 0;

	RTE_ETH_FOREACH_DEV(p) {
		struct rte_device *dev = port_device(p);
		if (dev == NULL || strcmp(rte_dev_name(dev), name) != 0)
			continue;
		if (n < max)
			out[n] = p;
		n++;
	}
	return n;
}

int pw_port_remove_device(uint16_t port)
{
	struct rte_device *dev = port_device(port);

	if (dev == NULL)
		return -ENODEV;
	return rte_dev_remove(dev);
}

int pw_remote_launch(uintptr_t key, unsigned lcore)
{
	return rte_eal_remote_launch(pw_lcore_trampoline, (void *)key, lcore);
}

