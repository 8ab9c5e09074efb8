#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# CONFIG_IOMMU_DEBUG_REFS=n must add nothing: build one config on the tree
# without the accounting patches (the fixes before them applied) and on the
# full tree, both with the option off, and compare the two vmlinux with
# scripts/bloat-o-meter and size(1).
#
# The config is x86_64's tinyconfig with the code the accounting patches
# touch: the driver core (every file includes device.h), the IOMMU core and
# of_iommu.c.  It builds in half the time of the guests' config.
#
# usage: size-check.sh SRC OUT
#   SRC     assembled tree (scripts/assemble.sh): git history base, patches
#   OUT     build directory (kept, builds are incremental)
#
# Prints "ok size.n_delta" or "not ok size.n_delta" (details on "# " lines)
# and exits 1 on any difference.
set -euo pipefail

src=$(cd "${1:?tree}" && pwd)
out=${2:?build directory}
mkdir -p "$out"
out=$(cd "$out" && pwd)

g() { git -C "$src" "$@"; }
# The first commit of the accounting is the first to mention its option.
first=$(g log --reverse --format=%H -S CONFIG_IOMMU_DEBUG_REFS base..HEAD | sed -n 1p)
if [ -z "$first" ]; then
	echo "size-check: no commit adds CONFIG_IOMMU_DEBUG_REFS" >&2
	exit 1
fi
before=$(g rev-parse "$first^")
echo "# size-check: without accounting: $(g log -1 --format='%h %s' "$before")"
echo "# size-check: with accounting:    $(g log -1 --format='%h %s' HEAD)"

# Beside the assembled tree, at a path that does not change with the clone:
# kernel compile commands name it, and ccache hits only on the same path.
wt=$src-size-before
if ! git -C "$wt" rev-parse --git-dir >/dev/null 2>&1; then
	g worktree prune
	rm -rf "$wt"
	g worktree add -q --detach -f "$wt" "$before"
elif [ "$(git -C "$wt" rev-parse HEAD)" != "$before" ] ||
     [ -n "$(git -C "$wt" status --porcelain -uno)" ]; then
	# (also after a checkout that was killed half-way)
	git -C "$wt" checkout -q --detach -f "$before"
	git -C "$wt" reset -q --hard
fi

# Reproducible version strings, so that only the code can differ.
export KBUILD_BUILD_TIMESTAMP="2000-01-01" KBUILD_BUILD_VERSION=1
export KBUILD_BUILD_USER=size KBUILD_BUILD_HOST=check
cc="gcc"
command -v ccache >/dev/null && cc="ccache gcc"

fragment="64BIT OF IOMMU_SUPPORT DEBUG_FS"
build() {
	local tree=$1 o=$out/$2

	mkdir -p "$o"
	# Configure only when the fragment changed: the build is incremental.
	printf 'CONFIG_%s=y\n' $fragment >"$o/fragment.new"
	printf '# CONFIG_%s is not set\n' IOMMU_DEBUG_REFS IOMMU_DEBUG_REFS_KUNIT_TEST TEST_IOMMU >>"$o/fragment.new"
	# (and when a symbol it asks for is off: a tree that broke a
	# dependency once would keep it off)
	if [ ! -f "$o/.config" ] || ! cmp -s "$o/fragment.new" "$o/fragment" ||
	   grep '=y$' "$o/fragment.new" | grep -qvxFf "$o/.config"; then
		rm -f "$o/fragment"
		make -s -C "$tree" O="$o" CC="$cc" tinyconfig >/dev/null
		cat "$o/fragment.new" >>"$o/.config"
		make -s -C "$tree" O="$o" CC="$cc" olddefconfig >/dev/null 2>&1
	fi
	mv "$o/fragment.new" "$o/fragment"
	make -s -C "$tree" O="$o" CC="$cc" -j"$(nproc)" vmlinux
	for c in IOMMU_API OF_IOMMU; do
		grep -qx "CONFIG_$c=y" "$o/.config" || { echo "size-check: CONFIG_$c is off" >&2; exit 1; }
	done
}
build "$wt" before
build "$src" after

if grep -q '^CONFIG_IOMMU_DEBUG_REFS=y' "$out/after/.config"; then
	echo "size-check: the option is on in the =n build" >&2
	exit 1
fi

"$src/scripts/bloat-o-meter" "$out/before/vmlinux" "$out/after/vmlinux" |
	tee "$out/bloat-o-meter.txt" | sed 's/^/# /'
size "$out/before/vmlinux" "$out/after/vmlinux" | tee "$out/size.txt" | sed 's/^/# /'

read -r tb db bb _ < <(sed -n 2p "$out/size.txt")
read -r ta da ba _ < <(sed -n 3p "$out/size.txt")
delta=$(awk '/^Total:/ { print $NF }' "$out/bloat-o-meter.txt")
if [ "$tb" = "$ta" ] && [ "$db" = "$da" ] && [ "$bb" = "$ba" ] &&
   grep -q 'up/down: 0/0 (0)' "$out/bloat-o-meter.txt"; then
	echo "# size-check: =n: text $tb, data $db, bss $bb with and without the accounting"
	echo "ok size.n_delta"
else
	echo "# size-check: =n: text $tb->$ta, data $db->$da, bss $bb->$ba, bloat-o-meter ${delta:-?}"
	echo "not ok size.n_delta"
	exit 1
fi
