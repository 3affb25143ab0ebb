// Package deploy holds no Go code: the directory is the deployment examples
// (podwired's config and systemd unit, the primary CNI conflist, the Multus
// configs, NetworkAttachmentDefinitions, a DaemonSet and a pod) and the
// tests that run each of them for real.
//
// The tests (package deploy_test) build podwire and podwired from this tree
// and take cnitool, the real Multus thin plugin and the standard plugins
// from the tools module (tools/, built into .tools/cni/ by `make tools`, or
// by the tests if missing). They start one podwired from the systemd unit's
// command line and podwired.yaml, with private sockets, state and EAL file
// prefix, create network namespaces of their own, and run every example
// config through cnitool (ADD, CHECK, DEL twice, STATUS, GC) or through
// Multus driven by cnitool. Everything they start is stopped by PID, and
// everything they create is removed, also when a test fails.
package deploy
