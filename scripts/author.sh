# SPDX-License-Identifier: GPL-2.0
#
# Authorship for the patches of patches/: they carry none in the
# repository; whoever exports them signs them.  Sourced by the scripts.
#
# author_resolve DIR: print "Name <email>" from $AUTHOR, else from git
# config user.name and user.email as seen from DIR; fail with a message
# when there is neither.
# author_apply AUTHOR < PATCH > PATCH: add the From: header and the
# Signed-off-by: trailer.

author_resolve() {
	local name email
	if [ -n "${AUTHOR:-}" ]; then
		local re='^[^<>]+ <[^<> ]+@[^<> ]+>$'
		if [[ ! $AUTHOR =~ $re ]]; then
			echo "AUTHOR must read 'Name <email>', not '$AUTHOR'" >&2
			return 1
		fi
		echo "$AUTHOR"
		return 0
	fi
	name=$(git -C "${1:-.}" config user.name || true)
	email=$(git -C "${1:-.}" config user.email || true)
	if [ -z "$name" ] || [ -z "$email" ]; then
		echo "no author for the patches: set git config user.name and user.email, or AUTHOR='Name <email>'" >&2
		return 1
	fi
	echo "$name <$email>"
}

author_apply() {
	awk -v who="$1" '
	NR == 1 { print; print "From: " who; next }
	!done && /^---$/ { print "Signed-off-by: " who; done = 1 }
	{ print }
	END { if (!done) print "Signed-off-by: " who }'
}
