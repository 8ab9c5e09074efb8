#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The stages of make (run) and make check, in order, each through
# scripts/stage.sh: one line per stage on the terminal, everything in the
# log.
#
# usage: check.sh run|check
# From the Makefile's environment: ROOT BUILD LOGS CACHE KBUILD SRC BASE
# KSRC BASE2 CYCLES FRESH
#
# make check runs two lanes at once: the x86_64 lane (its kernel, its
# guests one after the other, then the patch checks, compile tests and
# size check) beside the other lane (the arm64 kernel, guests and
# check-driver).
# Kernel builds run at a lower priority than the guests, whose tests have
# timeouts.  With the same inputs as a passed stage
# (scripts/inputs-key.sh), the stage is reused, not run again, unless
# FRESH=1.
set -uo pipefail

mode=${1:?run or check}
st=$ROOT/scripts/stage.sh
# The lanes' makes: the tree is assembled once, here, not by each target.
m() { make --no-print-directory -C "$ROOT" TREE= "$@"; }
build() { nice -n 10 make --no-print-directory -C "$ROOT" TREE= "$@"; }
export -f m build

# One make or make check per cache at a time: the assembled tree and the
# kernel build directories in it are shared by every checkout.  The
# Makefile's targets take the same lock unless IOMMU_CACHE_LOCKED is set.
mkdir -p "$CACHE"
exec 8>"$CACHE/lock"
if ! flock -n 8; then
	echo "waiting for the make that holds $CACHE/lock"
	flock 8
fi
export IOMMU_CACHE_LOCKED=1

STAGE_LOG=$BUILD/check.log
[ "$mode" = run ] && STAGE_LOG=$BUILD/make.log
export STAGE_LOG
"$st" --start
mkdir -p "$LOGS"

# Everything make check downloads, before its inputs are hashed: the base,
# the second base, the drivers before the seed fixes, the guests' packages.
fetch() {
	if [ -z "$KSRC" ]; then
		"$ROOT/scripts/fetch-base.sh" "$BASE" "$CACHE/base" || return 1
	fi
	[ "$1" = check ] || return 0
	"$ROOT/scripts/fetch-base.sh" "$BASE2" "$CACHE/base" &&
	FETCH_SUITES=bullseye FETCH_PATHS=drivers/iommu \
		"$ROOT/scripts/fetch-base.sh" 5.10 "$CACHE/prefix" &&
	make -s -C "$ROOT/tools/testing/selftests/drivers/iommu/qemu" ARCH=x86_64 \
		DEBS_CACHE="$CACHE/debs" debs &&
	make -s -C "$ROOT/tools/testing/selftests/drivers/iommu/qemu" ARCH=aarch64 \
		DEBS_CACHE="$CACHE/debs" debs
}
export -f fetch

if ! { "$st" deps "$ROOT/scripts/deps.sh" && "$st" fetch fetch "$mode" &&
       "$st" assemble m tree; }; then
	"$st" --summary
	exit 1
fi

x86=$LOGS/x86_64
arm=$LOGS/aarch64

if [ "$mode" = run ]; then
	# make: the x86_64 guest (virtio-iommu and the test driver) on the
	# kernel without the debug options, the suite with every IOMMU opted
	# in; the safety checks and the debug kernels are make check's.
	if ! "$st" -p "$KBUILD/x86_64/kernel" build.x86_64 m build-x86_64-fast; then
		"$st" --summary
		exit 1
	fi
	"$st" -o "$LOGS/run.out" boot+tests.x86_64 m qemu-x86_64-fast
	status=$?
	"$st" --summary
	grep -hE '^iommu-qemu: base|^([#] )*not ok |^[0-9]+ passed, ' "$LOGS/run.out" |
		grep -v '^[#] [|]'
	exit $status
fi

STAGE_KEY=
if [ -n "${FRESH:-}" ]; then
	echo "FRESH=1: every stage runs"
elif [ -n "${KSRC:-}" ]; then
	echo "KSRC: every stage runs (the tree may change between runs)"
elif ! STAGE_KEY=$("$ROOT/scripts/inputs-key.sh" "$ROOT" "$SRC" "$CACHE" \
		"BASE=$BASE" "BASE2=$BASE2" "CYCLES=$CYCLES"); then
	echo "inputs-key.sh failed: every stage runs"
	STAGE_KEY=
fi
export STAGE_KEY

