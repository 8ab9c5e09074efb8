#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make DRIVER=path [DT=nodes.dtsi] [REPLACE=drivers/iommu/x.c] [ARCH=aarch64]
#      [KERNEL_CMDLINE=...]
#
# Check your own IOMMU driver: DRIVER (a .c file, or a directory with the
# driver's files and, optionally, its Kbuild or Makefile fragment) is built
# as a module against the guest's debug kernel (shared with make check,
# rebuilt only when the tree changed), from a copy: the assembled tree
# stays as it is.  A modified copy of a driver the guest's kernel builds
# in (the same file name under drivers/iommu, or REPLACE=) replaces it in
# a kernel of its own.  DT's nodes are added to the arm64 guest's device
# tree.  The guest loads the modules, opts the IOMMUs they register in,
# and runs iommu_unbind_rebind on them (cycles, fault injection of the
# bind): one result per instance, with the site and stack of what leaked.
# Relative paths are taken from the project's directory.
#
# From the Makefile's environment: BUILD CACHE KBUILD SRC DRIVER DT REPLACE
# ARCH KERNEL_CMDLINE CYCLES FAIL_POINTS
set -euo pipefail

die() { echo "driver: $*" >&2; exit 1; }

arch=${ARCH:-aarch64}
case $arch in
aarch64) karch=arm64 cross=aarch64-linux-gnu- ;;
x86_64) karch=x86_64 cross= ;;
*) die "ARCH=$arch: use aarch64 or x86_64" ;;
esac
[ "$(uname -m)" != "$arch" ] || cross=
for v in DRIVER DT REPLACE; do
	case ${!v:-} in *[[:space:],\"\']*) die "$v=${!v}: a path without spaces, commas or quotes" ;; esac
done
drv=${DRIVER:?}
[ -e "$drv" ] || die "DRIVER=$drv: no such file or directory"
drv=$(realpath "$drv")
dt=
if [ -n "${DT:-}" ]; then
	[ -f "$DT" ] || die "DT=$DT: no such file"
	[ "$arch" = aarch64 ] || die "DT=$DT needs ARCH=aarch64: x86_64's q35 guest has no device tree (a driver there must bind to a PCI or ACPI device QEMU emulates)"
	dt=$(realpath "$DT")
fi

out=$BUILD/driver
kdir=$KBUILD/$arch/kernel-debug
qemu=$SRC/tools/testing/selftests/drivers/iommu/qemu
harness=(make --no-print-directory -C "$qemu" BUILD_PATH="$out" KERNEL_BUILD_ROOT="$KBUILD/$arch"
	 DEBS_CACHE="$CACHE/debs" ARCH="$arch" MACHINE=virtio DEBUG_KERNEL=yes)
run=(TESTS=iommu_unbind_rebind "KERNEL_CMDLINE=${KERNEL_CMDLINE:-}" TEST_TIMEOUT=1200
     QEMU_TIMEOUT=1500 ${dt:+DT="$dt"})
args="-n ${CYCLES:-2} -F ${FAIL_POINTS:-60}"
mkdir -p "$out"
echo "driver: the $arch debug kernel (built once, shared with make check)"
"${harness[@]}" kernel >"$out/kernel.log" 2>&1 || { tail -30 "$out/kernel.log"; die "kernel build failed"; }

# Compiler and modpost messages of build log $1, with the sed script $2
# naming the user's files, not the copies
errors() {
	sed "$2" "$1" | grep -iE 'error|warning|undefined' | grep -v '^make\[[0-9]*\]: \*\*\*' |
		head -30
}

# A copy of a driver the guest's kernel builds in replaces it in a kernel
# of its own: a copy of the debug kernel's build directory, rebuilt with
# the file bind-mounted over the tree's in a mount namespace of its own,
# so that neither the tree nor the shared kernel ever sees it.
intree=${REPLACE:-}
if [ -z "$intree" ] && [ -f "$drv" ]; then
	# Candidates: the files of that name whose object is in the kernel
	intree=$(cd "$SRC" && find drivers/iommu -name "$(basename "$drv")" | while read -r f; do
		[ ! -e "$kdir/${f%.c}.o" ] || echo "$f"; done)
	[ "$(echo "$intree" | grep -c .)" -le 1 ] ||
		die "DRIVER=$drv: several files of the guest's kernel have that name ($(echo "$intree" | xargs)): name one with REPLACE="
fi
if [ -n "$intree" ]; then
	[ -f "$drv" ] || die "REPLACE=$intree: DRIVER must be the one .c file that replaces it"
	[ -f "$SRC/$intree" ] || die "REPLACE=$intree: no such file in the tree"
	[ -e "$kdir/${intree%.c}.o" ] ||
		die "REPLACE=$intree: the guest's kernel does not build it in: give DRIVER alone, as a module"
	ns=(unshare -m)
	[ "$(id -u)" = 0 ] || ns=(unshare -rm)
	"${ns[@]}" true 2>/dev/null ||
		die "REPLACE=$intree: '${ns[*]}' is not allowed here (no mount namespace): a copy of an in-tree driver cannot replace it"
	kdrv=$KBUILD/$arch/kernel-driver
	echo "driver: $drv replaces $intree in a kernel of its own ($kdrv)"
	rsync -a --delete --exclude=modroot "$kdir/" "$kdrv/"
	rm -f "$kdrv/${intree%.c}.o"
	# Every make that may build the kernel runs with the file in place
	in_ns() {
		DRV=$drv INTREE=$SRC/$intree "${ns[@]}" sh -c 'mount --bind "$DRV" "$INTREE" && exec "$@"' \
			sh "${harness[@]}" KERNEL_BUILD_PATH="$kdrv" "$@"
	}
	if ! in_ns kernel >"$out/build.log" 2>&1 || [ ! -e "$kdrv/${intree%.c}.o" ]; then
		errors "$out/build.log" "s,$SRC/$intree,$drv,g; s,^$intree:,$drv:,"
		die "$drv does not build in place of $intree (full log: $out/build.log)"
	fi
	echo "driver: booting the $arch guest with it${dt:+ and $dt}"
	in_ns "${run[@]}" TEST_ARGS="-d all -r $args" qemu
	exit
fi

# The module's sources, copied: a build never writes beside them
src=$out/src
rm -rf "$src"
mkdir -p "$src"
if [ -d "$drv" ]; then
	cp -r "$drv/." "$src/"
	find "$src" -name '*.ko' -delete
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
# A fragment's own options (obj-$(CONFIG_MY_IOMMU) += ...) as modules;
# Kconfig is not read: what they select must be in the guest's kernel
opts=$(cat "$src/Kbuild" "$src/Makefile" 2>/dev/null | grep -o 'obj-\$(CONFIG_[A-Z0-9_]*)' |
	sed 's/obj-\$(\(CONFIG_[A-Z0-9_]*\))/\1=m/' | sort -u | xargs || true)

echo "driver: building $drv as a module${opts:+ ($opts)}"
# shellcheck disable=SC2086
if ! make -C "$SRC" O="$kdir" ARCH="$karch" CROSS_COMPILE="$cross" M="$src" $opts \
	-j"$(nproc)" modules >"$out/build.log" 2>&1; then
	at=$drv
	[ -d "$drv" ] || at=$(dirname "$drv")
	errors "$out/build.log" "s,$src/,$at/,g; s,^\([^ /:][^ :]*\.[ch]:[0-9]\),$at/\1,"
	die "$drv does not build against Linux $(cat "$kdir/include/config/kernel.release") (full log: $out/build.log)"
fi
# In the order Kbuild lists them, which modprobe follows for dependencies
mods=$(sed -n 's/\.o$/.ko/p' "$src/modules.order" 2>/dev/null | sed "s,^,$src/," | xargs || true)
[ -n "$mods" ] ||
	die "the build of $drv made no module (a fragment's obj-y, or an option it needs that is not set?)"

echo "driver: booting the $arch guest with $(for m in $mods; do basename "$m"; done | xargs)${dt:+ and $dt}"
"${harness[@]}" "${run[@]}" EXTRA_MODULES="$mods" TEST_ARGS="$args" qemu && exit
# An access to an address QEMU does not emulate is an external abort
con=$out/console-virtio-debug.log
if grep -q 'synchronous external abort' "$con" 2>/dev/null; then
	echo "driver: the guest took an external abort, an access to an address QEMU does not emulate:"
	grep -m3 -E 'external abort|^\[[ 0-9.]*\] pc :|Modules linked in' "$con"
fi
exit 1
