#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Snapshots of the IOMMU reference counters (CONFIG_IOMMU_DEBUG_REFS), for
# checking anything that should leave them unchanged: suspend and resume,
# module reload, hotplug, driver unbind and rebind.
#
#   iommu_refs.sh snapshot [FILE]   write every IOMMU's counters as JSON
#                                   (stdout without FILE)
#   iommu_refs.sh diff A B          print what did not return to A in B;
#                                   exit 1 if anything did not, 0 otherwise
#   iommu_refs.sh [-n N]            selftest (KTAP): identical snapshots
#                                   compare equal, a grown reference count
#                                   is reported, and unbinding and
#                                   rebinding every bindable IOMMU (N
#                                   times, default 1) leaves the counters
#                                   balanced; -t and -c, options of the
#                                   other programs, are ignored
#
# Only bash builtins and jq are used. Exit 4 (kselftest skip) when jq, root,
# debugfs or CONFIG_IOMMU_DEBUG_REFS is missing.
set -u

REFS=${IOMMU_REFS_DIR:-/sys/kernel/debug/iommu/refs}
KSFT_PASS=0 KSFT_FAIL=1 KSFT_SKIP=4

die() { echo "iommu_refs.sh: $*" >&2; exit 2; }

# Why the counters cannot be read, or nothing.
unavailable() {
	command -v jq >/dev/null || { echo "jq is not installed"; return; }
	[ "$EUID" = 0 ] || { echo "must be root to read debugfs"; return; }
	[ -d /sys/kernel/debug/iommu ] || [ -d $REFS ] || {
		local m
		m=$(<"/proc/mounts")
		[[ $m == *" /sys/kernel/debug debugfs "* ]] ||
			{ echo "debugfs is not mounted"; return; }
	}
	[ -d $REFS ] || echo "no $REFS: kernel without CONFIG_IOMMU_DEBUG_REFS"
}

