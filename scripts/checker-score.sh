#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Score scripts/coccinelle/free/device_ref_leak.cocci:
#  - recall: the 11 device leaks of the "iommu: fix device leaks" series,
#    on the drivers before the fixes, beside the kernel's put_device.cocci;
#  - precision: the reports on the base's drivers/iommu, each of which must
#    be a known real leak (fixed in patches/);
#  - the path users run: make coccicheck M=drivers/iommu on the assembled
#    tree (fixes applied) reports the test driver's injected leaks only.
#
# The pre-fix drivers: Debian's linux-source-6.1 has had the fixes since
# the stable backports, so they come from bullseye's linux-source-5.10,
# which predates them (apple-dart is not in 5.10: its file is the base's
# with the fix's two lines taken out again).
#
# Also: the rule cases of scripts/checker-cases.c; org and context modes.
#
# usage: checker-score.sh ASSEMBLED_TREE BASE_TREE CACHEDIR OUT
# Last line: checker: seed recall N/11, put_device.cocci M/11, reports on
# 7.3 drivers/iommu K
set -euo pipefail

src=$(cd "${1:?assembled tree}" && pwd)
base=$(cd "${2:?base tree}" && pwd)
cache=${3:?cache dir}
out=${4:?output directory}
top=$(cd "$(dirname "$0")/.." && pwd)
cocci=$src/scripts/coccinelle/free/device_ref_leak.cocci
theirs=$base/scripts/coccinelle/free/put_device.cocci
basever=$(sed -E 's/^([0-9]+\.[0-9]+).*/\1/' "$base/.debian-version" 2>/dev/null || echo base)

mkdir -p "$out"
out=$(cd "$out" && pwd)
status=0
ok() { echo "ok $*"; }
notok() { echo "not ok $*"; status=1; }
spatch_report() {
	spatch -D report --very-quiet --no-show-diff --no-includes --include-headers \
		--jobs 2 --cocci-file "$@"
}

old=$(FETCH_SUITES=bullseye FETCH_PATHS="drivers/iommu" \
	"$top/scripts/fetch-base.sh" 5.10 "$cache/prefix") || { notok "checker.fetch_5.10"; exit 1; }
oldver=$(cat "$old/.debian-version")

# The nine drivers before the fixes.
seed=$out/seed
rm -rf "$seed"
mkdir -p "$seed"
for f in exynos-iommu.c ipmmu-vmsa.c mtk_iommu.c mtk_iommu_v1.c omap-iommu.c \
	 sun50i-iommu.c tegra-smmu.c arm/arm-smmu/qcom_iommu.c; do
	cp "$old/drivers/iommu/$f" "$seed/"
done
awk '/^static int apple_dart_of_xlate\(/ { f = 1 } f && /^}/ { f = 0 }
     f && $0 == "\tput_device(&iommu_pdev->dev);" { cut = 1; next }
     cut && $0 == "" { cut = 0; next } { cut = 0; print }' \
	"$base/drivers/iommu/apple-dart.c" >"$seed/apple-dart.c"
removed=$(diff "$base/drivers/iommu/apple-dart.c" "$seed/apple-dart.c" | grep -c '^<' || true)
[ "$removed" = 2 ] || notok "checker.seed_apple_dart # the fix's 2 lines not found in $base/drivers/iommu/apple-dart.c"

# The function around a line of a file (kernel style: the definition
# starts in column 0).
func_at() {
	awk -v l="$2" 'NR <= l && /^[a-z].*[a-z0-9_]+\(/ { s = $0 } NR == l { print s; exit }' "$1" |
		sed -E 's/\(.*//; s/.*[ *]//'
}

# The rules one by one: scripts/checker-cases.c names its functions after
# the verdict they must get.
cases=$top/scripts/checker-cases.c
got=$(spatch_report "$cocci" "$cases" 2>/dev/null | sed -nE 's/.*WARNING: ([a-z_]+)\(\).*/\1/p' | sort -u | tr '\n' ' ')
want=$(sed -nE 's/^static [a-z_ *]*[ *](leak_[a-z_]+)\(.*/\1/p' "$cases" | sort -u | tr '\n' ' ')
if [ "$got" = "$want" ]; then
	ok "checker.cases # $(echo $want | wc -w) leaks reported, $(grep -c '^static [a-z_ *]*[ *]ok_' "$cases") correct functions not"
else
	notok "checker.cases # reported: ${got:-nothing}; expected: $want"
fi

start=$(date +%s.%N)
(cd "$seed" && spatch_report "$cocci" --dir .) >"$out/seed-ours.txt" 2>"$out/seed-ours.err"
(cd "$seed" && spatch_report "$theirs" --dir .) >"$out/seed-put_device.txt" 2>"$out/seed-put_device.err"

