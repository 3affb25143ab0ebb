package vhostuser

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Sweep removes the attachment directories under the base that no open
// port owns, that are not in keep (directory paths, as Dir returns them),
// and that hold nothing but dead sockets and device-info.json. That is what
// a Close in VhostClient mode leaves when the pod's app still listened on
// its socket and later exited without removing it. A socket someone
// listens on, or any other file, keeps its directory. Sweep returns the
// directories it removed.
func (m *Manager) Sweep(keep []string) ([]string, error) {
	ents, err := os.ReadDir(m.base)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", m.base, err)
	}
	kept := map[string]bool{}
	for _, k := range keep {
		kept[filepath.Clean(k)] = true
	}
	bfd, err := openDir(m.base)
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", m.base, err)
	}
	defer unix.Close(bfd)
	var removed []string
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || !isDirName(name) || kept[filepath.Join(m.base, name)] {
			continue
		}
		m.mu.Lock() // no Create of this attachment meanwhile
		ok := false
		if _, owned := m.active[name]; !owned {
			ok, err = m.sweepDir(bfd, name)
		}
		m.mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			removed = append(removed, filepath.Join(m.base, name))
		}
	}
	return removed, errors.Join(errs...)
}

// isDirName reports whether name can be an attachment directory's name.
func isDirName(name string) bool {
	if len(name) != hashLen {
		return false
	}
	for _, c := range name {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// sweepDir removes directory name in bfd if it holds only dead sockets and
// device-info.json (see Sweep). Dead sockets go in any case.
func (m *Manager) sweepDir(bfd int, name string) (bool, error) {
	path := filepath.Join(m.base, name)
	ents, err := os.ReadDir(path)
	if err != nil {
		return false, err
	}
	dfd, err := unix.Openat(bfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(dfd)
	clean := true
	for _, e := range ents {
		switch n := e.Name(); {
		case n == DeviceInfoFile && e.Type().IsRegular():
		case n == VhostClient.SocketName() || n == Memif.SocketName() ||
			n == VhostClient.busyName() || n == Memif.busyName():
			if _, err := removeStale(dfd, filepath.Join(path, n), n); err != nil {
				if errors.Is(err, ErrSocketInUse) {
					return false, nil // a pod still listens: not yet
				}
				return false, err
			}
		default:
			clean = false
		}
	}
	if !clean {
		return false, nil
	}
	if err := unix.Unlinkat(dfd, DeviceInfoFile, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return false, fmt.Errorf("remove %s: %w", filepath.Join(path, DeviceInfoFile), err)
	}
	if err := unix.Unlinkat(bfd, name, unix.AT_REMOVEDIR); err != nil {
		if errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
			return false, nil
		}
		return false, fmt.Errorf("remove %s: %w", path, err)
	}
	m.log.Info("removed a leftover attachment directory", "dir", path)
	return true, nil
}
