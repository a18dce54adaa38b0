#!/bin/bash
# The systemd suite: rdq installed from its Debian packages with apt (when
# sdhost passes them in $RDQ_DEBS), or with `meson install` under /usr/local,
# on a Debian 12 system booted with systemd as PID 1, run as an admin runs it:
# the shipped units, user and socket, driven by rdqctl as root and as users
# in and out of group rdq, with RDMA (rxe) arriving after rdqd started.
# Runs inside the systemd test host (tests/systemd/sdhost) as root.
set -u
. "${RDQ_TESTS:-$(dirname "$0")/..}/rxe/lib.sh"

UNITDIR=/usr/local/lib/systemd/system
CONF=/usr/local/etc/rdq/rdqd.conf
if [ -n "${RDQ_DEBS:-}" ]; then
	UNITDIR=/lib/systemd/system
	CONF=/etc/rdq/rdqd.conf
fi
METRICS_PORT=9464
SOCK=/run/rdq/rdqd.sock
ADDR=10.77.0.1
PORT=7472
# What the journal shows of rdqd at the end of a failed run.
RDQD_LOG=/tmp/rdqd.journal
# The exposure `systemd-analyze security` must not exceed: what the unit reaches (goal 2.0).
EXPOSURE_MAX=1.3

# As root rdqctl's default is the system socket: no -s, as an admin types it.
ctl() { rdqctl "$@"; }
as_user() { runuser -u "$1" -- "${@:2}"; }
main_pid() { systemctl show -P MainPID rdqd.service; }
# signal SIG: sends SIG to rdqd's main process; with none running, fails (kill 0 would hit us).
signal() {
	local pid
	pid=$(main_pid)
	[ "${pid:-0}" -gt 0 ] && kill "-$1" "$pid"
}
restarts() { systemctl show -P NRestarts rdqd.service; }
journal() { journalctl -q -o cat -u rdqd.service "$@"; }
status_works() { ctl status >/dev/null 2>&1; }
# The cases below start rdqd several times within seconds; systemd's start limit (5 in 10 s)
# guards against crash loops, which is not what they test: each case starts with a fresh count.
fresh_start_limit() { systemctl reset-failed rdqd.service rdqd.socket 2>/dev/null; }
restart_rdqd() { fresh_start_limit; systemctl restart rdqd; }

# uevent_socket_open PID: PID holds a NETLINK_KOBJECT_UEVENT (15) socket.
uevent_socket_open() {
	local inode
	for inode in $(ls -l "/proc/$1/fd" | sed -n 's/.*socket:\[\([0-9]*\)\]$/\1/p'); do
		awk -v i="$inode" '$2 == 15 && $NF == i { f = 1 } END { exit !f }' /proc/net/netlink && return 0
	done
	return 1
}

# expect_status NAME WANT COMMAND...: passes when COMMAND exits WANT.
expect_status() {
	local name=$1 want=$2 got
	shift 2
	"$@" >/tmp/cmd.out 2>&1
	got=$?
	if [ "$got" = "$want" ]; then pass "$name"; else fail "$name" "exit $got, wanted $want: $(cat /tmp/cmd.out)"; fi
}

# after_each NAME: rdqctl status works (the socket survived whatever NAME did).
after_each() {
	if status_works; then pass "after $1, rdqctl status works"
	else fail "after $1, rdqctl status works" "$(ctl status 2>&1); $(systemctl status rdqd.socket rdqd.service 2>&1 | tail -n 20)"; fi
}

finish_suite() {
	journal >"$RDQD_LOG" 2>&1
	finish 80
}

if [ -n "${RDQ_DEBS:-}" ]; then
	echo "# the install: rdq's packages, with apt"
	# An admin installs the daemon and CLI; apt pulls in the library. No
	# network: every dependency must already be on this Debian system.
	expect_status "apt-get install rdq librdq0 succeeds" 0 \
		apt-get install -y -q --no-install-recommends "$RDQ_DEBS"/rdq_*.deb "$RDQ_DEBS"/librdq0_*.deb
	expect "dpkg lists rdq and librdq0 as installed" "ii ii" \
		"$(dpkg-query -W -f='${db:Status-Abbrev}' rdq librdq0 | tr -s ' ' | sed 's/ $//')"
	expect "rdqd, rdqctl, the units and the man pages are the package's" \
		"rdq rdq rdq rdq rdq" \
		"$(for f in /usr/sbin/rdqd /usr/bin/rdqctl "$UNITDIR/rdqd.service" "$UNITDIR/rdqd.socket" \
			/usr/share/man/man8/rdqctl.8.gz; do dpkg -S "$f" 2>&1 | cut -d: -f1; done | xargs)"
	expect "its postinst made user rdq (sysusers.d)" rdq "$(id -un rdq 2>&1)"
	expect "and enabled and started rdqd.socket" "enabled active" \
		"$(systemctl is-enabled rdqd.socket) $(systemctl is-active rdqd.socket)"
	expect "but left rdqd.service to socket activation" "disabled inactive" \
		"$(systemctl is-enabled rdqd.service) $(systemctl is-active rdqd.service)"
