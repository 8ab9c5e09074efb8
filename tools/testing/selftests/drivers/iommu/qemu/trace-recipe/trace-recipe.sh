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
# the trace shows what the code does.

t=/sys/kernel/tracing
drv=/sys/bus/platform/drivers/syscon-reboot-mode
name=syscon-reboot-mode
here=$(cd "$(dirname "$0")" && pwd)

[ -d $t/events ] || mount -t tracefs nodev $t

# The recipe: every get and put of a device called $name, with its stack
trace_on() {
	echo 0 >$t/tracing_on
	echo >$t/trace
	for e in device_get device_put; do
		echo "name == \"$name\"" >$t/events/dev/$e/filter
		echo "stacktrace if name == \"$name\"" >$t/events/dev/$e/trigger
		echo 1 >$t/events/dev/$e/enable
	done
	echo 1 >$t/tracing_on
}

trace_off() {
	echo 0 >$t/tracing_on
	for e in device_get device_put; do
		echo 0 >$t/events/dev/$e/enable
		echo '!stacktrace' >$t/events/dev/$e/trigger
		echo 0 >$t/events/dev/$e/filter
	done
}

# What is left of the references, from the trace: device_initialize()'s
# own (no event) plus the gets, less the puts; and the callers in order
# and the stack of the last get
read_trace() {
	awk '
	/ device_(get|put): / {
		get = $0 ~ / device_get: /
		n += get ? 1 : -1
		c = $0; sub(/.*caller=/, "", c); sub(/\/.*/, "", c)
		order = order (order == "" ? "" : ", ") (get ? "get " : "put ") c
		stack = 0
		if (get) { last = ""; stack = 1 }
		next
	}
	/^ => / && stack {
		f = $2; sub(/\/.*/, "", f)
		# from get_device() out, without the frames of the event
		if (f !~ /^(trace_|__traceiter_)/)
			last = last (last == "" ? "" : " <- ") f
	}
	END { printf "%d|%s|%s\n", 1 + n, order, last }
	' $t/trace
}

# run N LABEL EXPECT_LEFT: probe the device, unbind it, read the trace
run() {
	trace_on
	modprobe syscon-reboot-mode
	dev=
	for d in "$drv"/*; do
		[ -L "$d" ] && [ "${d##*/}" != module ] && dev=${d##*/}
	done
	if [ -z "$dev" ]; then
		trace_off
		echo "not ok $1 trace_recipe.$2 # syscon-reboot-mode bound no device (reboot-mode.dtsi)"
		status=1
		return
	fi
	echo "$dev" >"$drv/unbind"
	trace_off
	res=$(read_trace)
	left=${res%%|*}
	res=${res#*|}
	echo "# $2: $dev bound and unbound; the gets and puts of $name: ${res%%|*}"
	echo "# $2: the last get's stack: ${res#*|}"
	if [ "$left" = "$3" ]; then
		echo "ok $1 trace_recipe.$2 # $left reference(s) left after device_unregister()"
	else
		echo "not ok $1 trace_recipe.$2 # $left reference(s) left after device_unregister(), expected $3"
		status=1
	fi
	rmmod syscon_reboot_mode reboot_mode
}

status=0
echo "TAP version 13"
echo "1..2"
if [ ! -d $t/events/dev/device_get ]; then
	echo "ok 1 trace_recipe.unfixed # SKIP no dev:device_get event"
	echo "ok 2 trace_recipe.fixed # SKIP no dev:device_get event"
	exit 4
fi
# Linux 7.3-rc7's reboot-mode first: syscon-reboot-mode binds to it
if insmod "$here/reboot-mode.ko"; then
	run 1 unfixed 1
else
	echo "not ok 1 trace_recipe.unfixed # insmod $here/reboot-mode.ko failed"
	status=1
fi
run 2 fixed 0
exit $status
