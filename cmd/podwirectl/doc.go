// Command podwirectl is the operator's CLI for podwired, podwire's node
// forwarder. It is a client of podwired's control API (package api) on its
// unix socket, and builds with CGO_ENABLED=0.
//
//	podwirectl [-s SOCKET] [-o table|json] [-timeout D] COMMAND [ARGS]
//
//	status | ports | networks | macs NETWORK | counters | drops | workers | attachments
//	network add NAME [--vlan N] [--max-macs N] [--mac-ageing SECONDS]
//	network del NAME
//	attach CONTAINERID IFNAME --network N --kind vhostuser|memif|kernel
//	       [--vhost-mode client|server] [--mac MAC] [--netns PATH] [--socket-dir DIR]
//	       [--uid N] [--gid N] [--socket-mode 0660] [--queues N]
//	detach CONTAINERID IFNAME
//
// The socket is -s, else $PODWIRE_SOCKET, else /run/podwire/podwired.sock.
// Global flags may also follow the command, and a command's flags may come
// before, between or after its arguments. -o table (the default) prints
// aligned tables for people, with counts in k/M/G and bytes in KiB/MiB/GiB;
// -o json prints the API's JSON as podwired sent it (indented), for scripts:
// drops prints /v1/counters, and network del and detach print nothing.
//
// Each command is one API request, bounded by -timeout (30s). Input is
// checked with the API's own validation before anything is sent. Errors are
// one line on stderr, "podwirectl: ...", e.g.
//
//	podwirectl: podwired not reachable at /run/podwire/podwired.sock: connect: no such file or directory
//	podwirectl: podwired: network blue not found (404 Not Found)
//
// A bad command line gets a hint to run 'podwirectl help' on the same line.
// Exit status: 0 success (and -h, help), 1 any error, the command line's
// included.
package main
