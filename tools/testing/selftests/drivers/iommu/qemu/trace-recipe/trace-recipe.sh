#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The driver core's dev:device_get and dev:device_put events without the
# IOMMU accounting, as Documentation/iommu/debug-refs.rst gives the recipe:
# an event filter on a device's name and a stacktrace trigger, here on the
# class device that reboot-mode creates for syscon-reboot-mode (named after
# the driver; the node is in reboot-mode.dtsi).  Twice: with reboot-mode.ko
# built from Linux 7.3-rc7's file (beside this script), whose unregister
# keeps the reference class_find_device() returned, then with the guest
# kernel's own module, which has the fix.  KTAP, one result each: ok when
# the trace shows what the code does.  Only in the QEMU harness's guest:
# it unbinds syscon-reboot-mode and loads an unfixed module.

t=/sys/kernel/tracing
drv=/sys/bus/platform/drivers/syscon-reboot-mode
name=syscon-reboot-mode
here=$(cd "$(dirname "$0")" && pwd)
status=0

# The recipe: every get and put of a device called $name, with its stack
trace_on() {
	echo 0 >$t/tracing_on && echo >$t/trace || return 1
	for e in device_get device_put; do
		echo "name == \"$name\"" >$t/events/dev/$e/filter &&
		echo "stacktrace if name == \"$name\"" >$t/events/dev/$e/trigger &&
		echo 1 >$t/events/dev/$e/enable || return 1
	done
	echo 1 >$t/tracing_on
}

trace_off() {
	for e in device_get device_put; do
		echo 0 >$t/events/dev/$e/enable
		echo '!stacktrace' >$t/events/dev/$e/trigger
		echo 0 >$t/events/dev/$e/filter
	done
}

# The events of the first device in the trace (by its hashed pointer):
# the references left, device_initialize()'s own (no event) plus its
# gets, less its puts; the same from the last event's refcount= (the
# count before that get or put); the callers in order; the last get's
# stack, from get_device() out
read_trace() {
	awk '
	/ device_(get|put): / {
		for (i = 1; i < NF && $i !~ /^device_(get|put):$/; i++)
			;
		if (dev == "")
			dev = $(i + 2)
		if ($(i + 2) != dev) {
			stack = 0
			next
		}
		get = $i == "device_get:"
		n += get ? 1 : -1
		rc = $(i + 3); sub(/^refcount=/, "", rc)
		after = rc + (get ? 1 : -1)
		c = $(i + 4); sub(/^caller=/, "", c); sub(/\/.*/, "", c)
		order = order (order == "" ? "" : ", ") (get ? "get " : "put ") c
		stack = get
		if (get)
			last = ""
		next
	}
	/^ => / && stack {
		f = $2; sub(/\/.*/, "", f)
		if (f !~ /^(trace_|__traceiter_)/)
			last = last (last == "" ? "" : " <- ") f
	}
	END { printf "%d|%s|%s|%s\n", 1 + n, after, order, last }
	' $t/trace
}

# run N RESULT TAINT EXPECT_LEFT: load syscon-reboot-mode (on the
# reboot-mode module whose taint is TAINT), unbind its device, read the
# trace, unload both
run() {
	if ! trace_on; then
		trace_off
		echo "not ok $1 trace_recipe.$2 # cannot set the events' filter or trigger"
		status=1
		return
	fi
	modprobe syscon-reboot-mode
	dev=
	for d in "$drv"/*; do
		[ -L "$d" ] && [ "${d##*/}" != module ] && dev=${d##*/}
	done
	taint=$(cat /sys/module/reboot_mode/taint 2>/dev/null)
	[ -z "$dev" ] || echo "$dev" >"$drv/unbind"
	echo 0 >$t/tracing_on
	trace_off
	res=$(read_trace)
	left=${res%%|*}
	res=${res#*|}
	after=${res%%|*}
	res=${res#*|}
	# A leaked class device of the unfixed module stays allocated,
	# out of sysfs and off the class's list: unloading is safe
	rmmod syscon_reboot_mode reboot_mode || status=1
	if [ -z "$dev" ]; then
		why="syscon-reboot-mode bound no device (reboot-mode.dtsi)"
	elif [ "$taint" != "$3" ]; then
		why="reboot_mode's taint is '$taint', expected '$3': not the module meant"
	elif [ "$left" != "$after" ]; then
		why="the events disagree: $left left from the gets and puts, $after from refcount="
	elif [ "$left" != "$4" ]; then
		why="$left reference(s) left after the unbind, expected $4"
	else
		why=
	fi
	echo "# $2: $dev bound and unbound; the gets and puts of $name: ${res%%|*}"
	echo "# $2: the last get's stack: ${res#*|}"
	if [ -n "$why" ]; then
		echo "not ok $1 trace_recipe.$2 # $why"
		status=1
	else
		echo "ok $1 trace_recipe.$2 # $left reference(s) left after the unbind"
	fi
}

echo "TAP version 13"
if ! grep -q iommu_qemu /proc/cmdline; then
	echo "1..0 # SKIP only in the QEMU harness's guest (make trace-recipe)"
	exit 4
fi
[ -d $t/events ] || mount -t tracefs nodev $t
echo "1..2"
if [ ! -d $t/events/dev/device_get ]; then
	echo "ok 1 trace_recipe.unfixed_leak_shown # SKIP no dev:device_get event"
	echo "ok 2 trace_recipe.fixed_balanced # SKIP no dev:device_get event"
	exit 4
fi
# Linux 7.3-rc7's reboot-mode first: syscon-reboot-mode binds to it
if insmod "$here/reboot-mode.ko"; then
	run 1 unfixed_leak_shown O 1
else
	echo "not ok 1 trace_recipe.unfixed_leak_shown # insmod $here/reboot-mode.ko failed"
	status=1
fi
run 2 fixed_balanced "" 0
echo 1 >$t/tracing_on
exit $status
