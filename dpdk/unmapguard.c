// unmapguard.c: makes PMD teardown on EAL's interrupt thread wait for the
// datapath (see unmapguard.go).
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/mman.h>

#include <rte_config.h>
#include <rte_interrupts.h>
#include <rte_pause.h>

#include "unmapguard.h"

struct pw_dp_state pw_dp_states[RTE_MAX_LCORE];
uint64_t pw_unmap_waits;   /* unmaps that found a worker inside and waited */
uint64_t pw_unmap_timeouts; /* waits that gave up */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* pw_dp_grace waits until every lcore that is inside its datapath section
 * now has left it once. */
static void pw_dp_grace(void)
{
	uint64_t seen[RTE_MAX_LCORE];
	int busy = 0;

	/* The PMD's plain store of its flag must be visible before the
	 * counters are read (a worker's enter is a locked add). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (int i = 0; i < RTE_MAX_LCORE; i++) {
		seen[i] = __atomic_load_n(&pw_dp_states[i].seq, __ATOMIC_SEQ_CST);
		busy |= (int)(seen[i] & 1);
	}
	if (!busy)
		return;
	__atomic_add_fetch(&pw_unmap_waits, 1, __ATOMIC_RELAXED);
	uint64_t deadline = now_ns() + PW_DP_GRACE_TIMEOUT_NS;
	for (int i = 0; i < RTE_MAX_LCORE; i++) {
		if (!(seen[i] & 1))
			continue;
		while (__atomic_load_n(&pw_dp_states[i].seq, __ATOMIC_SEQ_CST) == seen[i]) {
			if (now_ns() > deadline) {
				__atomic_add_fetch(&pw_unmap_timeouts, 1, __ATOMIC_RELAXED);
				return;
			}
			rte_pause();
		}
	}
}

/* munmap interposes libc's for the whole process (the executable's symbol
 * comes first in the dynamic lookup, also for PMDs that EAL loads later).
 * On EAL's interrupt thread it first waits for a datapath grace period:
 * there the memif PMD unmaps a peer's shared memory on disconnect while a
 * worker may still be copying into it. Everywhere else it is the plain
 * system call. */
int munmap(void *addr, size_t len)
{
	if (rte_thread_is_intr())
		pw_dp_grace();
	return (int)syscall(SYS_munmap, addr, len);
}
