#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Check the series written by series.sh, one KTAP line per check:
#   checkpatch.<patch>   scripts/checkpatch.pl --strict, no error, warning
#                        or check, but the exceptions of
#                        patches/checkpatch-exceptions (explained in the
#                        cover letter);
#   kernel_doc.<file>    scripts/kernel-doc -none -Wall on each new source;
#   rst.<file>           each new document parses as reStructuredText
#                        (docutils) without a warning, and every toctree
#                        entry exists;
#   htmldocs.iommu       make htmldocs SPHINXDIRS=iommu without a warning;
#   apply_<ver>.<series>.<patch>
#                        each series applies alone with git am -3, in turn,
#                        to the base tree (Linux 7.3) and to the second base
#                        tree (Linux 7.2); a series written on another
#                        (SERIES/on, from "on=" in patches/series) applies
#                        on those series' patches, in that order.
# The checkpatch and apply names carry the series: fixes.0001-..., and so on.
#
# usage: check-series.sh SERIES_DIR OTHER_BASE_TREE OTHER_VERSION BASE_TREE BASE_VERSION
set -uo pipefail

series=$(cd "${1:?series dir}" && pwd)
other=${2:?second base tree}
over=${3:?its version}
base=${4:?base tree}
bver=${5:?its version}
top=$(cd "$(dirname "$0")/.." && pwd)
tree=$series/tree
status=0

ok() { echo "ok $*"; }
notok() { echo "not ok $*"; status=1; }

