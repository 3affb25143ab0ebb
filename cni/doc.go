// Package cni is podwire's CNI plugin: it turns CNI commands into calls to
// podwired's control API (package api) and does the pod-side work that
// podwired leaves to it. cmd/podwire is the binary: one
// skel.PluginMainFuncs call with Plugin.Funcs and VersionInfo.
//
// # Model
//
// State lives in podwired, keyed by (CNI_CONTAINERID, CNI_IFNAME): ADD PUTs
// an attachment (idempotent), DEL DELETEs it (absent is success), CHECK
// GETs it and compares, GC lists and DELETEs, STATUS asks whether podwired
// answers. The plugin keeps no files of its own, so DEL works without
// prevResult (spec 0.3.1) and after a podwired restart. The network
// configuration (NetConf, LoadConf) names the kind (vhostuser, memif,
// kernel), the podwired network and socket, and socket ownership; see
// docs/cni.md.
//
// For vhostuser and memif, podwired creates the socket (or, in vhost-user
// client mode, connects to the pod's) and writes device-info.json next to
// it; the plugin reports {name, sandbox, socketPath (1.1)} and copies the
// device-info to runtimeConfig.CNIDeviceInfoFile. For kernel, podwired
// creates a veth whose pod end is CNI_IFNAME in CNI_NETNS; the plugin
// delegates IPAM (ipam.ExecAdd, undone with ipam.ExecDel if ADD fails
// later) and applies addresses, routes and MTU inside the namespace
// (ns.WithNetNSPath, ipam.ConfigureIface).
//
// # Modes
//
// The configuration chooses the mode, never the parent process: a single
// attachment (a Multus delegate from a NetworkAttachmentDefinition, or the
// primary network's kernel eth0), or, with a `networks` map, the native
// multi-interface mode (native.go): the pod's k8s.v1.cni.cncf.io/networks
// annotation, read from runtimeConfig["io.kubernetes.cri.pod-annotations"]
// and parsed with Multus's rules (annotation.go), names the extra
// attachments; one ADD makes eth0 and every one of them (undoing all on
// failure), one DEL removes them all. Each attachment carries an owner
// (the CNI network's name), so GC removes only its own network's. With
// K8S_POD_UID set, socket directories are per pod
// (<socketDir>/pods/<pod UID>/<ifName>/) and device-info and socketPath
// name the path the pod sees under podMount.
//
// Results are printed in the configuration's cniVersion (0.3.1, 0.4.0,
// 1.0.0, 1.1.0); errors are CNI errors with the spec's codes (errors.go).
//
// # Threads and ownership
//
// Each command runs once per process; namespace work happens on a locked
// OS thread inside ns.WithNetNSPath, and cmd/podwire locks the main thread
// in init as CNI plugins do. The package never imports dpdk/ and builds
// with CGO_ENABLED=0. It writes nothing to stdout but the result or error
// (skel does that); warnings go to the Plugin's logger (stderr).
package cni
