// listeners.c: closes the listening sockets that a PMD leaves open when its
// device is removed (see listeners.go).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
/* The interrupt-instance accessors are experimental in DPDK 22.11. */
#define ALLOW_EXPERIMENTAL_API
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <rte_interrupts.h>

#include "listeners.h"

/* A listening unix socket on which a PMD registered an interrupt callback. */
struct pw_listener {
	int fd;
	rte_intr_callback_fn cb;
};

/* Far more than podwired's port limit: a full table only means that
 * further listeners are not tracked (and leak as before). */
#define PW_MAX_LISTENERS 4096

static struct pw_listener listeners[PW_MAX_LISTENERS];
static int nlisteners;
static pthread_mutex_t listeners_mu = PTHREAD_MUTEX_INITIALIZER;

typedef int (*register_fn)(const struct rte_intr_handle *, rte_intr_callback_fn, void *);

static int is_unix_listener(int fd)
{
	int v = 0;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) < 0 || v != AF_UNIX)
		return 0;
	l = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) < 0)
		return 0;
	return v;
}

static int bound_to(int fd, const char *path)
{
	struct sockaddr_un sun;
	socklen_t l = sizeof(sun);

	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &l) < 0 || sun.sun_family != AF_UNIX)
		return 0;
	return strncmp(sun.sun_path, path, sizeof(sun.sun_path)) == 0;
}

/* rte_intr_callback_register interposes EAL's for the whole process (like
 * munmap in unmapguard.c) and passes every call on. It remembers the
 * callbacks registered on listening unix sockets: those of memif servers. */
int rte_intr_callback_register(const struct rte_intr_handle *h, rte_intr_callback_fn cb, void *arg)
{
	static register_fn next;
	register_fn fn = __atomic_load_n(&next, __ATOMIC_ACQUIRE);

	if (fn == NULL) {
		fn = (register_fn)dlsym(RTLD_NEXT, "rte_intr_callback_register");
		if (fn == NULL)
			return -ENOSYS;
		__atomic_store_n(&next, fn, __ATOMIC_RELEASE);
	}
	int ret = fn(h, cb, arg);
	int fd = rte_intr_fd_get(h);
	if (ret != 0 || fd < 0 || !is_unix_listener(fd))
		return ret;
	pthread_mutex_lock(&listeners_mu);
	int i;
	for (i = 0; i < nlisteners; i++)
		if (listeners[i].fd == fd) /* a number reused after a close */
			break;
	if (i == nlisteners && nlisteners < PW_MAX_LISTENERS)
		nlisteners++;
	if (i < nlisteners) {
		listeners[i].fd = fd;
		listeners[i].cb = cb;
	}
	pthread_mutex_unlock(&listeners_mu);
	return ret;
}

/* pw_pmd_listener returns the descriptor of the newest tracked listener
 * bound to path, or -1. */
int pw_pmd_listener(const char *path)
{
	int fd = -1;

	pthread_mutex_lock(&listeners_mu);
	for (int i = 0; i < nlisteners; i++)
		if (bound_to(listeners[i].fd, path))
			fd = listeners[i].fd;
	pthread_mutex_unlock(&listeners_mu);
	return fd;
}

/* pw_release_pmd_listener unregisters the callback on the tracked listener
 * fd, which must still be bound to path, and closes it. It returns 1 when
 * it closed fd, 0 when there was nothing to do (not tracked, bound
 * elsewhere, or no callback left: the PMD cleaned up itself, so fd is not
 * ours to close), or a negative errno. */
int pw_release_pmd_listener(int fd, const char *path)
{
	rte_intr_callback_fn cb = NULL;

	/* Take the record out under the lock and unregister outside it: EAL
	 * calls into this file (rte_intr_callback_register from a callback)
	 * while it holds its own lock. */
	pthread_mutex_lock(&listeners_mu);
	for (int i = 0; i < nlisteners; i++) {
		if (listeners[i].fd != fd)
			continue;
		if (is_unix_listener(fd) && bound_to(fd, path))
			cb = listeners[i].cb;
		listeners[i] = listeners[--nlisteners];
		break;
	}
	pthread_mutex_unlock(&listeners_mu);
	if (cb == NULL)
		return 0;
	struct rte_intr_handle *h = rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE);
	if (h == NULL)
		return -ENOMEM;
	int ret = -EINVAL;
	if (rte_intr_fd_set(h, fd) == 0 && rte_intr_type_set(h, RTE_INTR_HANDLE_EXT) == 0) {
		/* -EAGAIN: the callback runs right now on the interrupt thread. */
		struct timespec ms = {0, 1000000};
		for (int try = 0; try < 1000; try++) {
			ret = rte_intr_callback_unregister(h, cb, (void *)-1);
			if (ret != -EAGAIN)
				break;
			nanosleep(&ms, NULL);
		}
	}
	rte_intr_instance_free(h);
	if (ret == -ENOENT || ret == 0)
		return 0; /* no callback left: the PMD cleaned up, fd is not ours */
	if (ret < 0)
		return ret;
	close(fd);
	return 1;
}
