#!/bin/bash
# Self-test of tests/systemd/sdhost, run inside the guest:
#   tests/systemd/sdhost run --build-dir build -- tests/systemd/selftest.sh
# Checks what the rdq tests rely on: systemd is PID 1 and the boot finished,
# rdq is installed under /usr/local and runs, rxe can be set up.  Also prints
# what unit files under test may want to know (modules, tools).
# `selftest.sh exit3` only exits 3, to check that sdhost passes the status on.
set -euo pipefail

if [[ ${1:-} == exit3 ]]; then
	echo "selftest: exiting 3 on purpose"
	exit 3
fi

fail() {
	echo "selftest: FAIL: $*"
	exit 1
}
ok() { echo "selftest: ok: $*"; }
info() { echo "selftest: info: $*"; }

# rdma and rdma-core modules loaded right now (one line).
rdma_modules() {
	# 2>/dev/null: lsmod complains about modules still being loaded.
	lsmod 2>/dev/null | awk 'NR > 1 && $1 ~ /^(ib_|iw_|rdma|rpcrdma|siw|crc32)/ { printf "%s ", $1 }'
}

# The boot must be over, not merely "starting": the runner unit must not hold
# it up.  timeout so a regression shows as a failure, not as a deadline.
state=$(timeout 120 systemctl is-system-running --wait 2>&1) || true
case $state in
running) ok "system is running" ;;
degraded)
	echo "selftest: failed units:"
	systemctl --failed --no-legend --plain | sed 's/^/  /'
	ok "system is degraded (accepted; failed units above)"
	;;
*) fail "systemctl is-system-running --wait said '$state'" ;;
esac

pid1=$(ps -p 1 -o comm=)
[[ $pid1 == systemd ]] || fail "PID 1 is '$pid1', not systemd"
ok "PID 1 is systemd"

[[ $(systemctl show -P ActiveState rdq-test.service) == active ]] ||
	fail "rdq-test.service is not active while running the script"
target_at=$(systemctl show -P ActiveEnterTimestampMonotonic multi-user.target)
runner_at=$(systemctl show -P ExecMainStartTimestampMonotonic rdq-test.service)
((target_at > 0 && runner_at >= target_at)) ||
	fail "rdq-test.service started at ${runner_at}us, multi-user.target reached at ${target_at}us"
ok "runs from rdq-test.service, started after multi-user.target was reached"

for f in /usr/local/sbin/rdqd /usr/local/bin/rdqctl; do
	[[ -x $f ]] || fail "$f missing or not executable"
done
[[ $(command -v rdqd) == /usr/local/sbin/rdqd ]] || fail "rdqd on PATH is '$(command -v rdqd)'"
ok "rdqd and rdqctl under /usr/local, on PATH"

version=$(rdqd --version 2>&1) || fail "rdqd --version failed: $version"
ok "rdqd --version: $version (librdq and libraries resolve)"
if ldd /usr/local/bin/rdqctl | grep -q 'not found'; then
	fail "rdqctl has unresolved libraries: $(ldd /usr/local/bin/rdqctl | grep 'not found')"
fi
ok "rdqctl's libraries resolve"

[[ -f /usr/local/lib/systemd/system/rdqd.service ]] || fail "/usr/local/lib/systemd/system/rdqd.service missing"
systemctl cat rdqd.service >/dev/null 2>&1 || fail "systemd does not see rdqd.service"
ok "rdqd.service installed and known to systemd ($(systemctl show -P UnitFileState rdqd.service))"

journalctl -q -b -n 1 -o cat >/dev/null || fail "journalctl does not work"
ok "journalctl works"

info "kernel $(uname -r); systemd $(systemctl --version | awk 'NR == 1 { print $2 }')"
info "rdma modules loaded at boot: $(rdma_modules)"
info "/dev/infiniband at boot: $(ls /dev/infiniband 2>/dev/null | tr '\n' ' ')"
for t in systemd-analyze systemd-sysusers runuser useradd journalctl rdma ip ibv_devices rping; do
	command -v "$t" >/dev/null || fail "$t missing in the guest"
done
ok "tools: systemd-analyze systemd-sysusers runuser useradd journalctl rdma ip ibv_devices rping"

# rdma_rxe asks the crypto API for crc32, which it cannot load by itself.
modprobe crc32_generic || fail "modprobe crc32_generic failed"
modprobe rdma_rxe || fail "modprobe rdma_rxe failed"
ip link add d0 type dummy || fail "ip link add d0 type dummy failed"
ip addr add 10.77.0.1/24 dev d0
ip link set d0 up || fail "ip link set d0 up failed"
rdma link add rxe0 type rxe netdev d0 || fail "rdma link add rxe0 failed"
devices=$(ibv_devices 2>&1) || fail "ibv_devices failed: $devices"
grep -qw rxe0 <<<"$devices" || fail "ibv_devices does not list rxe0: $devices"
ok "rxe0 on d0, listed by ibv_devices"
# rdma-core's udev rules start rdma-load-modules@rdma.service for the new
# device, which loads rdma_ucm (and so /dev/infiniband/rdma_cm) a bit later.
udevadm settle -t 30 || true
i=0
until [[ -e /dev/infiniband/rdma_cm ]]; do
	((i < 300)) || fail "no /dev/infiniband/rdma_cm 30 s after rxe0 was added"
	sleep 0.1
	i=$((i + 1))
done
ok "/dev/infiniband/rdma_cm appeared $((i / 10)).$((i % 10))s after udev settled" \
	"(rdma-load-modules@rdma.service: $(systemctl show -P ActiveState rdma-load-modules@rdma.service))"
# Let it finish before listing what it loaded.
i=0
while [[ $(systemctl show -P ActiveState rdma-load-modules@rdma.service) == activating ]] && ((i < 300)); do
	sleep 0.1
	i=$((i + 1))
done
info "rdma modules with rxe0 up: $(rdma_modules)"
info "/dev/infiniband with rxe0 up: $(ls /dev/infiniband 2>/dev/null | tr '\n' ' ')"

echo "selftest: all passed"
