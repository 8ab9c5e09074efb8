#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Compile-test, for one architecture, the files the project's patches change
# that QEMU cannot run: allmodconfig (COMPILE_TEST, every driver as a
# module, WERROR), then each object alone.
#
# usage: compile-test.sh SRC BUILD_DIR ARCH(arm64|arm|sparc|x86_64)
# Prints one KTAP line per object and exits non-zero on a failure.
set -uo pipefail

src=${1:?source tree}
out=${2:?build dir}
arch=${3:?arch}

# The objects per architecture: one that builds each file (the IOMMU
# drivers on both ARM architectures, as they run on either).
iommu=(drivers/iommu/{ipmmu-vmsa,mtk_iommu,mtk_iommu_v1,omap-iommu,sprd-iommu,rockchip-iommu}.o)
case "$arch" in
arm64)
	cross=aarch64-linux-gnu-
	objs=("${iommu[@]}" drivers/iommu/virtio-iommu.o
	      drivers/iommu/{sun50i-iommu,vsi-iommu,tegra-smmu,riscv/iommu}.o
	      drivers/iommu/{apple-dart,exynos-iommu}.o drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.o
	      drivers/iommu/arm/arm-smmu/{arm-smmu,qcom_iommu}.o
	      drivers/gpu/drm/kmb/kmb_drv.o drivers/gpu/drm/kmb/kmb_dsi.o
	      drivers/media/platform/mediatek/mdp3/mtk-mdp3-comp.o
	      drivers/net/ethernet/freescale/fman/fman_port.o
	      drivers/power/reset/reboot-mode.o
	      drivers/irqchip/{irq-gic-v3-its,irq-gic-v2m,irq-gic-v3-mbi,irq-ls-scfg-msi}.o
	      sound/soc/fsl/fsl-asoc-card.o sound/soc/fsl/imx-sgtl5000.o) ;;
arm)	cross=arm-linux-gnueabihf- objs=("${iommu[@]}") ;;
sparc)	cross=sparc64-linux-gnu- objs=(drivers/sbus/char/bbc_i2c.o) ;;
x86_64)	cross= objs=(sound/soc/intel/boards/sof_cirrus_common.o) ;;
*) echo "compile-test: unsupported arch $arch" >&2; exit 2 ;;
esac

cc="${cross}gcc"
command -v ccache >/dev/null && cc="ccache $cc"
# (depend mode: no second preprocessor run on a miss)
export CCACHE_DEPEND=1
kmake() { make -s -C "$src" O="$out" ARCH="$arch" CROSS_COMPILE="$cross" CC="$cc" -j"$(nproc)" "$@"; }

mkdir -p "$out"
# The build directory is kept: configure it once per tree version.
ver=$(kmake kernelversion)
if [ ! -f "$out/.config" ] || [ "$(cat "$out/configured" 2>/dev/null)" != "$ver" ]; then
	kmake allmodconfig >/dev/null 2>&1 || { echo "not ok compile_test.$arch.config"; exit 1; }
	echo "$ver" >"$out/configured"
fi

status=0
echo "# compile-test: $arch allmodconfig, $ver"
# One make for all objects (-k: past a failure), each compiled again even
# when up to date, so that its warnings show (ccache replays them).
(cd "$out" && rm -f "${objs[@]}")
log=$(kmake -k "${objs[@]}" 2>&1)
for obj in "${objs[@]}"; do
	name=${obj%.o}
	mine=$(grep -F "$name.c" <<<"$log")
	if [ ! -f "$out/$obj" ]; then
		echo "not ok compile_test.$arch.${name##*/}"
		sed 's/^/# /' <<<"${mine:-$log}" | tail -n 20
		status=1
	elif grep -q 'warning:' <<<"$mine"; then
		echo "not ok compile_test.$arch.${name##*/} # warnings"
		sed 's/^/# /' <<<"$mine"
		status=1
	else
		echo "ok compile_test.$arch.${name##*/}"
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
