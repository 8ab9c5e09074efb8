#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The real bugs the project's tools found in upstream code, from
# scripts/real-bugs.tsv (tool, site, our patch or -, a fix already posted
# upstream or -, what): check that each patch named is in patches/series,
# then print one line:
#   real-bugs: N fixed (checker C, fault injection F, unbind/rebind U,
#   review R), K known upstream
# "fixed": a patch of ours; "known upstream": a fix of it was posted
# before ours (we cite it, and post none or only what it leaves out).
#
# usage: real-bugs.sh TOP
set -euo pipefail

top=${1:?project top}
table=$top/scripts/real-bugs.tsv
series=$top/patches/series

awk -F'\t' -v series="$series" '
BEGIN {
	while ((getline l < series) > 0)
		if (l !~ /^#/ && l != "")
			inseries[l] = 1
	n["checker"] = n["fault-injection"] = n["unbind-rebind"] = n["review"] = 0
}
/^#/ || /^$/ { next }
NF != 5 { printf "not ok real_bugs # line %d: %d fields, not 5\n", NR, NF; bad = 1; next }
!($1 in n) { printf "not ok real_bugs # line %d: unknown tool %s\n", NR, $1; bad = 1; next }
$3 != "-" && !($3 in inseries) { printf "not ok real_bugs # line %d: %s is not in patches/series\n", NR, $3; bad = 1; next }
$3 == "-" && $4 == "-" { printf "not ok real_bugs # line %d: neither fixed nor known upstream\n", NR; bad = 1; next }
{
	if ($3 != "-") { fixed++; n[$1]++ }
	if ($4 != "-") known++
}
END {
	if (bad)
		exit 1
	printf "real-bugs: %d fixed (checker %d, fault injection %d, unbind/rebind %d, review %d), %d known upstream\n",
		fixed, n["checker"], n["fault-injection"], n["unbind-rebind"], n["review"], known
}' "$table"
