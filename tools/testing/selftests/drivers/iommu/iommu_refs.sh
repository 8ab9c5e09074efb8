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
#                                   rebinding the test IOMMU driver's
#                                   instances (N times, default 1) leaves
#                                   the counters balanced
#
# The selftest never unbinds a real IOMMU: -d, -t and -c, options of the
# other programs, are accepted and ignored (iommu_unbind_rebind cycles the
# real IOMMUs named with -d).  It loads the test module (modprobe) when it
# is not loaded, and journals what it changes in the state file the C
# programs use (iommu_safety.h): an interrupted run is undone on exit,
# SIGTERM or SIGINT, and by the next run of any of the programs.
#
# Only bash builtins, jq and modprobe are used.  Exit codes are kselftest's:
# 1 when a result fails, 4 when every result is skipped (no jq, not root,
# no debugfs, no CONFIG_IOMMU_DEBUG_REFS, no test driver).
set -u

REFS=${IOMMU_REFS_DIR:-/sys/kernel/debug/iommu/refs}
TEST_DRV=/sys/bus/platform/drivers/test-iommu
RESTORE=$(dirname "$0")/iommu_unbind_rebind
STATE=${IOMMU_SELFTESTS_STATE:-}
if [ -z "$STATE" ]; then
	STATE=/tmp/iommu-selftests.state
	[ -d /run ] && [ -w /run ] && STATE=/run/iommu-selftests.state
fi
KSFT_PASS=0 KSFT_FAIL=1 KSFT_SKIP=4
# The selftest reports through kselftest's helpers; snapshot and diff work
# without them (a copy of this script alone on a board).
KTAP_HELPERS=$(dirname "$0")/../../kselftest/ktap_helpers.sh
[ ! -r "$KTAP_HELPERS" ] || . "$KTAP_HELPERS"

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

# An IOMMU's class name or device name, "all", or a test instance.
known_iommu() {
	local d
	[ "$1" = all ] || [ -e "/sys/class/iommu/$1" ] || [[ $1 == test-iommus:* ]] && return 0
	for d in /sys/class/iommu/*/device; do
		d=$(cd -P "$d" 2>/dev/null && pwd) && [ "${d##*/}" = "$1" ] && return 0
	done
	return 1
}

usage() {
	echo "iommu_refs.sh: $*" >&2
	echo "usage: iommu_refs.sh [-n cycles] [-d IOMMU|all]... [-t ms] [-c n] [-r] [-R]" \
		"[snapshot [FILE] | diff A B]" >&2
	exit $KSFT_FAIL
}

# Undo what the journal records, then empty it: one replay for every
# program, iommu_unbind_rebind's (iommu_safety.h), which checks the file
# (root's, 0600, one link, not a symbolic link, this boot's) and every name
# in it before it writes anything.
restore() {
	"$RESTORE" -R >/dev/null 2>&1
}

settle() {
	if [[ -r $REFS/settle ]]; then cat "$REFS/settle" >/dev/null; else nap 1; fi
}

# Load the test IOMMU driver if it is not there; why not, or nothing.
test_driver() {
	[ -d "$TEST_DRV" ] && return
	command -v modprobe >/dev/null || { echo "no modprobe to load test_iommu"; return; }
	echo "unload test_iommu" >>"$STATE"
	if ! modprobe -q test_iommu instances=1 clients=4; then
		echo "no test_iommu module (CONFIG_TEST_IOMMU)"
		return
	fi
	local i
	for i in "$TEST_DRV"/test-iommus:*; do
		[ -e "$i" ] && echo "unbind platform test-iommu ${i##*/}" >>"$STATE"
	done
}

