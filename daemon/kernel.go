package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/dpdk"
	"github.com/podwire/podwire/forwarder"
)

// Kind kernel attachments (docs/kernel-ports.md): a veth pair whose pod
// end is a normal netdev in the pod's network namespace, named IfName, and
// whose host end ("pw" + 10 hex digits, in podwired's own namespace) is
// driven by a net_af_packet device.
//
// The veth belongs to the attachment, not to the podwired process: on
// shutdown podwired removes only the af_packet device, so the pod keeps
// its interface with the addresses and routes the CNI plugin configured;
// a restarted podwired probes af_packet on the same host end again. DELETE
// deletes the host end, which deletes the pod end with it. podwired marks
// the host end with the alias "podwire <containerID>/<ifName>" and never
// touches a host interface without that alias.
//
// podwired holds no file descriptor of a pod's namespace between calls,
// so it never keeps a deleted pod's namespace alive.

// kernelAliasPrefix starts the alias of every host end podwired created.
const kernelAliasPrefix = "podwire "

// kernelPort is the podwired side of a kernel attachment while it is in
// forwarding.
type kernelPort struct {
	host string           // the host end's name
	mac  net.HardwareAddr // the pod end's MAC, a static entry in the network
	port dpdk.Port        // the net_af_packet device on the host end
}

// hostIfName is the host end's name: "pw" and the first 10 hex digits of
// the hash that portName uses, so 12 bytes, stable across restarts.
func hostIfName(a api.Attachment) string {
	h := sha256.Sum256([]byte(a.Key()))
	return "pw" + hex.EncodeToString(h[:5])
}

func kernelAlias(a api.Attachment) string { return kernelAliasPrefix + a.Key() }

// requestError is a PUT that the pod's state makes impossible (no such
// netns, the interface name taken): answered with Status and Field like a
// validation error, where other port errors are 500s.
type requestError struct {
	Status int
	Field  string
	Msg    string
}

func (e *requestError) Error() string { return e.Field + ": " + e.Msg }

// writePortErr answers a failed port creation: a *requestError with its
// status and field, anything else with 500.
func writePortErr(w http.ResponseWriter, key string, err error) {
	var re *requestError
	if errors.As(err, &re) {
		writeErr(w, re.Status, re.Field, "attachment %s: %s", key, re.Msg)
		return
	}
	writeErr(w, http.StatusInternalServerError, "", "create port for %s: %v", key, err)
}