else
	echo "# the install, as an admin does it"
	systemd-sysusers
	systemctl daemon-reload
	expect "user rdq exists (sysusers.d)" rdq "$(id -un rdq 2>&1)"
fi
useradd -m -G rdq alice && useradd -m bob
expect "test users: alice in group rdq, bob not" "yes no" \
	"$(id -nG alice | grep -qw rdq && echo yes) $(id -nG bob | grep -qw rdq && echo yes || echo no)"

echo "# the units"
out=$(systemd-analyze verify "$UNITDIR/rdqd.service" "$UNITDIR/rdqd.socket" 2>&1)
expect "systemd-analyze verify: no complaint" "" "$out"
out=$(systemd-analyze security --no-pager rdqd.service 2>&1)
exposure=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for rdqd.service: \([0-9.]*\).*/\1/p')
echo "exposure: $exposure"
printf '%s\n' "$out" | grep '✗' | sed 's/^/  /'
if [ -n "$exposure" ] && awk -v e="$exposure" -v m="$EXPOSURE_MAX" 'BEGIN { exit !(e <= m) }'; then
	pass "systemd-analyze security: exposure $exposure <= $EXPOSURE_MAX"
else
	fail "systemd-analyze security: exposure <= $EXPOSURE_MAX" "got [$exposure]"
fi

systemctl enable --now rdqd.socket >/dev/null 2>&1
expect "rdqd.socket is listening" active "$(systemctl is-active rdqd.socket)"
expect "socket activation: rdqd.service not started yet" inactive "$(systemctl is-active rdqd.service)"
expect "the socket is root:rdq, mode 0660" "root rdq 660 socket" "$(stat -c '%U %G %a %F' "$SOCK")"
expect "no RDMA module is loaded yet (no RDMA hardware at boot)" "" "$(lsmod | grep -E '^(rdma_ucm|ib_uverbs) ')"

echo "# socket activation and readiness"
expect_status "the first rdqctl starts rdqd" 0 ctl status
expect "rdqd.service is active" active "$(systemctl is-active rdqd.service)"
expect "it pulled in the RDMA modules first (rdma-load-modules@rdma)" active \
	"$(systemctl is-active rdma-load-modules@rdma.service)"
expect "so /dev/infiniband/rdma_cm existed when its device rules were set" yes \
	"$([ -c /dev/infiniband/rdma_cm ] && echo yes)"
# Type=notify: systemctl returns once rdqd said READY=1, which it says only
# after its setup: by then its workers run and it watches for devices.
restart_rdqd
pid=$(main_pid)
expect "READY=1 carries rdqd's status text" serving "$(systemctl show -P StatusText rdqd.service)"
expect "at READY=1 the worker thread(s) run beside the loop" yes \
	"$([ "$(ls "/proc/$pid/task" | wc -l)" -ge 2 ] && echo yes)"
if uevent_socket_open "$pid"; then pass "at READY=1 the device watch (a uevent socket) is open"
else fail "at READY=1 the device watch (a uevent socket) is open" "$(ls -l "/proc/$pid/fd")"; fi
expect "rdqd runs as user rdq" rdq "$(ps -o user= -p "$pid")"
expect "with no capabilities (effective, bounding)" "0000000000000000 0000000000000000" \
	"$(awk '/^CapEff|^CapBnd/ {printf "%s ", $2}' "/proc/$pid/status" | sed 's/ $//')"
expect "and no new privileges" 1 "$(awk '/^NoNewPrivs/ {print $2}' "/proc/$pid/status")"
expect "the system call filter is on (seccomp mode 2)" 2 "$(awk '/^Seccomp:/ {print $2}' "/proc/$pid/status")"
expect "the watchdog is armed" 20s "$(systemctl show -P WatchdogUSec rdqd.service)"
expect_match "rdqd logs its watchdog interval" "systemd watchdog: every 10000 ms" "$(journal)"