# Each seed leak: file, function holding the lookup, what went wrong, the
# fix's subject in the series.
found=0 theirs_found=0
echo "# the 11 leaks of the seed series, on linux-source-5.10 $oldver (apple-dart: $basever minus its fix)"
printf '# %-16s %-28s %-48s %-5s %s\n' file function pattern ours put_device.cocci
while IFS='|' read -r file fn pattern; do
	lines=$(awk -F: -v f="./$file" '$1 == f && /WARNING/ { print $2 }' "$out/seed-ours.txt" | sort -u)
	hit=no
	for l in $lines; do [ "$(func_at "$seed/$file" "$l")" = "$fn" ] && hit=yes; done
	tlines=$(awk -F: -v f="./$file" '$1 == f { if (match($0, /on line [0-9]+/)) print substr($0, RSTART + 8, RLENGTH - 8) }' \
		"$out/seed-put_device.txt" | sort -u)
	thit=no
	for l in $tlines; do [ "$(func_at "$seed/$file" "$l")" = "$fn" ] && thit=yes; done
	printf '# %-16s %-28s %-48s %-5s %s\n' "$file" "$fn()" "$pattern" "$hit" "$thit"
	[ $hit = yes ] && found=$((found + 1))
	[ $thit = yes ] && theirs_found=$((theirs_found + 1))
	if [ $hit = yes ]; then
		ok "checker.seed.${file%.c}.$fn"
	else
		notok "checker.seed.${file%.c}.$fn # not reported"
	fi
done <<'EOF'
apple-dart.c|apple_dart_of_xlate|of_xlate: driver data read, never put
qcom_iommu.c|qcom_iommu_of_xlate|of_xlate: put on the error paths only
exynos-iommu.c|exynos_iommu_of_xlate|of_xlate: put on the error paths only
ipmmu-vmsa.c|ipmmu_init_platform_device|of_xlate helper: never put
mtk_iommu.c|mtk_iommu_of_xlate|of_xlate: never put
mtk_iommu.c|mtk_iommu_probe|probe(): larb devices stored, never put
mtk_iommu_v1.c|mtk_iommu_create_mapping|probe_device helper: never put
mtk_iommu_v1.c|mtk_iommu_probe|probe(): larb devices stored, never put
omap-iommu.c|omap_iommu_probe_device|probe_device: stored, never put
sun50i-iommu.c|sun50i_iommu_of_xlate|of_xlate: never put
tegra-smmu.c|tegra_smmu_find|probe_device helper: put on one error path
EOF

# Precision: every report on the base's drivers/iommu must be a known
# leak, with its fix in patches/.
known="rockchip-iommu.rk_iommu_of_xlate"
(cd "$base/drivers/iommu" && spatch_report "$cocci" --dir .) >"$out/base-iommu.txt" 2>"$out/base-iommu.err"
end=$(date +%s.%N)
reports=0 fp=0
while read -r site; do
	[ -n "$site" ] || continue
	reports=$((reports + 1))
	if [[ " $known " == *" $site "* ]]; then
		ok "checker.precision.$site # a real leak, fixed in patches/"
	else
		fp=$((fp + 1))
		notok "checker.precision.$site # not a known leak: a false positive or a new bug"
	fi
done < <(awk -F: '/WARNING/ { split($0, a, "WARNING: "); sub(/\(\).*/, "", a[2]); f = $1; sub(/^\.\//, "", f); sub(/\.c$/, "", f); print f "." a[2] }' \
	"$out/base-iommu.txt" | sort -u)
echo "# $basever drivers/iommu: $reports lookup site(s) reported, $fp false positive(s)"
printf '# seed files and %s drivers/iommu: %.0f s\n' "$basever" "$(echo "$end - $start" | bc)"

# The path users run, on the assembled tree: the fixes are in, so only
# the test driver's injected leaks remain: 8 (two returns of one lookup in
# of_xlate(), three lookups in probe_device() and the allocation failure
# return of its first, one in the helper it calls for a client of two
# IOMMUs, one in probe()), at 6 lookups. Its reference
# kept from probe() to remove() is not reported.
make -s -C "$src" coccicheck MODE=report COCCI="$cocci" M=drivers/iommu J=2 \
	>"$out/coccicheck.txt" 2>&1 || true
