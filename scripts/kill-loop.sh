#!/usr/bin/env bash
# kill-loop.sh: the long form of daemon's TestKillDuringAPIChanges. podwired
# is SIGKILLed at a random moment while a client changes networks and memif
# attachments through its API, then started again, ROUNDS times (default
# 200; `make test` runs 20). Every start must load the state file, and what
# podwired has must be what the API acknowledged before the kill, with or
# without the one request in flight. Needs root, DPDK and hugepages (run
# scripts/setup-node.sh or `make setup` first). About 1.5 s a round.
set -euo pipefail
rounds="${1:-200}"
case "$rounds" in
'' | *[!0-9]* | 0) echo "usage: $0 [ROUNDS]   (a positive number; default 200)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
PODWIRE_KILL_ROUNDS="$rounds" exec go test -count=1 -timeout 60m -v \
	-run '^TestKillDuringAPIChanges$' ./daemon
