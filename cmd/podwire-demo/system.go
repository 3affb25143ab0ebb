package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// hugepageNeedMiB is what podwired and the two pods take together, with
// room to spare: podwired's 16383-mbuf pool (about 36 MiB), two testpmd
// pools of 8191 mbufs (about 18 MiB each), memif regions and the EALs' own
// heaps.
const hugepageNeedMiB = 256

// checkResources checks CPUs and hugepages.
func checkResources() error {
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("needs CPUs 0 and 1, this process may use %d CPU: run on a machine (or cpuset) with two", runtime.NumCPU())
	}
	total, free, pageKB, err := hugepages()
	if err != nil {
		return fmt.Errorf("read hugepage state: %w", err)
	}
	if total == 0 {
		return errors.New("no hugepages reserved (HugePages_Total is 0): run `make setup`")
	}
	if !hugetlbfsMounted() {
		return errors.New("no hugetlbfs mount (expected at /dev/hugepages): run `make setup`")
	}
	if freeMiB := free * pageKB / 1024; freeMiB < hugepageNeedMiB {
		return fmt.Errorf("only %d MiB of hugepages free (%d of %d pages), the demo needs %d MiB: run `make setup`, or wait for other DPDK processes to finish",
			freeMiB, free, total, hugepageNeedMiB)
	}
	return nil
}

// hugepages reads the default-size hugepage counts from /proc/meminfo.
func hugepages() (total, free, pageKB int, err error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.Atoi(fields[1])
		switch fields[0] {
		case "HugePages_Total:":
			total = v
		case "HugePages_Free:":
			free = v
		case "Hugepagesize:":
			pageKB = v
		}
	}
	return total, free, pageKB, sc.Err()
}

func hugetlbfsMounted() bool {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "hugetlbfs" {
			return true
		}
	}
	return false
}

// addNetns creates the network namespace name. A namespace of that name is
// stale (the name holds this process's pid, so no live demo owns it): it is
// deleted first.
// It takes no context: a half-made namespace would be left behind.
func addNetns(name string) error {
	if _, err := os.Stat("/run/netns/" + name); err == nil {
		_ = delNetns(name)
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}

// delNetns deletes the network namespace name. It takes no context: it runs
// in cleanup, when the demo's context may already be cancelled by a signal.
func delNetns(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}