lane_x86() {
	local s=0

	"$st" -p "$KBUILD/x86_64/kernel-debug" build.x86_64 build build-x86_64 || s=1
	"$st" -k "$x86/ktap-virtio-debug.log" -k "$x86/console-virtio-debug.log" qemu-x86_64 m qemu-x86_64 || s=1
	"$st" -k "$x86/ktap-vtd-debug-llvm.log" -k "$x86/console-vtd-debug-llvm.log" qemu-x86_64-vtd m qemu-x86_64-vtd || s=1
	"$st" -k "$x86/ktap-amd-debug.log" -k "$x86/console-amd-debug.log" qemu-x86_64-amd m qemu-x86_64-amd || s=1
	# make's kernel and guest; the harness's checks boot that kernel
	"$st" -p "$KBUILD/x86_64/kernel" build.x86_64-fast build build-x86_64-fast || s=1
	"$st" -k "$x86/ktap-virtio.log" -k "$x86/console-virtio.log" qemu-x86_64-fast m qemu-x86_64-fast || s=1
	"$st" -o "$LOGS/check-harness.log" check-harness m check-harness || s=1
	"$st" -o "$LOGS/ksft-build.log" check-ksft-build m check-ksft-build || s=1
	"$st" -o "$LOGS/check-checker.log" check-checker m check-checker || s=1
	# (here, as the arm64 lane is the longer)
	"$st" -o "$LOGS/check-patches.log" check-patches m check-patches || s=1
	# The config make builds without the debug options (bench and
	# bisect-check use it): every option its fragments ask for survives.
	"$st" config.x86_64 m config-x86_64 || s=1
	"$st" -o "$LOGS/check-series.log" check-series m check-series || s=1
	# (here too: with them, the arm64 lane was 15 min 07 s of a warm
	# run's 15 min 10 s, this one 13 min 46 s)
	"$st" -o "$LOGS/compile-test.log" compile-test build compile-test || s=1
	"$st" -o "$LOGS/size-check.log" size-check build size-check || s=1
	return $s
}

lane_other() {
	local s=0

	"$st" -p "$KBUILD/aarch64/kernel-debug" build.aarch64 build build-aarch64 || s=1
	"$st" -k "$arm/ktap-virtio-debug.log" -k "$arm/console-virtio-debug.log" qemu-aarch64 m qemu-aarch64 || s=1
	"$st" -k "$arm/ktap-smmuv3-debug.log" -k "$arm/console-smmuv3-debug.log" qemu-aarch64-smmuv3 m qemu-aarch64-smmuv3 || s=1
	"$st" -o "$LOGS/check-driver.log" check-driver m check-driver || s=1
	return $s
}

status=0
lane_x86 &
a=$!
lane_other &
b=$!
wait $a || status=1
wait $b || status=1

{
	echo "# selftests: build: check"
	cat "$LOGS/check-patches.log" "$LOGS/check-series.log" "$LOGS/check-checker.log" \
	    "$LOGS/ksft-build.log" "$LOGS/compile-test.log" "$LOGS/size-check.log" \
	    "$LOGS/check-driver.log" 2>/dev/null |
		awk '/^(not )?ok /{ sub(/ok /, "ok " ++n " ") } { print "# " $0 }'
	echo "iommu-qemu: done"
} >"$LOGS/console-build-checks.log"
grep -h '^ok harness' "$LOGS/check-harness.log" 2>/dev/null
grep -h '^ok driver' "$LOGS/check-driver.log" 2>/dev/null
grep -h -e '^checker: ' -e '^real-bugs: ' "$LOGS/check-checker.log" 2>/dev/null
# "arch run" of a guest's KTAP log, e.g. "aarch64 virtio-debug"
guest() { echo "$(basename "$(dirname "$1")") $(basename "$1" .log | sed 's/^ktap-//')"; }
# Every guest's KTAP log but the AMD-Vi guest's, which runs no
# iommu_test_driver (no seed-leaks line): it joins the summary below
ktaps=("$x86/ktap-virtio.log" "$x86/ktap-virtio-debug.log" "$x86/ktap-vtd-debug-llvm.log"
       "$arm/ktap-virtio-debug.log" "$arm/ktap-smmuv3-debug.log")
# The seed series' leaks, as the test driver reproduces them, per guest
for log in "${ktaps[@]}"; do
	line=$(grep -ho -m1 'seed-leaks: .*' "$log" 2>/dev/null) || line="seed-leaks: no result"
	echo "$line ($(guest "$log"))"
done
# The fault injection sweeps (iommu_unbind_rebind -F), one line per driver
for log in "$x86/ktap-vtd-debug-llvm.log" "$x86/ktap-amd-debug.log" "$arm/ktap-virtio-debug.log" \
	   "$arm/ktap-smmuv3-debug.log"; do
	grep -ho 'fail_nth[_a-z]*\.[^ ]* ([^)]*): [0-9]* points.*' "$log" 2>/dev/null | sort -u |
		sed "s|\$| ($(guest "$log"))|"
done
"$st" --summary
echo "== make check: all guests, compile tests and patch checks"
"$SRC/tools/testing/selftests/drivers/iommu/qemu/console-check.sh" summary "${ktaps[@]}" \
	"$x86/ktap-amd-debug.log" "$LOGS/console-build-checks.log" >"$LOGS/summary.txt" || status=1
cat "$LOGS/summary.txt"
echo "results: $LOGS/summary.txt, full output: $STAGE_LOG"
exit $status
