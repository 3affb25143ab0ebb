// hangup.c: a memif peer that hangs up during the handshake must not take
// EAL's interrupt thread down (see hangup.go).
#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <rte_interrupts.h>

uint64_t pw_hangup_sends; /* sends to a gone peer reported as done */

/* sendmsg interposes libc's for the whole process. On EAL's interrupt
 * thread, a send that fails because the peer is gone (EPIPE, ECONNRESET)
 * reports the message as sent: the hang-up reaches the PMD as an event on
 * the socket right after, through its regular disconnect path. Everywhere
 * else, and for every other result, it is the plain system call. */
ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	ssize_t n = syscall(SYS_sendmsg, fd, msg, flags);

	if (n < 0 && (errno == EPIPE || errno == ECONNRESET) && rte_thread_is_intr()) {
		size_t len = 0;
		for (size_t i = 0; i < msg->msg_iovlen; i++)
			len += msg->msg_iov[i].iov_len;
		__atomic_add_fetch(&pw_hangup_sends, 1, __ATOMIC_RELAXED);
		return (ssize_t)len;
	}
	return n;
}