echo "# the socket survives the service"
restart_rdqd
after_each "systemctl restart rdqd"
fresh_start_limit
systemctl stop rdqd
expect "stop: the socket file stays" yes "$([ -S "$SOCK" ] && echo yes)"
expect "stop: rdqd.socket still listens" active "$(systemctl is-active rdqd.socket)"
after_each "systemctl stop rdqd, then a client connecting again"
fresh_start_limit
before=$(restarts)
signal KILL || fail "kill -9 rdqd" "rdqd is not running"
back() { [ "$(restarts)" -gt "$before" ] && [ "$(systemctl is-active rdqd.service)" = active ]; }
if wait_until 15 back; then pass "kill -9: systemd restarts rdqd by itself (Restart=on-failure)"
else fail "kill -9: systemd restarts rdqd by itself" "NRestarts $(restarts), $(systemctl is-active rdqd.service)"; fi
after_each "kill -9 and the automatic restart"
fresh_start_limit
expect_status "systemctl restart rdqd.socket succeeds" 0 systemctl restart rdqd.socket
expect "rdqd.socket is active, not failed" active "$(systemctl is-active rdqd.socket)"
after_each "systemctl restart rdqd.socket"

echo "# RDMA arriving after rdqd started"
expect "rdqd is up with no RDMA device" false "$(json_get rdma "$(ctl -j status)")"
pid=$(main_pid)
modprobe crc32_generic && modprobe rdma_rxe &&
	ip link add d0 type dummy && ip addr add "$ADDR/24" dev d0 && ip link set d0 up &&
	rdma link add rxe0 type rxe netdev d0
expect "rdma_rxe loaded and rxe0 added after rdqd started" 0 "$?"
usable() { ctl -j status | grep -q '"rdma":true.*"device_names":\["rxe0"\]'; }
if wait_until 2 usable; then pass "within 2 s the service lists rxe0"
else fail "within 2 s the service lists rxe0" "$(ctl -j status 2>&1)"; fi
expect_status "dev show through the service succeeds (the device rules let rdqd open rxe0)" 0 ctl dev show
expect_match "dev show lists rxe0 with an active port and its GID" 'rxe0 .* active .* fe80::' "$(cat /tmp/cmd.out)"
expect "rdqd did not need a restart" "$pid" "$(main_pid)"
connection_life "through the service" "$ADDR" "$PORT"
out=$(ctl -j stats)
expect "counters balance: completed = received - 1 (this stats request)" \
	"$(($(json_get received "$out") - 1))" "$(json_get completed "$out")"
# systemd logs this without the unit's name when a DeviceAllow= path is missing at start.
expect "no device rule was left out at start" "" "$(journalctl -q -b -o cat | grep -i "couldn't stat device")"

echo "# users: a member of group rdq, and one outside it"
expect_status "alice (group rdq) reaches the system rdqd with plain rdqctl" 0 as_user alice rdqctl status
AL=$(json_get ep "$(as_user alice rdqctl -j ep listen "$ADDR:$((PORT + 1))" 2>&1)")
AA=$(json_get ep "$(as_user alice rdqctl -j ep connect "$ADDR:$((PORT + 1))" 2>&1)")
expect_match "alice listens and connects over rxe" '^[0-9]+ [0-9]+$' "$AL $AA"
as_user alice rdqctl ep send "$AA" "alice was here" >/dev/null
expect "alice's echo comes back" "alice was here" "$(as_user alice rdqctl ep recv "$AA" 2>&1)"
expect_match "root's view lists alice's endpoints as hers" "\"ep\":$AA" "$(ctl -j ep show)"

# A direct client of the installed service: alice's rdqctl owns the QPs that serve its peers;
# the service, sandboxed as user rdq, connects them once RDMA netlink says they are hers.
DPORT=$((PORT + 2))
as_user alice rdqctl -j ep serve --direct "$ADDR:$DPORT" -- tr a-z A-Z >/tmp/direct.out 2>&1 &
DSERVER=$!
dserving() { grep -q '"event":"serving"' /tmp/direct.out; }
wait_until 10 dserving || fail "alice serves with her own QPs" "$(cat /tmp/direct.out)"
DA=$(json_get ep "$(as_user alice rdqctl -j ep connect "$ADDR:$DPORT" 2>&1)")
as_user alice rdqctl ep send "$DA" "served by alice's own qp" >/dev/null
expect "a direct server of alice's answers through the service" "SERVED BY ALICE'S OWN QP" \
	"$(as_user alice rdqctl ep recv "$DA" 2>&1)"
expect_match "the service lists the served endpoint as direct, with its owner's pid and QP" \
	'"mode":"direct","client_pid":[1-9][0-9]*,"qp_num":[1-9]' "$(ctl -j ep show)"
