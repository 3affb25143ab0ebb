package cni

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strings"
)

// NetworksAnnotation is the pod annotation that lists a pod's additional
// networks (Multus, the NPWG de-facto standard).
const NetworksAnnotation = "k8s.v1.cni.cncf.io/networks"

// PodAnnotationsCapability is the capability under which containerd and
// CRI-O pass all of a pod's annotations (runtimeConfig key).
const PodAnnotationsCapability = "io.kubernetes.cri.pod-annotations"

// NetworkSelection is one element of the networks annotation, as Multus's
// NetworkSelectionElement: the JSON form's keys, or what the text form
// "[<namespace>/]<name>[@<interface>]" gives.
type NetworkSelection struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	// Interface is the requested interface name in the pod; empty: net<N>
	// with N the element's position (1-based).
	Interface string `json:"interface,omitempty"`
	// MAC is the requested MAC of the interface.
	MAC string `json:"mac,omitempty"`
	// IPs are the requested addresses, with or without a prefix length.
	IPs []string `json:"ips,omitempty"`
	// CNIArgs is Multus's "cni-args": extra args for the delegate. podwire
	// checks that it is an object and uses none of it.
	CNIArgs map[string]any `json:"cni-args,omitempty"`
}

// selectionKeys are the JSON keys of a NetworkSelectionElement that
// podwire accepts. Multus's other keys (portMappings, bandwidth, deviceID,
// infiniband-guid, default-route, ipam-claim-reference) ask for things a
// podwire attachment cannot do, and are refused rather than ignored.
var selectionKeys = map[string]bool{
	"name": true, "namespace": true, "interface": true, "mac": true, "ips": true, "cni-args": true,
	// The deprecated (pre Multus 3.2) spelling of "interface".
	"interfaceRequest": true,
}

// dns1123Label is Multus's rule for each part of a text-form element
// (namespace, name, interface): a DNS-1123 label.
var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// maxLabel is the longest DNS-1123 label.
const maxLabel = 63

// AnnotationError is a networks annotation podwire cannot use: it becomes
// CNI error code 7 (the runtimeConfig of the request is invalid).
type AnnotationError struct{ Msg string }

func (e *AnnotationError) Error() string {
	return "pod annotation " + NetworksAnnotation + ": " + e.Msg
}

func annErr(format string, args ...any) *AnnotationError {
	return &AnnotationError{Msg: fmt.Sprintf(format, args...)}
}

// ParseNetworksAnnotation parses the networks annotation with Multus's
// rules (pkg/k8sclient parsePodNetworkAnnotation): the JSON form when the
// value contains '[', '{' or '"', else the text form, a comma-separated
// list of "[<namespace>/]<name>[@<interface>]" whose parts are DNS-1123
// labels. Namespaces default to defaultNamespace. A MAC must parse, each
// IP must be an address or a CIDR. Beyond Multus, podwire also requires a
// JSON element's name and namespace to be DNS-1123 labels (else no NAD or
// network could have that name), the interface to be a valid Linux name,
// and no JSON key it would have to ignore. An empty (or blank) value
// selects no networks.
func ParseNetworksAnnotation(value, defaultNamespace string) ([]NetworkSelection, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	var sels []NetworkSelection
	if strings.ContainsAny(value, "[{\"") {
		var raw []map[string]json.RawMessage
		if err := json.Unmarshal([]byte(value), &raw); err != nil {
			return nil, annErr("JSON form: not a list of objects: %v", err)
		}
		for i, m := range raw {
			s, err := selectionFromJSON(m)
			if err != nil {
				return nil, annErr("element %d: %v", i+1, err)
			}
			sels = append(sels, s)
		}
	} else {
		for i, item := range strings.Split(value, ",") {
			s, err := selectionFromText(strings.TrimSpace(item))
			if err != nil {
				return nil, annErr("element %d %q: %v", i+1, strings.TrimSpace(item), err)
			}
			sels = append(sels, s)
		}
	}
	for i := range sels {
		s := &sels[i]
		if s.Namespace == "" {
			s.Namespace = defaultNamespace
		}
		if err := s.validate(); err != nil {
			return nil, annErr("element %d (%s): %v", i+1, s.Name, err)
		}
	}
	return sels, nil
}

