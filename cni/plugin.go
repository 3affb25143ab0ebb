package cni

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	cnins "github.com/containernetworking/cni/pkg/ns"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ipam"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/podwire/podwire/api"
)

// About is printed on stderr when the binary runs without CNI_COMMAND.
const About = "podwire CNI plugin: attaches pod interfaces (vhostuser, memif, kernel) to podwired"

// DefaultTimeout bounds one command's calls to podwired.
const DefaultTimeout = 30 * time.Second

// VersionInfo is the CNI spec versions podwire speaks: 0.3.1, 0.4.0, 1.0.0
// and 1.1.0.
func VersionInfo() version.PluginInfo { return version.VersionsStartingFrom("0.3.1") }

// Plugin implements the CNI commands. The zero value logs nowhere and uses
// DefaultTimeout.
type Plugin struct {
	// Log gets warnings (never stdout: stdout carries the result). Nil
	// discards.
	Log *slog.Logger
	// Timeout bounds the podwired calls of one command; 0 means
	// DefaultTimeout.
	Timeout time.Duration
}

// Funcs returns the commands for skel.PluginMainFuncs.
func (p *Plugin) Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{Add: p.Add, Del: p.Del, Check: p.Check, Status: p.Status, GC: p.GC}
}

func (p *Plugin) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return p.Log
}

func (p *Plugin) context() (context.Context, context.CancelFunc) {
	t := p.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return context.WithTimeout(context.Background(), t)
}

func newClient(conf *NetConf) *api.Client {
	c := api.New(conf.PodwiredSocket)
	c.UserAgent = "podwire-cni"
	return c
}

// checkEnv validates what ADD and CHECK need beyond what skel checks:
// an interface name podwired accepts (as the kernel does, and no control
// characters), a container ID of at most 128 characters, and CNI_NETNS an
// existing network namespace other than the plugin's own. Errors are code
// 4 naming the variable (code 8 for the plugin's own namespace).
func checkEnv(args *skel.CmdArgs) error {
	if len(args.ContainerID) > api.MaxContainerIDLen {
		return envErr("CNI_CONTAINERID", "%d characters, more than %d", len(args.ContainerID), api.MaxContainerIDLen)
	}
	if err := api.ValidateIfName(args.IfName); err != nil {
		var fe *api.FieldError
		if errors.As(err, &fe) {
			return envErr("CNI_IFNAME", "%s", fe.Message)
		}
		return envErr("CNI_IFNAME", "%v", err)
	}
	if args.Netns == "" {
		return envErr("CNI_NETNS", "required")
	}
	if err := api.CheckAbsPath(args.Netns, 4095); err != nil {
		return envErr("CNI_NETNS", "%v", err)
	}
	if err := ns.IsNSorErr(args.Netns); err != nil {
		var ne ns.NSPathNotExistErr
		if errors.As(err, &ne) {
			return envErr("CNI_NETNS", "%s does not exist", args.Netns)
		}
		return envErr("CNI_NETNS", "%s is not a network namespace: %v", args.Netns, err)
	}
	if own, terr := cnins.CheckNetNS(args.Netns); terr != nil {
		return terr
	} else if own {
		return types.NewError(types.ErrInvalidNetNS, fmt.Sprintf("CNI_NETNS %s is the plugin's own network namespace", args.Netns), "")
	}
	return nil
}

// findIPAM checks that the IPAM plugin exists in CNI_PATH, so that a
// misspelt ipam.type fails before anything is created.
func findIPAM(conf *NetConf, cniPath string) error {
	if _, err := invoke.FindInPath(conf.IPAM.Type, filepath.SplitList(cniPath)); err != nil {
		return cfgErr("ipam.type", "IPAM plugin %q not found in CNI_PATH %q", conf.IPAM.Type, cniPath)
	}
	return nil
}

// ipamErr prefixes an IPAM plugin's error, keeping its CNI code.
func ipamErr(cmd, plugin string, err error) error {
	var te *types.Error
	if errors.As(err, &te) {
		return types.NewError(te.Code, fmt.Sprintf("%s: ipam %s: %s", cmd, plugin, te.Msg), te.Details)
	}
	return types.NewError(types.ErrInternal, fmt.Sprintf("%s: ipam %s: %v", cmd, plugin, err), "")
}

