#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Print one hash of everything make check's results depend on, so that a
# second make check with nothing changed can reuse them (scripts/stage.sh):
#   - this checkout's files, tracked or not (ignored ones excepted), other
#     than README.md, which no check reads;
#   - the assembled tree: its commit's tree and any difference of its work
#     tree from it (a run killed while assembling);
#   - the downloaded packages (the bases, the pre-fix drivers, the guests'
#     user space), by file name, which carries the version;
#   - the versions of the compilers, binutils, QEMU, Coccinelle, Sphinx,
#     perl and Python, and who signs the series (AUTHOR, git config);
#   - the variables given to make (MAKEFLAGS) and those the harness and the
#     scripts read from the environment.
# With KSRC (a tree of the user's, which may change under us) it prints
# nothing: nothing is reused.
#
# usage: inputs-key.sh REPO SRC CACHE [VARIABLE=value...]
set -euo pipefail

repo=${1:?repository}
src=${2:?assembled tree}
cache=${3:?cache directory}
shift 3

[ -z "${KSRC:-}" ] || exit 0

version() {
	local t

	for t in "$@"; do
		echo "$t: $("$t" --version 2>&1 | head -n 1 || true)"
	done
}

{
	git -C "$repo" ls-files -z --cached --others --exclude-standard |
		grep -zv '^README\.md$' | sort -z |
		(cd "$repo" && xargs -0 -r sha256sum 2>/dev/null)
	echo "tree $(git -C "$src" rev-parse 'HEAD^{tree}')"
	git -C "$src" status --porcelain -uno
	find "$cache" -maxdepth 4 -name '*.deb' -printf '%f\n' | sort
	version gcc aarch64-linux-gnu-gcc arm-linux-gnueabihf-gcc clang ld ld.lld \
		aarch64-linux-gnu-ld arm-linux-gnueabihf-ld qemu-system-x86_64 \
		qemu-system-aarch64 spatch sphinx-build perl python3 make
	echo "author ${AUTHOR:-} $(git -C "$repo" config user.name || true)" \
		"$(git -C "$repo" config user.email || true)"
	# The jobserver's descriptors change from run to run
	echo "MAKEFLAGS ${MAKEFLAGS:-}" | sed 's/ *--jobserver-[a-z]*=[^ ]*//g'
	for v in TESTS TEST_ARGS TEST_TIMEOUT QEMU_TIMEOUT NR_CPUS KERNEL_CMDLINE \
		 CROSS_COMPILE KCFLAGS KBUILD_BUILD_TIMESTAMP KBUILD_BUILD_USER \
		 KBUILD_BUILD_HOST KBUILD_BUILD_VERSION LLVM JOBS; do
		echo "$v=${!v:-}"
	done
	printf '%s\n' "$@"
} | sha256sum | cut -c1-16
