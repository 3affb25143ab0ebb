package cni

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podwire/podwire/api"
)

// PodArgs is what podwire reads from CNI_ARGS: the pod's identity as
// containerd, CRI-O and Multus pass it.
type PodArgs struct {
	UID       string // K8S_POD_UID
	Namespace string // K8S_POD_NAMESPACE
	Name      string // K8S_POD_NAME
}

// parsePodArgs reads K8S_POD_UID, K8S_POD_NAMESPACE and K8S_POD_NAME from
// CNI_ARGS ("K=V;K=V"). Other keys, pairs without '=', and
// IgnoreUnknown are ignored; of duplicated keys (Multus repeats them) the
// last wins, as in libcni's types.LoadArgs. A K8S_POD_UID that cannot name
// a directory is code 4.
func parsePodArgs(s string) (PodArgs, error) {
	var p PodArgs
	for _, pair := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			continue
		}
		switch k {
		case "K8S_POD_UID":
			p.UID = v
		case "K8S_POD_NAMESPACE":
			p.Namespace = v
		case "K8S_POD_NAME":
			p.Name = v
		}
	}
	if p.UID != "" {
		if err := api.ValidateName(api.FieldPod, p.UID); err != nil {
			return p, envErr("CNI_ARGS", "K8S_POD_UID %s", err)
		}
	}
	return p, nil
}

// extraAttachment is one attachment of the native multi-interface mode
// beyond CNI_IFNAME: what the pod asked for and what podwire makes of it.
type extraAttachment struct {
	sel    NetworkSelection
	ifName string
	conf   *AttachConf
}

// Native says whether the configuration turns on the native
// multi-interface mode ("networks").
func (c *NetConf) Native() bool { return c.Networks != nil }

// lookupNetwork finds the "networks" entry for a selection: the
// namespaced key "<namespace>/<name>" first, then "<name>".
func (c *NetConf) lookupNetwork(s NetworkSelection) (*AttachConf, bool) {
	if ac, ok := c.Networks[s.Namespace+"/"+s.Name]; ok {
		return ac, true
	}
	ac, ok := c.Networks[s.Name]
	return ac, ok
}

// extraAttachments resolves the pod's networks annotation (native mode):
// each element must name a network of "networks"; its interface is the
// requested one or net<N> (N its 1-based position, as Multus numbers
// delegates), and no two interfaces, nor one and primary (CNI_IFNAME), may
// share a name. Every problem is code 7, naming the annotation element.
// No annotation: no extra attachments.
func (c *NetConf) extraAttachments(primary string, pod PodArgs) ([]extraAttachment, error) {
	value, ok := c.RuntimeConfig.PodAnnotations[NetworksAnnotation]
	if !ok {
		return nil, nil
	}
	sels, err := ParseNetworksAnnotation(value, pod.Namespace)
	if err != nil {
		return nil, toCNI(err)
	}
	taken := map[string]string{primary: "the primary interface (CNI_IFNAME)"}
	var out []extraAttachment
	for i, s := range sels {
		ac, ok := c.lookupNetwork(s)
		if !ok {
			return nil, toCNI(annErr("element %d: network %q (namespace %q) is not one of this configuration's networks (%s)",
				i+1, s.Name, s.Namespace, strings.Join(sortedKeys(c.Networks), ", ")))
		}
		ifName := s.Interface
		if ifName == "" {
			ifName = fmt.Sprintf("net%d", i+1)
		}
		if who, dup := taken[ifName]; dup {
			return nil, toCNI(annErr("element %d (%s): interface %s is already %s", i+1, s.Name, ifName, who))
		}
		taken[ifName] = fmt.Sprintf("element %d's (%s)", i+1, s.Name)
		if ac.Kind == api.KindKernel && len(s.IPs) > 0 {
			for _, ip := range s.IPs {
				if !strings.Contains(ip, "/") {
					return nil, toCNI(annErr("element %d (%s): ips: %q needs a prefix length on a kernel interface (%s/24)", i+1, s.Name, ip, ip))
				}
			}
		}
		out = append(out, extraAttachment{sel: s, ifName: ifName, conf: ac})
	}
	return out, nil
}

