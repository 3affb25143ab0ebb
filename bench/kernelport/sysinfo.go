package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// kernelConfig returns the line that sets (or says "is not set" about)
// option in a kernel config file, plain or gzipped; "" if not found.
func kernelConfig(path, option string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var r io.Reader = bytes.NewReader(b)
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return ""
		}
		r = zr
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, option+"=") || l == "# "+option+" is not set" {
			return l
		}
	}
	return ""
}

// loadAvg is /proc/loadavg's first three fields: how busy the shared
// machine was around a run.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
