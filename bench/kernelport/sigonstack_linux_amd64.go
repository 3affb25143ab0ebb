package main

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelSigaction is struct sigaction as the rt_sigaction system call takes
// it on linux/amd64.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const saOnStack = 0x08000000 // SA_ONSTACK

// fixSignalStacks adds SA_ONSTACK to every real-time signal handler that
// lacks it, and returns the signals it changed.
//
// DPDK 22.11's tap PMD drives its rx trigger with a real-time signal whose
// handler it installs with SA_RESTART only, and points its tun descriptors'
// F_SETOWN at the process. In a Go process the kernel delivers that signal
// to any thread, often one running a goroutine; without SA_ONSTACK the
// handler's frame lands on the goroutine's small stack and corrupts it
// (seen here as "traceback did not unwind completely" crashes). Go requires
// SA_ONSTACK of every non-Go handler. Go's own handlers have it, so only
// DPDK's are touched. This belongs in package dpdk, after rte_dev_probe;
// until then the benchmark calls it after probing a tap port.
func fixSignalStacks() []int {
	var fixed []int
	for sig := 32; sig <= 64; sig++ {
		var old kernelSigaction
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
			continue
		}
		if old.handler <= 1 || old.flags&saOnStack != 0 { // SIG_DFL, SIG_IGN, or fine
			continue
		}
		nw := old
		nw.flags |= saOnStack
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&nw)), 0, 8, 0, 0); e == 0 {
			fixed = append(fixed, sig)
		}
	}
	return fixed
}
