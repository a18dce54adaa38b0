#!/bin/sh
# /init of the rxehost guest (busybox sh, PID 1).  Installed by tests/rxe/rxehost
# into the cached base initramfs; the per-run overlay adds /rdq/run.conf,
# /rdq/script, /rdq/bin, /rdq/lib and /rdq/tests.
#
# Console protocol (read by rxehost on the host side, one marker per line):
#   RXEHOST-READY <uptime>   rxe device is up, the script starts now
#   RXEHOST-EXIT <status>    the script finished (125 = guest setup failed)
# Everything else on the console is the script's own output.

export PATH=/rdq/bin:/usr/sbin:/usr/bin:/sbin:/bin

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# The initramfs has no /dev/console node (it is built without root), so the
# kernel could not give us stdio: take the console now that devtmpfs is here.
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /tmp /run
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
# Keep kernel chatter off the console (err and worse still shows: oopses matter).
echo 4 >/proc/sys/kernel/printk

# Leave through here whatever happens, so the host always sees a status.
finish() {
	echo "RXEHOST-EXIT $1"
	sync
	poweroff -f
	sleep 5 # poweroff -f does not return; if it ever does, the panic ends qemu
	exit "$1"
}

die() {
	echo "rxehost-guest: $*"
	finish 125
}

# Which host am I: the kernel command line carries rdq.host=N (one overlay for both VMs).
host=1
for arg in $(cat /proc/cmdline); do
	case "$arg" in rdq.host=*) host=${arg#rdq.host=} ;; esac
done

# run.conf sets RXEHOST_HOSTS, RXEHOST_ARGS (quoted for eval) and the user's --env exports.
[ -r /rdq/run.conf ] || die "no /rdq/run.conf in the initramfs"
. /rdq/run.conf

hostname "rdq-h$host"
ip link set lo up

# crc32_generic first: rdma_rxe asks the crypto API for "crc32" and
# `rdma link add` fails with ENOENT without it.
mods="crc32_generic configfs udp_tunnel ip6_udp_tunnel ib_core ib_uverbs rdma_rxe ib_cm iw_cm rdma_cm rdma_ucm"
if [ "$RXEHOST_HOSTS" = 2 ]; then
	mods="$mods virtio_pci virtio_net"
else
	mods="$mods dummy"
fi
for m in $mods; do
	# A module the kernel has built in is not in the closure: only fail if
	# the kernel does not know it at all.
	modprobe "$m" 2>/dev/null || [ -d "/sys/module/$m" ] || die "modprobe $m failed"
done
grep -q ' /sys/kernel/config ' /proc/mounts || mount -t configfs configfs /sys/kernel/config 2>/dev/null

self="10.77.0.$host"
if [ "$RXEHOST_HOSTS" = 2 ]; then
	netdev=eth0
	peer="10.77.0.$((3 - host))"
	# The NIC shows up asynchronously after virtio_net loads.
	i=0
	while [ ! -e /sys/class/net/$netdev ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
else
	netdev=d0
	peer=
	ip link add "$netdev" type dummy || die "ip link add dummy failed"
fi
ip addr add "$self/24" dev "$netdev" || die "ip addr add on $netdev failed"
ip link set "$netdev" up || die "ip link set $netdev up failed"
rdma link add rxe0 type rxe netdev "$netdev" || die "rdma link add rxe0 failed"
[ -e /dev/infiniband/rdma_cm ] || die "/dev/infiniband/rdma_cm missing"

export RDQ_ADDR_SELF="$self" RDQ_ADDR_PEER="$peer" RDQ_HOST_INDEX="$host" \
	RDQ_HOSTS="$RXEHOST_HOSTS" RDQ_RXE_DEV=rxe0 RDQ_NETDEV="$netdev" \
	RDQ_TESTS=/rdq/tests TMPDIR=/tmp HOME=/tmp \
	LD_LIBRARY_PATH=/rdq/lib

# Two hosts: serve /run/rxehost-flags over http so rxehost-signal/rxehost-wait
# (busybox httpd + nc) give the scripts a barrier without extra tools.
if [ "$RXEHOST_HOSTS" = 2 ]; then
	mkdir -p /run/rxehost-flags/www
	httpd -p 7999 -h /run/rxehost-flags/www
	# Wait until the peer answers ARP/ping so the script starts with a working link.
	i=0
	until ping -c 1 -W 1 "$peer" >/dev/null 2>&1 || [ $i -ge 60 ]; do i=$((i + 1)); done
fi

echo "RXEHOST-READY $(cut -d' ' -f1 /proc/uptime)"
cd /tmp
eval "set -- $RXEHOST_ARGS"
sh /rdq/script "$@" </dev/null
finish $?