// openNetns opens the network namespace at path. The caller closes it.
func openNetns(path string) (netns.NsHandle, error) {
	ns, err := netns.GetFromPath(path)
	if errors.Is(err, os.ErrNotExist) {
		return -1, &requestError{http.StatusUnprocessableEntity, api.FieldNetns, fmt.Sprintf("%s does not exist (pod deleted?)", path)}
	}
	if err != nil {
		return -1, &requestError{http.StatusUnprocessableEntity, api.FieldNetns, fmt.Sprintf("open %s: %v", path, err)}
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(ns), &fs); err != nil || fs.Type != unix.NSFS_MAGIC {
		ns.Close()
		return -1, &requestError{http.StatusUnprocessableEntity, api.FieldNetns, fmt.Sprintf("%s is not a namespace file", path)}
	}
	if t, err := unix.IoctlRetInt(int(ns), unix.NS_GET_NSTYPE); err != nil || t != unix.CLONE_NEWNET {
		ns.Close()
		return -1, &requestError{http.StatusUnprocessableEntity, api.FieldNetns, fmt.Sprintf("%s is not a network namespace", path)}
	}
	return ns, nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// isPair says whether host and pod are the two ends of one veth.
func isPair(host, pod netlink.Link) bool {
	_, ok1 := host.(*netlink.Veth)
	_, ok2 := pod.(*netlink.Veth)
	return ok1 && ok2 && host.Attrs().ParentIndex == pod.Attrs().Index && pod.Attrs().ParentIndex == host.Attrs().Index
}

// createKernel gives a kernel attachment its veth and af_packet port and
// adds the port to forwarding. An existing veth of this attachment (after
// a podwired restart, or a repeated PUT) is used as it is. With restore
// (a persisted attachment at startup) it never creates a veth: if the pod
// end is gone, the attachment stays down with the reason, for the
// reconciler; a namespace path may by then name another pod's namespace.
// On error nothing that this call created is left.
func (d *Daemon) createKernel(ctx context.Context, att *attachment, restore bool) (err error) {
	a := att.spec
	host, alias := hostIfName(a), kernelAlias(a)
	ns, err := openNetns(a.Netns)
	if err != nil {
		if restore {
			return fmt.Errorf("netns %s is gone (pod deleted?); the reconciler removes this attachment", a.Netns)
		}
		return err
	}
	defer ns.Close()
	pod, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink in netns %s: %w", a.Netns, err)
	}
	defer pod.Close()
	var wantMAC net.HardwareAddr
	if a.MAC != "" {
		wantMAC, _ = net.ParseMAC(a.MAC)
	}

	hostLink, herr := netlink.LinkByName(host)
	if herr != nil && !isNotFound(herr) {
		return fmt.Errorf("look up host interface %s: %w", host, herr)
	}
	podLink, perr := pod.LinkByName(a.IfName)
	if perr != nil && !isNotFound(perr) {
		return fmt.Errorf("look up %s in netns %s: %w", a.IfName, a.Netns, perr)
	}
	if herr == nil && hostLink.Attrs().Alias != alias {
		return fmt.Errorf("host interface %s exists and is not this attachment's (alias %q, want %q)", host, hostLink.Attrs().Alias, alias)
	}
	created := false
	switch {
	case herr == nil && perr == nil && isPair(hostLink, podLink):
		// Ours, from before: use it as it is.
	case restore && herr == nil:
		return fmt.Errorf("pod interface %s is no longer in netns %s (host end %s is left)", a.IfName, a.Netns, host)
	case restore:
		return fmt.Errorf("veth %s is gone: interface %s was deleted from netns %s", host, a.IfName, a.Netns)
	case perr == nil:
		return &requestError{http.StatusConflict, api.FieldIfName,
			fmt.Sprintf("interface %s already exists in netns %s (type %s, mac %s) and is not podwire's",
				a.IfName, a.Netns, podLink.Type(), podLink.Attrs().HardwareAddr)}
	default:
		if herr == nil { // a host end whose pod end went elsewhere: start over
			if err := netlink.LinkDel(hostLink); err != nil && !isNotFound(err) {
				return fmt.Errorf("delete stale host interface %s: %w", host, err)
			}
		}
		if hostLink, podLink, err = d.createVeth(a, ns, pod, host, alias, wantMAC); err != nil {
			return err
		}
		created = true
		defer func() {
			if err != nil {
				if derr := netlink.LinkDel(hostLink); derr != nil && !isNotFound(derr) {
					d.log.Warn("delete veth after failed attach", "port", att.portName, "err", derr)
				}
			}
		}()
	}
	mac := podLink.Attrs().HardwareAddr
	if wantMAC != nil && mac.String() != wantMAC.String() {
		if err := pod.LinkSetHardwareAddr(podLink, wantMAC); err != nil {
			return fmt.Errorf("set mac of %s in netns %s: %w", a.IfName, a.Netns, err)
		}
		mac = wantMAC
	}
	if err := setMTU(netlink.LinkSetMTU, hostLink, a.MTU); err != nil {
		return fmt.Errorf("host end %s: %w", host, err)
	}
	if err := setMTU(pod.LinkSetMTU, podLink, a.MTU); err != nil {
		return fmt.Errorf("%s in netns %s: %w", a.IfName, a.Netns, err)
	}
	if err := netlink.LinkSetUp(hostLink); err != nil {
		return fmt.Errorf("set %s up: %w", host, err)
	}
	if err := pod.LinkSetUp(podLink); err != nil {
		return fmt.Errorf("set %s up in netns %s: %w", a.IfName, a.Netns, err)
	}
	kp, err := d.attachAfPacket(ctx, att, host, mac)
	if err != nil {
		return err
	}
	att.kport = kp
	d.log.Info("kernel port attached", "port", att.portName, "host_if", host, "netns", a.Netns, "ifname", a.IfName,
		"mac", mac.String(), "created_veth", created, "container_id", a.ContainerID)
	return nil
}