got=$(grep WARNING "$out/coccicheck.txt" | sed -E 's/^\.\/([^:]*):.*WARNING: ([a-z0-9_]+)\(\).* on line ([0-9]+) .*/\1:\2/' | sort -u | tr '\n' ' ')
want="test-iommu.c:test_iommu_leak_others test-iommu.c:test_iommu_of_xlate test-iommu.c:test_iommu_probe test-iommu.c:test_iommu_probe_device "
if [ "$got" = "$want" ] && [ "$(grep -c WARNING "$out/coccicheck.txt")" = 8 ]; then
	ok "checker.coccicheck_assembled # make coccicheck M=drivers/iommu: the test driver's 8 injected leaks, nothing else"
else
	notok "checker.coccicheck_assembled # expected the 8 injected leaks of test-iommu.c, got: ${got:-nothing} (see $out/coccicheck.txt)"
fi

# The other two modes, on the same tree: an org entry for each of the
# eight, and the six lookup lines marked in the context diff.
make -s -C "$src" coccicheck MODE=org COCCI="$cocci" M=drivers/iommu J=2 >"$out/coccicheck-org.txt" 2>&1 || true
make -s -C "$src" coccicheck MODE=context COCCI="$cocci" M=drivers/iommu J=2 >"$out/coccicheck-context.txt" 2>&1 || true
n=$(grep -c '^\* TODO .*test-iommu.c' "$out/coccicheck-org.txt" || true)
if [ "$n" = 8 ]; then
	ok "checker.coccicheck_org # 8 entries"
else
	notok "checker.coccicheck_org # expected 8 entries, got $n (see $out/coccicheck-org.txt)"
fi
n=$(grep -cE '^-.*of_find_device_by_node\(' "$out/coccicheck-context.txt" || true)
if [ "$n" = 6 ]; then
	ok "checker.coccicheck_context # the 6 lookups marked"
else
	notok "checker.coccicheck_context # expected the 6 lookups marked, got $n (see $out/coccicheck-context.txt)"
fi

# The whole tree's triage (scripts/checker-triage.tsv, from make
# checker-tree): on the files it names, the base's reports are exactly its
# rows but those a rule now accepts, in either order of the files and with
# one job or two; on the assembled tree, no site whose fix is in
# patches/series is reported any more.
triage=$top/scripts/checker-triage.tsv
files=$out/triage-files
awk -F'\t' '!/^#/ { print $1 }' "$triage" | sort -u >"$files"
"$top/scripts/checker-tree.sh" "$base" "$cocci" 2 sorted "$files" >"$out/triage-base.txt" 2>/dev/null
"$top/scripts/checker-tree.sh" "$base" "$cocci" 1 reversed "$files" >"$out/triage-base-1.txt" 2>/dev/null
if cmp -s "$out/triage-base.txt" "$out/triage-base-1.txt"; then
	ok "checker.order # $(wc -l <"$files") files: the same reports in reverse order with --jobs 1"
else
	notok "checker.order # reports differ with the order of the files or --jobs (see $out/triage-base*.txt)"
fi
got=$(cut -d: -f1,2 "$out/triage-base.txt" | sort)
want=$(awk -F'\t' '!/^#/ && $6 != "rule" { print $1 ":" $2 }' "$triage" | sort)
if [ "$got" = "$want" ]; then
	ok "checker.triage # $(wc -l <<<"$want") reports on $basever, each triaged"
else
	notok "checker.triage # reports and scripts/checker-triage.tsv differ: $(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | tr '\n' ' ')"
fi
"$top/scripts/checker-tree.sh" "$src" "$cocci" 2 sorted "$files" >"$out/triage-assembled.txt" 2>/dev/null
# Per function with a fixed site: as many reports left as sites not fixed
# by patches/ (a function can hold one of each: kmb_probe()).
left=0 fixed=0
while IFS=$'\t' read -r file fn want; do
	fixed=$((fixed + 1))
	got=$({ grep "^$file:[0-9]*: $fn()" "$out/triage-assembled.txt" || true; } | cut -d: -f1,2 | sort -u | wc -l)
	if [ "$got" != "$want" ]; then
		notok "checker.fixed.$fn # $got report(s) on the assembled tree, $want expected"
		left=$((left + 1))
	fi
done < <(awk -F'\t' 'FILENAME == ARGV[1] { if (!/^#/ && $0 != "") ours[$1] = 1; next }
	/^#/ { next }
	{ k = $1 "\t" $3; n[k] += 0; if ($6 in ours) mine[k] = 1; else if ($6 != "rule") n[k]++ }
	END { for (k in mine) print k "\t" n[k] }' "$top/patches/series" "$triage")
[ $left = 0 ] && ok "checker.fixed # the sites patches/ fixes, in $fixed function(s), not reported on the assembled tree"

echo "checker: seed recall $found/11, put_device.cocci $theirs_found/11, reports on $basever drivers/iommu $reports"
"$top/scripts/real-bugs.sh" "$top" || status=1
exit $status
