# SPDX-License-Identifier: GPL-2.0
#
# Safety checks of the IOMMU selftests, sourced by init.sh in a guest with
# an ext2 disk on /dev/vda (virtio-blk, behind the IOMMU), run through the
# installed run_kselftest.sh as a lab runs it:
#
#  safety.mounted_disk_kept      with the disk mounted, a default run and an
#                                opted-in "-d all" run leave it bound and
#                                mounted; a file written before reads back
#                                after, and the opted-in run names the disk
#                                in the skip of its IOMMU
#  safety.restored_after_kill    a "-d all" run killed by the runner's
#                                timeout in the middle of its cycles leaves
#                                every IOMMU and every driver bound as before
#  safety.restored_after_sigkill a run killed with SIGKILL is restored by the
#                                next run, which says so
#  safety.journal_tamper         journals an attacker could leave (a symbolic
#                                link or a hard link to a root file, another
#                                owner's, mode 0644, another boot's, names
#                                with "..") change no file outside what a
#                                genuine journal names, whichever program
#                                finds them
#
# The runs' own output is shown behind "# | " (not counted as results).

STATE_FILE=/run/iommu-selftests.state

# Every IOMMU, and every device with its driver, by a path that survives
# re-probing (virtio devices get a new index each time they are added)
safety_state() {
	ls /sys/class/iommu
	for d in /sys/bus/*/devices/*; do
		[ -e "$d/driver" ] || continue
		echo "$(readlink -f "$d" | sed 's,/virtio[0-9]*,/virtio,g') $(readlink "$d/driver" | sed 's,.*/,,')"
	done | sort
}

# The runner writes the programs' output through /dev/stdout with >>:
# its own stdout must append too, or it overwrites them
run_to() {
	log=$1
	shift
	: >"$log"
	"$@" >>"$log" 2>&1
}

safety_show() {
	sed 's/^/# | /' "$1"
}

safety_n=0 safety_fail=0
safety_result() {
	safety_n=$((safety_n + 1))
	if [ "$1" = ok ]; then
		echo "# ok $safety_n $2"
	else
		echo "# not ok $safety_n $2 # $3"
		safety_fail=1
	fi
}

echo "# selftests: safety: checks"
echo "# TAP version 13"
echo "# 1..4"

# 1. A mounted disk behind the IOMMU
token="iommu-selftests-$$-$(cat /proc/sys/kernel/random/uuid 2>/dev/null)"
why=
if ! mount -t ext2 /dev/vda /mnt; then
	why="cannot mount /dev/vda"
else
	echo "$token" >/mnt/token && sync
	run_to /tmp/default.log env KSELFTEST_IOMMU_UNBIND_REBIND_ARGS= \
		./run_kselftest.sh -t drivers/iommu:iommu_unbind_rebind
	run_to /tmp/optin.log env KSELFTEST_IOMMU_UNBIND_REBIND_ARGS="-d all" \
		./run_kselftest.sh -t drivers/iommu:iommu_unbind_rebind
	safety_show /tmp/default.log
	safety_show /tmp/optin.log
	echo 3 >/proc/sys/vm/drop_caches
	if ! grep -q ' /mnt ext2 ' /proc/mounts; then
		why="/mnt is no longer mounted"
	elif [ ! -e /sys/block/vda/device/driver ]; then
		why="vda lost its driver"
	elif [ "$(cat /mnt/token 2>/dev/null)" != "$token" ]; then
		why="the file written before the runs does not read back"
	elif ! grep -q 'not cycled: client .* holds the mounted filesystem /mnt' /tmp/optin.log; then
		why="the opted-in run did not name the disk in a skip"
	elif grep -q '^not ok' /tmp/default.log /tmp/optin.log; then
		why="a run failed"
	fi
	umount /mnt || why="cannot unmount /mnt"
fi
if [ -z "$why" ]; then safety_result ok mounted_disk_kept; else safety_result fail mounted_disk_kept "$why"; fi

# 2. The runner's timeout in the middle of a cycle of every IOMMU
before=$(safety_state)
run_to /tmp/kill.log env KSELFTEST_IOMMU_UNBIND_REBIND_ARGS="-d all -n 100000" \
	./run_kselftest.sh -o 8 -t drivers/iommu:iommu_unbind_rebind
