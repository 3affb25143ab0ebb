#!/usr/bin/env bash
# setup-node.sh prepares a node for podwire: DPDK 22.11 and the build tools from
# Debian's packages, 2 MiB hugepages, and hugetlbfs mounted at /dev/hugepages.
#
# Idempotent and safe to re-run: it installs only missing packages, only raises
# the hugepage count, and mounts only what is not mounted. With --check it changes
# nothing and exits non-zero if anything is missing.
set -euo pipefail

readonly PROG=setup-node
readonly PACKAGES=(dpdk dpdk-dev libdpdk-dev pkg-config iproute2 iputils-ping gcc)
readonly HUGE_MNT=/dev/hugepages
readonly HUGE_KB=2048                   # 2 MiB pages
readonly HEADROOM_KB=$((1024 * 1024))   # memory left to the system when reserving
readonly LOCK_FILE=/run/lock/podwire-setup-node.lock
HUGEPAGES_WANT="${PODWIRE_HUGEPAGES:-1024}"

usage() {
	cat <<EOF
Usage: scripts/setup-node.sh [--check | --help]

Prepares this node for podwire (Debian 12, run as root):
  - installs missing packages with apt-get: ${PACKAGES[*]}
  - raises the number of 2 MiB hugepages to \$PODWIRE_HUGEPAGES
    (default 1024 pages = 2 GiB; never lowers an existing reservation)
  - mounts hugetlbfs (pagesize=2M) at $HUGE_MNT if it is not mounted
  - prints the DPDK version, the dpdk-testpmd path and the hugepage state

Options:
  --check   only report; change nothing; exit 1 if anything is missing
  --help    show this help

Environment:
  PODWIRE_HUGEPAGES   2 MiB hugepages to reserve (default 1024)

The hugepage reservation and the mount do not survive a reboot: re-run this
script after boot, or reserve at boot with hugepages=N on the kernel command line.
EOF
}

log() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

# meminfo KEY prints the value of KEY in /proc/meminfo (kB for sizes), or nothing.
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

# hugepages_file prints the file that holds the count of 2 MiB hugepages.
# That is /proc/sys/vm/nr_hugepages when 2 MiB is the default hugepage size.
hugepages_file() {
	if [[ "$(meminfo Hugepagesize)" == "$HUGE_KB" && -e /proc/sys/vm/nr_hugepages ]]; then
		echo /proc/sys/vm/nr_hugepages
	elif [[ -e /sys/kernel/mm/hugepages/hugepages-${HUGE_KB}kB/nr_hugepages ]]; then
		echo "/sys/kernel/mm/hugepages/hugepages-${HUGE_KB}kB/nr_hugepages"
	fi
}

# current_pages prints how many 2 MiB hugepages are reserved now.
current_pages() {
	local file
	file="$(hugepages_file)"
	if [[ -n "$file" ]]; then read_count "$file"; else echo 0; fi
}

# read_count FILE prints the integer in FILE, or 0 if it is empty or unreadable.
read_count() {
	local v
	v="$(cat "$1" 2>/dev/null || true)"
	[[ "$v" =~ ^[0-9]+$ ]] || v=0
	echo "$v"
}

# have_cmd NAME succeeds if NAME is an executable on PATH.
have_cmd() {
	local p
	p="$(command -v "$1" 2>/dev/null)" && [[ -x "$p" ]]
}

