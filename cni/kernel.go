package cni

import (
	"fmt"
	"net"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ip"
	"github.com/containernetworking/plugins/pkg/ipam"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// The pod side of a kernel attachment. podwired creates the veth with its
// pod end named ifName (and the requested MAC) in the pod's namespace and
// sets it up; the plugin then applies MTU, addresses and routes there, as
// ptp and bridge do, and reports what the netdev has.

// setupPodSide sets the MTU (if mtu is not 0) of ifName in the namespace at
// netnsPath, applies res's addresses and routes (res.Interfaces[0] is
// ifName), and fills in the interface's mac and mtu from the netdev.
func setupPodSide(netnsPath, ifName string, mtu int, res *current.Result) error {
	err := ns.WithNetNSPath(netnsPath, func(ns.NetNS) error {
		link, err := netlinksafe.LinkByName(ifName)
		if err != nil {
			return fmt.Errorf("podwired's interface %s: %w", ifName, err)
		}
		if mtu != 0 && link.Attrs().MTU != mtu {
			if err := netlink.LinkSetMTU(link, mtu); err != nil {
				return fmt.Errorf("set mtu %d on %s: %w", mtu, ifName, err)
			}
		}
		if len(res.IPs) > 0 {
			if err := ipam.ConfigureIface(ifName, res); err != nil {
				return err
			}
		} else if err := netlink.LinkSetUp(link); err != nil {
			return fmt.Errorf("set %s up: %w", ifName, err)
		}
		if link, err = netlinksafe.LinkByName(ifName); err != nil {
			return fmt.Errorf("podwired's interface %s: %w", ifName, err)
		}
		res.Interfaces[0].Mac = link.Attrs().HardwareAddr.String()
		res.Interfaces[0].Mtu = link.Attrs().MTU
		return nil
	})
	if err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("ADD: configure %s in netns %s: %v", ifName, netnsPath, err), "")
	}
	return nil
}

// checkPodSide is CHECK's look into the pod: ifName exists with mac (if
// not empty) and mtu (if not 0), has the addresses ips, and the routes
// exist.
func checkPodSide(netnsPath, ifName, mac string, mtu int, ips []*current.IPConfig, routes []*types.Route) error {
	var cerr error
	err := ns.WithNetNSPath(netnsPath, func(ns.NetNS) error {
		link, err := netlinksafe.LinkByName(ifName)
		if err != nil {
			cerr = checkErr("interface %s in netns %s: %v", ifName, netnsPath, err)
			return nil
		}
		if mac != "" && !sameMAC(mac, link.Attrs().HardwareAddr.String()) {
			cerr = checkErr("interface %s has mac %s, prevResult %s", ifName, link.Attrs().HardwareAddr, mac)
			return nil
		}
		if mtu != 0 && link.Attrs().MTU != mtu {
			cerr = checkErr("interface %s has mtu %d, the configuration %d", ifName, link.Attrs().MTU, mtu)
			return nil
		}
		if err := ip.ValidateExpectedInterfaceIPs(ifName, ips); err != nil {
			cerr = checkErr("%v", err)
			return nil
		}
		if err := ip.ValidateExpectedRoute(routes); err != nil {
			cerr = checkErr("%v", err)
		}
		return nil
	})
	if err != nil {
		return checkErr("netns %s: %v", netnsPath, err)
	}
	return cerr
}

// sameMAC compares two MACs in any notation net.ParseMAC reads.
func sameMAC(a, b string) bool {
	x, err1 := net.ParseMAC(a)
	y, err2 := net.ParseMAC(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return x.String() == y.String()
}
