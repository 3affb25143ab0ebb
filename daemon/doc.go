// Package daemon is podwired: it starts the EAL and the forwarding engine,
// recreates the persisted networks and attachments, and serves the control
// API (HTTP/JSON on a unix socket) and Prometheus metrics.
//
// # Threads
//
// The EAL main lcore thread belongs to package dpdk; forwarding workers run
// on EAL worker lcores (package forwarder). API handlers run on net/http's
// goroutines and serialize every change on one mutex: a change is applied
// to the engine, then persisted, then acknowledged; if persisting fails,
// the change is undone and the client gets an error, so the state file
// never disagrees with what the API acknowledged.
//
// # Ownership
//
// The daemon owns every attachment's port (package vhostuser creates the
// device, the engine forwards on it). On SIGTERM it removes the devices but
// keeps each pod's socket directory and device-info file, so that pods keep
// their mounts and a restarted podwired recreates the sockets where the pods
// look for them. On SIGKILL nothing is cleaned; the next start removes
// stale sockets it owns and recreates every port from the state file.
// A kind kernel attachment's veth pair (kernel.go) belongs to the
// attachment, not to the process: shutdown removes only its af_packet
// device, a restart attaches to the same host end again, and DELETE
// deletes the veth.
package daemon