# Unbind and rebind every instance of the test IOMMU driver once.
cycle_test() {
	local i c n=0
	for i in "$TEST_DRV"/test-iommus:*; do
		[ -e "$i" ] || continue
		i=${i##*/} c=/sys/class/iommu/$i
		echo "bind platform test-iommu $i" >>"$STATE"
		echo "# unbind and bind $i"
		echo "$i" >"$TEST_DRV/unbind" || return 1
		for _ in {1..500}; do [ -e "$c" ] || break; nap 0.02; done
		echo "$i" >"$TEST_DRV/bind" || return 1
		for _ in {1..500}; do [ -e "$c" ] && break; nap 0.02; done
		[ -e "$c" ] || return 1
		n=$((n + 1))
	done
	((n > 0))
}

# sleep(1) without coreutils: a read that times out.
nap() {
	read -rt "$1" <> <(:) || :
}

selftest() {
	local why a b grown out i kv
	[ -r "$KTAP_HELPERS" ] ||
		die "no $KTAP_HELPERS: run it from the kernel tree or a kselftest install"
	why=$(unavailable)
	ktap_print_header
	if [ -n "$why" ]; then
		ktap_skip_all "$why"
		exit $KSFT_SKIP
	fi
	# A run killed before it restored the machine left its journal (the C
	# programs' format: a "boot" line first, then what to undo): the C
	# replay checks it, restores, and leaves it empty; then it is ours
	if [ ! -x "$RESTORE" ]; then
		ktap_skip_all "no $RESTORE to keep the journal with"
		exit $KSFT_SKIP
	fi
	if ! out=$("$RESTORE" -R 2>&1); then
		ktap_skip_all "$(sed -n 's/^1\.\.0 # SKIP //p' <<<"$out")"
		exit $KSFT_SKIP
	fi
	while read -r a; do
		[[ $a == "# "* ]] && ktap_print_msg "${a#\# }"
	done <<<"$out"
	# -R: that was all
	[ -z "$restore_only" ] || exit $KSFT_PASS
	boot=$(</proc/sys/kernel/random/boot_id)
	echo "boot $boot" >>"$STATE"
	trap 'restore' EXIT
	trap 'restore; trap - TERM; kill -TERM $$' TERM
	trap 'restore; trap - INT; kill -INT $$' INT
	ktap_set_plan 3

	# Deferred puts: the kernel says when they are done (older kernels:
	# give them a second)
	settle
	a=$(snapshot) && b=$(snapshot)
	if diff_json "$a" "$b" >/dev/null; then
		ktap_test_pass refs_diff.identical
	else
		ktap_test_fail refs_diff.identical
	fi

	# The detector must detect: grow one reference count by hand.
	[ "$(jq length <<<"$a")" != 0 ] || a='{"fake": {"refcount": 1, "parent": "-"}}'
	grown=$(jq 'to_entries | .[0].value.refcount += 1 | from_entries' <<<"$a")
	if out=$(diff_json "$a" "$grown"); then
		ktap_print_msg "a grown refcount was not reported"
		ktap_test_fail refs_diff.detects_growth
	else
		ktap_print_msg "$out"
		ktap_test_pass refs_diff.detects_growth
	fi

	why=$(test_driver)
	if [ -n "$why" ]; then
		ktap_print_msg "refs_diff.unbind_rebind: SKIP: $why"
		ktap_test_skip refs_diff.unbind_rebind
	else
		settle
		a=$(snapshot)
		for ((i = 0; i < cycles; i++)); do cycle_test || break; done
		settle
		b=$(snapshot)
		kv="iommu=test-iommus driver=test-iommu cycles=$cycles"
		if ((i < cycles)); then
			ktap_print_msg "unbind/bind of the test IOMMU instances failed" \
				"or cycled nothing"
			ktap_test_fail refs_diff.unbind_rebind
		elif out=$(diff_json "$a" "$b"); then
			ktap_print_msg "$kv verdict=balanced"
			ktap_test_pass refs_diff.unbind_rebind
		else
			while read -r line; do ktap_print_msg "$line"; done <<<"$out"
			ktap_print_msg "$kv verdict=leak"
			ktap_test_fail refs_diff.unbind_rebind
		fi
	fi
	restore
	ktap_print_totals
	((KTAP_CNT_FAIL == 0)) || exit $KSFT_FAIL
	((KTAP_CNT_PASS > 0)) || exit $KSFT_SKIP
	exit $KSFT_PASS
}

cycles=1 restore_only=
while [[ ${1:-} == -* ]]; do
	case $1 in
	-n|-t|-c)
		# (the C programs' bounds, parse_num() in iommu_refs.h)
		[[ ${2:-} =~ ^[0-9]{1,7}$ ]] && ((10#$2 <= 1000000)) ||
			usage "$1 needs a number up to 1000000"
		[ "$1" = -n ] && cycles=$((10#$2))
		;;
	-d)	[ -n "${2:-}" ] || usage "-d needs an IOMMU name or all"
		known_iommu "$2" || usage "-d $2: no such IOMMU in /sys/class/iommu" ;;
	# (the C programs' option: this program cycles by unbind and bind only)
	-r)	shift; continue ;;
	-R)	restore_only=1; shift; continue ;;
	*)	usage "unknown option $1" ;;
	esac
	shift 2
done
((cycles > 0)) || usage "-n must be positive"

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
	usage "unknown command $1"
	;;
esac
