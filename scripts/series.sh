#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Write the upstream series.  patches/series is cut into sections by
# "#series NAME SUBJECT-PREFIX [on=OTHER[,OTHER...]]" lines; each section is
# a series of its own, applied alone on the base (with on=, on the base and
# the earlier series named, whose patches the cover letter lists as
# prerequisites and OUT/NAME/on names for check-series) and written to
# OUT/NAME with its cover letter
# (patches/cover-letter-NAME: subject line, blank line, body), To: and Cc:
# from get_maintainer.pl and a base-commit: line (BASE_COMMIT, the upstream
# id of the base, or the local import's): the fixes, one series per tree
# that takes them (driver-core, iommu, block, ...), for stable, independent
# of the rest; then "feature" [RFC PATCH], the accounting, test driver,
# selftests, docs and the Coccinelle script, with a last commit adding the
# MAINTAINERS entry.
# Each commit gets the new files patches/new-files gives its patch, and
# From: and Signed-off-by: of whoever exports: AUTHOR='Name <email>', or
# git config user.name and user.email (refused when there is neither); the
# MAINTAINERS entry names the same person.
#
# Then all sections in turn on the base (branch "series", used by
# bisect-check): its tree must be the assembled tree, but for MAINTAINERS
# and the QEMU harness, which are not in the assembled tree or not posted.
#
# usage: series.sh ASSEMBLED_TREE OUT
set -euo pipefail

src=$(cd "${1:?assembled tree}" && pwd)
out=${2:?output directory}
top=$(cd "$(dirname "$0")/.." && pwd)
harness=tools/testing/selftests/drivers/iommu/qemu
# shellcheck source=author.sh
. "$top/scripts/author.sh"

log() { echo "series: $*" >&2; }

author=$(author_resolve "$top") || { log "$(author_resolve "$top" 2>&1)"; exit 1; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
wt=$out/tree
export GIT_COMMITTER_NAME="${author% <*}" GIT_COMMITTER_EMAIL="${author##*<}"
GIT_COMMITTER_EMAIL=${GIT_COMMITTER_EMAIL%>}
g() { git -C "$wt" "$@"; }

git -C "$src" worktree prune
# A worktree left by a tree at another path (an older layout) is not ours.
if [ "$(g rev-parse --path-format=absolute --git-common-dir 2>/dev/null)" != \
     "$(git -C "$src" rev-parse --path-format=absolute --git-common-dir)" ]; then
	rm -rf "$wt"
	git -C "$src" worktree prune
	git -C "$src" worktree add -q --detach -f "$wt" base
fi
g am --abort >/dev/null 2>&1 || true

# section name, subject prefix and patches, in patches/series order
declare -a names prefixes
declare -A members on
while read -r a b c d; do
	case "$a" in
	'#series')
		names+=("$b"); prefixes+=("$c")
		case "$d" in
		'') ;;
		on=*)	d=${d#on=}
			on[$b]=${d//,/ }
			for o in ${on[$b]}; do
				[[ " ${names[*]} " == *" $o "* && "$o" != "$b" ]] ||
					{ log "#series $b: $o is not an earlier series"; exit 1; }
			done ;;
		*)	log "#series $b: unknown option $d"; exit 1 ;;
		esac
		continue ;;
	''|'#'*) continue ;;
	esac
	[ "${#names[@]}" -gt 0 ] || { log "$a comes before any #series line"; exit 1; }
	members[${names[-1]}]+="$a "
done <"$top/patches/series"
[ "${#names[@]}" -gt 0 ] || { log "no #series section in patches/series"; exit 1; }

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
declare -A placed

# apply PATCH: git am with the author, then the patch's new files.
apply() {
	local p=$1 f files
	author_apply "$author" <"$top/patches/$p" >"$tmp"
	if ! g am -q -3 --keep-cr --empty=keep "$tmp" >/dev/null 2>&1; then
		g am --abort >/dev/null 2>&1 || true
		log "$p does not apply on $(g rev-parse --abbrev-ref HEAD)"
		return 1
	fi
	mapfile -t files < <(awk -v p="$p" '$1 == p { for (i = 2; i <= NF; i++) print $i }' \
		"$top/patches/new-files")
	[ "${#files[@]}" -gt 0 ] || return 0
	for f in "${files[@]}"; do
		mkdir -p "$wt/$(dirname "$f")"
		cp -p "$top/$f" "$wt/$f"
		placed[$f]=1
	done
	g add -f -- "${files[@]}"
	g commit -q --amend --no-edit
}