pkg_installed() {
	[[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null || true)" == "ii"* ]]
}

# missing_packages prints the space-separated names of PACKAGES not installed.
missing_packages() {
	local p missing=()
	for p in "${PACKAGES[@]}"; do
		pkg_installed "$p" || missing+=("$p")
	done
	echo "${missing[*]}"
}

# hugetlbfs_mount prints "FSTYPE OPTIONS" of the last mount at $HUGE_MNT, or nothing.
hugetlbfs_mount() { awk -v m="$HUGE_MNT" '$2 == m { t = $3 " " $4 } END { if (t) print t }' /proc/mounts; }

validate_want() {
	[[ "$HUGEPAGES_WANT" =~ ^[0-9]+$ ]] ||
		die "PODWIRE_HUGEPAGES='$HUGEPAGES_WANT' is not a number of pages: set it to a positive integer such as 1024"
	((${#HUGEPAGES_WANT} <= 12)) ||
		die "PODWIRE_HUGEPAGES=$HUGEPAGES_WANT is far more than this machine's memory: set it to at most $(max_pages "$(current_pages)")"
	HUGEPAGES_WANT=$((10#$HUGEPAGES_WANT))
	((HUGEPAGES_WANT > 0)) || die "PODWIRE_HUGEPAGES must be at least 1"
}

# max_pages HAVE prints how many 2 MiB pages could be reserved in all, given HAVE
# already reserved, keeping HEADROOM_KB of available memory for the system.
max_pages() {
	local avail
	avail="$(meminfo MemAvailable)"
	avail="${avail:-0}"
	local extra=$(((avail - HEADROOM_KB) / HUGE_KB))
	((extra > 0)) || extra=0
	echo $(($1 + extra))
}

install_packages() {
	local missing still
	missing="$(missing_packages)"
	if [[ -z "$missing" ]]; then
		log "packages: all present (${PACKAGES[*]})"
		return
	fi
	log "installing: $missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=300 update -q ||
		die "apt-get update failed: check the apt sources and the network, then re-run"
	# shellcheck disable=SC2086 # $missing is a space-separated list of package names
	apt-get -o DPkg::Lock::Timeout=300 install -y -q $missing ||
		die "apt-get install $missing failed: see apt's output above, fix it, then re-run"
	still="$(missing_packages)"
	[[ -z "$still" ]] || die "still not installed after apt-get: $still"
	DID+=("installed $missing")
}

reserve_hugepages() {
	local file have got
	file="$(hugepages_file)"
	[[ -n "$file" ]] ||
		die "this kernel has no 2 MiB hugepages (no nr_hugepages file): use a kernel with CONFIG_HUGETLBFS on x86_64"
	have="$(read_count "$file")"
	if ((have >= HUGEPAGES_WANT)); then
		log "hugepages: $have reserved (want $HUGEPAGES_WANT), unchanged"
		return
	fi
	local max
	max="$(max_pages "$have")"
	((HUGEPAGES_WANT <= max)) ||
		die "cannot reserve $HUGEPAGES_WANT hugepages of 2 MiB ($((HUGEPAGES_WANT * 2)) MiB): only $(($(meminfo MemAvailable) / 1024)) MiB is available; set PODWIRE_HUGEPAGES to at most $max or free memory, then re-run"
	if ! { printf '%s\n' "$HUGEPAGES_WANT" >"$file"; } 2>/dev/null; then
		die "cannot write $file (read-only /proc/sys or /sys, as in an unprivileged container?): run on the host as root, or reserve at boot with hugepages=$HUGEPAGES_WANT"
	fi
	got="$(read_count "$file")"
	if ((got < HUGEPAGES_WANT)); then
		# Memory may be fragmented: compact it and ask once more.
		{ echo 1 >/proc/sys/vm/compact_memory; } 2>/dev/null || true
		{ printf '%s\n' "$HUGEPAGES_WANT" >"$file"; } 2>/dev/null || true
		got="$(read_count "$file")"
	fi
	if ((got < HUGEPAGES_WANT)); then
		# Leave the node as we found it rather than half-reserved.
		{ printf '%s\n' "$have" >"$file"; } 2>/dev/null || true
		local hint="free memory"
		((got > have)) && hint="free memory, or set PODWIRE_HUGEPAGES=$got or lower"
		die "asked the kernel for $HUGEPAGES_WANT hugepages of 2 MiB but it reserved only $got (memory in use or fragmented), so left it at $have: $hint, or reserve at boot with hugepages=$HUGEPAGES_WANT on the kernel command line"
	fi
	DID+=("raised 2 MiB hugepages from $have to $got ($file)")
}

mount_hugetlbfs() {
	local m
	m="$(hugetlbfs_mount)"
	if [[ -n "$m" ]]; then
		[[ "${m%% *}" == hugetlbfs ]] ||
			die "$HUGE_MNT is mounted as ${m%% *}, not hugetlbfs: unmount it (umount $HUGE_MNT) and re-run"
		[[ "$m" == *"pagesize=2M"* ]] ||
			die "hugetlbfs at $HUGE_MNT is not 2 MiB pages (${m#* }): unmount it (umount $HUGE_MNT) and re-run"
		log "hugetlbfs: already mounted at $HUGE_MNT"
		return
	fi
	mkdir -p "$HUGE_MNT"
	mount -t hugetlbfs -o pagesize=2M nodev "$HUGE_MNT" ||
		die "cannot mount hugetlbfs at $HUGE_MNT: run on the host as root (mount needs CAP_SYS_ADMIN)"
	DID+=("mounted hugetlbfs (pagesize=2M) at $HUGE_MNT")
}

# report prints what the node has and returns the number of problems found.
report() {
	local problems=0 missing v testpmd file have mnt total free

	missing="$(missing_packages)"
	if [[ -n "$missing" ]]; then
		log "packages: MISSING $missing"
		problems=$((problems + 1))
	else
		log "packages: ok (${PACKAGES[*]})"
	fi

	if v="$(pkg-config --modversion libdpdk 2>/dev/null)"; then
		log "libdpdk (pkg-config): $v"
		[[ "$v" == 22.11* ]] || log "warning: podwire is built and tested against DPDK 22.11, found $v"
	else
		log "libdpdk (pkg-config): MISSING (pkg-config --modversion libdpdk failed)"
		problems=$((problems + 1))
	fi

	if have_cmd dpdk-testpmd; then
		testpmd="$(command -v dpdk-testpmd)"
		log "dpdk-testpmd: $testpmd"
	else
		log "dpdk-testpmd: MISSING"
		problems=$((problems + 1))
	fi

	file="$(hugepages_file)"
	have=0
	[[ -z "$file" ]] || have="$(read_count "$file")"
	total="$(meminfo HugePages_Total)"
	free="$(meminfo HugePages_Free)"
	if ((have >= HUGEPAGES_WANT)); then
		log "hugepages (2 MiB): $have reserved (want >= $HUGEPAGES_WANT); HugePages_Total=${total:-?} HugePages_Free=${free:-?}"
	else
		log "hugepages (2 MiB): TOO FEW: $have reserved, want >= $HUGEPAGES_WANT; HugePages_Total=${total:-?} HugePages_Free=${free:-?}"
		problems=$((problems + 1))
	fi
	[[ "$(meminfo Hugepagesize)" == "$HUGE_KB" ]] ||
		log "note: default hugepage size is $(meminfo Hugepagesize) kB; HugePages_* above are for that size"

	mnt="$(hugetlbfs_mount)"
	if [[ "$mnt" == hugetlbfs*"pagesize=2M"* ]]; then
		log "hugetlbfs: mounted at $HUGE_MNT (${mnt#* })"
	else
		log "hugetlbfs: NOT MOUNTED at $HUGE_MNT${mnt:+ (found: $mnt)}"
		problems=$((problems + 1))
	fi

	return "$problems"
}

main() {
	local check=false
	while (($# > 0)); do
		case "$1" in
		--check) check=true ;;
		-h | --help) usage; exit 0 ;;
		*) die "unknown argument '$1': see scripts/setup-node.sh --help" ;;
		esac
		shift
	done
	validate_want

	if $check; then
		local n=0
		report || n=$?
		if ((n > 0)); then
			log "check: $n problem(s); run scripts/setup-node.sh as root to fix them"
			exit 1
		fi
		log "check: ok"
		exit 0
	fi

	[[ "$(id -u)" == 0 ]] || die "must run as root: sudo scripts/setup-node.sh"
	have_cmd apt-get ||
		die "apt-get not found: this script supports Debian 12; install ${PACKAGES[*]} (DPDK 22.11) by hand, then run scripts/setup-node.sh --check"

	# Serialize concurrent runs (two `make test` at once, say).
	mkdir -p "$(dirname "$LOCK_FILE")"
	exec 9>"$LOCK_FILE"
	if have_cmd flock; then flock 9; fi

	DID=()
	install_packages
	reserve_hugepages
	mount_hugetlbfs

	local n=0
	report || n=$?
	if ((${#DID[@]} == 0)); then
		log "did: nothing (node was ready)"
	else
		local d
		for d in "${DID[@]}"; do log "did: $d"; done
	fi
	((n == 0)) || die "$n problem(s) remain after setup: see the lines above"
	log "node ready"
}

main "$@"
