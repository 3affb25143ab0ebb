package dpdk

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"syscall"
)

// Error is a failed DPDK call. It wraps the errno (errors.Is(err,
// syscall.EINVAL) works) and carries DPDK's own text from rte_strerror,
// which also knows DPDK's private errno values (E_RTE_SECONDARY,
// E_RTE_NO_CONFIG).
type Error struct {
	Op    string        // the rte_* function that failed, with context
	Errno syscall.Errno // positive errno
	Text  string        // rte_strerror(Errno)
}

func (e *Error) Error() string { return e.Op + ": " + e.Text }

// Unwrap returns the errno.
func (e *Error) Unwrap() error { return e.Errno }

// Sentinel errors for conditions found on the Go side.
var (
	ErrNotInitialized     = errors.New("dpdk: EAL not initialized")
	ErrAlreadyInitialized = errors.New("dpdk: EAL already initialized (rte_eal_init runs once per process)")
	ErrCleanedUp          = errors.New("dpdk: EAL was cleaned up; it cannot be initialized again in this process")
	ErrChained            = errors.New("dpdk: chained (multi-segment) mbuf not supported here")
)

// newError builds an *Error from a positive or negative errno.
func newError(op string, errno int) error {
	if errno < 0 {
		errno = -errno
	}
	if errno == 0 {
		errno = int(syscall.EIO) // DPDK failed without saying why
	}
	return &Error{Op: op, Errno: syscall.Errno(errno), Text: C.GoString(C.rte_strerror(C.int(errno)))}
}

// rcError turns a DPDK return code (0 or positive: success, negative:
// -errno) into an error.
func rcError(op string, rc C.int) error {
	if rc >= 0 {
		return nil
	}
	return newError(op, int(rc))
}

// rteErrno returns an *Error for the current thread's rte_errno, for calls
// that report failure with NULL or -1 and set rte_errno.
func rteErrno(op string) error {
	return newError(op, int(C.pw_errno()))
}

func opf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