kill "$DSERVER"
wait "$DSERVER" 2>/dev/null
as_user alice rdqctl ep destroy "$DA" >/dev/null
if [ -n "${RDQ_DEBS:-}" ]; then
	# The package's completion, where bash-completion loads it from, with real endpoints.
	COMPLETION=/usr/share/bash-completion/completions/rdqctl
	expect "the package installs rdqctl's completion where bash-completion looks" rdq \
		"$(dpkg -S "$COMPLETION" 2>&1 | cut -d: -f1)"
	offered() { as_user "$1" bash "$RDQ_TESTS/lib/complete-rdqctl" "$COMPLETION" rdqctl "${@:2}" '' | xargs; }
	listed() { as_user "$1" rdqctl -j ep show | grep -o "\"$2\":[1-9][0-9]*" | cut -d: -f2 | sort -u | xargs; }
	expect "completion: alice's ep send offers the endpoints rdqd lists for her" \
		"$(listed alice ep)" "$(offered alice ep send | tr ' ' '\n' | sort | xargs)"
	expect_match "completion: they are her listener and her active endpoint" \
		"(^| )$AL .*$AA|(^| )$AA .*$AL" "$(offered alice ep send)"
	expect "completion: qp destroy offers her QPs" \
		"$(listed alice qp)" "$(offered alice qp destroy | tr ' ' '\n' | sort | xargs)"
	expect "completion: ep sub-commands" "connect destroy disconnect help listen recv send serve show" \
		"$(offered alice ep | tr ' ' '\n' | sort | xargs)"
fi
expect_status "bob (not in group rdq) is refused" 3 as_user bob rdqctl status
expect_match "bob is told why, naming the group" 'permission denied; is your user in group rdq\?' "$(cat /tmp/cmd.out)"

echo "# the journal"
expect_match "journalctl -p warning shows rdqd's warnings" 'no RDMA: no RDMA device found' "$(journal -p warning)"
expect "journalctl -p warning shows nothing below a warning" "" "$(journal -p warning | grep -E 'ready:|control socket from systemd|RDMA devices now')"
expect_match "info lines are there at their own level" 'rdqd .* ready' "$(journal -p info)"

echo "# systemctl stop with requests pending"
as_user alice rdqctl ep recv "$AA" --timeout 60000 >/tmp/recv.out 2>&1 &
waiter=$!
pending() { ctl -j request list | grep -q '"op":"ep.recv"'; }
wait_until 5 pending || fail "a recv is pending" "$(ctl -j request list 2>&1)"
t0=$(date +%s)
systemctl stop rdqd
t1=$(date +%s)
wait "$waiter"
expect "the pending recv's rdqctl fails (exit 1)" 1 "$?"
expect_match "the pending recv completes with ECANCELED" ECANCELED "$(cat /tmp/recv.out)"
expect "rdqd exited cleanly" "success 0" \
	"$(systemctl show -P Result rdqd.service) $(systemctl show -P ExecMainStatus rdqd.service)"
if [ $((t1 - t0)) -le 10 ]; then pass "the stop took $((t1 - t0)) s (bounded)"
else fail "the stop is bounded" "it took $((t1 - t0)) s"; fi

echo "# the watchdog: a loop that stops turning is restarted"
mkdir -p /run/systemd/system/rdqd.service.d
printf '[Service]\nWatchdogSec=3\nTimeoutAbortSec=3\n' >/run/systemd/system/rdqd.service.d/watchdog.conf
systemctl daemon-reload
fresh_start_limit
ctl status >/dev/null
before=$(restarts)
pid=$(main_pid)
sleep 4
expect "a turning loop keeps the watchdog fed past its 3 s" "$pid $before" "$(main_pid) $(restarts)"
signal STOP || fail "SIGSTOP rdqd" "rdqd is not running"
if wait_until 20 back; then pass "SIGSTOP: the watchdog fires and systemd restarts rdqd"
else fail "SIGSTOP: the watchdog fires and systemd restarts rdqd" "NRestarts $(restarts)"; fi
expect_match "the journal says why" 'Watchdog timeout' "$(journalctl -q -o cat UNIT=rdqd.service)"
after_each "a watchdog restart"
rm -r /run/systemd/system/rdqd.service.d
systemctl daemon-reload

echo "# a device rdqd may not open: dev show says so"
mkdir -p /run/systemd/system/rdqd.service.d
printf '[Service]\nDeviceAllow=\nDeviceAllow=/dev/infiniband/rdma_cm rw\n' >/run/systemd/system/rdqd.service.d/nodev.conf
systemctl daemon-reload
restart_rdqd
expect_status "without the verbs device rule, rdqctl dev show fails" 1 ctl dev show
expect_match "and names the device and the error" 'EPERM: rxe0: cannot query' "$(cat /tmp/cmd.out)"
rm -r /run/systemd/system/rdqd.service.d
systemctl daemon-reload