# The MAINTAINERS entry of the feature, for whoever exports it.
maintainers() {
	awk -v who="$author" '
	!done && /^IOMMU DMA-API LAYER$/ {
		print "IOMMU DEVICE REFERENCE DEBUGGING"
		print "M:\t" who
		print "L:\tiommu@lists.linux.dev"
		print "S:\tMaintained"
		print "F:\tDocumentation/iommu/"
		print "F:\tdrivers/iommu/iommu-debug-refs*"
		print "F:\tdrivers/iommu/test-iommu.c"
		print "F:\tscripts/coccinelle/free/device_ref_leak.cocci"
		print "F:\ttools/testing/selftests/drivers/iommu/"
		print ""
		done = 1
	}
	{ print }
	END { if (!done) exit 1 }' "$wt/MAINTAINERS" >"$tmp" || { log "no IOMMU DMA-API LAYER entry in MAINTAINERS"; return 1; }
	cp "$tmp" "$wt/MAINTAINERS"
	g add MAINTAINERS
	g commit -q --author="$author" -F - <<-EOF
	MAINTAINERS: Add an entry for IOMMU device reference debugging

	Name a maintainer for CONFIG_IOMMU_DEBUG_REFS, the test IOMMU driver,
	their documentation and the device_ref_leak Coccinelle script.

	Signed-off-by: $author
	EOF
}

# apply_series NAME: its patches, and the feature's MAINTAINERS entry.
apply_series() {
	local p
	for p in ${members[$1]}; do apply "$p" || return 1; done
	[ "$1" != feature ] || maintainers
}

rm -rf "${out:?}"/*.patch
# The series of an older patches/series (check-series reads every one)
for d in "$out"/*/; do
	[ -f "$d/0000-cover-letter.patch" ] || continue
	[[ " ${names[*]} " == *" $(basename "$d") "* ]] || rm -rf "$d"
done
for i in "${!names[@]}"; do
	name=${names[$i]}
	g checkout -q -f --ignore-other-worktrees -B "$name" base
	g clean -q -fdx
	for o in ${on[$name]:-}; do apply_series "$o" || exit 1; done
	from=$(g rev-parse HEAD)
	apply_series "$name" || exit 1
	cover=$top/patches/cover-letter-$name
	[ -f "$cover" ] || { log "no $cover"; exit 1; }
	g config "branch.$name.description" "$(cat "$cover")"
	rm -rf "${out:?}/$name"
	fp() {
		g format-patch -q --cover-letter --cover-from-description=subject --zero-commit \
			--subject-prefix="${prefixes[$i]//_/ }" -o "$out/$name" "$@" "$from..$name"
	}
	fp
	# To: the maintainers get_maintainer.pl names for the series, Cc: its
	# reviewers and lists.
	mapfile -t ps < <(ls "$out/$name"/*.patch | grep -v '/0000-')
	gm() { (cd "$wt" && ./scripts/get_maintainer.pl --no-git --no-git-fallback --norolestats "$@" "${ps[@]}" 2>/dev/null); }
	args=()
	while read -r a; do [ -n "$a" ] && args+=("--to=$a"); done < <(gm --nol --nor)
	while read -r a; do [ -n "$a" ] && args+=("--cc=$a"); done < <(gm --nom)
	[ "${#args[@]}" -gt 0 ] || { log "get_maintainer.pl names nobody for $name"; exit 1; }
	rm -rf "${out:?}/$name"
	fp "${args[@]}"
	# The upstream commit the series applies to: the tree here is Debian's
	# source package, which has no history, so the sender names it.
	# On another series: its patches are prerequisites, by patch-id.
	prereq=
	if [ -n "${on[$name]:-}" ]; then
		echo "${on[$name]}" >"$out/$name/on"
		prereq=$(for c in $(g rev-list --reverse "base..$from"); do
			g show "$c" | git patch-id --stable | sed 's/ .*//; s/^/prerequisite-patch-id: /'
		done)
	fi
	awk -v id="${BASE_COMMIT:-$(g rev-parse base)}" -v pre="$prereq" '
		{ l[NR] = $0 } $0 == "-- " { sig = NR }
		END { for (i = 1; i <= NR; i++) {
			if (i == sig) print "base-commit: " id (pre == "" ? "" : "\n" pre) "\n"; print l[i] } }' \
		"$out/$name"/0000-*.patch >"$tmp" && cp "$tmp" "$out/$name"/0000-*.patch
done
[ -n "${BASE_COMMIT:-}" ] ||
	log "base-commit: lines name the local import of the base; set BASE_COMMIT=<upstream id> to send"

# All sections in turn: the tree the guests test.
g checkout -q -f --ignore-other-worktrees -B series base
for name in "${names[@]}"; do
	for p in ${members[$name]}; do apply "$p" || exit 1; done
done
maintainers

status=0
while read -r f; do
	[ -n "${placed[$f]:-}" ] || { log "$f is in no patch of patches/new-files"; status=1; }
done < <(cd "$top" && git ls-files --cached --others --exclude-standard -- \
	arch drivers include lib scripts/coccinelle scripts/iommu tools Documentation | grep -v "^$harness/")
if ! git -C "$src" diff --quiet series main -- . ":!$harness" ":!MAINTAINERS"; then
	log "the series differs from the assembled tree:"
	git -C "$src" diff --stat series main -- . ":!$harness" ":!MAINTAINERS" >&2
	status=1
fi
[ $status = 0 ] || exit 1
for name in "${names[@]}"; do ls "$out/$name"/*.patch; done