# {"<device>": {"key": value, ...}, ...}; numbers as numbers.
snapshot() {
	local d
	for d in "$REFS"/*/; do
		[ -r "$d/counters" ] || continue
		d=${d%/}
		jq -Rn --arg dev "${d##*/}" '{($dev): ([inputs |
			capture("^(?<k>[^ ]+) (?<v>.*)$") |
			{(.k): (.v | tonumber? // .)}] | add)}' <"$d/counters"
	done | jq -s 'add // {}'
}

# What changed between two snapshots, as lines; empty when balanced. A
# device's reference count (and its watched parent's, if the same parent)
# must be back; the per-site changes explain a difference.
compare() {
	jq -rn --argjson A "$1" --argjson B "$2" '
		$A | keys[] as $dev | $A[$dev] as $x | $B[$dev] as $y |
		if $y == null then "\($dev): gone (device deleted)"
		else
			[ (if $y.refcount != $x.refcount then
				"refcount \($x.refcount) -> \($y.refcount)" else empty end),
			  (if $x.parent != "-" and $x.parent == $y.parent and
			      $y.parent_refcount != $x.parent_refcount then
				"parent \($x.parent) refcount " +
				"\($x.parent_refcount) -> \($y.parent_refcount)"
			   else empty end) ] as $bad |
			if ($bad | length) == 0 then empty else
				"\($dev): \($bad | join(", "))" +
				([ ("of_xlate", "probe_device", "release_device", "other") as $s |
				 (($y["\($s).taken"] // 0) - ($x["\($s).taken"] // 0)) as $t |
				 (($y["\($s).dropped"] // 0) - ($x["\($s).dropped"] // 0)) as $d |
				 if $t != $d then
					"; \($s) (\($y["\($s).fn"] // "-")): " +
					"taken +\($t) dropped +\($d)"
				 else empty end] | join(""))
			end
		end'
}

# Snapshots (JSON text) A and B: print the differences, 1 if any.
diff_json() {
	local out line
	out=$(compare "$1" "$2") || die "cannot compare the snapshots"
	[ -n "$out" ] || return 0
	printf '%s\n' "$out"
	while read -r line; do
		[[ $line == *": gone (device deleted)" ]] || return 1
	done <<<"$out"
	return 0
}

ktap() { echo "$@"; }

# Unbind and rebind every bindable IOMMU driver once. Clients whose driver
# went away with the IOMMU (device links) are bound again.
cycle_all() {
	local c cl dev drv path bound
	for c in /sys/class/iommu/*; do
		[ -e "$c/device/driver" ] || continue
		path=$(cd -P "$c/device" && pwd) || continue
		dev=${path##*/}
		drv=$(cd -P "$c/device/driver" && pwd) || continue
		[ -e "$drv/unbind" ] || continue
		bound=()
		for cl in "$c"/devices/*; do
			[ -e "$cl/driver" ] && bound+=("$(cd -P "$cl" && pwd)")
		done
		echo "# unbind and bind ${c##*/} ($dev, ${drv##*/})"
		echo "$dev" >"$drv/unbind" || return 1
		for _ in {1..500}; do [ -e "$c" ] || break; nap 0.02; done
		echo "$dev" >"$drv/bind" || return 1
		for _ in {1..500}; do [ -e "$c" ] && break; nap 0.02; done
		[ -e "$c" ] || return 1
		for cl in "${bound[@]}"; do
			for _ in {1..500}; do [ -e "$c/devices/${cl##*/}" ] && break; nap 0.02; done
			[ -e "$cl/driver" ] && continue
			echo "# bind ${cl##*/} again (its driver was unbound with the IOMMU)"
			path=$(cd -P "$cl/subsystem" && pwd) || return 1
			echo "${cl##*/}" >"$path/drivers_probe" || return 1
			[ -e "$cl/driver" ] || return 1
		done
	done
	# Let the re-probed clients and deferred puts settle
	nap 1
}

# sleep(1) without coreutils: a read that times out.
nap() {
	read -rt "$1" <> <(:) || :
}

selftest() {
	local why a b grown out i
	why=$(unavailable)
	echo "TAP version 13"
	if [ -n "$why" ]; then
		echo "1..0 # SKIP $why"
		exit $KSFT_SKIP
	fi
	echo "1..3"

	a=$(snapshot) && b=$(snapshot)
	if diff_json "$a" "$b" >/dev/null; then
		ktap "ok 1 refs_diff.identical"
	else
		ktap "not ok 1 refs_diff.identical"
	fi

	# The detector must detect: grow one reference count by hand.
	[ "$(jq length <<<"$a")" != 0 ] || a='{"fake": {"refcount": 1, "parent": "-"}}'
	grown=$(jq 'to_entries | .[0].value.refcount += 1 | from_entries' <<<"$a")
	if out=$(diff_json "$a" "$grown"); then
		ktap "not ok 2 refs_diff.detects_growth # a grown refcount was not reported"
	else
		echo "# $out"
		ktap "ok 2 refs_diff.detects_growth"
	fi

	a=$(snapshot)
	for ((i = 0; i < cycles; i++)); do cycle_all || break; done
	if ((i < cycles)); then
		ktap "not ok 3 refs_diff.unbind_rebind # unbind/bind failed"
		return
	fi
	b=$(snapshot)
	if out=$(diff_json "$a" "$b"); then
		ktap "ok 3 refs_diff.unbind_rebind"
	else
		while read -r line; do echo "# $line"; done <<<"$out"
		ktap "not ok 3 refs_diff.unbind_rebind"
	fi
}

cycles=1
while [[ ${1:-} == -[nct] ]]; do
	[[ ${2:-} =~ ^[0-9]+$ ]] || die "$1 needs a number"
	[ "$1" = -n ] && cycles=$2
	shift 2
done
((cycles > 0)) || die "-n must be positive"

case "${1:-}" in
snapshot)
	why=$(unavailable); [ -z "$why" ] || { echo "iommu_refs.sh: $why" >&2; exit $KSFT_SKIP; }
	if [ -n "${2:-}" ]; then snapshot >"$2"; else snapshot; fi
	;;
diff)
	command -v jq >/dev/null ||
		{ echo "iommu_refs.sh: jq is not installed" >&2; exit $KSFT_SKIP; }
	[ -r "${2:-}" ] && [ -r "${3:-}" ] || die "usage: iommu_refs.sh diff A B"
	diff_json "$(<"$2")" "$(<"$3")"
	;;
"")
	selftest
	;;
*)
	die "usage: iommu_refs.sh [-n cycles] [snapshot [FILE] | diff A B]"
	;;
esac