echo "# no userspace driver: said so"
# libibverbs reads every file in /etc/libibverbs.d: the driver file must leave the folder.
mv /etc/libibverbs.d/rxe.driver /root/rxe.driver
restart_rdqd
out=$(ctl -j status 2>&1)
expect_match "status names the device and the missing driver" \
	'"rdma":false.*rxe0.*no userspace driver.*install ibverbs-providers' "$out"
expect_status "dev show fails with ENODEV" 1 ctl dev show
expect_match "and says what to install" 'ENODEV.*install ibverbs-providers' "$(cat /tmp/cmd.out)"
mv /root/rxe.driver /etc/libibverbs.d/rxe.driver
restart_rdqd
expect_status "with the driver back, dev show works again" 0 ctl dev show

echo "# the configuration file, and Prometheus metrics"
[ -z "${RDQ_DEBS:-}" ] || expect "rdqd.conf is a conffile of the package" yes \
	"$(dpkg-query -W -f='${Conffiles}' rdq | grep -q " $CONF " && echo yes)"
# scrape PATH: the HTTP answer of the metrics endpoint (bash's /dev/tcp: no curl here).
scrape() {
	exec 3<>"/dev/tcp/127.0.0.1/$METRICS_PORT" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$1" >&3
	timeout 5 cat <&3
	exec 3<&-
}
cp "$CONF" /tmp/rdqd.conf.orig
printf 'metrics = 127.0.0.1:%s\nmax-pending = 64\n' "$METRICS_PORT" >>"$CONF"
expect_match "rdqd --print-config names the file's lines" \
	"max-pending = 64  # $CONF:[0-9]+" "$(rdqd --print-config)"
restart_rdqd
ctl status >/dev/null
expect_match "the service serves /metrics from the file's address" \
	'HTTP/1.[01] 200 OK' "$(scrape /metrics | head -n1)"
expect_match "with rdqd's counters in the Prometheus format" \
	'# TYPE rdq_requests_received_total counter' "$(scrape /metrics)"
expect_match "rdqctl stats --prometheus gives the same names" \
	'^rdq_requests_received_total [1-9]' "$(ctl stats --prometheus)"
printf 'log-level = debug\n' >>"$CONF"
pid=$(main_pid)
expect_status "systemctl reload rdqd succeeds" 0 systemctl reload rdqd
reloaded() { journal | grep -q 'reload: log-level info -> debug'; }
if wait_until 5 reloaded; then pass "the reload applies the new log level (journal)"
else fail "the reload applies the new log level" "$(journal | tail -n 5)"; fi
expect "a reload is no restart" "$pid" "$(main_pid)"
cp /tmp/rdqd.conf.orig "$CONF"
printf 'max-pending = lots\n' >>"$CONF"
expect_status "with a bad line, systemctl restart rdqd fails" 1 restart_rdqd
expect_match "and the journal names the file and the line" \
	"$CONF:[0-9]+: max-pending: \"lots\" is not a number" "$(journal)"
cp /tmp/rdqd.conf.orig "$CONF"
restart_rdqd
after_each "the configuration file's changes"

echo "# served commands: rdq-serve@.service"
# An admin copies the example, sets its address and enables an instance; a second instance
# answers with the user its command runs as, so the test can see who that is.
SPORT=$((PORT + 10))
WPORT=$((PORT + 11))
ETC=/usr/local/etc/rdq
EXAMPLES=/usr/local/share/doc/rdq/examples
if [ -n "${RDQ_DEBS:-}" ]; then
	ETC=/etc/rdq
	EXAMPLES=/usr/share/doc/rdq/examples
	expect "rdq-serve@.service and the example are the package's" "rdq rdq" \
		"$(for f in "$UNITDIR/rdq-serve@.service" "$EXAMPLES/serve-upper.conf"; do
			dpkg -S "$f" 2>&1 | cut -d: -f1; done | xargs)"
fi
mkdir -p "$ETC/serve"
sed "s/^address = .*/address = $ADDR:$SPORT/" "$EXAMPLES/serve-upper.conf" >"$ETC/serve/upper.conf"
printf 'address = %s:%s\ncommand = sh -c "cat >/dev/null; id -u"\n' "$ADDR" "$WPORT" \
	>"$ETC/serve/whoami.conf"
