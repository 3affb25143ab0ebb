package iofwd

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ContendedShare is the CPU share below which a trial's forwarding thread
// is reported as contended: something else ran on its cpu.
const ContendedShare = 0.95

// threadCPUTime is the time a thread has run on a cpu, from the first field
// of /proc/<pid>/task/<tid>/schedstat (nanoseconds).
func threadCPUTime(pid, tid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/schedstat", pid, tid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("schedstat of thread %d: empty", tid)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("schedstat of thread %d: %w", tid, err)
	}
	return time.Duration(ns), nil
}

// FindThread returns the id of the thread of pid named comm, such as
// "rte-worker-1", the EAL thread of lcore 1.
func FindThread(pid int, comm string) (int, error) {
	dirs, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil {
		return 0, err
	}
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil || strings.TrimSpace(string(b)) != comm {
			continue
		}
		return strconv.Atoi(filepath.Base(d))
	}
	return 0, fmt.Errorf("process %d has no thread %q", pid, comm)
}

// CPUShare measures the share of wall time a thread spends on a cpu
// between Start and Stop (from /proc schedstat). In a VM that is the share
// the guest gave it: time the host took from the vCPU (steal) still counts.
type CPUShare struct {
	pid, tid int
	t0       time.Time
	c0       time.Duration
	ok       bool
}

// Start records the thread's cpu time now.
func (s *CPUShare) Start(pid, tid int) {
	s.pid, s.tid = pid, tid
	c, err := threadCPUTime(pid, tid)
	s.t0, s.c0, s.ok = time.Now(), c, err == nil && tid > 0
}

// Stop returns the share since Start, -1 if the thread could not be read
// (or Start was not called).
func (s *CPUShare) Stop() float64 {
	if !s.ok {
		return -1
	}
	c, err := threadCPUTime(s.pid, s.tid)
	wall := time.Since(s.t0)
	if err != nil || wall <= 0 {
		return -1
	}
	return float64(c-s.c0) / float64(wall)
}
