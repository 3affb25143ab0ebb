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
// In the native multi-interface mode it then adds every network the pod's
// annotation requests, each an attachment of its own, and reports them
// after CNI_IFNAME. On error it undoes what it did, the IPAM allocation
// and every attachment this call created; attachments that existed before
// this call (a repeated ADD) are left for DEL, and so is the IPAM
// allocation then.
func (p *Plugin) Add(args *skel.CmdArgs) (retErr error) {
	conf, err := LoadConf(args.StdinData)
	if err != nil {
		return err
	}
	if err := checkEnv(args); err != nil {
		return err
	}
	pod, err := parsePodArgs(args.Args)
	if err != nil {
		return err
	}
	var extras []extraAttachment
	if conf.Native() {
		if extras, err = conf.extraAttachments(args.IfName, pod); err != nil {
			return err
		}
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

	var undo []func()
	defer func() {
		if retErr == nil {
			return
		}
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}()
	// put PUTs a and, if this call created it, registers its removal.
	// Undo only what this call creates: a repeated ADD must not delete
	// the attachments an earlier ADD made.
	put := func(a api.Attachment, prefix string) (api.Attachment, bool, error) {
		what := "ADD"
		if a.IfName != args.IfName {
			what += " " + a.IfName
		}
		_, gerr := c.Attachment(ctx, args.ContainerID, a.IfName)
		existed := gerr == nil
		if gerr != nil && !errors.Is(gerr, api.ErrNotFound) {
			return api.Attachment{}, false, apiErrIn(prefix, what, gerr)
		}
		att, err := c.PutAttachment(ctx, a)
		if err != nil {
			return api.Attachment{}, false, apiErrIn(prefix, what, err)
		}
		if !existed {
			undo = append(undo, func() {
				dctx, dcancel := p.context()
				defer dcancel()
				if derr := c.DeleteAttachment(dctx, args.ContainerID, a.IfName); derr != nil && !errors.Is(derr, api.ErrNotFound) {
					log.Warn("remove attachment after failed ADD", "attachment", a.Key(), "err", derr)
				}
			})
		}
		return att, existed, nil
	}

	att, existed, err := put(conf.attachment(&conf.AttachConf, args.ContainerID, args.IfName, args.Netns, pod, conf.RuntimeConfig.MAC), "")
	if err != nil {
		return err
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
		// After a repeated ADD the allocation may be the earlier ADD's
		// (an IPAM plugin that answers a repeat with the same address):
		// leave it to DEL, like the attachment.
		if !existed {
			undo = append(undo, func() {
				if derr := ipam.ExecDel(conf.IPAM.Type, args.StdinData); derr != nil {
					log.Warn("release IPAM allocation after failed ADD", "ipam", conf.IPAM.Type, "err", derr)
				}
			})
		}
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

	for _, x := range extras {
		prefix := "networks." + x.sel.Name + "."
		xa, _, err := put(conf.attachment(x.conf, args.ContainerID, x.ifName, args.Netns, pod, x.sel.MAC), prefix)
		if err != nil {
			return err
		}
		xi := &current.Interface{Name: x.ifName, Sandbox: args.Netns, Mac: xa.MAC, Mtu: x.conf.MTU}
		sub := &current.Result{Interfaces: []*current.Interface{xi}, IPs: selectionIPs(x.sel, 0)}
		if x.conf.Kind == api.KindKernel {
			if err := setupPodSide(args.Netns, x.ifName, x.conf.MTU, sub); err != nil {
				return err
			}
		} else {
			xi.SocketPath = xa.SocketPath
		}
		for _, ipc := range sub.IPs {
			ipc.Interface = current.Int(len(res.Interfaces))
		}
		res.Interfaces = append(res.Interfaces, xi)
		res.IPs = append(res.IPs, sub.IPs...)
		log.Info("attached requested network", "network", x.sel.Namespace+"/"+x.sel.Name, "ifname", x.ifName, "kind", x.conf.Kind)
	}

	publishNetworkStatus(log, conf, pod, res, extras)
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

// Del is CNI DEL: release the IPAM allocation and DELETE the attachment,
// in the native multi-interface mode also every other attachment of the
// container that this CNI network made (its owner). It needs neither
// prevResult nor the namespace, and succeeds when the attachments are
// already gone (a second DEL, a partial ADD) and when podwired is not
// reachable (they are left to podwired's reconciler and to GC).
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
	ifNames := []string{args.IfName}
	if conf.Native() {
		atts, err := c.Attachments(ctx)
		if errors.Is(err, api.ErrUnreachable) {
			log.Warn("podwired not reachable; its reconciler or GC removes the attachments", "err", err)
			return nil
		}
		if err != nil {
			return apiErr("DEL", err)
		}
		for _, a := range atts {
			if a.ContainerID == args.ContainerID && a.Owner == conf.Name && a.IfName != args.IfName {
				ifNames = append(ifNames, a.IfName)
			}
		}
	}
	for _, ifName := range ifNames {
		err = c.DeleteAttachment(ctx, args.ContainerID, ifName)
		var fe *api.FieldError
		switch {
		case err == nil, errors.Is(err, api.ErrNotFound):
		case errors.As(err, &fe):
			// A key podwired would refuse (say a container ID longer than
			// 128 characters) has no attachment.
		case errors.Is(err, api.ErrUnreachable):
			log.Warn("podwired not reachable; its reconciler or GC removes the attachment", "err", err)
			return nil
		default:
			return apiErr("DEL "+ifName, err)
		}
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
	pod, err := parsePodArgs(args.Args)
	if err != nil {
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
	att, err := checkAttachment(ctx, c, args.ContainerID, args.IfName)
	if err != nil {
		return err
	}
	want, got := conf.attachment(&conf.AttachConf, args.ContainerID, args.IfName, args.Netns, pod, conf.RuntimeConfig.MAC), att.Spec()
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
	ips := ipsOf(prev, idx)
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
	if conf.Native() {
		if err := checkExtras(ctx, c, conf, args, prev, idx); err != nil {
			return err
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

// GC is CNI GC (1.1.0): DELETE every attachment that this CNI network made
// (its owner is the configuration's name) and whose container is in none
// of cni.dev/valid-attachments (or the legacy cni.dev/attachments), then
// forward GC to the IPAM plugin. Attachments of other CNI networks are
// never touched. An attachment without an owner (made by an older plugin)
// counts as this network's if it is on the configured podwired network
// and has a netns (attachments made by podwired's config or podwirectl
// have none). A container that is still valid keeps all its attachments:
// the runtime lists only CNI_IFNAME, and the native mode's other
// interfaces belong to it. It goes on after an error and reports them
// all.
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
		if !ownedBy(a, conf) || valid[a.ContainerID] {
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

// ownedBy says whether attachment a belongs to the CNI network of conf:
// its owner is conf's name, or, with no owner (an older plugin's), it is
// on conf's podwired network and has a netns.
func ownedBy(a api.Attachment, conf *NetConf) bool {
	if a.Owner != "" {
		return a.Owner == conf.Name
	}
	return a.Network == conf.Network && a.Netns != ""
}

// checkExtras is CHECK for the native mode's other interfaces: every
// interface of prevResult in the pod's namespace besides CNI_IFNAME (at
// index primary) is an attachment of this CNI network in podwired, not
// down, with prevResult's socket path, and, for kind kernel, a netdev with
// prevResult's MAC and addresses.
func checkExtras(ctx context.Context, c *api.Client, conf *NetConf, args *skel.CmdArgs, prev *current.Result, primary int) error {
	for i, in := range prev.Interfaces {
		if i == primary || in.Sandbox != args.Netns {
			continue
		}
		a, err := checkAttachment(ctx, c, args.ContainerID, in.Name)
		switch {
		case err != nil:
			return err
		case a.Owner != conf.Name:
			return checkErr("attachment %s belongs to %q, not to network %q", a.Key(), a.Owner, conf.Name)
		case a.State == api.StateDown:
			return checkErr("attachment %s is down: %s", a.Key(), a.Reason)
		}
		if a.Kind != api.KindKernel {
			if in.SocketPath != "" && in.SocketPath != a.SocketPath {
				return checkErr("prevResult has socketPath %s for %s, podwired %s", in.SocketPath, in.Name, a.SocketPath)
			}
			continue
		}
		if err := checkPodSide(args.Netns, in.Name, in.Mac, a.MTU, ipsOf(prev, i), nil); err != nil {
			return err
		}
	}
	return nil
}

// ipsOf are the addresses of prevResult's interface idx.
func ipsOf(r *current.Result, idx int) []*current.IPConfig {
	var ips []*current.IPConfig
	for _, ipc := range r.IPs {
		if ipc.Interface != nil && *ipc.Interface == idx {
			ips = append(ips, ipc)
		}
	}
	return ips
}

// checkAttachment is CHECK's look-up of an attachment: missing is
// ErrCodeCheck, podwired not answering code 11.
func checkAttachment(ctx context.Context, c *api.Client, containerID, ifName string) (api.Attachment, error) {
	a, err := c.Attachment(ctx, containerID, ifName)
	switch {
	case errors.Is(err, api.ErrNotFound):
		return a, checkErr("podwired has no attachment %s/%s", containerID, ifName)
	case err != nil:
		return a, apiErr("CHECK", err)
	}
	return a, nil
}
