package cni

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/podwire/podwire/api"
)

// podwire's own CNI error codes (100 and up are plugin-specific). The
// well-known codes it uses are types.ErrIncompatibleCNIVersion (1),
// types.ErrInvalidEnvironmentVariables (4), types.ErrDecodingFailure (6),
// types.ErrInvalidNetworkConfig (7), types.ErrTryAgainLater (11, podwired
// not reachable or out of ports) and types.ErrPluginNotAvailable (50,
// STATUS).
const (
	// ErrCodePodwired: podwired refused the request for a reason other
	// than invalid input (an attachment of that key exists with another
	// spec; the interface name is taken in the pod; podwired failed to
	// create or remove the port).
	ErrCodePodwired uint = 100
	// ErrCodeCheck: CHECK found the attachment missing or different from
	// the configuration and prevResult.
	ErrCodeCheck uint = 101
)

// toCNI turns err into a *types.Error: a *ConfigError or an
// *AnnotationError into code 7, a
// *types.Error as it is, anything else into code 999 (internal).
func toCNI(err error) *types.Error {
	var te *types.Error
	if errors.As(err, &te) {
		return te
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return types.NewError(types.ErrInvalidNetworkConfig, ce.Error(), "")
	}
	var ae *AnnotationError
	if errors.As(err, &ae) {
		return types.NewError(types.ErrInvalidNetworkConfig, ae.Error(), "")
	}
	return types.NewError(types.ErrInternal, err.Error(), "")
}

// envErr is CNI code 4, naming the variable.
func envErr(name, format string, args ...any) *types.Error {
	return types.NewError(types.ErrInvalidEnvironmentVariables, name+": "+fmt.Sprintf(format, args...), "")
}

// envFields maps api field names to the CNI variables they come from.
var envFields = map[string]string{
	api.FieldContainerID: "CNI_CONTAINERID",
	api.FieldIfName:      "CNI_IFNAME",
	api.FieldNetns:       "CNI_NETNS",
	api.FieldPod:         "CNI_ARGS", // K8S_POD_UID
}

// confFields maps api field names to the config fields they come from.
var confFields = map[string]string{
	api.FieldNetwork:    "network",
	api.FieldKind:       "kind",
	api.FieldVhostMode:  "vhostMode",
	api.FieldMAC:        "runtimeConfig.mac",
	api.FieldOwnerUID:   "socketOwner",
	api.FieldOwnerGID:   "socketOwner",
	api.FieldSocketMode: "socketMode",
	api.FieldQueues:     "queues",
	api.FieldMTU:        "mtu",
	api.FieldOwner:      "name",
	api.FieldPodMount:   "podMount",
}

// apiErr turns an error of a podwired call into a CNI error:
//   - podwired not reachable: code 11, the message naming the socket;
//   - input podwired (or the client, before sending) refused: code 4 for
//     a field that comes from the environment (CNI_CONTAINERID,
//     CNI_IFNAME, CNI_NETNS), code 7 naming the config field otherwise;
//   - 503 (podwired out of ports): code 11;
//   - any other answer: ErrCodePodwired;
//   - a connection that broke mid-request: code 11 (the call is safe to
//     repeat).
func apiErr(what string, err error) *types.Error { return apiErrIn("", what, err) }

// apiErrIn is apiErr for an attachment configured by an entry of
// "networks": prefix ("networks.<name>.") starts config field names.
func apiErrIn(prefix, what string, err error) *types.Error {
	if errors.Is(err, api.ErrUnreachable) {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("%s: %v (is podwired running?)", what, err), "")
	}
	var (
		field, msg string
		status     int
	)
	var fe *api.FieldError
	var ae *api.Error
	switch {
	case errors.As(err, &fe):
		field, status, msg = fe.Field, http.StatusBadRequest, fe.Message
	case errors.As(err, &ae):
		field, status, msg = ae.Field, ae.Status, ae.Message
	default:
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("%s: %v", what, err), "")
	}
	if status == http.StatusBadRequest || status == http.StatusUnprocessableEntity {
		if v, ok := envFields[field]; ok {
			return envErr(v, "%s: podwired: %s", what, msg)
		}
		if f, ok := confFields[field]; ok {
			return types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf("podwire config: field %q: %s: podwired: %s", prefix+f, what, msg), "")
		}
	}
	if status == http.StatusServiceUnavailable {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("%s: %v", what, err), "")
	}
	return types.NewError(ErrCodePodwired, fmt.Sprintf("%s: %v", what, err), "")
}

// checkErr is ErrCodeCheck.
func checkErr(format string, args ...any) *types.Error {
	return types.NewError(ErrCodeCheck, "CHECK: "+fmt.Sprintf(format, args...), "")
}
