#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build every commit of the series in turn (x86_64, the guest's config with
# CONFIG_IOMMU_DEBUG_REFS, the test driver and the KUnit suite on), out of
# tree and incrementally: one KTAP line per commit.
#
# usage: bisect-check.sh SERIES_DIR BUILD_DIR CONFIG
set -uo pipefail

series=$(cd "${1:?series dir}" && pwd)
out=${2:?build dir}
config=${3:?config}
tree=$series/tree
mkdir -p "$out"
out=$(cd "$out" && pwd)
cc="gcc"
command -v ccache >/dev/null && cc="ccache gcc"
# (depend mode: no second preprocessor run on a miss)
export CCACHE_DEPEND=1
g() { git -C "$tree" "$@"; }

# The fixes, then the feature on top of them (branch series), then the
# feature alone on the base, as each is posted.
status=0
for range in base..series base..feature; do
	mapfile -t commits < <(g rev-list --reverse "$range")
	n=0
	for c in "${commits[@]}"; do
		n=$((n + 1))
		name=$(printf '%s.%04d-%s' "${range#base..}" "$n" "$(g log -1 --format=%f "$c" | cut -c1-52)")
		g checkout -q --detach "$c"
		cp "$config" "$out/.config"
		start=$(date +%s)
		if make -s -C "$tree" O="$out" CC="$cc" olddefconfig >"$out/build.log" 2>&1 &&
		   make -s -C "$tree" O="$out" CC="$cc" -j"$(nproc)" >>"$out/build.log" 2>&1; then
			echo "ok bisect.$name # $(($(date +%s) - start)) s"
		else
			grep -E 'error|Error' "$out/build.log" | head -5 | sed 's/^/# /'
			echo "not ok bisect.$name"
			status=1
		fi
	done
done
g checkout -q series
exit $status

