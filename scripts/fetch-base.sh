#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Download Debian's linux-source-X.Y package through a private apt
# configuration and unpack its tarball.  The system's apt configuration is
# never modified: the archive URI is read from it at run time.
#
# usage: fetch-base.sh VERSION CACHEDIR     (VERSION is e.g. 7.3)
# prints the path of the unpacked source tree on stdout.
#
# FETCH_SUITES (default "unstable experimental") names the suites to look
# in; FETCH_PATHS, when set, unpacks only those paths of the tree.
# FETCH_PKG=linux-config fetches linux-config-X.Y instead (Debian's kernel
# configurations) and prints the directory its files are unpacked in.
set -euo pipefail

ver=${1:?version}
cache=${2:?cache dir}
pkg=${FETCH_PKG:-linux-source}-$ver
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
apt=$cache/apt
tree=$cache/$pkg

log() { echo "fetch-base: $*" >&2; }

if [ -f "$tree/.unpacked" ]; then
	echo "$tree"
	exit 0
fi

deb=$(ls "$cache"/${pkg}_*.deb 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$deb" ]; then
	# Reuse the archive URI the machine already names for Debian.
	uri=$( (grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
		grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '{for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}') |
		grep -E '/debian/?$' | head -n1 || true)
	[ -n "$uri" ] || { log "no Debian archive URI in /etc/apt"; exit 1; }
	key=/usr/share/keyrings/debian-archive-keyring.gpg
	mkdir -p "$apt/lists/partial" "$apt/archives/partial"
	for suite in ${FETCH_SUITES:-unstable experimental}; do
		echo "deb [signed-by=$key] $uri $suite main"
	done >"$apt/sources.list"
	opts=(-o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=-
	      -o Dir::State::Lists="$apt/lists" -o Dir::Cache::Archives="$apt/archives"
	      -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
	      -o Debug::NoLocking=1 -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root)
	log "updating private apt lists for ${FETCH_SUITES:-unstable experimental}"
	apt-get "${opts[@]}" -qq update >&2
	# Pick the newest available version across both suites.
	v=$(apt-cache "${opts[@]}" madison "$pkg" | awk -F'|' '{gsub(/ /, "", $2); print $2}' |
	    sort -V | tail -n1)
	[ -n "$v" ] || { log "$pkg not found in the archive"; exit 1; }
	log "downloading $pkg $v"
	(cd "$cache" && apt-get "${opts[@]}" -qq download "$pkg=$v" >&2)
	deb=$(ls "$cache"/${pkg}_*.deb | sort -V | tail -n1)
fi

log "unpacking $(basename "$deb")"
rm -rf "$cache/deb-x" "$tree"
if [ "$pkg" != "linux-source-$ver" ]; then
	rm -rf "$tree"
	dpkg-deb -x "$deb" "$tree"
	touch "$tree/.unpacked"
	echo "$tree"
	exit 0
fi
dpkg-deb -x "$deb" "$cache/deb-x"
tarball=$(ls "$cache"/deb-x/usr/src/linux-source-*.tar.* | head -n1)
mkdir -p "$tree"
members=()
for m in ${FETCH_PATHS:-}; do members+=("--wildcards" "*/$m/*"); done
tar -xf "$tarball" -C "$tree" --strip-components=1 "${members[@]}"
dpkg-deb -f "$deb" Version >"$tree/.debian-version"
rm -rf "$cache/deb-x"
touch "$tree/.unpacked"
echo "$tree"