// createVeth creates the pair: the host end in podwired's namespace,
// without IPv6 (so without any address: no routing, no neighbour traffic
// of its own), and the pod end directly in the pod's namespace under its
// final name and MAC. Both ends are still down.
func (d *Daemon) createVeth(a api.Attachment, ns netns.NsHandle, pod *netlink.Handle, host, alias string, mac net.HardwareAddr) (netlink.Link, netlink.Link, error) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = host, a.MTU
	veth := netlink.NewVeth(attrs)
	veth.PeerName, veth.PeerNamespace, veth.PeerHardwareAddr = a.IfName, netlink.NsFd(int(ns)), mac
	veth.PeerMTU = uint32(a.MTU)
	if err := netlink.LinkAdd(veth); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil, nil, &requestError{http.StatusConflict, api.FieldIfName, fmt.Sprintf("interface %s already exists in netns %s", a.IfName, a.Netns)}
		}
		return nil, nil, fmt.Errorf("create veth %s (pod end %s in netns %s): %w", host, a.IfName, a.Netns, err)
	}
	hostLink, err := netlink.LinkByName(host)
	if err == nil { // the kernel ignores IFLA_IFALIAS when it creates a link
		err = netlink.LinkSetAlias(hostLink, alias)
	}
	if err == nil {
		hostLink.Attrs().Alias = alias
		err = disableIPv6(host)
	}
	var podLink netlink.Link
	if err == nil {
		podLink, err = pod.LinkByName(a.IfName)
	}
	if err != nil {
		_ = netlink.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host}})
		return nil, nil, fmt.Errorf("set up veth %s: %w", host, err)
	}
	return hostLink, podLink, nil
}

// setMTU gives link the MTU mtu (0: leave it) with set, unless it has it
// already: a veth made before, or by an older podwired, gets the spec's MTU
// on both ends.
func setMTU(set func(netlink.Link, int) error, link netlink.Link, mtu int) error {
	if mtu == 0 || link.Attrs().MTU == mtu {
		return nil
	}
	if err := set(link, mtu); err != nil {
		return fmt.Errorf("set mtu %d: %w", mtu, err)
	}
	link.Attrs().MTU = mtu
	return nil
}

