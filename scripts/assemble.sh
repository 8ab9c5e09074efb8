#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Assemble the kernel tree the project builds: a git repository whose
# history is the base tree, then one commit per patch of patches/series,
# then one commit with the files this project adds at their kernel paths.
#
# usage: assemble.sh BASE_TREE DEST
#
# The commits are made with git plumbing on a private index, and the work
# tree is then moved to the result with "git reset --hard": files whose
# content did not change keep their mtime, so builds stay incremental.
# Running it again with nothing changed does nothing.
set -euo pipefail

base=$(cd "${1:?base tree}" && pwd)
dest=${2:?destination}
top=$(cd "$(dirname "$0")/.." && pwd)

log() { echo "assemble: $*" >&2; }

export GIT_AUTHOR_NAME="iommu-debug-refs" GIT_AUTHOR_EMAIL="build@localhost"
export GIT_COMMITTER_NAME="iommu-debug-refs" GIT_COMMITTER_EMAIL="build@localhost"
export GIT_AUTHOR_DATE="2000-01-01T00:00:00Z" GIT_COMMITTER_DATE="2000-01-01T00:00:00Z"

mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
g() { git -C "$dest" "$@"; }

# 1. The base commit: import the base tree once (keyed by its path and,
#    for Debian bases, the package version).
basekey="$base $(cat "$base/.debian-version" 2>/dev/null || true)"
if [ ! -d "$dest/.git" ] || [ "$(g config --get iommu.basekey || true)" != "$basekey" ]; then
	log "importing base tree $base"
	rm -rf "$dest"
	mkdir -p "$dest"
	g init -q
	g config iommu.basekey "$basekey"
	g config core.autocrlf false
	# Import without copying through the index of the destination's worktree.
	git --git-dir="$dest/.git" --work-tree="$base" add -A -f -- . ':!.unpacked' ':!.debian-version' >/dev/null
	ver=$(make -s -C "$base" kernelversion 2>/dev/null || echo unknown)
	tree=$(g write-tree)
	commit=$(echo "base: Linux $ver ($basekey)" | g commit-tree "$tree")
	g update-ref refs/heads/base "$commit"
	g symbolic-ref HEAD refs/heads/main
	g update-ref refs/heads/main "$commit"
	g reset -q --hard main
fi

# 2. Patches and project files, on a private index.
idx=$(mktemp)
trap 'rm -f "$idx" "$idx".*' EXIT
export GIT_INDEX_FILE=$idx
head=$(g rev-parse base)

# The patches of the series, in order; their commits are reused while the
# series and its patches are unchanged (applying them to the base's index
# costs seconds).
series=$top/patches/series
patches=()
[ ! -f "$series" ] || mapfile -t patches < <(awk '!/^[[:space:]]*(#|$)/ { print $1 }' "$series")
patcheskey=$( { cat "$series"; for p in "${patches[@]}"; do cat "$top/patches/$p"; done; } \
	2>/dev/null | git hash-object --stdin)
cached=$(g config --get iommu.patches || true)
if [ "${cached%% *}" = "$patcheskey" ] && g cat-file -e "${cached#* }^{commit}" 2>/dev/null; then
	head=${cached#* }
	g read-tree "$head"
else
	g read-tree "$head"
	for p in "${patches[@]}"; do
		info=$(git mailinfo -k "$idx.msg" "$idx.patch" <"$top/patches/$p")
		subject=$(sed -n 's/^Subject: //p' <<<"$info")
		author=$(sed -n 's/^Author: //p' <<<"$info")
		email=$(sed -n 's/^Email: //p' <<<"$info")
		if grep -q "^diff --git" "$idx.patch" && ! g apply --cached --whitespace=nowarn "$idx.patch"; then
			log "patch $p does not apply"
			exit 1
		fi
		tree=$(g write-tree)
		head=$( { echo "$subject"; echo; cat "$idx.msg"; } |
			GIT_AUTHOR_NAME="${author:-$GIT_AUTHOR_NAME}" GIT_AUTHOR_EMAIL="${email:-$GIT_AUTHOR_EMAIL}" \
			g commit-tree "$tree" -p "$head")
	done
	g config iommu.patches "$patcheskey $head"
fi

# Files the project adds at their kernel paths (tracked or new, not ignored).
mapfile -t files < <(cd "$top" && env -u GIT_INDEX_FILE git ls-files --cached --others --exclude-standard -- \
	arch drivers include lib scripts/coccinelle scripts/iommu tools Documentation | sort -u)
for f in "${files[@]}"; do
	[ -f "$top/$f" ] || continue
	mode=100644
	[ -x "$top/$f" ] && mode=100755
	obj=$(git -C "$dest" hash-object -w -- "$top/$f")
	g update-index --add --cacheinfo "$mode,$obj,$f"
done
tree=$(g write-tree)
if [ "$tree" != "$(g rev-parse "$head^{tree}")" ]; then
	head=$(echo "iommu: add the files of the IOMMU reference accounting project" |
		g commit-tree "$tree" -p "$head")
fi
unset GIT_INDEX_FILE

if [ "$(g rev-parse HEAD)" != "$head" ]; then
	log "updating $dest"
	g update-ref refs/heads/main "$head"
	g reset -q --hard main
elif [ -n "$(g status --porcelain -uno)" ]; then
	# A run killed between the two commands above, or an edit in the tree
	log "restoring the work tree of $dest"
	g reset -q --hard main
fi
# Print the base's version for the log.
echo "assemble: base $(g log -1 --format=%s base | sed 's/^base: //'), $(g rev-list --count base..main) commits on top" >&2
