#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Print one hash of everything make check's results depend on, so that a
# second make check with nothing changed can reuse them (scripts/stage.sh):
#   - this checkout's files, tracked or not (ignored ones excepted), other
#     than README.md, which no check reads;
#   - the assembled tree (the base and the patches applied to it);
#   - the downloaded packages (the second base, the pre-fix drivers, the
#     guests' user space), by file name, which carries the version;
#   - the versions of the compilers, QEMU, Coccinelle and Sphinx;
#   - the variables given to make check.
#
# usage: inputs-key.sh REPO SRC CACHE [VARIABLE=value...]
set -euo pipefail

repo=${1:?repository}
src=${2:?assembled tree}
cache=${3:?cache directory}
shift 3

{
	git -C "$repo" ls-files -z --cached --others --exclude-standard |
		grep -zv '^README\.md$' | sort -z |
		(cd "$repo" && xargs -0 -r sha256sum 2>/dev/null)
	echo "tree $(git -C "$src" rev-parse 'HEAD^{tree}')"
	find "$cache" -maxdepth 4 -name '*.deb' -printf '%f\n' | sort
	dpkg-query -W -f '${Package} ${Version}\n' gcc gcc-aarch64-linux-gnu \
		gcc-arm-linux-gnueabihf clang lld qemu-system-x86 qemu-system-arm \
		coccinelle python3-sphinx 2>/dev/null
	printf '%s\n' "$@"
} | sha256sum | cut -c1-16
