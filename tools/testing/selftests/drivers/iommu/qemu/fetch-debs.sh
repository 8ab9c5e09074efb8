#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Unpack Debian packages of another architecture into a directory, for the
# QEMU guests' user space (busybox, coreutils' timeout, the C
# library) and for cross-building the selftests (libcap).  apt reads the
# machine's own sources through a private configuration (its own lists,
# archives and empty status), so the system is not touched and no archive
# host is named here.
#
# usage: fetch-debs.sh ARCH CACHEDIR PKG...
# prints the directory the packages are unpacked in.
set -euo pipefail

arch=${1:?Debian architecture}
cache=${2:?cache dir}
shift 2
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
root=$cache/root-$arch
apt=$cache/apt-$arch
want="$*"

log() { echo "fetch-debs: $*" >&2; }

if [ -f "$root/.pkgs" ] && [ "$(cat "$root/.pkgs")" = "$want" ]; then
	echo "$root"
	exit 0
fi
mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/debs"
: >"$apt/status"
opts=(-o APT::Architecture="$arch" -o APT::Architectures::="$arch"
      -o Dir::State::Lists="$apt/lists" -o Dir::State::status="$apt/status"
      -o Dir::Cache::Archives="$apt/archives" -o Dir::Cache::pkgcache=
      -o Dir::Cache::srcpkgcache= -o Debug::NoLocking=1 -o APT::Get::List-Cleanup=0
      -o APT::Sandbox::User=root)
missing=()
for p in "$@"; do
	compgen -G "$apt/debs/${p}_*_$arch.deb" >/dev/null ||
		compgen -G "$apt/debs/${p}_*_all.deb" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "$arch: downloading ${missing[*]}"
	apt-get "${opts[@]}" -qq update >&2 2>/dev/null || apt-get "${opts[@]}" -qq update >&2
	(cd "$apt/debs" && apt-get "${opts[@]}" -qq download "${missing[@]/%/:$arch}" >&2)
fi
rm -rf "$root"
mkdir -p "$root"
for p in "$@"; do
	deb=$(ls "$apt/debs/${p}"_*.deb | sort -V | tail -n1)
	dpkg-deb -x "$deb" "$root"
done
# Absolute symlinks (libcap.so -> /lib/...) point into the directory
find "$root" -type l -lname '/*' | while read -r l; do
	ln -sfn "$root$(readlink "$l")" "$l"
done
echo "$want" >"$root/.pkgs"
echo "$root"