// Add is CNI ADD: PUT the attachment to podwired (idempotent), delegate
// IPAM, set up the pod side of a kernel attachment, hand out device-info
// for vhostuser and memif, and print the result in the requested version.
// On error it undoes what it did, the IPAM allocation and the attachment,
// unless the attachment existed before this call (a repeated ADD): then
// both are left for DEL.
func (p *Plugin) Add(args *skel.CmdArgs) (retErr error) {
	conf, err := LoadConf(args.StdinData)
	if err != nil {
		return err
	}
	if err := checkEnv(args); err != nil {
		return err
	}
	if conf.HasIPAM() {
		if err := findIPAM(conf, args.Path); err != nil {
			return toCNI(err)
		}
	}
	log := p.log().With("container_id", args.ContainerID, "ifname", args.IfName, "netns", args.Netns)
	ctx, cancel := p.context()
	defer cancel()
	c := newClient(conf)
	defer c.CloseIdleConnections()

	// Undo only what this call creates: a repeated ADD must not delete
	// the attachment an earlier ADD made.
	_, gerr := c.Attachment(ctx, args.ContainerID, args.IfName)
	existed := gerr == nil
	if gerr != nil && !errors.Is(gerr, api.ErrNotFound) {
		return apiErr("ADD", gerr)
	}
	att, err := c.PutAttachment(ctx, conf.Attachment(args.ContainerID, args.IfName, args.Netns))
	if err != nil {
		return apiErr("ADD", err)
	}
	if !existed {
		defer func() {
			if retErr == nil {
				return
			}
			dctx, dcancel := p.context()
			defer dcancel()
			if derr := c.DeleteAttachment(dctx, args.ContainerID, args.IfName); derr != nil && !errors.Is(derr, api.ErrNotFound) {
				log.Warn("remove attachment after failed ADD", "err", derr)
			}
		}()
	}

	iface := &current.Interface{Name: args.IfName, Sandbox: args.Netns, Mac: att.MAC, Mtu: conf.MTU}
	if conf.Kind != api.KindKernel {
		iface.SocketPath = att.SocketPath
	}
	res := &current.Result{CNIVersion: current.ImplementedSpecVersion, Interfaces: []*current.Interface{iface}, DNS: conf.DNS}
	if conf.HasIPAM() {
		r, err := ipam.ExecAdd(conf.IPAM.Type, args.StdinData)
		if err != nil {
			return ipamErr("ADD", conf.IPAM.Type, err)
		}
		defer func() {
			// After a repeated ADD the allocation may be the earlier
			// ADD's (an IPAM plugin that answers a repeat with the same
			// address): leave it to DEL, like the attachment.
			if retErr != nil && !existed {
				if derr := ipam.ExecDel(conf.IPAM.Type, args.StdinData); derr != nil {
					log.Warn("release IPAM allocation after failed ADD", "ipam", conf.IPAM.Type, "err", derr)
				}
			}
		}()
		ir, err := current.NewResultFromResult(r)
		if err != nil {
			return ipamErr("ADD", conf.IPAM.Type, err)
		}
		if len(ir.IPs) == 0 {
			return types.NewError(types.ErrInternal, fmt.Sprintf("ADD: ipam %s returned no IP address", conf.IPAM.Type), "")
		}
		for _, ipc := range ir.IPs {
			ipc.Interface = current.Int(0)
		}
		res.IPs, res.Routes = ir.IPs, ir.Routes
		if conf.DNS.IsEmpty() {
			res.DNS = ir.DNS
		}
	}

	switch conf.Kind {
	case api.KindKernel:
		if err := setupPodSide(args.Netns, args.IfName, conf.MTU, res); err != nil {
			return err
		}
	default:
		if f := conf.RuntimeConfig.CNIDeviceInfoFile; f != "" {
			data, err := deviceInfoJSON(att)
			if err == nil {
				err = writeDeviceInfo(f, data)
			}
			if err != nil {
				return types.NewError(types.ErrIOFailure, fmt.Sprintf("ADD: runtimeConfig.CNIDeviceInfoFile %s: %v", f, err), "")
			}
		}
	}

	out, err := mergePrev(conf.PrevResult, res)
	if err != nil {
		return err
	}
	return printResult(out, conf.CNIVersion)
}

// mergePrev appends res (whose IPs index res.Interfaces) to a chained
// prevResult, re-indexing the IPs.
func mergePrev(prev types.Result, res *current.Result) (*current.Result, error) {
	if prev == nil {
		return res, nil
	}
	pr, err := current.NewResultFromResult(prev)
	if err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "prevResult: "+err.Error(), "")
	}
	off := len(pr.Interfaces)
	pr.Interfaces = append(pr.Interfaces, res.Interfaces...)
	for _, ipc := range res.IPs {
		if ipc.Interface != nil {
			ipc.Interface = current.Int(*ipc.Interface + off)
		}
		pr.IPs = append(pr.IPs, ipc)
	}
	pr.Routes = append(pr.Routes, res.Routes...)
	if pr.DNS.IsEmpty() {
		pr.DNS = res.DNS
	}
	return pr, nil
}