out=$(systemd-analyze verify rdq-serve@upper.service 2>&1)
expect "systemd-analyze verify rdq-serve@upper: no complaint" "" "$out"
expect_status "systemctl enable --now rdq-serve@upper succeeds" 0 systemctl enable --now rdq-serve@upper
expect_status "and rdq-serve@whoami" 0 systemctl enable --now rdq-serve@whoami
# listens PORT: rdqd lists a serve listener on ADDR:PORT.
listens() { ctl -j ep show | tr '{' '\n' | grep '"mode":"serve"' | grep -q "\"local\":\"$ADDR:$1\""; }
# answer PORT TEXT [AT]: the answer of whatever serves AT:PORT (default ADDR) to TEXT, through a
# connection of rdqd's.
answer() {
	local a
	a=$(json_get ep "$(ctl -j ep connect "${3:-$ADDR}:$1" 2>&1)")
	[ -n "$a" ] || return 1
	ctl ep send "$a" "$2" >/dev/null && ctl ep recv "$a" --timeout 5000
	ctl ep destroy "$a" >/dev/null 2>&1
}
upper_answers() { [ "$(answer "$SPORT" "say it louder")" = "SAY IT LOUDER" ]; }
if wait_until 10 listens "$SPORT"; then pass "rdq-serve@upper listens on the file's address"
else fail "rdq-serve@upper listens on the file's address" \
	"$(ctl ep show 2>&1; systemctl status rdq-serve@upper 2>&1 | tail -n 15)"; fi
wait_until 10 listens "$WPORT" || fail "rdq-serve@whoami listens" "$(systemctl status rdq-serve@whoami 2>&1 | tail -n 15)"
out=$(timeout 60 rdma_client -s "$ADDR" -p "$SPORT" 2>&1)
expect "rdma-core's rdma_client, a foreign peer, gets its answer" 0 "$?"
expect "a message comes back in capitals" "SAY IT LOUDER" "$(answer "$SPORT" "say it louder" 2>&1)"
# dynamic UID: systemd's range for DynamicUser= users (names need nss-systemd, which Debian's
# systemd does not pull in).
dynamic() { [ -n "$1" ] && [ "$1" -ge 61184 ] && [ "$1" -le 65519 ]; }
spid=$(systemctl show -P MainPID rdq-serve@upper)
suid=$(ps -o uid= -p "$spid" | xargs)
if dynamic "$suid"; then pass "rdqctl runs as a dynamic user of its own ($suid)"
else fail "rdqctl runs as a dynamic user of its own" "uid [$suid]: $(ps -o user=,uid=,args= -p "$spid")"; fi
expect_match "in group rdq, which opens rdqd's socket" '(^| )rdq( |$)' "$(ps -o supgrp= -p "$spid" | tr ',' ' ')"
expect "with no capabilities and no new privileges" "0000000000000000 0000000000000000 1" \
	"$(awk '/^CapEff|^CapBnd|^NoNewPrivs/ {printf "%s ", $2}' "/proc/$spid/status" | sed 's/ $//')"
who=$(answer "$WPORT" "who are you" 2>&1)
wuid=$(ps -o uid= -p "$(systemctl show -P MainPID rdq-serve@whoami)" | xargs)
if [ -n "$who" ] && [ "$who" = "$wuid" ]; then pass "the command runs as its instance's user (it answers with its uid)"
else fail "the command runs as its instance's user (it answers with its uid)" "[$who], rdqctl's [$wuid]"; fi
if dynamic "$who" && [ "$who" -ne "$(id -u rdq)" ] && [ "$who" != "$suid" ]; then
	pass "a dynamic user, not root, not rdq, not another instance's ($who)"
else fail "a dynamic user, not root, not rdq, not another instance's" "uid [$who], upper's [$suid]"; fi
sec=$(systemd-analyze security --no-pager rdq-serve@upper.service 2>&1 |
	sed -n 's/.*Overall exposure level for rdq-serve@upper.service: \([0-9.]*\).*/\1/p')
if [ -n "$sec" ] && awk -v e="$sec" 'BEGIN { exit !(e <= 3.0) }'; then
	pass "systemd-analyze security rdq-serve@upper: exposure $sec <= 3.0"
else fail "systemd-analyze security rdq-serve@upper: exposure <= 3.0" "got [$sec]"; fi

serve_restarts() { systemctl show -P NRestarts rdq-serve@upper; }
sbefore=$(serve_restarts)
restart_rdqd
t0=$(date +%s)
if wait_until 10 upper_answers; then pass "systemctl restart rdqd: rdq-serve@upper answers again ($(($(date +%s) - t0)) s)"
else fail "systemctl restart rdqd: rdq-serve@upper answers again" \
	"$(ctl ep show 2>&1; journalctl -q -o cat -u rdq-serve@upper | tail -n 10)"; fi
