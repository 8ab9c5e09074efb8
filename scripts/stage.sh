#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# One stage of make or make check: run a command with its output appended
# to the log ($STAGE_LOG) and print one line when it ends, with its time;
# on failure, the last lines of its output.
#
# usage: stage.sh [-o FILE] [-k FILE]... [-p DIR] NAME COMMAND...
#   -o FILE  also keep the command's output in FILE
#   -k FILE  a result the stage writes (a guest's KTAP log, say)
#   -p DIR   a kernel build directory: every minute, print how many objects
#            are built (of how many the last complete build had)
#        stage.sh --start     begin a log ($STAGE_LOG), print its path
#        stage.sh --summary   the time of every stage, and the total
#
# The stages and their times go to $STAGE_LOG.stages.  Stages may run in
# parallel: each one's output is appended to the log in one piece.
#
# Reuse: when $STAGE_KEY is set (a hash of every input, scripts/inputs-key.sh),
# a stage that passed with the same key, and whose -o and -k files are still
# what it wrote, is not run again: its line says "reused".  A stage that
# fails, or runs with another key, forgets its earlier result.
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
	awk '{ printf "  %-28s %-6s %2d min %02d s", $1, $3, $2 / 60, $2 % 60
	       if ($4 != "") printf "   CPU %3d min %02d s", $4 / 60, $4 % 60
	       printf "\n" }' "$log.stages"
	total=$(($(date +%s) - $(cat "$log.start" 2>/dev/null || date +%s)))
	cpu=$(awk '{ n += $4 } END { print n + 0 }' "$log.stages")
	printf '  %-35s %2d min %02d s   CPU %3d min %02d s (of the stages that ran)\n' \
		total $((total / 60)) $((total % 60)) $((cpu / 60)) $((cpu % 60))
	exit 0
	;;
esac

keep=/dev/null progress=
results=()
while :; do
	case "${1:-}" in
	-o) keep=$2; results+=("$2"); shift 2 ;;
	-k) results+=("$2"); shift 2 ;;
	-p) progress=$2; shift 2 ;;
	*) break ;;
	esac
done
name=${1:?stage name}
shift
[ $# -gt 0 ] || { echo "stage.sh: no command" >&2; exit 2; }

# A passed stage's record: its key, then the checksums of its results
stamp=${log%.log}.results/$name
key=${STAGE_KEY:-}
if [ -n "$key" ] && [ "$(sed -n 1p "$stamp" 2>/dev/null)" = "$key" ] &&
   { [ "$(wc -l <"$stamp")" = 1 ] || sed 1d "$stamp" | sha256sum --check --status; }; then
	echo "== $name: ok, reused: inputs unchanged since $(date -r "$stamp" '+%F %H:%M') (FRESH=1 runs it)"
	echo "== $name: reused $stamp" >>"$log"
	echo "$name 0 reused" >>"$log.stages"
	exit 0
fi
rm -f "$stamp"

out=$(mktemp)
trap 'rm -f "$out"; [ -n "${ticker:-}" ] && kill "$ticker" 2>/dev/null' EXIT
start=$(date +%s)

if [ -n "$progress" ]; then
	(
		total=$(cat "$progress/.objects" 2>/dev/null || true)
		since=$(mktemp)
		nap=
		trap 'kill $nap 2>/dev/null; rm -f "$since"; exit 0' TERM
		while :; do
			# Not holding the terminal or a pipe open once killed
			sleep 60 >/dev/null 2>&1 &
			nap=$!
			wait $nap
			n=$(find "$progress" -name '*.o' -newer "$since" 2>/dev/null | wc -l)
			echo "   $name: $(fmt $(($(date +%s) - start))), $n objects built${total:+ (a complete build has $total)}"
		done
	) &
	ticker=$!
fi

"$@" >"$out" 2>&1
rc=$?
[ -n "${ticker:-}" ] && { kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null; ticker=; }
(flock 9 && echo "== $name: $*" && cat "$out") 9>>"$log" >>"$log"
[ "$keep" = /dev/null ] || cp "$out" "$keep"
secs=$(($(date +%s) - start))
# The CPU time (user and system) of the stage's command and all it waited
# for: the children's line of times, which a subshell would not see
times >"$out.times"
cpu=$(awk 'NR == 2 { n = 0
	for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); n += t[1] * 60 + t[2] }
	printf "%d", n }' "$out.times")
rm -f "$out.times"
if [ $rc = 0 ]; then
	echo "== $name: ok, $(fmt $secs)"
	echo "$name $secs ok $cpu" >>"$log.stages"
	[ -n "$progress" ] && find "$progress" -name '*.o' 2>/dev/null | wc -l >"$progress/.objects"
	if [ -n "$key" ]; then
		mkdir -p "$(dirname "$stamp")"
		{ echo "$key"; [ ${#results[@]} = 0 ] || sha256sum "${results[@]}"; } >"$stamp.tmp" &&
			mv "$stamp.tmp" "$stamp" || rm -f "$stamp.tmp"
	fi
else
	# One write: the other lane's lines do not come in between
	msg="== $name: FAILED after $(fmt $secs); its last lines (all of it in $log):
$(tail -n 25 "$out" | sed 's/^/   /')"
	printf '%s\n' "$msg"
	echo "$name $secs FAILED $cpu" >>"$log.stages"
fi
exit $rc