// printResult prints r in version ver (asVersion).
func printResult(r *current.Result, ver string) error {
	out, err := asVersion(r, ver)
	if err != nil {
		return err
	}
	return out.Print()
}

// asVersion converts r to version ver. Fields that ver's schema lacks are
// dropped: interfaces' mtu, socketPath and pciID exist from 1.1.0 on (the
// 0.3.1 and 0.4.0 conversions drop them by themselves; a 1.0.0 result is
// the same Go type as 1.1.0 and would carry them). r is modified.
func asVersion(r *current.Result, ver string) (types.Result, error) {
	if ok, _ := version.GreaterThanOrEqualTo(ver, "1.1.0"); !ok {
		for _, i := range r.Interfaces {
			i.Mtu, i.SocketPath, i.PciID = 0, "", ""
		}
	}
	return r.GetAsVersion(ver)
}

// Del is CNI DEL: release the IPAM allocation and DELETE the attachment.
// It needs neither prevResult nor the namespace, and succeeds when the
// attachment is already gone (a second DEL) and when podwired is not
// reachable (the attachment is left to podwired's reconciler and to GC).
func (p *Plugin) Del(args *skel.CmdArgs) error {
	conf, err := LoadConf(args.StdinData)
	if err != nil {
		return err
	}
	log := p.log().With("container_id", args.ContainerID, "ifname", args.IfName, "netns", args.Netns)
	if conf.HasIPAM() {
		if err := ipam.ExecDel(conf.IPAM.Type, args.StdinData); err != nil {
			return ipamErr("DEL", conf.IPAM.Type, err)
		}
	}
	ctx, cancel := p.context()
	defer cancel()
	c := newClient(conf)
	defer c.CloseIdleConnections()
	err = c.DeleteAttachment(ctx, args.ContainerID, args.IfName)
	var fe *api.FieldError
	switch {
	case err == nil, errors.Is(err, api.ErrNotFound):
	case errors.As(err, &fe):
		// A key podwired would refuse (say a container ID longer than
		// 128 characters) has no attachment.
	case errors.Is(err, api.ErrUnreachable):
		log.Warn("podwired not reachable; its reconciler or GC removes the attachment", "err", err)
	default:
		return apiErr("DEL", err)
	}
	if f := conf.RuntimeConfig.CNIDeviceInfoFile; f != "" {
		if err := removeDeviceInfo(f); err != nil {
			log.Warn("device-info file", "path", f, "err", err)
		}
	}
	return nil
}

// Check is CNI CHECK: the attachment exists in podwired with the
// configured spec and is not down; the interface of prevResult matches it
// (socket path, MAC); for kind kernel the netdev in the pod has the MAC,
// MTU, addresses and routes of prevResult; the IPAM plugin's CHECK passes.
func (p *Plugin) Check(args *skel.CmdArgs) error {
	conf, err := LoadConf(args.StdinData)
	if err != nil {
		return err
	}
	if err := checkEnv(args); err != nil {
		return err
	}
	if conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "CHECK: no prevResult in the configuration", "")
	}
	prev, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, "CHECK: prevResult: "+err.Error(), "")
	}
	idx := -1
	for i, in := range prev.Interfaces {
		if in.Name == args.IfName && in.Sandbox == args.Netns {
			idx = i
		}
	}
	if idx < 0 {
		return checkErr("prevResult has no interface %s in %s", args.IfName, args.Netns)
	}
	pi := prev.Interfaces[idx]

	ctx, cancel := p.context()
	defer cancel()
	c := newClient(conf)
	defer c.CloseIdleConnections()
	att, err := c.Attachment(ctx, args.ContainerID, args.IfName)
	switch {
	case errors.Is(err, api.ErrNotFound):
		return checkErr("podwired has no attachment %s/%s", args.ContainerID, args.IfName)
	case err != nil:
		return apiErr("CHECK", err)
	}
	want, got := conf.Attachment(args.ContainerID, args.IfName, args.Netns), att.Spec()
	if want.MAC == "" {
		got.MAC = "" // podwired reports the netdev's MAC of a kernel attachment
	}
	if f := got.SpecDiff(want); f != "" {
		return checkErr("podwired's attachment %s differs from the configuration in %s", att.Key(), f)
	}
	if att.State == api.StateDown {
		return checkErr("attachment %s is down: %s", att.Key(), att.Reason)
	}
	if pi.Mac != "" && att.MAC != "" && !sameMAC(pi.Mac, att.MAC) {
		return checkErr("prevResult has mac %s for %s, podwired %s", pi.Mac, args.IfName, att.MAC)
	}
	var ips []*current.IPConfig
	for _, ipc := range prev.IPs {
		if ipc.Interface != nil && *ipc.Interface == idx {
			ips = append(ips, ipc)
		}
	}
	if conf.Kind == api.KindKernel {
		if err := checkPodSide(args.Netns, args.IfName, pi.Mac, conf.MTU, ips, prev.Routes); err != nil {
			return err
		}
	} else {
		if pi.SocketPath != "" && pi.SocketPath != att.SocketPath {
			return checkErr("prevResult has socketPath %s, podwired %s", pi.SocketPath, att.SocketPath)
		}
		// podwired creates the socket unless the pod is the vhost-user
		// server.
		if att.VhostMode != api.VhostClient {
			if fi, err := os.Stat(att.SocketPath); err != nil {
				return checkErr("socket of %s: %v", att.Key(), err)
			} else if fi.Mode().Type() != os.ModeSocket {
				return checkErr("%s is not a socket", att.SocketPath)
			}
		}
	}
	if conf.HasIPAM() {
		if err := ipam.ExecCheck(conf.IPAM.Type, args.StdinData); err != nil {
			return ipamErr("CHECK", conf.IPAM.Type, err)
		}
	}
	return nil
}

