package l2

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/podwire/podwire/bench/iofwd"
)

// busiestThread returns the thread of pid named comm that has run the
// longest. podwired has several threads called rte-worker-1: Go threads
// started from the EAL worker thread inherit its name; the forwarding one
// is the one that busy-polls.
func busiestThread(pid int, comm string) (int, error) {
	dirs, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil {
		return 0, err
	}
	best, bestRun := 0, int64(-1)
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil || strings.TrimSpace(string(b)) != comm {
			continue
		}
		s, err := os.ReadFile(filepath.Join(d, "schedstat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(s))
		if len(f) == 0 {
			continue
		}
		run, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if run > bestRun {
			tid, err := strconv.Atoi(filepath.Base(d))
			if err != nil {
				continue
			}
			best, bestRun = tid, run
		}
	}
	if best == 0 {
		return 0, fmt.Errorf("process %d has no thread %q", pid, comm)
	}
	return best, nil
}

// threadShare measures one thread's cpu share over a window.
func threadShare(pid int, comm string) *iofwd.CPUShare {
	var s iofwd.CPUShare
	if tid, err := busiestThread(pid, comm); err == nil {
		s.Start(pid, tid)
	}
	return &s
}

// userHZ is the unit of /proc/stat (USER_HZ, 100 on Linux).
const userHZ = 100

// stealMeter measures the time the hypervisor took from the forwarding
// cpus (the "steal" column of /proc/stat): a guest's own cpu accounting
// cannot see it.
type stealMeter struct {
	t0 time.Time
	s0 map[int]uint64
}

func (m *stealMeter) start() {
	m.t0, m.s0 = time.Now(), readSteal()
}

// stop returns the largest share of the window stolen from cpu 0 or cpu 1;
// -1 if unknown.
func (m *stealMeter) stop() float64 {
	s1 := readSteal()
	wall := time.Since(m.t0).Seconds()
	if m.s0 == nil || s1 == nil || wall <= 0 {
		return -1
	}
	worst := 0.0
	for _, cpu := range []int{PodLcore, FwdLcore} {
		a, ok0 := m.s0[cpu]
		b, ok1 := s1[cpu]
		if !ok0 || !ok1 || b < a {
			return -1
		}
		worst = max(worst, float64(b-a)/userHZ/wall)
	}
	return worst
}

// readSteal returns the steal ticks of each cpu, nil if /proc/stat cannot
// be read.
func readSteal() map[int]uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	return parseSteal(string(b))
}

// parseSteal reads the 8th value (steal) of every "cpuN" line of
// /proc/stat.
func parseSteal(stat string) map[int]uint64 {
	out := map[int]uint64{}
	for _, line := range strings.Split(stat, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		cpu, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		v, err := strconv.ParseUint(f[8], 10, 64)
		if err != nil {
			continue
		}
		out[cpu] = v
	}
	return out
}

// cpuTimes are one cpu's total and idle (idle + iowait) ticks.
type cpuTimes struct{ total, idle uint64 }

// parseCPUTimes reads the "cpuN" lines of /proc/stat.
func parseCPUTimes(stat string) map[int]cpuTimes {
	out := map[int]cpuTimes{}
	for _, line := range strings.Split(stat, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		cpu, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		var t cpuTimes
		ok := true
		for i, s := range f[1:] {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				ok = false
				break
			}
			// guest and guest_nice (fields 9, 10) are already in user and nice.
			if i < 8 {
				t.total += v
			}
			if i == 3 || i == 4 {
				t.idle += v
			}
		}
		if ok {
			out[cpu] = t
		}
	}
	return out
}

// busyShare is the largest share of time cpu 0 or cpu 1 was not idle
// between two /proc/stat readings; -1 if unknown.
func busyShare(a, b map[int]cpuTimes) float64 {
	worst := -1.0
	for _, cpu := range []int{PodLcore, FwdLcore} {
		x, ok0 := a[cpu]
		y, ok1 := b[cpu]
		if !ok0 || !ok1 || y.total <= x.total || y.idle < x.idle {
			return -1
		}
		worst = max(worst, 1-float64(y.idle-x.idle)/float64(y.total-x.total))
	}
	return worst
}

// quietSample is how long waitQuiet looks at the cpus at a time.
const quietSample = 200 * time.Millisecond

// waitQuiet waits, at most maxWait, until neither cpu 0 nor cpu 1 is busier
// than threshold over quietSample: other engineers' builds and tests come
// in bursts, and a trial started in a lull measures the forwarders rather
// than them. It returns the busy share of the last sample (-1 unknown).
func waitQuiet(ctx context.Context, threshold float64, maxWait time.Duration) (float64, error) {
	deadline := time.Now().Add(maxWait)
	for {
		b0, err := os.ReadFile("/proc/stat")
		if err != nil {
			return -1, nil
		}
		if err := sleep(ctx, quietSample); err != nil {
			return -1, err
		}
		b1, err := os.ReadFile("/proc/stat")
		if err != nil {
			return -1, nil
		}
		busy := busyShare(parseCPUTimes(string(b0)), parseCPUTimes(string(b1)))
		if busy <= threshold || !time.Now().Before(deadline) {
			return busy, nil
		}
	}
}

// procRunTime is the time all threads of pid have run on a cpu (the sum
// of their schedstat), -1 if it cannot be read.
func procRunTime(pid int) time.Duration {
	dirs, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil || len(dirs) == 0 {
		return -1
	}
	var sum time.Duration
	for _, d := range dirs {
		s, err := os.ReadFile(filepath.Join(d, "schedstat"))
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(s))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return -1
		}
		sum += time.Duration(ns)
	}
	return sum
}

// procShare measures the cpu share of all threads of a process over a
// window, for the forwarder's threads other than its worker.
type procShare struct {
	pid int
	t0  time.Time
	r0  time.Duration
}

func (s *procShare) start(pid int) { s.pid, s.t0, s.r0 = pid, time.Now(), procRunTime(pid) }

// stop returns the share of one cpu all the process's threads used since
// start, -1 if unknown.
func (s *procShare) stop() float64 {
	r1 := procRunTime(s.pid)
	wall := time.Since(s.t0)
	if s.r0 < 0 || r1 < 0 || wall <= 0 {
		return -1
	}
	return float64(r1-s.r0) / float64(wall)
}
