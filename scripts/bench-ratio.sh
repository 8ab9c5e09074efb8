#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The ratio of the unbind/rebind cycle times with CONFIG_IOMMU_DEBUG_REFS on
# and off, from the "iommu-bench:" lines of iommu_refs_bench (one per boot).
#
# usage: bench-ratio.sh FILE
# Prints the mean of the per-boot medians of each and on/off, and the same
# for the fastest cycles; exits 1 when
# a side is missing.
set -euo pipefail

awk '
/iommu-bench:/ {
	for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	sum[f["refs"]] += f["median_us"]; n[f["refs"]]++; clients = f["clients"]
	if (!(f["refs"] in min) || f["min_us"] < min[f["refs"]]) min[f["refs"]] = f["min_us"]
}
END {
	if (!n["on"] || !n["off"]) { print "bench: no result with the option " (n["on"] ? "off" : "on"); exit 1 }
	on = sum["on"] / n["on"]; off = sum["off"] / n["off"]
	printf "bench: %d clients, unbind/rebind cycle: %.1f ms with CONFIG_IOMMU_DEBUG_REFS=y, %.1f ms with =n (%d boots each): ratio %.3f\n", clients, on / 1000, off / 1000, n["on"], on / off
	printf "bench: fastest cycle: %.1f ms with =y, %.1f ms with =n: ratio %.3f\n", min["on"] / 1000, min["off"] / 1000, min["on"] / min["off"]
}' "${1:?results}"