safety_show /tmp/kill.log
after=$(safety_state)
why=
if ! grep -q 'TIMEOUT' /tmp/kill.log; then
	why="the run was not stopped by the timeout"
elif ! grep -q 'restoring what this run changed' /tmp/kill.log; then
	why="the program did not restore on SIGTERM"
elif [ "$before" != "$after" ]; then
	why="not restored: $(echo "$before" >/tmp/before; echo "$after" >/tmp/after; diff /tmp/before /tmp/after | grep '^[-+][^-+]' | tr '\n' ' ')"
elif [ -s "$STATE_FILE" ]; then
	why="the journal $STATE_FILE is not empty"
fi
if [ -z "$why" ]; then safety_result ok restored_after_kill; else safety_result fail restored_after_kill "$why"; fi

# 3. SIGKILL: nothing runs in the program; the next run restores
before=$(safety_state)
(cd drivers/iommu && exec ./iommu_unbind_rebind -d all -n 100000 >/tmp/sigkill.log 2>&1) &
pid=$!
sleep 6
kill -KILL $pid
wait $pid 2>/dev/null
(cd drivers/iommu && ./iommu_unbind_rebind -d all -n 1 >/tmp/next.log 2>&1)
safety_show /tmp/sigkill.log
safety_show /tmp/next.log
after=$(safety_state)
why=
if ! grep -q 'an earlier run was killed' /tmp/next.log; then
	why="the next run did not find the journal"
elif [ "$before" != "$after" ]; then
	why="not restored: $(echo "$before" >/tmp/before; echo "$after" >/tmp/after; diff /tmp/before /tmp/after | grep '^[-+][^-+]' | tr '\n' ' ')"
fi
if [ -z "$why" ]; then safety_result ok restored_after_sigkill; else safety_result fail restored_after_sigkill "$why"; fi

# 4. Tampered journals, through IOMMU_SELFTESTS_STATE: a root file to
# protect, and a directory a "bind" line with ".." would reach
boot=$(cat /proc/sys/kernel/random/boot_id)
escape="bind ../../../tmp/tt y x
fault failslab ../../../../tmp/tt/drivers/y/bind Y"
why=
for how in symlink hardlink owner mode boot dotdot; do
	for prog in iommu_unbind_rebind iommu_test_driver; do
		j=/tmp/tampered.state
		rm -rf $j /tmp/tt
		mkdir -p /tmp/tt/devices/x /tmp/tt/drivers/y
		: >/tmp/tt/drivers/y/bind
		echo secret >/tmp/victim
		chmod 600 /tmp/victim
		case $how in
		symlink) ln -s /tmp/victim $j ;;
		hardlink) ln /tmp/victim $j ;;
		*) printf 'boot %s\n%s\n' "$boot" "$escape" >$j
		   chmod 600 $j ;;
		esac
		case $how in
		owner) chown 1000 $j ;;
		mode) chmod 644 $j ;;
		boot) printf 'boot 00000000-0000-0000-0000-000000000000\n%s\n' "$escape" >$j ;;
		esac
		# -R: the journal step every run starts with, and nothing else
		(cd drivers/iommu && IOMMU_SELFTESTS_STATE=$j ./$prog -R >/tmp/tamper.log 2>&1)
		if [ "$(cat /tmp/victim)" != secret ]; then
			why="$why $prog/$how: /tmp/victim changed"
		elif [ -s /tmp/tt/drivers/y/bind ]; then
			why="$why $prog/$how: a journal name with .. was written to"
		elif case $how in boot|dotdot) grep -q tmp/tt $j ;;
		     *) ! grep -q -e 'not replayed' -e 'cannot open the journal' /tmp/tamper.log ;;
		     esac; then
			# (refused, or taken and emptied: else this proves nothing)
			why="$why $prog/$how: the journal was neither refused nor taken"
		fi
	done
done
rm -rf /tmp/tampered.state /tmp/tt /tmp/victim
if [ -z "$why" ]; then safety_result ok journal_tamper; else safety_result fail journal_tamper "$why"; fi

if [ "$safety_fail" = 0 ]; then
	echo "ok 1 selftests: safety: checks"
else
	echo "not ok 1 selftests: safety: checks"
fi
