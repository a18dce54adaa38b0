#!/bin/sh
# /init of the sdhost initramfs (busybox sh, PID 1 until switch_root).
# Installed by tests/systemd/sdhost into the cached initramfs, next to
# /modules.list (what to load to reach the root disk).  The per-run archive
# appended to it adds /stage: rdq as installed by meson, /rdq (tests, script,
# run.conf, run-test) and the rdq-test.service runner.
#
# It mounts the root disk (a throwaway qcow2 overlay of the cached Debian
# image), copies /stage onto it and hands over to systemd.  Only on failure
# does it print a marker itself (rdq-test.service prints the others):
#   SDHOST-EXIT 125   the root file system could not be set up
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# The archive has no /dev/console node (built without root), so the kernel
# could not give us stdio: take the console now that devtmpfs is here.
exec </dev/console >/dev/console 2>&1

fail() {
	echo "sdhost-init: $*"
	echo "SDHOST-EXIT 125"
	poweroff -f
	sleep 5 # poweroff -f does not return; if it ever does, the panic ends qemu
	exit 125
}

[ -r /modules.list ] || fail "no /modules.list in the initramfs"
for m in $(cat /modules.list); do
	# Built-in modules are not in the archive: only fail if the kernel lacks m.
	modprobe "$m" 2>/dev/null || [ -d "/sys/module/$m" ] || fail "modprobe $m failed"
done

# virtio_blk probes asynchronously; TCG is slow, so allow some time.
i=0
while [ ! -b /dev/vda ]; do
	[ $i -lt 200 ] || fail "no /dev/vda after 20 s (virtio disk missing?)"
	sleep 0.1
	i=$((i + 1))
done
mount -t ext4 -o rw /dev/vda /root || fail "cannot mount /dev/vda on /root"

if [ -d /stage ]; then
	# Merges into the existing tree (usr/local, etc/systemd/system, ...).
	cp -a /stage/. /root/ || fail "copying /stage onto the root file system failed"
	# librdq went to /usr/local/lib/<triplet>, which ld.so.conf lists but
	# ld.so.cache does not know yet.
	chroot /root /sbin/ldconfig || fail "ldconfig in the root file system failed"
fi

# Hand the API file systems over instead of leaving them behind in the
# initramfs (which switch_root empties); systemd keeps what is mounted.
mount --move /dev /root/dev || fail "cannot move /dev"
mount --move /sys /root/sys || fail "cannot move /sys"
mount --move /proc /root/proc || fail "cannot move /proc"
# shellcheck disable=SC2093 # the lines below only run if the exec failed
exec switch_root /root /sbin/init
# Only reached when switch_root could not exec: /proc is gone, so say it plainly.
echo "sdhost-init: switch_root to /sbin/init failed"
echo "SDHOST-EXIT 125"
poweroff -f