// selectionFromText parses "[<namespace>/]<name>[@<interface>]".
func selectionFromText(item string) (NetworkSelection, error) {
	var s NetworkSelection
	rest := item
	switch parts := strings.Split(item, "/"); len(parts) {
	case 1:
	case 2:
		s.Namespace, rest = strings.TrimSpace(parts[0]), parts[1]
		if s.Namespace == "" {
			return s, fmt.Errorf("empty namespace before '/'")
		}
	default:
		return s, fmt.Errorf("more than one '/': want [<namespace>/]<name>[@<interface>]")
	}
	switch parts := strings.Split(rest, "@"); len(parts) {
	case 1:
		s.Name = strings.TrimSpace(parts[0])
	case 2:
		s.Name, s.Interface = strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1])
		if s.Interface == "" {
			return s, fmt.Errorf("empty interface name after '@'")
		}
	default:
		return s, fmt.Errorf("more than one '@': want [<namespace>/]<name>[@<interface>]")
	}
	for _, part := range []struct{ what, v string }{{"namespace", s.Namespace}, {"name", s.Name}, {"interface", s.Interface}} {
		if part.v != "" && !dns1123Label.MatchString(part.v) {
			return s, fmt.Errorf("%s %q is not a DNS-1123 label (lower case letters, digits and '-', starting and ending with a letter or digit)", part.what, part.v)
		}
	}
	return s, nil
}

// selectionFromJSON decodes one JSON element, naming a key of the wrong
// type.
func selectionFromJSON(m map[string]json.RawMessage) (NetworkSelection, error) {
	var s NetworkSelection
	for k := range m {
		if !selectionKeys[k] {
			return s, fmt.Errorf("key %q is not supported by podwire (it takes name, namespace, interface, mac, ips, cni-args)", k)
		}
	}
	str := func(k string, dst *string) error {
		v, ok := m[k]
		if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return nil
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("%q: want a string, got %s", k, jsonKind(v))
		}
		return nil
	}
	for _, f := range []struct {
		k   string
		dst *string
	}{{"name", &s.Name}, {"namespace", &s.Namespace}, {"interface", &s.Interface}, {"mac", &s.MAC}} {
		if err := str(f.k, f.dst); err != nil {
			return s, err
		}
	}
	if s.Interface == "" {
		if err := str("interfaceRequest", &s.Interface); err != nil {
			return s, err
		}
	}
	if v, ok := m["ips"]; ok {
		if err := json.Unmarshal(v, &s.IPs); err != nil {
			return s, fmt.Errorf("%q: want a list of strings, got %s", "ips", jsonKind(v))
		}
	}
	if v, ok := m["cni-args"]; ok {
		if err := json.Unmarshal(v, &s.CNIArgs); err != nil {
			return s, fmt.Errorf("%q: want an object, got %s", "cni-args", jsonKind(v))
		}
	}
	return s, nil
}

// validate checks what both forms share.
func (s *NetworkSelection) validate() error {
	if s.Name == "" {
		return fmt.Errorf("no network name")
	}
	for _, part := range []struct{ what, v string }{{"name", s.Name}, {"namespace", s.Namespace}} {
		if part.v != "" && (len(part.v) > maxLabel || !dns1123Label.MatchString(part.v)) {
			return fmt.Errorf("%s %q is not a DNS-1123 label", part.what, part.v)
		}
	}
	if s.Interface != "" {
		if err := validIfName(s.Interface); err != nil {
			return fmt.Errorf("interface: %v", err)
		}
	}
	if s.MAC != "" {
		hw, err := checkMAC(s.MAC)
		if err != nil {
			return fmt.Errorf("mac: %v", err)
		}
		s.MAC = hw
	}
	for _, ip := range s.IPs {
		if strings.Contains(ip, "/") {
			if _, _, err := net.ParseCIDR(ip); err != nil {
				return fmt.Errorf("ips: %q is not a CIDR", ip)
			}
		} else if net.ParseIP(ip) == nil {
			return fmt.Errorf("ips: %q is not an IP address", ip)
		}
	}
	return nil
}
