#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# CONFIG_IOMMU_DEBUG_REFS=n must add nothing: build one config on the tree
# without the feature's patches (the fixes before them applied) and on the
# full tree, both with the option off, and compare the two vmlinux with
# scripts/bloat-o-meter and size(1).
#
# The config is x86_64's tinyconfig with the code the feature patches
# touch: the driver core, the IOMMU core and of_iommu.c.  It builds in half
# the time of the guests' config.
#
# Both sides are built in one work tree and one build directory: the tree
# is checked out at one commit, built, then checked out at the other and
# built again, so that the second build compiles only the files the
# feature changes (git rewrites only those) and what includes them.
#
# usage: size-check.sh SRC OUT [DISTRO_CONFIG]
#   SRC     assembled tree (scripts/assemble.sh): git history base, patches
#   OUT     build directory (kept, builds are incremental)
#   DISTRO_CONFIG  a distribution's .config to start from instead of
#           tinyconfig (make distro-cost: Debian's), with DEBUG_INFO off and
#           the QEMU guests' drivers built in
#
# Prints "ok size.n_delta" or "not ok size.n_delta" (details on "# " lines)
# and exits 1 on any difference.  With DISTRO_CONFIG, where the driver
# core's trace events are built (CONFIG_TRACEPOINTS=y), the =n delta is
# printed, not checked, and a third build with CONFIG_IOMMU_DEBUG_REFS=y
# prints that delta too.
set -euo pipefail

src=$(cd "${1:?tree}" && pwd)
out=${2:?build directory}
distro=${3:+$(realpath "$3")}
mkdir -p "$out"
out=$(cd "$out" && pwd)

g() { git -C "$src" "$@"; }
# The feature starts with the first patch of its series in patches/series
# (the "#series feature" line); its commit has that patch's subject.
top=$(cd "$(dirname "$0")/.." && pwd)
patch=$(awk '/^#series feature/ { f = 1; next } f && /^[^#]/ { print $1; exit }' "$top/patches/series")
# (as scripts/assemble.sh reads it)
subject=$(git mailinfo -k /dev/null /dev/null <"$top/patches/${patch:-none}" 2>/dev/null |
	  sed -n 's/^Subject: //p')
first=$(g log --reverse --format='%H %s' base..HEAD | awk -v s="$subject" 'substr($0, 42) == s { print $1; exit }')
if [ -z "$subject" ] || [ -z "$first" ]; then
	echo "size-check: no commit of the feature's first patch (${patch:-none})" >&2
	exit 1
fi
before=$(g rev-parse "$first^")
echo "# size-check: without the feature: $(g log -1 --format='%h %s' "$before")"
echo "# size-check: with the feature:    $(g log -1 --format='%h %s' HEAD)"

after=$(g rev-parse HEAD)

# Beside the assembled tree, at a path that does not change with the clone:
# kernel compile commands name it, and ccache hits only on the same path.
wt=$src-size
# (the layout before one tree served both sides)
if [ -d "$src-size-before" ]; then
	rm -rf "$src-size-before" "$out/before" "$out/after"
	g worktree prune
fi
if ! git -C "$wt" rev-parse --git-dir >/dev/null 2>&1; then
	g worktree prune
	rm -rf "$wt"
	g worktree add -q --detach -f "$wt" "$before"
fi
# Check out COMMIT in the work tree, also after a checkout killed half-way.
checkout() {
	git -C "$wt" checkout -q --detach -f "$1"
	git -C "$wt" reset -q --hard
}

# Reproducible version strings, so that only the code can differ.
export KBUILD_BUILD_TIMESTAMP="2000-01-01" KBUILD_BUILD_VERSION=1
export KBUILD_BUILD_USER=size KBUILD_BUILD_HOST=check
cc="gcc"
command -v ccache >/dev/null && cc="ccache gcc"
# (depend mode: no second preprocessor run on a miss)
export CCACHE_DEPEND=1

fragment="64BIT OF IOMMU_SUPPORT DEBUG_FS"
# The guests' drivers; no debug information, no distribution's keys
[ -z "$distro" ] ||
	fragment="DEBUG_INFO_NONE VIRTIO_PCI VIRTIO_IOMMU VIRTIO_BLK HW_RANDOM_VIRTIO IOMMU_SUPPORT DEBUG_FS"
