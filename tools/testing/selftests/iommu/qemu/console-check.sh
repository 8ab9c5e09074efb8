#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Read the console of an IOMMU selftests QEMU guest.
#
#   console-check.sh filter [--all]   stdin to stdout: the guest's own lines
#                                     (KTAP) and kernel splats; --all: all
#   console-check.sh summary LOG...   print the results and, as the last
#                                     line, "N passed, N failed, N skipped";
#                                     exit 1 on a failure, a kernel splat, a
#                                     missing end line or no result at all
#
# Results are read as KernelCI's kselftest parser reads them: a header
# "# selftests: DIR: PROG", then lines "(# )*(not )?ok N NAME( # SKIP)".
# Nested results count; a program's own top-level line counts only when
# the program printed no nested result (it crashed, or it is not KTAP).
set -u

SPLAT='(BUG:|Oops[: ]|WARNING:|Kernel panic|kernel BUG at|KASAN:|UBSAN:|KFENCE:|unreferenced object 0x|general protection fault|Unable to handle kernel|Internal error:|INFO: task .* blocked|rcu: INFO:|possible circular locking|inconsistent lock state|refcount_t:|list_(add|del) corruption|Call trace:|Call Trace:)'
RESULT='^(# )*(not )?ok [0-9]+ '

case "${1:-}" in
filter)
	all=${2:-}
	exec awk -v all="$all" -v splat="$SPLAT" '
		all != "" || $0 ~ /^(iommu-qemu:|TAP version|[0-9]+\.\.[0-9]+|#|(not )?ok )/ ||
		$0 ~ splat { print; fflush() }'
	;;
summary)
	shift
	status=0
	for log in "$@"; do
		name=$(basename "$log" .log)
		if [ ! -s "$log" ]; then
			echo "$name: no console output"
			status=1
			continue
		fi
		splats=$(grep -E "$SPLAT" "$log" | head -n 20)
		if [ -n "$splats" ]; then
			echo "$name: kernel splat on the console:"
			sed 's/^/    /' <<<"$splats"
			status=1
		fi
		if ! grep -q '^iommu-qemu: done' "$log"; then
			echo "$name: the guest did not finish (crash, hang or timeout)"
			status=1
		fi
	done
	# KernelCI-style names and verdicts, one line per result.
	awk -v re="$RESULT" '
		/^(# )*selftests: [^ ]+: / {
			sub(/^(# )*/, ""); split($0, h, ": "); dir = h[2]; prog = h[3]
			nested = 0; next
		}
		$0 ~ re {
			line = $0; depth = 0
			while (sub(/^# /, "", line)) depth++
			skip = line ~ /# *SKIP/; xfail = line ~ /# *(TODO|XFAIL)/
			fail = line ~ /^not ok/
			sub(/^(not )?ok [0-9]+ /, "", line); sub(/ *#.*/, "", line)
			if (depth == 0 && dir != "" && nested) next
			if (depth > 0) nested = 1
			gsub(/[^A-Za-z0-9_.:-]+/, "_", line)
			res = fail ? (xfail ? "xfail" : "fail") : (skip ? "skip" : "pass")
			printf "%s.%s %s\n", dir == "" ? "unknown" : dir, line, res
		}' "$@" >"${TMPDIR:-/tmp}/console-check.$$"
	pass=$(grep -c ' pass$' "${TMPDIR:-/tmp}/console-check.$$")
	fail=$(grep -c ' fail$' "${TMPDIR:-/tmp}/console-check.$$")
	skip=$(grep -c ' skip$' "${TMPDIR:-/tmp}/console-check.$$")
	xfail=$(grep -c ' xfail$' "${TMPDIR:-/tmp}/console-check.$$")
	grep -v ' pass$' "${TMPDIR:-/tmp}/console-check.$$" | sed 's/^/  /'
	rm -f "${TMPDIR:-/tmp}/console-check.$$"
	[ $((pass + fail + skip + xfail)) -gt 0 ] || { echo "no test result found"; status=1; }
	[ "$fail" -eq 0 ] || status=1
	[ "$xfail" -eq 0 ] || echo "$xfail known failures (marked TODO/XFAIL, counted as failed)"
	echo "$pass passed, $((fail + xfail)) failed, $skip skipped"
	[ "$xfail" -eq 0 ] || status=1
	exit $status
	;;
*)
	echo "usage: $0 filter [--all] | summary LOG..." >&2
	exit 2
	;;
esac
