#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run scripts/coccinelle/free/device_ref_leak.cocci over every C file of a
# kernel tree that calls a device lookup (tools/ is user space: left out),
# one file at a time, and print its reports sorted, one per line:
#   path:line: function(): message
# The same files give the same reports whatever their order or --jobs:
# the script keeps no fact of one file for another.
#
# usage: checker-tree.sh TREE COCCI [JOBS] [ORDER] [FILES]
#   JOBS: spatch --jobs (2); ORDER: sorted or reversed, the order in which
#   spatch gets the files; FILES: a file listing the paths to check instead
#   of every file that calls a lookup.
set -euo pipefail

tree=$(cd "${1:?kernel tree}" && pwd)
cocci=$(realpath "${2:?cocci file}")
jobs=${3:-2}
order=${4:-sorted}
list=${5:-}

# The lookups the script follows, from its LOOKUP pattern, as a prefilter.
calls=$(sed -n '/^LOOKUP = re.compile(/,/)$/p' "$cocci" | grep -o 'r"[^"]*"' |
	sed 's/^r"//; s/"$//' | tr -d '\n' | sed 's/^\^//; s/\$$//')
[ -n "$calls" ] || { echo "checker-tree: no LOOKUP pattern in $cocci" >&2; exit 2; }
calls+='[[:space:]]*\('

groups=$(mktemp)
trap 'rm -f "$groups"' EXIT
# One file per group (a blank line between): spatch never sees two at once.
if [ -n "$list" ]; then cat "$list"; else
	(cd "$tree" && grep -rlE --include='*.c' "\\b$calls" --exclude-dir=tools . | sed 's|^\./||')
fi |
	{ if [ "$order" = reversed ]; then sort -r; else sort; fi; } |
	awk '{ print; print "" }' >"$groups"
echo "# checker-tree: $(grep -c . "$groups") files" >&2
cd "$tree"
spatch -D report --very-quiet --no-show-diff --no-includes --include-headers \
	--jobs "$jobs" --cocci-file "$cocci" --file-groups "$groups" 2>/dev/null |
	sed -nE 's|^(\./)?([^:]+):([0-9]+):[0-9-]+: WARNING: (.*)|\2:\3: \4|p' | sort -t: -k1,1 -k2,2n -u
