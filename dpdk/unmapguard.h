#ifndef PODWIRE_UNMAPGUARD_H
#define PODWIRE_UNMAPGUARD_H

#include <stdint.h>
#include <rte_config.h>

/* PW_DP_GRACE_TIMEOUT_NS bounds a wait for a worker that does not leave
 * its datapath section (stopped in a debugger, say): 100 ms. */
#define PW_DP_GRACE_TIMEOUT_NS 100000000u

/* One per lcore, a cache line each: seq is odd while the lcore is inside
 * its datapath section. Written by that lcore only. */
struct pw_dp_state {
	uint64_t seq;
	uint8_t pad[56];
};

extern struct pw_dp_state pw_dp_states[RTE_MAX_LCORE];
extern uint64_t pw_unmap_waits;
extern uint64_t pw_unmap_timeouts;

#endif
