#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# One stage of make or make check: run a command with its output appended
# to the log ($STAGE_LOG) and print one line when it ends, with its time;
# on failure, the last lines of its output.
#
# usage: stage.sh [-o FILE] [-p DIR] NAME COMMAND...
#   -o FILE  also keep the command's output in FILE
#   -p DIR   a kernel build directory: every minute, print how many objects
#            are built (of how many the last complete build had)
#        stage.sh --start     begin a log ($STAGE_LOG), print its path
#        stage.sh --summary   the time of every stage, and the total
#
# The stages and their times go to $STAGE_LOG.stages.
set -uo pipefail

log=${STAGE_LOG:?STAGE_LOG}
fmt() { printf '%d min %02d s' $(($1 / 60)) $(($1 % 60)); }

case "${1:-}" in
--start)
	mkdir -p "$(dirname "$log")"
	: >"$log"
	: >"$log.stages"
	date +%s >"$log.start"
	echo "full output: $log"
	exit 0
	;;
--summary)
	[ -s "$log.stages" ] || exit 0
	echo "stage times:"
	awk '{ printf "  %-28s %-6s %d min %02d s\n", $1, $3, $2 / 60, $2 % 60 }' "$log.stages"
	total=$(($(date +%s) - $(cat "$log.start" 2>/dev/null || date +%s)))
	echo "  total                               $(fmt "$total")"
	exit 0
	;;
esac

keep=/dev/null progress=
while :; do
	case "${1:-}" in
	-o) keep=$2; shift 2 ;;
	-p) progress=$2; shift 2 ;;
	*) break ;;
	esac
done
name=${1:?stage name}
shift
[ $# -gt 0 ] || { echo "stage.sh: no command" >&2; exit 2; }

out=$(mktemp)
trap 'rm -f "$out"; [ -n "${ticker:-}" ] && kill "$ticker" 2>/dev/null' EXIT
start=$(date +%s)
echo "== $name: $*" >>"$log"

if [ -n "$progress" ]; then
	(
		total=$(cat "$progress/.objects" 2>/dev/null || true)
		stamp=$(mktemp)
		trap 'rm -f "$stamp"' EXIT
		while sleep 60; do
			n=$(find "$progress" -name '*.o' -newer "$stamp" 2>/dev/null | wc -l)
			echo "   $name: $(fmt $(($(date +%s) - start))), $n objects built${total:+ (a complete build has $total)}"
		done
	) &
	ticker=$!
fi

"$@" >"$out" 2>&1
rc=$?
[ -n "${ticker:-}" ] && { kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null; ticker=; }
cat "$out" >>"$log"
[ "$keep" = /dev/null ] || cp "$out" "$keep"
secs=$(($(date +%s) - start))
if [ $rc = 0 ]; then
	echo "== $name: ok, $(fmt $secs)"
	echo "$name $secs ok" >>"$log.stages"
	[ -n "$progress" ] && find "$progress" -name '*.o' 2>/dev/null | wc -l >"$progress/.objects"
else
	echo "== $name: FAILED after $(fmt $secs); its last lines (all of it in $log):"
	tail -n 25 "$out" | sed 's/^/   /'
	echo "$name $secs FAILED" >>"$log.stages"
fi
exit $rc