refs=n
build() {
	local o=$out/tree

	mkdir -p "$o"
	# Configure only when the fragment changed: the build is incremental.
	printf 'CONFIG_%s=y\n' $fragment >"$o/fragment.new"
	if [ $refs = y ]; then
		echo CONFIG_IOMMU_DEBUG_REFS=y >>"$o/fragment.new"
	else
		printf '# CONFIG_%s is not set\n' IOMMU_DEBUG_REFS >>"$o/fragment.new"
	fi
	printf '# CONFIG_%s is not set\n' IOMMU_DEBUG_REFS_KUNIT_TEST TEST_IOMMU >>"$o/fragment.new"
	[ -z "$distro" ] || printf 'CONFIG_%s=""\n' SYSTEM_TRUSTED_KEYS SYSTEM_REVOCATION_KEYS >>"$o/fragment.new"
	# (and when a symbol it asks for is off: a tree that broke a
	# dependency once would keep it off)
	if [ ! -f "$o/.config" ] || ! cmp -s "$o/fragment.new" "$o/fragment" ||
	   grep '=y$' "$o/fragment.new" | grep -qvxFf "$o/.config"; then
		rm -f "$o/fragment"
		if [ -n "$distro" ]; then
			cp "$distro" "$o/.config"
		else
			make -s -C "$wt" O="$o" CC="$cc" tinyconfig >/dev/null
		fi
		cat "$o/fragment.new" >>"$o/.config"
	fi
	mv "$o/fragment.new" "$o/fragment"
	# (the two sides have different Kconfig files)
	make -s -C "$wt" O="$o" CC="$cc" olddefconfig >/dev/null 2>&1
	make -s -C "$wt" O="$o" CC="$cc" -j"$(nproc)" vmlinux
	for c in IOMMU_API $(if [ -n "$distro" ]; then echo TRACEPOINTS; else echo OF_IOMMU; fi); do
		grep -qx "CONFIG_$c=y" "$o/.config" || { echo "size-check: CONFIG_$c is off" >&2; exit 1; }
	done
}
checkout "$before"
build
cp "$out/tree/vmlinux" "$out/vmlinux.before"
checkout "$after"
build
cp "$out/tree/vmlinux" "$out/vmlinux.after"

if grep -q '^CONFIG_IOMMU_DEBUG_REFS=y' "$out/tree/.config"; then
	echo "size-check: the option is on in the =n build" >&2
	exit 1
fi

"$src/scripts/bloat-o-meter" "$out/vmlinux.before" "$out/vmlinux.after" |
	tee "$out/bloat-o-meter.txt" | sed 's/^/# /'
size "$out/vmlinux.before" "$out/vmlinux.after" | tee "$out/size.txt" | sed 's/^/# /'

read -r tb db bb _ < <(sed -n 2p "$out/size.txt")
read -r ta da ba _ < <(sed -n 3p "$out/size.txt")
# The first line: "add/remove: ... up/down: U/D (total bytes)"
bytes() { head -1 "$1" | sed 's/^.*up\/down: \(.*\)$/up\/down \1 bytes/'; }
delta=$(bytes "$out/bloat-o-meter.txt")
if [ -n "$distro" ]; then
	echo "# size-check: distribution config, =n: text $tb->$ta, data $db->$da, bss $bb->$ba, bloat-o-meter ${delta:-?}"
	refs=y
	build
	cp "$out/tree/vmlinux" "$out/vmlinux.refs"
	grep -q '^CONFIG_IOMMU_DEBUG_REFS=y' "$out/tree/.config" ||
		{ echo "size-check: the option is off in the =y build" >&2; exit 1; }
	"$src/scripts/bloat-o-meter" "$out/vmlinux.after" "$out/vmlinux.refs" >"$out/bloat-o-meter-y.txt"
	size "$out/vmlinux.after" "$out/vmlinux.refs" | tee "$out/size-y.txt" | sed 's/^/# /'
	echo "# size-check: distribution config, =y against =n: text $ta->$(awk 'NR == 3 { print $1 }' "$out/size-y.txt"), bloat-o-meter $(bytes "$out/bloat-o-meter-y.txt")"
	exit 0
fi
if [ "$tb" = "$ta" ] && [ "$db" = "$da" ] && [ "$bb" = "$ba" ] &&
   grep -q 'up/down: 0/0 (0)' "$out/bloat-o-meter.txt"; then
	echo "# size-check: =n: text $tb, data $db, bss $bb with and without the feature"
	echo "ok size.n_delta"
else
	echo "# size-check: =n: text $tb->$ta, data $db->$da, bss $bb->$ba, bloat-o-meter ${delta:-?}"
	echo "not ok size.n_delta"
	exit 1
fi
