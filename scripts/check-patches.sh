#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Apply patches/series with "git am" on the base commit of an assembled
# tree, in a sparse worktree holding only the files the patches touch.
#
# usage: check-patches.sh ASSEMBLED_TREE
set -euo pipefail

src=$(cd "${1:?assembled tree}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=author.sh
. "$top/scripts/author.sh"
wt=$(mktemp -d)
trap 'git -C "$src" worktree remove --force "$wt" >/dev/null 2>&1 || rm -rf "$wt"' EXIT

mapfile -t patches < <(grep -v '^\s*\(#\|$\)' "$top/patches/series" | awk '{print $1}')
mapfile -t files < <(cd "$top/patches" && grep -h '^+++ b/' "${patches[@]}" | cut -c7- | sort -u)

git -C "$src" worktree add -q --no-checkout --detach "$wt" base
git -C "$wt" sparse-checkout set --no-cone "${files[@]}"
git -C "$wt" checkout -q
status=0
for p in "${patches[@]}"; do
	if author_apply "check <check@localhost>" <"$top/patches/$p" |
		git -C "$wt" -c user.name=check -c user.email=check@localhost am -q --empty=keep >/dev/null 2>&1; then
		echo "ok git_am.$p"
	else
		git -C "$wt" am --abort >/dev/null 2>&1 || true
		echo "not ok git_am.$p"
		status=1
	fi
done
exit $status
