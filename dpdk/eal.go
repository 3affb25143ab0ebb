package dpdk

/*
#cgo CFLAGS: -D_GNU_SOURCE -O2
#cgo pkg-config: libdpdk
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// Options builds the argument list for rte_eal_init. The zero value asks for
// EAL's defaults (all cores, hugepages, PCI scan).
type Options struct {
	// Lcores lists the CPU cores EAL runs lcores on (-l). Empty: EAL's default.
	Lcores []int
	// MainLcore is the lcore that runs the EAL main thread (--main-lcore);
	// -1 or unset with HasMainLcore false: EAL's default (the first of Lcores).
	MainLcore    int
	HasMainLcore bool
	// FilePrefix names this process's hugepage and runtime files
	// (--file-prefix); use a unique one per process that shares a machine.
	FilePrefix string
	// InMemory keeps all runtime state in memory, no files (--in-memory).
	InMemory bool
	// NoHuge runs on anonymous memory instead of hugepages (--no-huge). vhost-user
	// and virtio-user need shared memory and do not work with it.
	NoHuge bool
	// MemoryMB preallocates this much memory (-m). Required sizing for NoHuge.
	MemoryMB int
	// SingleFileSegments maps hugepage memory through few files
	// (--single-file-segments), which vhost-user frontends need.
	SingleFileSegments bool
	// Vdevs are virtual devices created at init (--vdev), e.g.
	// "net_null0" or "net_vhost0,iface=/run/x.sock".
	Vdevs []string
	// NoPCI disables the PCI bus (--no-pci).
	NoPCI bool
	// Allow lists PCI devices to use (-a 0000:01:00.0).
	Allow []string
	// LogLevel sets --log-level, e.g. "notice" or "*:info".
	LogLevel string
	// NoTelemetry disables the telemetry socket (--no-telemetry).
	NoTelemetry bool
	// Extra arguments appended as they are.
	Extra []string
}

// Args validates o and returns the EAL arguments, without argv[0].
func (o Options) Args() ([]string, error) {
	var a []string
	if len(o.Lcores) > 0 {
		seen := map[int]bool{}
		parts := make([]string, 0, len(o.Lcores))
		for _, c := range o.Lcores {
			if c < 0 || c >= C.RTE_MAX_LCORE {
				return nil, fmt.Errorf("eal options: lcore %d out of range 0..%d", c, C.RTE_MAX_LCORE-1)
			}
			if seen[c] {
				return nil, fmt.Errorf("eal options: lcore %d listed twice", c)
			}
			seen[c] = true
			parts = append(parts, strconv.Itoa(c))
		}
		a = append(a, "-l", strings.Join(parts, ","))
		if o.HasMainLcore && !seen[o.MainLcore] {
			return nil, fmt.Errorf("eal options: main lcore %d is not in lcores %v", o.MainLcore, o.Lcores)
		}
	}
	if o.HasMainLcore {
		if o.MainLcore < 0 || o.MainLcore >= C.RTE_MAX_LCORE {
			return nil, fmt.Errorf("eal options: main lcore %d out of range", o.MainLcore)
		}
		a = append(a, "--main-lcore", strconv.Itoa(o.MainLcore))
	}
	if o.FilePrefix != "" {
		if strings.ContainsAny(o.FilePrefix, "/ \t\n") {
			return nil, fmt.Errorf("eal options: file prefix %q must not contain '/' or spaces", o.FilePrefix)
		}
		a = append(a, "--file-prefix", o.FilePrefix)
	}
	if o.InMemory {
		a = append(a, "--in-memory")
	}
	if o.NoHuge {
		a = append(a, "--no-huge")
	}
	if o.MemoryMB < 0 {
		return nil, fmt.Errorf("eal options: memory %d MB is negative", o.MemoryMB)
	}
	if o.MemoryMB > 0 {
		a = append(a, "-m", strconv.Itoa(o.MemoryMB))
	}
	if o.SingleFileSegments {
		a = append(a, "--single-file-segments")
	}
	if o.NoPCI && len(o.Allow) > 0 {
		return nil, errors.New("eal options: NoPCI and Allow (PCI devices) exclude each other")
	}
	if o.NoPCI {
		a = append(a, "--no-pci")
	}
	for _, d := range o.Allow {
		if d == "" || strings.ContainsAny(d, " \t\n") {
			return nil, fmt.Errorf("eal options: bad PCI address %q", d)
		}
		a = append(a, "-a", d)
	}
	for _, v := range o.Vdevs {
		if v == "" || strings.ContainsAny(v, " \t\n") {
			return nil, fmt.Errorf("eal options: bad vdev %q", v)
		}
		a = append(a, "--vdev="+v)
	}
	if o.LogLevel != "" {
		a = append(a, "--log-level="+o.LogLevel)
	}
	if o.NoTelemetry {
		a = append(a, "--no-telemetry")
	}
	return append(a, o.Extra...), nil
}

// eal is the process-wide EAL state. DPDK allows one rte_eal_init per
// process; after rte_eal_cleanup it cannot be initialized again.
var eal struct {
	mu    sync.Mutex
	state int // 0: not initialized, 1: running, 2: cleaned up
	work  chan func()
}

// Init initializes the EAL with args (rte_eal_init); argv[0] is added here.
//
// The call runs on a new goroutine locked to its OS thread, which becomes the
// EAL main lcore: EAL pins it to the main lcore's core. That thread stays
// for the life of the EAL and runs the functions given to OnMain. Init
// fails with ErrAlreadyInitialized on a second call, and with ErrCleanedUp
// after Cleanup.
func Init(args []string) error {
	eal.mu.Lock()
	defer eal.mu.Unlock()
	switch eal.state {
	case 1:
		return ErrAlreadyInitialized
	case 2:
		return ErrCleanedUp
	}
	// EAL keeps pointers into argv (getopt permutes it, some options are
	// kept by reference), so the strings are never freed.
	argv := make([]*C.char, 0, len(args)+2)
	argv = append(argv, C.CString(progName()))
	for _, s := range args {
		argv = append(argv, C.CString(s))
	}
	cargv := (**C.char)(C.calloc(C.size_t(len(argv)+1), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	copy(unsafe.Slice(cargv, len(argv)+1), argv)

	errc := make(chan error, 1)
	work := make(chan func())
	go func() {
		// Never unlocked: EAL changes this thread's affinity, so the
		// thread must die with the goroutine rather than return to Go's pool.
		runtime.LockOSThread()
		var cerr C.int
		if rc := C.pw_eal_init(C.int(len(argv)), cargv, &cerr); rc < 0 {
			errc <- newError(fmt.Sprintf("rte_eal_init %s", strings.Join(args, " ")), int(cerr))
			return
		}
		errc <- nil
		for f := range work {
			f()
		}
	}()
	if err := <-errc; err != nil {
		return err
	}
	eal.work = work
	eal.state = 1
	return nil
}

// InitOptions is Init(o.Args()), and then checks that every vdev in
// o.Vdevs has a port: EAL logs a vdev that fails to probe but still
// succeeds. If one is missing, InitOptions cleans the EAL up again and says
// which vdev failed.
func InitOptions(o Options) error {
	args, err := o.Args()
	if err != nil {
		return err
	}
	if err := Init(args); err != nil {
		return err
	}
	var failed []string
	for _, v := range o.Vdevs {
		name, _, _ := strings.Cut(v, ",")
		if len(PortsOfDevice(name)) == 0 {
			failed = append(failed, v)
		}
	}
	if len(failed) > 0 {
		_ = Cleanup()
		return fmt.Errorf("rte_eal_init: vdev %s did not probe (see the EAL log above)", strings.Join(failed, ", "))
	}
	return nil
}

// Initialized reports whether the EAL is running.
func Initialized() bool {
	eal.mu.Lock()
	defer eal.mu.Unlock()
	return eal.state == 1
}

// OnMain runs fn on the EAL main lcore thread and waits for it.
func OnMain(fn func()) error {
	eal.mu.Lock()
	work := eal.work
	ok := eal.state == 1
	eal.mu.Unlock()
	if !ok {
		return ErrNotInitialized
	}
	done := make(chan struct{})
	work <- func() { fn(); close(done) }
	<-done
	return nil
}

// Cleanup releases the EAL's resources (rte_eal_cleanup) on the main lcore
// thread. Every lcore function must have returned and every port must be
// closed first. The EAL cannot be initialized again in this process.
func Cleanup() error {
	eal.mu.Lock()
	defer eal.mu.Unlock()
	if eal.state != 1 {
		return ErrNotInitialized
	}
	var err error
	dir := C.GoString(C.rte_eal_get_runtime_dir())
	done := make(chan struct{})
	eal.work <- func() {
		var cerr C.int
		if rc := C.pw_eal_cleanup(&cerr); rc < 0 {
			err = newError("rte_eal_cleanup", int(cerr))
		}
		close(done)
	}
	<-done
	close(eal.work)
	eal.work = nil
	eal.state = 2
	// EAL leaves its runtime directory behind even with --in-memory, where
	// it is empty; remove it then (os.Remove refuses a non-empty one).
	if dir != "" {
		_ = os.Remove(dir)
	}
	return err
}

// RuntimeDir is the EAL's runtime directory, e.g. /var/run/dpdk/<prefix>
// (rte_eal_get_runtime_dir), or "" before Init.
func RuntimeDir() string {
	if !Initialized() {
		return ""
	}
	return C.GoString(C.rte_eal_get_runtime_dir())
}

func progName() string {
	if len(os.Args) > 0 && os.Args[0] != "" {
		return os.Args[0]
	}
	return "podwire"
}
