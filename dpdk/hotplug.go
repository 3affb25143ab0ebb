package dpdk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// Probe adds a device at runtime from its devargs (rte_dev_probe), e.g.
// "net_vhost1,iface=/run/podwire/p1.sock" or a PCI address, and returns the
// ports it created. Other ports keep running. The caller owns the ports and
// removes them with Remove.
func Probe(devargs string) ([]Port, error) {
	if !Initialized() {
		return nil, ErrNotInitialized
	}
	name, _, _ := strings.Cut(devargs, ",")
	if name == "" {
		return nil, fmt.Errorf("probe %q: no device name", devargs)
	}
	cargs := C.CString(devargs)
	defer C.free(unsafe.Pointer(cargs))
	if rc := C.rte_dev_probe(cargs); rc < 0 {
		return nil, rcError("rte_dev_probe "+devargs, rc)
	}
	ports := PortsOfDevice(name)
	if len(ports) == 0 {
		return nil, fmt.Errorf("probe %q: device has no ethdev port", devargs)
	}
	return ports, nil
}

// PortsOfDevice returns the ports of a device by its name (a vdev name
// such as "net_vhost1", or a PCI address).
func PortsOfDevice(name string) []Port {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var buf [C.RTE_MAX_ETHPORTS]C.uint16_t
	n := int(C.pw_ports_of_device(cname, &buf[0], C.int(len(buf))))
	ps := make([]Port, 0, n)
	for i := 0; i < n && i < len(buf); i++ {
		ps = append(ps, Port(buf[i]))
	}
	return ps
}

// Remove stops the port and removes the device behind it (rte_dev_remove),
// which closes every port of that device and, for a vhost-user or memif
// server, its socket. No lcore may be polling the device's ports. Other
// ports keep running.
func (p Port) Remove() error {
	if !p.Valid() {
		return fmt.Errorf("remove port %d: no such port", p)
	}
	_ = p.Stop() // a port that never started refuses stop; removal still works
	if rc := C.pw_port_remove_device(C.uint16_t(p)); rc < 0 {
		return rcError(fmt.Sprintf("rte_dev_remove port %d", p), rc)
	}
	return nil
}
