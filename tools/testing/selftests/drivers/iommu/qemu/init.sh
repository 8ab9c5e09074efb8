#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# Guest init of the IOMMU selftests QEMU harness: mount, run the installed
# kselftests through run_kselftest.sh as a lab would, power off.
#
# The kernel log stays on the console; the runner's output (KTAP) goes to
# a port of its own (iommu_qemu.out=, ttyS1 or hvc0), so that kernel
# messages never cut into a result line.  Real IOMMUs are opted in through
# the runner's per-program variable (iommu_qemu.args=, default "-d all").
#
# Kernel command line knobs:
#   iommu_qemu.out=DEV       the KTAP port
#   iommu_qemu.args="..."    KSELFTEST_<PROGRAM>_ARGS of the unbind programs
#   iommu_qemu.safety=1      with a disk on /dev/vda: the safety checks
#                            (safety.sh) before the suite
#   iommu_qemu.timeout=N     run_kselftest.sh -o N (default: settings)
#   iommu_qemu.tests="..."   the programs to run (default: all but iommufd)
#   iommu_qemu.modules="..." modules of /lib/modules/*/extra to load
#                            first: the suite runs on the IOMMUs that
#                            appear
#   iommu_qemu.inject=fail+hang+warn+allocfail|oops  test the harness
#                            itself (any of fail, hang, warn, allocfail,
#                            oops, joined with +)

PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /mnt /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
# What udev would make: the runner writes to /dev/stdout
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr

out=/dev/console args="-d all" safety= timeout= inject= tests=
for w in $(cat /proc/cmdline); do
	case $w in
	iommu_qemu.out=*) out=/dev/${w#*=} ;;
	iommu_qemu.safety=*) safety=${w#*=} ;;
	iommu_qemu.timeout=*) timeout=${w#*=} ;;
	iommu_qemu.inject=*) inject=${w#*=} ;;
	esac
done
# Multi-word values, quoted, are read whole from /proc/cmdline
a=$(sed -n 's/.*iommu_qemu\.args="\([^"]*\)".*/\1/p' /proc/cmdline)
[ -z "$a" ] || args=$a
t=$(sed -n 's/.*iommu_qemu\.tests="\([^"]*\)".*/\1/p' /proc/cmdline)
[ -z "$t" ] || tests=$t
modules=$(sed -n 's/.*iommu_qemu\.modules="\([^"]*\)".*/\1/p' /proc/cmdline)

for _ in $(seq 100); do [ -e "$out" ] && break; sleep 0.1; done
exec >"$out" 2>&1

echo 7 >/proc/sys/kernel/printk
[ ! -e /sys/kernel/debug/kmemleak ] || echo clear >/sys/kernel/debug/kmemleak
echo "iommu-qemu: $(uname -s) $(uname -r) $(uname -m)"

# The user's modules (make DRIVER=..., in /lib/modules/*/extra, in their
# Kbuild order), a result each: loaded with modprobe (dependencies, and
# parameters from the command line), and every IOMMU that appeared, once
# their number stayed the same for 2 s (deferred and asynchronous probes),
# opted in.
if [ -n "$modules" ]; then
	depmod
	echo "# selftests: harness: modules"
	echo "TAP version 13"
	echo "1..$(echo $modules | wc -w)"
fi
n=0
for m in $modules; do
	n=$((n + 1))
	before=$(ls /sys/class/iommu)
	if ! err=$(modprobe "$m" 2>&1); then
		echo "not ok $n module.$m # modprobe: $err (the console has the kernel's log)"
		continue
	fi
	mine= last= stable=0
	for _ in $(seq 100); do
		mine=
		for i in /sys/class/iommu/*; do
			case " $before " in *" ${i##*/} "*) ;; *) [ ! -e "$i" ] || mine="$mine ${i##*/}" ;; esac
		done
		if [ -n "$mine" ] && [ "$mine" = "$last" ]; then
			stable=$((stable + 1))
			[ $stable -lt 20 ] || break
		else
			stable=0
		fi
		last=$mine
		sleep 0.1
	done
	if [ -z "$mine" ]; then
		echo "not ok $n module.$m # no IOMMU registered within 10 s: no device matched its driver (DT=), or its probe failed or waits (the console has the kernel's log)"
		sed 's/^/# deferred: /' /sys/kernel/debug/devices_deferred 2>/dev/null
		continue
	fi
	echo "ok $n module.$m # IOMMUs:$mine"
	for i in $mine; do args="$args -d $i"; done
done

cd /kselftest || { echo "iommu-qemu: no /kselftest"; poweroff -f; }
export KSELFTEST_IOMMU_UNBIND_REBIND_ARGS="$args"
export KSELFTEST_IOMMU_TEST_DRIVER_ARGS="$(echo " $args" | sed 's/ -d [^ ]*//g')"
[ -n "$tests" ] || tests="iommu_test_driver iommu_unbind_rebind"
# Programs the runner does not list (the harness's EXTRA_PROGS) run
# directly, with the arguments
sel= direct=
for t in $tests; do
	if grep -qx "drivers/iommu:$t" kselftest-list.txt; then
		sel="$sel -t drivers/iommu:$t"
	else
		direct="$direct $t"
	fi
done

# iommu_qemu.inject: faults joined with "+", each with its own failed result
injected() { case +$inject+ in *+$1+*) return 0 ;; esac; return 1; }
for f in fail hang; do
	injected $f || continue
	# A program of a collection of its own, run by the same runner
	mkdir -p harness
	if [ $f = fail ]; then
		printf '#!/bin/sh\necho "injected failure"\nexit 1\n' >harness/inject-fail.sh
	else
		printf '#!/bin/sh\nwhile :; do sleep 1; done\n' >harness/inject-hang.sh
		echo timeout=10 >harness/settings
	fi
	chmod +x harness/inject-$f.sh
	echo harness:inject-$f.sh >>kselftest-list.txt
	sel="$sel -t harness:inject-$f.sh"
