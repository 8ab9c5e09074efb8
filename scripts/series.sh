#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Write the upstream series: the patches of patches/series applied in turn
# on the base, each commit with the new files patches/new-files gives it,
# then git format-patch with a cover letter (patches/cover-letter: subject
# line, blank line, body).
#
# usage: series.sh ASSEMBLED_TREE OUT
#
# Fails when a file this project adds is in no commit, or when the last
# commit's tree differs from the assembled tree (outside the QEMU harness,
# which is not part of the series).
set -euo pipefail

src=$(cd "${1:?assembled tree}" && pwd)
out=${2:?output directory}
top=$(cd "$(dirname "$0")/.." && pwd)
harness=tools/testing/selftests/iommu/qemu

log() { echo "series: $*" >&2; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
wt=$out/tree
export GIT_COMMITTER_NAME="iommu-debug-refs" GIT_COMMITTER_EMAIL="build@localhost"
export GIT_COMMITTER_DATE="2000-01-01T00:00:00Z"
g() { git -C "$wt" "$@"; }

git -C "$src" worktree prune
# A worktree left by a tree at another path (an older layout) is not ours.
if [ "$(g rev-parse --path-format=absolute --git-common-dir 2>/dev/null)" != \
     "$(git -C "$src" rev-parse --path-format=absolute --git-common-dir)" ]; then
	rm -rf "$wt"
	git -C "$src" worktree prune
	git -C "$src" worktree add -q --detach -f "$wt" base
fi
g am --abort >/dev/null 2>&1 || true
g checkout -q -f --ignore-other-worktrees -B series base
g clean -q -fdx

mapfile -t patches < <(grep -v '^\s*\(#\|$\)' "$top/patches/series" | awk '{print $1}')
declare -A placed
for p in "${patches[@]}"; do
	if ! g am -q --keep-cr --empty=keep "$top/patches/$p"; then
		log "$p does not apply"
		exit 1
	fi
	mapfile -t files < <(awk -v p="$p" '$1 == p { for (i = 2; i <= NF; i++) print $i }' \
		"$top/patches/new-files")
	[ "${#files[@]}" -gt 0 ] || continue
	for f in "${files[@]}"; do
		mkdir -p "$wt/$(dirname "$f")"
		cp -p "$top/$f" "$wt/$f"
		placed[$f]=1
	done
	g add -f -- "${files[@]}"
	g commit -q --amend --no-edit
done

status=0
while read -r f; do
	[ -n "${placed[$f]:-}" ] || { log "$f is in no patch of patches/new-files"; status=1; }
done < <(cd "$top" && git ls-files --cached --others --exclude-standard -- \
	arch drivers include lib scripts/coccinelle scripts/iommu tools Documentation | grep -v "^$harness/")
if ! git -C "$src" diff --quiet series main -- . ":!$harness"; then
	log "the series differs from the assembled tree:"
	git -C "$src" diff --stat series main -- . ":!$harness" >&2
	status=1
fi
[ $status = 0 ] || exit 1

g config branch.series.description "$(cat "$top/patches/cover-letter")"
rm -f "$out"/*.patch
g format-patch -q --cover-letter --cover-from-description=subject --zero-commit \
	-o "$out" base..series
ls "$out"/*.patch
