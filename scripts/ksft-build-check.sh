#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The iommu selftests build as labs build them: in the source tree and out
# of it (O=), with gcc and with LLVM=1 (clang, lld), without a warning; a
# change to a local header rebuilds the programs (LOCAL_HDRS); install
# puts the programs, settings and the runner in place.
# The QEMU guests build O= with gcc (x86_64, arm64) and LLVM=1 (x86_64
# debug); this adds the in-tree builds.
#
# usage: ksft-build-check.sh TREE KERNEL_BUILD_DIR OUT
# KERNEL_BUILD_DIR holds the kernel's exported headers (usr/include).
set -uo pipefail

tree=$(cd "${1:?kernel tree}" && pwd)
kbuild=$(cd "${2:?kernel build dir}" && pwd)
out=${3:?output dir}
mkdir -p "$out"
out=$(cd "$out" && pwd)
st=$tree/tools/testing/selftests
status=0
# As a lab runs it, from a shell: under make (make check), MAKELEVEL would
# make the selftests' lib.mk expect OUTPUT from a parent make
unset MAKELEVEL MAKEFLAGS MFLAGS

result() {
	if [ "$1" = 0 ]; then echo "ok ksft-build.$2"; else echo "not ok ksft-build.$2 # $3"; status=1; fi
}

for cc in gcc llvm; do
	flags=(TARGETS=drivers/iommu "KHDR_INCLUDES=-isystem $kbuild/usr/include")
	[ $cc = llvm ] && flags+=(LLVM=1)
	make -s -C "$st" "${flags[@]}" clean >/dev/null 2>&1
	log=$out/in-tree-$cc.log
	rm -rf "$out/install-$cc"
	if ! make -C "$st" "${flags[@]}" install INSTALL_PATH="$out/install-$cc" >"$log" 2>&1; then
		result 1 "in_tree_$cc" "build failed: $(grep -m1 -E 'error' "$log")"
	elif grep -q 'warning:' "$log"; then
		result 1 "in_tree_$cc" "$(grep -m1 'warning:' "$log")"
	else
		missing=
		for f in drivers/iommu/iommu_test_driver \
			drivers/iommu/iommu_unbind_rebind \
			drivers/iommu/settings run_kselftest.sh \
			kselftest/ktap_helpers.sh; do
			[ -e "$out/install-$cc/$f" ] || missing="$missing $f"
		done
		grep -qx 'drivers/iommu:iommu_unbind_rebind' "$out/install-$cc/kselftest-list.txt" ||
			missing="$missing kselftest-list.txt:iommu_unbind_rebind"
		if [ -n "$missing" ]; then
			result 1 "in_tree_$cc" "not installed:$missing"
		else
			result 0 "in_tree_$cc"
		fi
	fi
	if [ $cc = gcc ]; then
		# A local header changed: the programs that include it are rebuilt.
		# The header is dated 2 s after the program, whatever the clock's
		# granularity; the program must then get a newer date.
		before=$(stat -c %Y "$st/drivers/iommu/iommu_unbind_rebind")
		touch -d "@$((before + 2))" "$st/drivers/iommu/iommu_safety.h"
		sleep 3
		make -s -C "$st/drivers/iommu" "${flags[@]}" >"$out/rebuild.log" 2>&1
		after=$(stat -c %Y "$st/drivers/iommu/iommu_unbind_rebind" 2>/dev/null || echo 0)
		if [ "$after" -gt "$before" ]; then
			result 0 local_hdrs_rebuild
		else
			result 1 local_hdrs_rebuild "iommu_unbind_rebind not rebuilt after iommu_safety.h changed"
		fi
	fi
	make -s -C "$st" "${flags[@]}" clean >/dev/null 2>&1
done
exit $status