// disableIPv6 turns IPv6 off on a host end before it comes up, so that it
// gets no link-local address and sends nothing itself. A kernel without
// IPv6 has nothing to turn off.
func disableIPv6(ifname string) error {
	err := os.WriteFile("/proc/sys/net/ipv6/conf/"+ifname+"/disable_ipv6", []byte("1"), 0o644)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// afPacketSeq numbers podwired's net_af_packet devices.
var afPacketSeq atomic.Uint32

// attachAfPacket probes net_af_packet on the host end and adds it to the
// attachment's network with mac as the pod's static MAC. On error the
// device is removed again.
func (d *Daemon) attachAfPacket(ctx context.Context, att *attachment, host string, mac net.HardwareAddr) (*kernelPort, error) {
	var name string
	for { // skip names that the config's vdevs or uplink use
		name = "net_af_packet" + strconv.FormatUint(uint64(afPacketSeq.Add(1)-1), 10)
		if len(dpdk.PortsOfDevice(name)) == 0 {
			break
		}
	}
	q := max(att.spec.Queues, 1)
	ports, err := dpdk.Probe(fmt.Sprintf("%s,iface=%s,qpairs=%d", name, host, q))
	if err != nil {
		return nil, fmt.Errorf("af_packet on %s: %w", host, err)
	}
	p := ports[0]
	err = d.eng.AddPort(ctx, forwarder.PortSpec{Name: att.portName, Port: p, Kind: forwarder.KindKernel,
		Network: att.spec.Network, MAC: mac, RxQueues: uint16(q)})
	if err != nil {
		if rerr := p.Remove(); rerr != nil {
			d.log.Warn("remove af_packet device", "port", att.portName, "err", rerr)
		}
		return nil, err
	}
	return &kernelPort{host: host, mac: mac, port: p}, nil
}

// releaseKernel takes a kernel port out of forwarding and removes its
// af_packet device; the veth stays (podwired shutdown).
func (d *Daemon) releaseKernel(ctx context.Context, att *attachment) error {
	if att.kport == nil {
		return nil
	}
	if err := d.eng.RemovePort(ctx, att.portName); err != nil {
		return err
	}
	err := att.kport.port.Remove()
	att.kport = nil
	if err != nil {
		return fmt.Errorf("remove af_packet device: %w", err)
	}
	return nil
}

// removeKernel releases the port and deletes the veth, which takes the
// pod end with it. A pod namespace that is gone took the veth with it:
// nothing to delete, no error.
func (d *Daemon) removeKernel(ctx context.Context, att *attachment) error {
	if err := d.releaseKernel(ctx, att); err != nil {
		return err
	}
	host := hostIfName(att.spec)
	l, err := netlink.LinkByName(host)
	switch {
	case isNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("look up host interface %s: %w", host, err)
	case l.Attrs().Alias != kernelAlias(att.spec):
		d.log.Warn("host interface is not this attachment's; left alone", "port", att.portName, "host_if", host, "alias", l.Attrs().Alias)
		return nil
	}
	if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete veth %s: %w", host, err)
	}
	return nil
}

// kernelStatus fills the status of a kernel attachment into a: the pod
// end's MAC when the spec has none, and down with a reason when the veth
// is gone (its pod namespace was deleted).
func (d *Daemon) kernelStatus(att *attachment, a api.Attachment) api.Attachment {
	kp := att.kport
	if kp == nil {
		a.State = api.StateDown
		if att.err != nil {
			a.Reason = att.err.Error()
		}
		return a
	}
	id := uint16(kp.port)
	a.PortID = &id
	if a.MAC == "" {
		a.MAC = kp.mac.String()
	}
	l, err := netlink.LinkByName(kp.host)
	switch {
	case err == nil && l.Attrs().Alias == kernelAlias(att.spec):
	case err == nil || isNotFound(err):
		a.State, a.Reason = api.StateDown, fmt.Sprintf("veth %s is gone (netns %s deleted?)", kp.host, a.Netns)
		return a
	default:
		a.State, a.Reason = api.StateDown, fmt.Sprintf("look up %s: %v", kp.host, err)
		return a
	}
	if ps, ok := d.eng.Port(att.portName); ok && ps.Up && l.Attrs().OperState == netlink.OperUp {
		a.State = api.StateUp
	} else {
		a.State, a.Reason = api.StateDown, fmt.Sprintf("link of %s is %s", kp.host, l.Attrs().OperState)
	}
	return a
}

// sameKernelMAC says whether a PUT that names a MAC repeats an attachment
// whose spec had none but whose pod end has that MAC (a client that sends
// back what GET showed).
func sameKernelMAC(old *attachment, a api.Attachment) bool {
	if old.kport == nil || old.spec.MAC != "" || a.MAC == "" {
		return false
	}
	b := a
	b.MAC = ""
	return old.spec.SpecDiff(b) == "" && a.MAC == old.kport.mac.String()
}
