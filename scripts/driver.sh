#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make DRIVER=path [DT=nodes.dtsi] [ARCH=aarch64|x86_64] [KERNEL_CMDLINE=...]
#
# Check your own IOMMU driver: DRIVER (a .c file, or a directory with the
# driver's .c files and, optionally, its Kbuild) is built as a module
# against the guest's debug kernel (shared with make check, rebuilt only
# when the tree changed), outside the assembled tree, which stays as it
# is; a modified copy of a driver of the tree (same file name under
# drivers/iommu) replaces it in a kernel of its own; DT's nodes are added
# to the arm64 guest's device tree.  The guest
# loads the module, opts the IOMMUs it registers in, and runs
# iommu_unbind_rebind on them (cycles, fault injection of the bind):
# one result per instance, with the site and stack of what leaked.
#
# From the Makefile's environment: ROOT BUILD CACHE KBUILD SRC LOCK_CMD
set -euo pipefail

die() { echo "driver: $*" >&2; exit 1; }

arch=${ARCH:-aarch64}
case $arch in
aarch64) karch=arm64 cross=aarch64-linux-gnu- ;;
x86_64) karch=x86_64 cross= ;;
*) die "ARCH=$arch: use aarch64 or x86_64" ;;
esac
[ "$(uname -m)" != "$arch" ] || cross=
drv=${DRIVER:?}
[ -e "$drv" ] || die "DRIVER=$drv: no such file or directory"
drv=$(realpath "$drv")
if [ -n "${DT:-}" ]; then
	[ -f "$DT" ] || die "DT=$DT: no such file"
	[ "$arch" = aarch64 ] || die "DT=$DT needs ARCH=aarch64: x86_64's q35 guest has no device tree (a driver there must bind to a PCI or ACPI device QEMU emulates)"
fi

# The module's sources, copied: a build never writes beside them
out=$BUILD/driver
src=$out/src
rm -rf "$src"
mkdir -p "$src"
if [ -d "$drv" ]; then
	cp -r "$drv/." "$src/"
else
	case $drv in *.c) ;; *) die "DRIVER=$drv: a .c file or a directory" ;; esac
	cp "$drv" "$src/"
fi
if [ ! -e "$src/Kbuild" ] && [ ! -e "$src/Makefile" ]; then
	objs=$(cd "$src" && find . -maxdepth 1 -name "*.c" | sed 's,^\./,,; s,\.c$,.o,')
	[ -n "$objs" ] || die "DRIVER=$drv: no .c file"
	[ "$(echo "$objs" | wc -l)" -eq 1 ] ||
		die "DRIVER=$drv: several .c files and no Kbuild saying which module they make"
	echo "obj-m := $objs" >"$src/Kbuild"
fi

kdir=$KBUILD/$arch/kernel-debug
qemu=$SRC/tools/testing/selftests/drivers/iommu/qemu
harness=(make --no-print-directory -C "$qemu" BUILD_PATH="$out" KERNEL_BUILD_ROOT="$KBUILD/$arch"
	 DEBS_CACHE="$CACHE/debs" ARCH="$arch" MACHINE=virtio DEBUG_KERNEL=yes)
echo "driver: the $arch debug kernel (built once, shared with make check)"
"${harness[@]}" kernel >"$out/kernel.log" 2>&1 || { tail -30 "$out/kernel.log"; die "kernel build failed"; }

# A copy of a driver of the tree (same file name under drivers/iommu)
# replaces it in a kernel of its own: a copy of the debug kernel's build
# directory, built with the file bind-mounted over the tree's in a mount
# namespace of its own, so that neither the tree nor the shared kernel
# ever sees it.
intree=
if [ -f "$drv" ]; then
	intree=$(cd "$SRC" && find drivers/iommu -name "$(basename "$drv")" | head -1)
fi
if [ -n "$intree" ]; then
	kdrv=$KBUILD/$arch/kernel-driver
	echo "driver: $drv replaces $intree in a kernel of its own ($kdrv)"
	rsync -a --delete --exclude=modroot "$kdir/" "$kdrv/"
	rm -f "$kdrv/${intree%.c}.o"
	ns=(unshare -m)
	[ "$(id -u)" = 0 ] || ns=(unshare -rm)
	# Every make that may build the kernel runs with the file in place
	in_ns() {
		DRV=$drv INTREE=$SRC/$intree "${ns[@]}" sh -c 'mount --bind "$DRV" "$INTREE" && exec "$@"' \
			sh "${harness[@]}" KERNEL_BUILD_PATH="$kdrv" "$@"
	}
	in_ns kernel >"$out/module.log" 2>&1 || {
		sed "s,$SRC/$intree,$drv,g; s,^$intree:,$drv:," "$out/module.log" |
			grep -E ': (fatal )?error|: warning' | head -30
		die "$drv does not build in place of $intree (full log: $out/module.log)"
	}
	echo "driver: booting the $arch guest with it${DT:+ and $DT}"
	in_ns ${DT:+DT="$(realpath "$DT")"} \
		TESTS=iommu_unbind_rebind TEST_ARGS="-d all -r -n ${CYCLES:-2} -F ${FAIL_POINTS:-60}" \
		KERNEL_CMDLINE="${KERNEL_CMDLINE:-}" TEST_TIMEOUT=1200 QEMU_TIMEOUT=1500 qemu
	exit
fi

echo "driver: building $drv as a module"
if ! make -C "$SRC" O="$kdir" ARCH="$karch" CROSS_COMPILE="$cross" M="$src" \
	-j"$(nproc)" modules >"$out/module.log" 2>&1; then
	# Name the user's files, not the copies
	at=$drv
	[ -d "$drv" ] || at=$(dirname "$drv")
	sed "s,$src/,$at/,g; s,^\([^ /:][^ :]*\.[ch]:[0-9]\),$at/\1," "$out/module.log" |
		grep -E ': (fatal )?error|: warning' | head -30
	die "$drv does not build against Linux $(cat "$kdir/include/config/kernel.release") (full log: $out/module.log)"
fi
mods=$(find "$src" -name '*.ko' | sort)
[ -n "$mods" ] || die "the build of $drv made no module"

echo "driver: booting the $arch guest with $(echo "$mods" | xargs -n1 basename | xargs)${DT:+ and $DT}"
"${harness[@]}" EXTRA_MODULES="$(echo "$mods" | xargs)" ${DT:+DT="$(realpath "$DT")"} \
	TESTS=iommu_unbind_rebind TEST_ARGS="-n ${CYCLES:-2} -F ${FAIL_POINTS:-60}" \
	KERNEL_CMDLINE="${KERNEL_CMDLINE:-}" TEST_TIMEOUT=1200 QEMU_TIMEOUT=1500 qemu