done
# warn: the test driver WARNs (once) when a client is released: the
# cycle of its first instance must fail with the splat.  allocfail: its
# second instance leaks on an allocation failure path only: the filtered
# fault injection sweep must fail it and name the point.
if injected warn || injected allocfail; then
	modprobe test_iommu instances=2 clients=2 $(injected warn && echo warn_on_release=1)
fi
if injected allocfail; then
	echo alloc_fail_leak >/sys/kernel/debug/test-iommu/test-iommus:iommu1/inject
	export KSELFTEST_IOMMU_UNBIND_REBIND_ARGS="-F 1000"
fi
if injected oops; then
	echo EXCEPTION >/sys/kernel/debug/provoke-crash/DIRECT
fi

[ "$safety" != 1 ] || . /safety.sh

# shellcheck disable=SC2086
if [ -n "$sel" ]; then
	./run_kselftest.sh ${timeout:+-o $timeout} $sel
	echo "iommu-qemu: run_kselftest.sh exit code $?"
fi
for t in $direct; do
	echo "# selftests: drivers/iommu: $t"
	(cd drivers/iommu && ./$t $args) 2>&1 | sed 's/^/# /'
done
if injected warn || injected allocfail; then
	for i in /sys/bus/platform/drivers/test-iommu/test-iommus:*; do
		echo "${i##*/}" >/sys/bus/platform/drivers/test-iommu/unbind
	done
	modprobe -r test_iommu
fi

# The KUnit suites the kernel ran at boot, one program each
for d in /sys/kernel/debug/kunit/*/; do
	[ -r "$d/results" ] || continue
	s=${d%/}; s=${s##*/}
	echo "# selftests: kunit: $s"
	sed 's/^/# /' "$d/results"
	r=$(sed -n 's/^ok 1 .*# SKIP.*/skip/p; s/^ok 1 .*/pass/p; s/^not ok 1 .*/fail/p' "$d/results")
	case $r in
	pass) echo "ok 1 selftests: kunit: $s" ;;
	skip) echo "ok 1 selftests: kunit: $s # SKIP" ;;
	*) echo "not ok 1 selftests: kunit: $s" ;;
	esac
done

for f in /sys/kernel/debug/iommu/refs/*/counters /sys/kernel/debug/iommu/refs/*/stacks \
	 /sys/kernel/debug/iommu/refs/*/companions; do
	[ -r "$f" ] || continue
	echo "# iommu-qemu: $f:"
	sed 's/^/#   /' "$f"
done
if [ -e /sys/kernel/debug/kmemleak ]; then
	echo scan >/sys/kernel/debug/kmemleak
	sleep 1
	echo scan >/sys/kernel/debug/kmemleak
	# Every report starts with "unreferenced object": the host fails on it
	cat /sys/kernel/debug/kmemleak
fi
echo "iommu-qemu: done"
sync
poweroff -f
