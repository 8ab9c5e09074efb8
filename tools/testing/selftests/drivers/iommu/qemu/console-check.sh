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
	out=${TMPDIR:-/tmp}/console-check.$$
	: >"$out"
	# The console itself is a result per guest: a splat or a guest that
	# did not finish is a failure even when every test passed.
	for log in "$@"; do
		name=$(basename "$log" .log); name=${name#console-}; name=${name#ktap-}
		# The kernel log of a guest whose results are on a port of
		# their own: ktap-NAME.log beside console-NAME.log
		klog=$(dirname "$log")/console-$name.log
		[ "$klog" != "$log" ] && [ -e "$klog" ] || klog=
		if [ ! -s "$log" ]; then
			echo "$name: no console output"
			echo "console.$name fail" >>"$out"
			continue
		fi
		verdict=pass
		splats=$(grep -hE "$SPLAT" "$log" $klog)
		if [ -n "$splats" ]; then
			echo "$name: kernel splat on the console:"
			head -n 20 <<<"$splats" | sed 's/^/    /'
			verdict=fail
			# Known only when every splat headline matches one known
			# regex (see known-splats).
			heads=$(grep -vE 'Call [Tt]race:' <<<"$splats")
			while IFS=$'\t' read -r re why; do
				case "$re" in ''|'#'*) continue ;; esac
				if [ -n "$heads" ] && ! grep -qvE "$re" <<<"$heads"; then
					echo "$name: known failure: $why"
					verdict=xfail
				fi
			done <"$(dirname "$0")/known-splats"
		fi
		if ! grep -q '^iommu-qemu: done' "$log"; then
			echo "$name: the guest did not finish (crash, hang or timeout)"
			verdict=fail
		fi
		echo "console.$name $verdict" >>"$out"
	done
	# KernelCI-style names and verdicts, one line per result.
	awk -v re="$RESULT" '
		/^(# )*selftests: [^ ]+: / {
			sub(/^(# )*/, ""); split($0, h, ": "); dir = h[2]; prog = h[3]
			nested = nested_fail = 0; next
		}
		$0 ~ re {
			line = $0; depth = 0
			while (sub(/^# /, "", line)) depth++
			skip = line ~ /# *SKIP/; xfail = line ~ /# *(TODO|XFAIL)/
			# A known failure is never a pass, even on an "ok" line.
			fail = line ~ /^not ok/
			sub(/^(not )?ok [0-9]+ /, "", line); sub(/^# SKIP /, "", line); sub(/ *#.*/, "", line)
			sub(/^selftests: [^ ]+: /, "", line)
			# The top-level line of a program repeats its results, but
			# must not hide a failure they did not show (a crash).
			if (depth == 0 && dir != "" && nested && (!fail || nested_fail)) next
			if (depth > 0) { nested = 1; if (fail) nested_fail = 1 }
			gsub(/[^A-Za-z0-9_.:-]+/, "_", line)
			res = xfail ? "xfail" : fail ? "fail" : skip ? "skip" : "pass"
			printf "%s.%s %s\n", dir == "" ? "unknown" : dir, line, res
		}' "$@" >>"$out"
	pass=$(grep -c ' pass$' "$out")
	fail=$(grep -c ' fail$' "$out")
	skip=$(grep -c ' skip$' "$out")
	xfail=$(grep -c ' xfail$' "$out")
	grep -v ' pass$' "$out" | sed 's/^/  /'
	tests=$(grep -vc '^console\.' "$out")
	rm -f "$out"
	[ "$tests" -gt 0 ] || { echo "no test result found"; fail=$((fail + 1)); }
	[ "$fail" -eq 0 ] || status=1
	[ "$xfail" -eq 0 ] || echo "$xfail known failure(s), listed above: not counted as passed"
	echo "$pass passed, $fail failed, $skip skipped"
	exit $status
	;;
*)
	echo "usage: $0 filter [--all] | summary LOG..." >&2
	exit 2
	;;
esac
