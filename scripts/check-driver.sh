#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check's test of "make DRIVER=... DT=..." (scripts/driver.sh), as a
# maintainer runs it: the example driver's two leaks named with their
# sites, a modified copy of virtio-iommu.c replacing the tree's and its
# leak named, and bad input: a module that does not build and nodes that
# do not compile refused before the boot, naming the file and line, MMIO
# that QEMU does not emulate named by the function that touched it.
#
# From the Makefile's environment: ROOT LOGS SRC CYCLES
set -uo pipefail

ex=$ROOT/tools/testing/selftests/drivers/iommu/qemu/example
d=$LOGS/driver
rm -rf "$d"
mkdir -p "$d"
status=0
run() { make --no-print-directory -C "$ROOT" TREE= BUILD="$d/build" "$@" >"$d/out" 2>&1; }
# check NAME REGEX...: every REGEX has a line in the output of a failed run
check() {
	local name=$1 re
	shift
	for re in "$@"; do
		if ! grep -qE -- "$re" "$d/out"; then
			echo "not ok driver $name: no line matching: $re (output: $d/$name.out)"
			cp "$d/out" "$d/$name.out"
			status=1
			return
		fi
	done
	cp "$d/out" "$d/$name.out"
	echo "ok driver $name: $(grep -m1 -E -- "$1" "$d/out" | cut -c1-160)"
}

sed 's/return 0;$/return 0 +;/' "$ex/example-iommu.c" >"$d/bad-iommu.c"
if run DRIVER="$d/bad-iommu.c" DT="$ex/example-iommu.dtsi"; then
	echo "not ok driver bad-module: the run passed"; status=1
else
	check bad-module "^$d/bad-iommu.c:[0-9]+:[0-9]+: error:"
fi

printf '/ {\n\tfoo { bar = <1> };\n};\n' >"$d/bad.dtsi"
if run DRIVER="$ex/example-iommu.c" DT="$d/bad.dtsi"; then
	echo "not ok driver bad-dt: the run passed"; status=1
else
	check bad-dt "^Error: $d/bad.dtsi:[0-9]"
fi

if run DRIVER="$ex/example-iommu.c" DT="$ex/example-iommu.dtsi" CYCLES="${CYCLES:-2}" \
	FAIL_POINTS=0; then
	echo "not ok driver example: the run passed"; status=1
else
	check example "^ok [0-9]+ module\.example-iommu" \
		"not ok [0-9]+ unbind_rebind\.example-iommu .*taken at [^ ]+ in example_iommu_of_xlate" \
		"not ok [0-9]+ unbind_rebind\.example-iommu .*companion .* in example_iommu_probe"
fi
# MMIO that QEMU does not emulate: the example given a "reg"
sed 's/\t\t#iommu-cells = <1>;/\t\treg = <0x0 0x0b000000 0x0 0x1000>;\n&/' \
	"$ex/example-iommu.dtsi" >"$d/mmio.dtsi"
if run DRIVER="$ex/example-iommu.c" DT="$d/mmio.dtsi" CYCLES=1 FAIL_POINTS=0; then
	echo "not ok driver mmio: the run passed"; status=1
else
	check mmio "^driver: the guest took an external abort" "pc : example_iommu_probe"
fi

# A copy of an in-tree driver QEMU runs, with the seed's leak put back (a
# reference to the instance's device taken in viommu_probe_device() and
# never dropped), replacing the tree's
mkdir -p "$d/leaky"
awk '{ print } /^\tviommu = container_of\(iommu, struct viommu_dev, iommu\);$/ { print "\tget_device(viommu->dev);" }' \
	"$SRC/drivers/iommu/virtio-iommu.c" >"$d/leaky/virtio-iommu.c"
if cmp -s "$SRC/drivers/iommu/virtio-iommu.c" "$d/leaky/virtio-iommu.c"; then
	echo "not ok driver in-tree: no container_of() line in viommu_probe_device() to add the leak after"; status=1
elif run DRIVER="$d/leaky/virtio-iommu.c" CYCLES="${CYCLES:-2}" FAIL_POINTS=0; then
	echo "not ok driver in-tree: the run passed"; status=1
else
	check in-tree "not ok [0-9]+ reprobe\.0000:00:01\.0 .*taken at ([^ ]+ in )?viommu_probe_device" \
		"not ok [0-9]+ unbind_rebind\.0000:00:01\.0 .*probe_device \(viommu_probe_device\)"
	git -C "$SRC" diff --quiet -- drivers/iommu/virtio-iommu.c ||
		{ echo "not ok driver in-tree: the tree's virtio-iommu.c changed"; status=1; }
fi
exit $status