// Status is CNI STATUS: code 50 (plugin not available) when podwired does
// not answer or has no network of the configured name; then the IPAM
// plugin's STATUS.
func (p *Plugin) Status(args *skel.CmdArgs) error {
	conf, err := LoadConf(args.StdinData)
	if err != nil {
		return err
	}
	ctx, cancel := p.context()
	defer cancel()
	c := newClient(conf)
	defer c.CloseIdleConnections()
	if _, err := c.Status(ctx); err != nil {
		return types.NewError(types.ErrPluginNotAvailable, fmt.Sprintf("STATUS: %v", err), "")
	}
	if _, err := c.Network(ctx, conf.Network); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return types.NewError(types.ErrPluginNotAvailable, fmt.Sprintf("STATUS: podwired at %s has no network %q", conf.PodwiredSocket, conf.Network), "")
		}
		return types.NewError(types.ErrPluginNotAvailable, fmt.Sprintf("STATUS: network %q: %v", conf.Network, err), "")
	}
	if conf.HasIPAM() {
		if err := ipam.ExecStatus(conf.IPAM.Type, args.StdinData); err != nil {
			return ipamErr("STATUS", conf.IPAM.Type, err)
		}
	}
	return nil
}

// GC is CNI GC (1.1.0): DELETE every attachment on the configured podwired
// network that the CNI plugin made (it has a netns) and whose container is
// in none of cni.dev/valid-attachments (or the legacy cni.dev/attachments),
// then forward GC to the IPAM plugin. A container that is still valid
// keeps all its attachments: under Multus only the primary network gets
// GC, and its list names eth0 alone. It goes on after an error and
// reports them all.
func (p *Plugin) GC(args *skel.CmdArgs) error {
	conf, err := LoadConf(args.StdinData)
	if err != nil {
		return err
	}
	ctx, cancel := p.context()
	defer cancel()
	c := newClient(conf)
	defer c.CloseIdleConnections()
	valid := map[string]bool{}
	for _, a := range conf.ValidAttachments {
		valid[a.ContainerID] = true
	}
	for _, a := range conf.LegacyAttachments {
		valid[a.ContainerID] = true
	}
	atts, err := c.Attachments(ctx)
	if err != nil {
		return apiErr("GC", err)
	}
	var errs []error
	for _, a := range atts {
		if a.Network != conf.Network || a.Netns == "" || valid[a.ContainerID] {
			continue
		}
		if err := c.DeleteAttachment(ctx, a.ContainerID, a.IfName); err != nil && !errors.Is(err, api.ErrNotFound) {
			errs = append(errs, fmt.Errorf("delete %s: %w", a.Key(), err))
			continue
		}
		p.log().Info("GC removed attachment", "container_id", a.ContainerID, "ifname", a.IfName, "network", a.Network)
	}
	if conf.HasIPAM() {
		if err := invoke.DelegateGC(ctx, conf.IPAM.Type, args.StdinData, nil); err != nil {
			errs = append(errs, fmt.Errorf("ipam %s: %w", conf.IPAM.Type, err))
		}
	}
	if len(errs) > 0 {
		return types.NewError(ErrCodePodwired, "GC: "+errors.Join(errs...).Error(), "")
	}
	return nil
}
