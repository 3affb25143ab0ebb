package vhostuser

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Errors that say why a socket path cannot be used.
var (
	// ErrSocketInUse: something is listening on the socket at the path.
	ErrSocketInUse = errors.New("socket in use")
	// ErrNotSocket: the path exists and is not a socket (a regular file,
	// directory, symlink, ...), so it is not a leftover of ours.
	ErrNotSocket = errors.New("not a socket")
)

// fileID is a file's identity: device and inode.
type fileID struct{ dev, ino uint64 }

func idOf(st *unix.Stat_t) fileID { return fileID{dev: st.Dev, ino: st.Ino} }

// kindOf names a file type for error messages.
func kindOf(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFLNK:
		return "a symlink"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFIFO:
		return "a fifo"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "a device node"
	}
	return "an unknown file type"
}

// openDir opens path as a directory without following a symlink at its
// last component.
func openDir(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			return -1, fmt.Errorf("open directory %s: it is not a directory (or is a symlink)", path)
		}
		return -1, fmt.Errorf("open directory %s: %w", path, err)
	}
	return fd, nil
}

// ensureDir makes the directory name inside base (no symlink followed) and
// gives it perms' owner and mode through its file descriptor, so the umask
// plays no part. It returns an open descriptor of the directory.
func ensureDir(base, name string, p Perms) (fd int, err error) {
	bfd, err := openDir(base)
	if err != nil {
		return -1, err
	}
	defer unix.Close(bfd)
	path := filepath.Join(base, name)
	if err := unix.Mkdirat(bfd, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("create directory %s: %w", path, err)
	}
	fd, err = unix.Openat(bfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open directory %s (a file or symlink in its place?): %w", path, err)
	}
	if err := unix.Fchown(fd, p.UID, p.GID); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("chown %s to %d:%d: %w", path, p.UID, p.GID, err)
	}
	if err := unix.Fchmod(fd, uint32(p.DirMode)); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("chmod %s to %#o: %w", path, uint32(p.DirMode), err)
	}
	return fd, nil
}

// openPath opens name in dirfd with O_PATH, not following a symlink, and
// stats it. ENOENT comes back as is.
func openPath(dirfd int, name string) (int, unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, st, err
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, st, err
	}
	return fd, st, nil
}

// procPath names the file behind an open descriptor. Through it, connect
// and chmod reach that very inode, whatever the directory entry has become
// since, and never a symlink's target.
func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// listening reports whether something accepts connections on the socket
// open (O_PATH) as fd: connect succeeds or the backlog is full (true),
// ECONNREFUSED (false, a leftover), or an error that decides nothing.
func listening(fd int) (bool, error) {
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(s)
	err = unix.Connect(s, &unix.SockaddrUnix{Name: procPath(fd)})
	switch {
	case err == nil, errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINPROGRESS):
		return true, nil
	case errors.Is(err, unix.ECONNREFUSED):
		return false, nil
	case errors.Is(err, unix.EPROTOTYPE):
		// A datagram or seqpacket socket is bound there: someone's, not a
		// stream socket DPDK left behind.
		return true, nil
	}
	return false, err
}

// removeStale removes the socket name in directory dirfd (path for
// messages) if it is a leftover: a socket, not a symlink, on which nothing
// listens, and still the same inode when it is unlinked. A missing file is
// fine. Anything else is refused with ErrNotSocket or ErrSocketInUse.
func removeStale(dirfd int, path, name string) (removed bool, err error) {
	fd, st, err := openPath(dirfd, name)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check %s: %w", path, err)
	}
	defer unix.Close(fd)
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return false, fmt.Errorf("%s is %s, not a leftover socket; remove it by hand: %w", path, kindOf(st.Mode), ErrNotSocket)
	}
	live, err := listening(fd)
	if err != nil {
		return false, fmt.Errorf("check %s: connect: %w", path, err)
	}
	if live {
		return false, fmt.Errorf("%s: a process is listening on it: %w", path, ErrSocketInUse)
	}
	// Unlink the name only if it still is the inode just found dead.
	var now unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &now, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("check %s: %w", path, err)
	}
	if idOf(&now) != idOf(&st) {
		return false, fmt.Errorf("%s was replaced while being checked: %w", path, ErrSocketInUse)
	}
	if err := unix.Unlinkat(dirfd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return false, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return true, nil
}

// applySocketPerms gives the socket name in dirfd perms' owner and mode,
// through an O_PATH descriptor (a symlink put in its place is refused, not
// followed), and returns the socket's identity. ENOENT comes back as is.
func applySocketPerms(dirfd int, path, name string, p Perms) (fileID, error) {
	fd, st, err := openPath(dirfd, name)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fileID{}, err
		}
		return fileID{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fileID{}, fmt.Errorf("%s is %s: %w", path, kindOf(st.Mode), ErrNotSocket)
	}
	if err := unix.Fchownat(fd, "", p.UID, p.GID, unix.AT_EMPTY_PATH); err != nil {
		return fileID{}, fmt.Errorf("chown %s to %d:%d: %w", path, p.UID, p.GID, err)
	}
	if err := os.Chmod(procPath(fd), p.SocketMode); err != nil {
		return fileID{}, fmt.Errorf("chmod %s to %#o: %w", path, uint32(p.SocketMode), err)
	}
	return idOf(&st), nil
}

// removeIfID unlinks name in dirfd if it is still the socket id (podwired's
// own), or, with no id known, if it is a socket nothing listens on.
func removeIfID(dirfd int, path, name string, id fileID, known bool) error {
	if !known {
		_, err := removeStale(dirfd, path, name)
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("check %s: %w", path, err)
	}
	if idOf(&st) != id {
		// Not the socket podwired made; decide as for any leftover.
		_, err := removeStale(dirfd, path, name)
		return err
	}
	if err := unix.Unlinkat(dirfd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// writeFileAt writes data to name in dirfd atomically (a new file, then
// rename over name), with mode fixed by fchmod, never following a symlink.
func writeFileAt(dirfd int, path, name string, data []byte, mode os.FileMode) error {
	tmp := "." + name + ".tmp" + strconv.Itoa(os.Getpid())
	_ = unix.Unlinkat(dirfd, tmp, 0)
	fd, err := unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Chmod(mode)
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = unix.Renameat(dirfd, tmp, dirfd, name)
	}
	if werr != nil {
		_ = unix.Unlinkat(dirfd, tmp, 0)
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}
