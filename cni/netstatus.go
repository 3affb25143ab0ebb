package cni

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// NetworkStatusAnnotation is the pod annotation in which Multus reports
// the pod's attachments; in the native multi-interface mode podwire
// writes it (in the same schema) when the configuration has a kubeconfig.
const NetworkStatusAnnotation = "k8s.v1.cni.cncf.io/network-status"

// NetworkStatus is one element of the network-status annotation, field
// for field (and JSON key for key, omitempty included) the
// NetworkStatus of github.com/k8snetworkplumbingwg/network-attachment-definition-client
// (pkg/apis/k8s.cni.cncf.io/v1), which Multus writes. Not imported: the
// plugin stays free of Kubernetes modules.
type NetworkStatus struct {
	Name      string   `json:"name"`
	Interface string   `json:"interface,omitempty"`
	IPs       []string `json:"ips,omitempty"`
	Mac       string   `json:"mac,omitempty"`
	Mtu       int      `json:"mtu,omitempty"`
	Default   bool     `json:"default,omitempty"`
	// DNS is always written ("dns": {} when empty): a struct is never
	// omitted by encoding/json, so Multus writes it so too.
	DNS        NetworkStatusDNS `json:"dns,omitempty"`
	DeviceInfo *DeviceInfo      `json:"device-info,omitempty"`
	Gateway    []string         `json:"gateway,omitempty"`
}

// NetworkStatusDNS is the "dns" object of a NetworkStatus.
type NetworkStatusDNS struct {
	Nameservers []string `json:"nameservers,omitempty"`
	Domain      string   `json:"domain,omitempty"`
	Search      []string `json:"search,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// statusEntry is what networkStatuses needs of one pod interface of a
// native-mode ADD.
type statusEntry struct {
	// name is the network's name in the annotation: the CNI network's name
	// for the primary interface, "<namespace>/<name>" for a requested one
	// (as Multus names a NetworkAttachmentDefinition's delegate).
	name string
	// idx is the interface's index in the ADD's result.
	idx int
	// devInfo is the device-info document handed out for a socket kind
	// (deviceInfoJSON); nil for kind kernel.
	devInfo []byte
}

// networkStatuses is the network-status list of a native-mode ADD from
// its result res (before a prevResult is merged, so that its interface
// indexes are the entries'): one element per entry, in order, the way
// Multus's CreateNetworkStatus(es) fills it for a delegate: the
// interface's name, MAC and MTU; its addresses without prefix length
// (those of result IPs whose interface is the entry's); for the primary
// entry (the first, "default": true) also the gateways of the result's
// default routes and its DNS; device-info decoded into the NPWG schema.
func networkStatuses(res *current.Result, entries []statusEntry) ([]NetworkStatus, error) {
	out := make([]NetworkStatus, 0, len(entries))
	for i, e := range entries {
		if e.idx < 0 || e.idx >= len(res.Interfaces) {
			return nil, fmt.Errorf("network-status: %s: no interface %d in the result", e.name, e.idx)
		}
		iface := res.Interfaces[e.idx]
		s := NetworkStatus{Name: e.name, Interface: iface.Name, Mac: iface.Mac, Mtu: iface.Mtu}
		for _, ipc := range res.IPs {
			if ipc.Interface != nil && *ipc.Interface == e.idx {
				s.IPs = append(s.IPs, ipc.Address.IP.String())
			}
		}
		if i == 0 {
			s.Default = true
			for _, r := range res.Routes {
				// Multus would write "<nil>" for a default route
				// without a gateway; it is left out.
				if isDefaultRoute(r) && r.GW != nil {
					s.Gateway = append(s.Gateway, r.GW.String())
				}
			}
			s.DNS = NetworkStatusDNS{
				Nameservers: res.DNS.Nameservers, Domain: res.DNS.Domain,
				Search: res.DNS.Search, Options: res.DNS.Options,
			}
		}
		if e.devInfo != nil {
			var di DeviceInfo
			if err := json.Unmarshal(e.devInfo, &di); err != nil {
				return nil, fmt.Errorf("network-status: %s: device-info: %v", e.name, err)
			}
			s.DeviceInfo = &di
		}
		out = append(out, s)
	}
	return out, nil
}

// isDefaultRoute is Multus's (NAD client's) test: no destination, or
// 0.0.0.0 or ::.
func isDefaultRoute(r *types.Route) bool {
	return r.Dst.IP == nil && r.Dst.Mask == nil || r.Dst.IP.Equal(net.IPv4zero) || r.Dst.IP.Equal(net.IPv6zero)
}

// networkStatusValue is the annotation's value for statuses, formatted as
// the NAD client's SetNetworkStatus does: each element indented with four
// spaces, joined with "," inside "[...]".
func networkStatusValue(statuses []NetworkStatus) (string, error) {
	parts := make([]string, 0, len(statuses))
	for _, s := range statuses {
		b, err := json.MarshalIndent(s, "", "    ")
		if err != nil {
			return "", err
		}
		parts = append(parts, string(b))
	}
	return "[" + strings.Join(parts, ",") + "]", nil
}