// selectionIPs are the annotation's addresses for result interface idx.
// An address without a prefix length is a host address (/32, /128).
func selectionIPs(s NetworkSelection, idx int) []*current.IPConfig {
	var out []*current.IPConfig
	for _, v := range s.IPs {
		var ipn *net.IPNet
		if strings.Contains(v, "/") {
			ip, n, err := net.ParseCIDR(v)
			if err != nil {
				continue // validated before
			}
			n.IP = ip
			ipn = n
		} else {
			ip := net.ParseIP(v)
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			ipn = &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}
		}
		out = append(out, &current.IPConfig{Address: *ipn, Interface: current.Int(idx)})
	}
	return out
}

// PublishTimeout bounds publishing network-status after a native-mode ADD.
const PublishTimeout = 10 * time.Second

// publishNetworkStatus writes the network-status annotation of a
// native-mode ADD to the pod (when the configuration has a kubeconfig):
// res is the ADD's own result, eth0 (CNI_IFNAME) first and then extras in
// order. It never fails the ADD: the attachments work without the
// annotation, as under Multus, which logs and goes on when it cannot write
// it. A failure is a warning on log (the plugin's stderr).
func publishNetworkStatus(log *slog.Logger, conf *NetConf, pod PodArgs, res *current.Result, extras []extraAttachment) {
	if conf.Kubeconfig == "" || !conf.Native() {
		return
	}
	start := time.Now()
	value, err := publishedStatus(conf, pod, res, extras)
	if err != nil {
		log.Warn("network-status not published (the ADD goes on)", "pod", pod.Namespace+"/"+pod.Name, "kubeconfig", conf.Kubeconfig, "err", err)
		return
	}
	log.Info("network-status published", "pod", pod.Namespace+"/"+pod.Name, "took", time.Since(start).Round(time.Millisecond), "value", value)
}

// publishedStatus computes the network-status value and patches it into
// the pod.
func publishedStatus(conf *NetConf, pod PodArgs, res *current.Result, extras []extraAttachment) (string, error) {
	if err := checkPodRef(pod); err != nil {
		return "", err
	}
	entries := []statusEntry{{name: conf.Name, idx: 0}}
	for i, x := range extras {
		e := statusEntry{name: x.sel.Namespace + "/" + x.sel.Name, idx: 1 + i}
		if x.conf.Kind != api.KindKernel && 1+i < len(res.Interfaces) {
			di, err := deviceInfoJSON(api.Attachment{Kind: x.conf.Kind, VhostMode: x.conf.VhostMode, SocketPath: res.Interfaces[1+i].SocketPath})
			if err != nil {
				return "", fmt.Errorf("device-info of %s: %v", x.ifName, err)
			}
			e.devInfo = di
		}
		entries = append(entries, e)
	}
	statuses, err := networkStatuses(res, entries)
	if err != nil {
		return "", err
	}
	value, err := networkStatusValue(statuses)
	if err != nil {
		return "", err
	}
	k, err := loadKubeconfig(conf.Kubeconfig)
	if err != nil {
		return "", err
	}
	defer k.close()
	ctx, cancel := context.WithTimeout(context.Background(), PublishTimeout)
	defer cancel()
	if err := k.setPodAnnotations(ctx, pod.Namespace, pod.Name, pod.UID, map[string]string{NetworkStatusAnnotation: value}); err != nil {
		return "", err
	}
	return value, nil
}

// validateKubeconfig checks "kubeconfig": an absolute path, and only with
// "networks" (under Multus, Multus writes network-status and podwire must
// not overwrite it). The file itself is read at ADD, where a problem with
// it is logged and does not fail the ADD.
func (c *NetConf) validateKubeconfig() error {
	if c.Kubeconfig == "" {
		return nil
	}
	if c.Networks == nil {
		return cfgErr("kubeconfig", "only for the native multi-interface mode (\"networks\"): with Multus, Multus publishes network-status")
	}
	if err := api.CheckAbsPath(c.Kubeconfig, 4095); err != nil {
		return cfgErr("kubeconfig", "%s", err)
	}
	return nil
}