mapfile -t patches < <(ls "$series"/*/[0-9][0-9][0-9][0-9]-*.patch | grep -v '/0000-')
[ "${#patches[@]}" -gt 0 ] || { notok "series # no patches in $series"; exit 1; }
mapfile -t names < <(for p in "${patches[@]}"; do basename "$(dirname "$p")"; done | uniq)
# series.patch, as the results name them
label() { echo "$(basename "$(dirname "$1")").$(basename "$1" .patch)"; }
# The patches of series $1, in order
of_series() { local p; for p in "${patches[@]}"; do [ "$(basename "$(dirname "$p")")" != "$1" ] || echo "$p"; done; }

# checkpatch: types allowed per patch, from the exceptions file.
for p in "${patches[@]}"; do
	name=$(label "$p")
	ignore=UNKNOWN_COMMIT_ID
	while read -r glob type _; do
		[[ $glob == \#* || -z $glob ]] && continue
		# shellcheck disable=SC2053
		[[ ${name#*.[0-9][0-9][0-9][0-9]-}.patch == $glob ]] && ignore+=",$type"
	done <"$top/patches/checkpatch-exceptions"
	out=$(cd "$tree" && ./scripts/checkpatch.pl --strict --show-types -q \
		--ignore "$ignore" "$p" 2>&1)
	if grep -qE '^(ERROR|WARNING|CHECK):' <<<"$out"; then
		grep -E '^(ERROR|WARNING|CHECK):' <<<"$out" | sed 's/^/# /'
		notok "checkpatch.$name"
	else
		ok "checkpatch.$name${ignore#UNKNOWN_COMMIT_ID}"
	fi
done

# kernel-doc on the new kernel sources.
while read -r f; do
	case "$f" in *.c|*.h) ;; *) continue ;; esac
	case "$f" in tools/*) continue ;; esac
	out=$(cd "$tree" && ./scripts/kernel-doc -none -Wall "$f" 2>&1)
	if [ -n "$out" ]; then
		sed 's/^/# /' <<<"$out"
		notok "kernel_doc.$f"
	else
		ok "kernel_doc.$f"
	fi
done < <(awk '!/^#/ { for (i = 2; i <= NF; i++) print $i }' "$top/patches/new-files")

# reStructuredText: docutils, with the Sphinx directives the documents use
# checked by hand (toctree entries must exist).
while read -r f; do
	case "$f" in *.rst) ;; *) continue ;; esac
	if out=$(python3 - "$tree/$f" <<-'PY' 2>&1
	import os, sys
	from docutils.core import publish_doctree
	from docutils import nodes
	from docutils.parsers.rst import Directive, directives, roles
	from docutils.utils import SystemMessage

	missing = []

	class TocTree(Directive):
	    has_content = True
	    option_spec = {"maxdepth": directives.nonnegative_int}

	    def run(self):
	        base = os.path.dirname(sys.argv[1])
	        for entry in self.content:
	            if entry.strip() and not os.path.exists(os.path.join(base, entry.strip() + ".rst")):
	                missing.append(entry.strip())
	        return []

	def sphinx_role(name, rawtext, text, lineno, inliner, options={}, content=[]):
	    return [nodes.literal(rawtext, text)], []

	directives.register_directive("toctree", TocTree)
	for role in ("doc", "ref", "c:func", "c:type", "c:macro"):
	    roles.register_local_role(role, sphinx_role)
	src = open(sys.argv[1]).read()
	try:
	    publish_doctree(src, source_path=sys.argv[1],
	                    settings_overrides={"halt_level": 2, "report_level": 2,
	                                        "traceback": False})
	except SystemMessage as e:
	    sys.exit(str(e))
	if missing:
	    sys.exit("toctree entries without a document: " + " ".join(missing))
	PY
	); then
		ok "rst.$f"
	else
		sed 's/^/# /' <<<"$out"
		notok "rst.$f"
	fi
done < <(awk '!/^#/ { for (i = 2; i <= NF; i++) print $i }' "$top/patches/new-files")

# The kernel's Sphinx build of Documentation/iommu: no warning.
if command -v sphinx-build >/dev/null; then
	rm -rf "$series/htmldocs"
	out=$(make -s -C "$tree" O="$series/htmldocs" htmldocs SPHINXDIRS=iommu 2>&1)
	if grep -qiE 'warning|error' <<<"$out" ||
	   [ ! -f "$series/htmldocs/Documentation/output/iommu/index.html" ]; then
		sed 's/^/# /' <<<"$out"
		notok "htmldocs.iommu"
	else
		ok "htmldocs.iommu # make htmldocs SPHINXDIRS=iommu, no warning"
	fi
else
	notok "htmldocs.iommu # sphinx-build not found (python3-sphinx)"
fi

# Each series alone on each base: a git repository holding the files the
# series change.
for b in "$bver:$base" "$over:$other"; do
	ver=${b%%:*} tree_b=${b#*:}
	for n in "${names[@]}"; do
		wt=$(mktemp -d)
		git -C "$wt" init -q
		(cd "$series" && grep -h '^--- a/' "${patches[@]}" | cut -c7- | sort -u) | while read -r f; do
			[ -f "$tree_b/$f" ] || continue
			mkdir -p "$wt/$(dirname "$f")"
			cp "$tree_b/$f" "$wt/$f"
		done
		git -C "$wt" add -A -f
		git -C "$wt" -c user.name=check -c user.email=check@localhost commit -q -m "Linux $ver"
		pre=$(cat "$series/$n/on" 2>/dev/null || true)
		if [ -n "$pre" ]; then
			mapfile -t pp < <(for o in $pre; do of_series "$o"; done)
			if [ "${#pp[@]}" = 0 ] || ! git -C "$wt" -c user.name=check -c user.email=check@localhost \
				am -q -3 "${pp[@]}" >/dev/null 2>&1; then
				git -C "$wt" am --abort >/dev/null 2>&1 || true
				notok "apply_$ver.$n # its prerequisite series ($pre) do not apply"
				rm -rf "$wt"
				continue
			fi
		fi
		for p in $(of_series "$n"); do
			if git -C "$wt" -c user.name=check -c user.email=check@localhost am -q -3 "$p" >/dev/null 2>&1; then
				ok "apply_$ver.$(label "$p")"
			else
				git -C "$wt" am --abort >/dev/null 2>&1 || true
				notok "apply_$ver.$(label "$p")"
			fi
		done
		rm -rf "$wt"
	done
done
exit $status
