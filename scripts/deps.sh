#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian packages the project needs.  As root, missing packages
# are installed with apt-get; otherwise the apt-get line is printed and the
# script fails.
set -euo pipefail

pkgs=(
	build-essential bc bison flex cpio kmod rsync
	libelf-dev libssl-dev libcap-dev
	ccache quilt git
	qemu-system-x86 qemu-system-arm
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross
	gcc-arm-linux-gnueabihf gcc-sparc64-linux-gnu
	jq bash device-tree-compiler busybox-static e2fsprogs xz-utils
	clang lld
	python3-docutils python3-ply python3-sphinx graphviz perl coccinelle
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages; run as root:" >&2
	echo "  apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -qq update >&2 || true
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
