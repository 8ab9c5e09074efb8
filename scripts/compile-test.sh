#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Compile-test the IOMMU drivers that the project patches but that cannot
# run in QEMU, for one architecture, with COMPILE_TEST.
#
# usage: compile-test.sh SRC BUILD_DIR ARCH(arm64|arm)
# Prints one KTAP line per driver object and exits non-zero on a failure.
set -uo pipefail

src=${1:?source tree}
out=${2:?build dir}
arch=${3:?arch}
case "$arch" in
arm64) cross=aarch64-linux-gnu- ;;
arm) cross=arm-linux-gnueabihf- ;;
*) echo "compile-test: unsupported arch $arch" >&2; exit 2 ;;
esac

# config symbol:object, per driver the project's patches touch.
# SYMBOL:object, in drivers/iommu unless the object has a directory.
drivers=(IPMMU_VMSA:ipmmu-vmsa MTK_IOMMU:mtk_iommu MTK_IOMMU_V1:mtk_iommu_v1
	 OMAP_IOMMU:omap-iommu SPRD_IOMMU:sprd-iommu ROCKCHIP_IOMMU:rockchip-iommu
	 PHY_HI3670_PCIE:drivers/phy/hisilicon/phy-hi3670-pcie)
[ "$arch" = arm64 ] && drivers+=(VIRTIO_IOMMU:virtio-iommu)

cc="${cross}gcc"
command -v ccache >/dev/null && cc="ccache $cc"
# (depend mode: no second preprocessor run on a miss)
export CCACHE_DEPEND=1
kmake() { make -s -C "$src" O="$out" ARCH="$arch" CROSS_COMPILE="$cross" CC="$cc" -j"$(nproc)" "$@"; }

mkdir -p "$out"
{
	printf 'CONFIG_%s=y\n' MMU ARCH_MULTIPLATFORM ARCH_MULTI_V7 COMPILE_TEST OF IOMMU_SUPPORT VIRTIO_MENU VIRTIO_PCI PCI
	for d in "${drivers[@]}"; do echo "CONFIG_${d%%:*}=y"; done
} >"$out/fragment.config.new"
# The build directory is kept: configure it only when the list changed.
# (and when a symbol it asks for is off: a tree that broke a dependency
# once would keep it off)
if [ ! -f "$out/.config" ] || ! cmp -s "$out/fragment.config.new" "$out/fragment.config" ||
   printf 'CONFIG_%s=y\n' "${drivers[@]%%:*}" | grep -qvxFf "$out/.config"; then
	rm -f "$out/fragment.config"
	kmake tinyconfig >/dev/null && cat "$out/fragment.config.new" >>"$out/.config" &&
		kmake olddefconfig >/dev/null 2>&1 ||
		{ echo "not ok compile_test.$arch.config"; exit 1; }
fi
mv "$out/fragment.config.new" "$out/fragment.config"

status=0
echo "# compile-test: $arch, $(kmake kernelversion)"
objs=()
for d in "${drivers[@]}"; do
	obj=${d#*:}.o
	[[ $obj == */* ]] || obj=drivers/iommu/$obj
	objs+=("$obj")
done
# One make for all objects (-k: past a failure), each compiled again even
# when up to date, so that its warnings show (ccache replays them).
(cd "$out" && rm -f "${objs[@]}")
log=$(kmake -k "${objs[@]}" 2>&1)
for i in "${!drivers[@]}"; do
	d=${drivers[$i]} obj=${objs[$i]}
	sym=${d%%:*} name=${obj##*/}
	name=${name%.o}
	mine=$(grep -F "${obj%.o}.c" <<<"$log")
	if ! grep -qx "CONFIG_$sym=y" "$out/.config"; then
		echo "not ok compile_test.$arch.$name # CONFIG_$sym could not be enabled"
		status=1
	elif [ ! -f "$out/$obj" ]; then
		echo "not ok compile_test.$arch.$name"
		sed 's/^/# /' <<<"${mine:-$log}" | tail -n 20
		status=1
	elif grep -q 'warning:' <<<"$mine"; then
		echo "not ok compile_test.$arch.$name # warnings"
		sed 's/^/# /' <<<"$mine"
		status=1
	else
		echo "ok compile_test.$arch.$name"
	fi
done
# A warning in a header names the header, not the driver: any warning fails.
if grep -q 'warning:' <<<"$log"; then
	echo "not ok compile_test.$arch.no_warnings"
	sed 's/^/# /' <<<"$log" | tail -n 40
	status=1
else
	echo "ok compile_test.$arch.no_warnings"
fi
exit $status