expect "systemd restarted it once" "$((sbefore + 1))" "$(serve_restarts)"
expect_match "rdqctl had exited non-zero when rdqd closed its connection" \
	'Main process exited, code=exited, status=[13]/' "$(journalctl -q -o cat -u rdq-serve@upper)"

printf 'address = %s:%s\ncommand = cat\nmax-runing = 2\n' "$ADDR" $((PORT + 12)) >"$ETC/serve/typo.conf"
systemctl start rdq-serve@typo
typo_done() { [ "$(systemctl is-active rdq-serve@typo)" = failed ]; }
wait_until 10 typo_done
expect "a bad file: rdqctl exits 2 and systemd leaves the instance failed, not restarting it" \
	"failed 2 0" "$(systemctl is-active rdq-serve@typo) $(systemctl show -P ExecMainStatus rdq-serve@typo) \
$(systemctl show -P NRestarts rdq-serve@typo)"
expect_match "the journal names the file and the line" \
	"$ETC/serve/typo.conf:3: unknown key \"max-runing\"" "$(journalctl -q -o cat -u rdq-serve@typo)"
echo "# a direct served command, enabled before its address exists"
# operations.md's drop-in lets an instance open the RDMA devices; wait-address lets it start
# before its address is there, as at boot.
LATE=${ADDR%.*}.60
LPORT2=$((PORT + 13))
printf 'address = %s:%s\ncommand = tr a-z A-Z\ndirect = yes\nwait-address = yes\n' "$LATE" \
	"$LPORT2" >"$ETC/serve/late.conf"
mkdir -p /etc/systemd/system/rdq-serve@late.service.d
cat >/etc/systemd/system/rdq-serve@late.service.d/direct.conf <<'DROPIN'
[Service]
PrivateDevices=no
DeviceAllow=/dev/infiniband/rdma_cm rw
DeviceAllow=char-infiniband_verbs rw
RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6
LimitMEMLOCK=infinity
DROPIN
systemctl daemon-reload
expect_status "systemctl enable --now rdq-serve@late, its address not there yet" 0 \
	systemctl enable --now rdq-serve@late
# late_row: rdqd's row for the instance's listener.
late_row() { ctl -j ep show | tr '{' '\n' | grep "\"local\":\"$LATE:$LPORT2\""; }
late_waits() { late_row | grep -q '"state":"waiting"'; }
if wait_until 10 late_waits; then pass "its direct listener waits for the address"
else fail "its direct listener waits for the address" \
	"$(ctl ep show 2>&1; journalctl -q -o cat -u rdq-serve@late | tail -n 10)"; fi
expect "and the instance runs meanwhile" active "$(systemctl is-active rdq-serve@late)"
ip addr add "$LATE/24" dev d0
late_listens() { late_row | grep -q '"state":"listening"'; }
if wait_until 2 late_listens; then pass "the address added: within 2 s it listens"
else fail "the address added: within 2 s it listens" "$(late_row)"; fi
out=$(timeout 60 rdma_client -s "$LATE" -p "$LPORT2" 2>&1)
expect "rdma_client gets its answer from the instance's own QP" 0 "$?"
expect "a message comes back in capitals" "DIRECT AND LATE" "$(answer "$LPORT2" "direct and late" "$LATE" 2>&1)"
expect_match "the listener is direct, its client the instance's rdqctl" \
	"\"mode\":\"direct\",\"client_pid\":$(systemctl show -P MainPID rdq-serve@late)," "$(late_row)"
systemctl disable --now rdq-serve@late >/dev/null 2>&1
rm -r /etc/systemd/system/rdq-serve@late.service.d "$ETC/serve/late.conf"
systemctl daemon-reload
ip addr del "$LATE/24" dev d0

# Stopped as well, so that nothing would start rdqd.socket again behind the later cases.
systemctl stop rdq-serve@typo 2>/dev/null
systemctl reset-failed rdq-serve@typo 2>/dev/null
systemctl disable --now rdq-serve@upper rdq-serve@whoami >/dev/null 2>&1
expect "disable --now stops them, and their listeners go" "inactive inactive no" \
	"$(systemctl is-active rdq-serve@upper) $(systemctl is-active rdq-serve@whoami) \
$(listens "$SPORT" && echo yes || echo no)"

echo "# a declared echo listener, its address coming after rdqd"
NEW=${ADDR%.*}.50
LPORT=$((PORT + 20))
mkdir -p "$ETC/listen.d"
printf '# an echo service\naddress = %s:%s\n' "$NEW" "$LPORT" >"$ETC/listen.d/echo.conf"
row() { ctl -j ep show | tr '{' '\n' | grep "\"name\":\"$1\""; }
state_is() { row "$1" | grep -q "\"state\":\"$2\""; }
restart_rdqd
expect_match "rdqd starts with it waiting for its address" \
	"\"state\":\"waiting\".*\"reason\":\"for the address: $NEW:$LPORT is on no interface\"" "$(row echo)"
ip addr add "$NEW/24" dev d0
if wait_until 2 state_is echo listening; then pass "the address added: within 2 s it listens"
else fail "the address added: within 2 s it listens" "$(row echo)"; fi
out=$(timeout 60 rdma_client -s "$NEW" -p "$LPORT" 2>&1)
expect "rdma_client gets its echo from the declared listener" 0 "$?"
ip addr del "$NEW/24" dev d0
if wait_until 2 state_is echo waiting; then pass "the address removed: within 2 s it waits"
else fail "the address removed: within 2 s it waits" "$(row echo)"; fi
expect_match "ep show says it waits, and why" "waiting .* echo +for the address: $NEW:$LPORT" "$(ctl ep show)"
ip addr add "$NEW/24" dev d0
wait_until 2 state_is echo listening || fail "the address back: it listens again" "$(row echo)"
restart_rdqd
if wait_until 2 state_is echo listening; then pass "systemctl restart rdqd: the declared listener is back by itself"
else fail "systemctl restart rdqd: the declared listener is back by itself" "$(ctl ep show 2>&1)"; fi
out=$(timeout 60 rdma_client -s "$NEW" -p "$LPORT" 2>&1)
expect "and rdma_client gets its echo again" 0 "$?"

echo "# the declared listener's address, then rxe0, coming after rdqd"
# librdmacm lets a removed device go only when rdqd exits: rdqd is stopped before rxe0 goes.
systemctl stop rdqd.socket rdqd.service
ip addr del "$NEW/24" dev d0
rdma link delete rxe0
fresh_start_limit
systemctl start rdqd.socket
if wait_until 5 state_is echo waiting; then pass "rdqd starts with no RDMA device, the listener waiting"
else fail "rdqd starts with no RDMA device, the listener waiting" "$(ctl ep show 2>&1)"; fi
ip addr add "$NEW/24" dev d0
rdma link add rxe0 type rxe netdev d0
expect "the address, then rxe0, added after rdqd started" 0 "$?"
if wait_until 2 state_is echo listening; then pass "within 2 s it listens"
else fail "within 2 s it listens" "$(row echo)"; fi
out=$(timeout 60 rdma_client -s "$NEW" -p "$LPORT" 2>&1)
expect "rdma_client gets its echo through the new rxe0" 0 "$?"
rm "$ETC/listen.d/echo.conf"
ip addr del "$NEW/24" dev d0
restart_rdqd
after_each "the served commands and the declared listener"

if [ -n "${RDQ_DEBS:-}" ]; then
	echo "# removing the package"
	ctl status >/dev/null 2>&1
	# An enabled, running served command: removal stops it and purge takes its link.
	systemctl enable --now rdq-serve@upper >/dev/null 2>&1
	wait_until 10 listens "$SPORT" || fail "rdq-serve@upper listens again before the purge" \
		"$(systemctl status rdq-serve@upper 2>&1 | tail -n 5)"
	expect_status "apt-get purge rdq librdq0 succeeds with rdqd running" 0 \
		apt-get purge -y -q rdq librdq0
	expect "the enabled rdq-serve@upper was stopped, its rdqctl gone" "inactive" \
		"$(systemctl is-active rdq-serve@upper)$(pgrep -f 'rdqctl ep serve' >/dev/null && echo ' rdqctl left')"
	expect "purge left no rdq-serve@ link behind" "" \
		"$(find /etc/systemd/system -name 'rdq-serve@*' 2>/dev/null)"
	expect "rdqd.service and rdqd.socket are stopped" "inactive inactive" \
		"$(systemctl is-active rdqd.service) $(systemctl is-active rdqd.socket)"
	expect "no rdqd process is left" "" "$(pgrep -x rdqd)"
	expect "the socket file and the units are gone" "no no no" \
		"$([ -e "$SOCK" ] && echo yes || echo no) $([ -e "$UNITDIR/rdqd.service" ] && echo yes || echo no) \
$([ -e "$UNITDIR/rdqd.socket" ] && echo yes || echo no)"
	expect "purge left no enablement links behind" "" \
		"$(find /etc/systemd/system -name 'rdqd.*' 2>/dev/null)"
	expect "and removed the configuration file" no "$([ -e "$CONF" ] && echo yes || echo no)"
fi

finish_suite
