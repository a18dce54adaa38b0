#!/bin/sh
# Device removal over real rxe: `rdma link delete rxe0` while endpoints
# exist. Every endpoint on rxe0 is torn down on workers, what waits on them
# completes with ENODEV, rdqd keeps serving, lets the device go, and uses
# rxe0 again once it is back.
#
# Direct endpoints on rxe0 (their QPs owned by librdq clients, direct-check)
# are told too: ep.flush with ENODEV, so the client learns why, moves its QP
# to error and closes its verbs context, without which the kernel could not
# finish the removal either. Once rxe0 is back a new direct client connects.
#
# A second device (rxe1 on its own dummy link) stays up throughout: with no
# RDMA device left, rdma-core 44's librdmacm never re-reads its device list
# and keeps the removed one open until rdqd exits (docs/architecture.md).
set -u
. "${RDQ_TESTS:-$(dirname "$0")/..}/rxe/lib.sh"

ADDR=${RDQ_ADDR_SELF:?RDQ_ADDR_SELF must name the rxe netdev address}
DEV=${RDQ_RXE_DEV:-rxe0}
NETDEV=${RDQ_NETDEV:-d0}
ADDR2=10.78.0.1
PORT=7472
SILENT_PORT=7473
SERVE_PORT=7474

ip link add d1 type dummy && ip addr add "$ADDR2/24" dev d1 && ip link set d1 up &&
	rdma link add rxe1 type rxe netdev d1
expect "a second rxe device (rxe1) comes up" 0 "$?"

rdqd_start || exit 1
ctl -j monitor >/tmp/events.out 2>&1 &
MONITOR=$!
silent_peer_start "$ADDR" $SILENT_PORT

# On rxe0: a listener with a live connection, and a disconnect that waits on a silent peer.
L=$(json_get ep "$(ctl -j ep listen "$ADDR:$PORT")")
A=$(json_get ep "$(ctl -j ep connect "$ADDR:$PORT")")
S=$(json_get ep "$(ctl -j ep connect "$ADDR:$SILENT_PORT")")
expect_match "endpoints on $DEV: listener, active, silent-peer's" '^[0-9]+ [0-9]+ [0-9]+$' "$L $A $S"
# On rxe1: a listener and a connection that must not notice anything.
L2=$(json_get ep "$(ctl -j ep listen "$ADDR2:$PORT")")
A2=$(json_get ep "$(ctl -j ep connect "$ADDR2:$PORT")")
expect_match "endpoints on rxe1" '^[0-9]+ [0-9]+$' "$L2 $A2"

# A served connection on rxe0: examples/echo-server answers a librdq client that keeps asking.
echo-server -s "$RDQ_SOCK" "$ADDR:$SERVE_PORT" >/tmp/serve.out 2>&1 &
SERVER=$!
serving() { grep -q "serving $ADDR:$SERVE_PORT" /tmp/serve.out; }
wait_until 10 serving || fail "echo-server serves on $DEV" "$(cat /tmp/serve.out)"
serve-client -s "$RDQ_SOCK" "$ADDR" "$SERVE_PORT" 100000000 64 >/tmp/serve-client.out 2>&1 &
CLIENT=$!
served() { ctl -j ep show | grep -q '"role":"passive"[^}]*"mode":"serve"'; }
wait_until 10 served || fail "a served endpoint is up" "$(ctl -j ep show)"

# Two direct clients on rxe0, each receiving until rdqd ends its connection, then closing it.
# D's peer is silent-peer, which ignores the removal as a remote host would know nothing of it:
# D's end comes from the removal alone. E's peer is rdqd's own echo listener L, torn down
# first (its id came first on rxe0), which disconnects E: E may be told of that instead.
release_start() { # NAME PORT: the client's pid in NAME_PID, its endpoint in NAME
	direct-check "$RDQ_SOCK" release "$ADDR" "$2" >"/tmp/direct-$1.out" 2>&1 &
	eval "$1_PID=$!"
	wait_until 20 grep -q '^connected' "/tmp/direct-$1.out" ||
		fail "direct client $1 connects on $DEV" "$(cat "/tmp/direct-$1.out")"
	eval "$1=$(sed -n 's/^connected ep \([0-9]*\).*/\1/p' "/tmp/direct-$1.out")"
}
release_start D $SILENT_PORT
release_start E $PORT
expect_match "two direct endpoints connected on $DEV" '^[0-9]+ [0-9]+$' "$D $E"
direct_dropped() { ctl -j stats | sed -n 's/.*"direct":{"dropped":\([0-9]*\).*/\1/p'; }
dropped_before=$(direct_dropped)

ctl ep disconnect "$S" --wait --timeout 60000 >/tmp/disc.out 2>&1 &
WAITER=$!
pending() { ctl -j request list | grep -q '"op":"ep.disconnect"'; }
wait_until 10 pending || fail "the disconnect waits" "$(ctl -j request list)"

# The served endpoint's ep.recv must be waiting when the device goes: the client asks again as
# soon as it has its answer, so the server may be between its answer and its next ep.recv.
# Stopped, the client asks nothing more, and the server's last ep.sendrecv waits for it.
kill -STOP "$CLIENT"
sleep 1
# The removal blocks in the kernel until every process lets the device go: background it.
rm -f /tmp/del.rc
(rdma link delete "$DEV" >/tmp/del.out 2>&1; echo $? >/tmp/del.rc) &

wait $WAITER
kill -CONT "$CLIENT"
expect_match "device removal: the waiting disconnect completes with ENODEV" ENODEV "$(cat /tmp/disc.out)"
gone() { ! ctl -j ep show | grep -Eq "\"ep\":($L|$A|$S|$D|$E)[,}]"; }
if wait_until 20 gone; then pass "every endpoint on $DEV is torn down"
else fail "every endpoint on $DEV is torn down" "$(ctl -j ep show)"; fi
expect_match "watchers see ep.error with ENODEV" '"errno":"ENODEV"' "$(cat /tmp/events.out)"
expect_match "a stale endpoint gives ENOENT" ENOENT "$(ctl ep send "$A" x 2>&1)"

# The direct clients were told (ep.flush, whose status rdq_direct_recv returns) and let go.
closed() { grep -q '^closed' "/tmp/direct-$1.out"; }
ended() { grep -E '^(ended|closed)' "/tmp/direct-$1.out" | tr '\n' ' '; }
wait_until 20 closed D
expect "direct client D's receive ends with ENODEV (ep.flush), then it closes" \
	"ended: No such device closed " "$(ended D)"
expect_match "watchers see D's ep.error with ENODEV" '"errno":"ENODEV"' \
	"$(grep '"event":"ep.error"' /tmp/events.out | grep "\"ep\":$D[,}]")"
wait_until 20 closed E
expect_match "direct client E is told its connection ended (ENODEV, or L's DREQ), then closes" \
	"^ended: (No such device|Connection reset by peer) closed $" "$(ended E)"
# release_end NAME: the client exited 0 once it closed; one still waiting is killed (so that the
# removal can end) and fails.
release_end() {
	eval "pid=\$$1_PID"
	if closed "$1"; then
		wait "$pid"
		expect "direct client $1 exits 0" 0 "$?"
	else
		fail "direct client $1 exits 0" "still waiting: $(cat "/tmp/direct-$1.out")"
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null
	fi
}
release_end D
release_end E
expect "a removal is not a dropped direct endpoint (direct.dropped unchanged)" \
	"$dropped_before" "$(direct_dropped)"
servedgone() { grep -q 'peer [0-9]*: ENODEV' /tmp/serve.out; }
if wait_until 10 servedgone; then pass "the served endpoint's waiting ep.recv completes with ENODEV"
else fail "the served endpoint's waiting ep.recv completes with ENODEV" "$(cat /tmp/serve.out)"; fi
wait "$CLIENT"
expect_match "its peer's client is told (its requests fail)" 'serve-client: (request|answer)' \
	"$(cat /tmp/serve-client.out)"
kill "$SERVER"
wait "$SERVER"
expect "echo-server stops cleanly after the removal" 0 "$?"
expect "the counters: rxe1's listener, connection and its passive end are all that is left" 3 \
	"$(json_get endpoints "$(ctl -j status)")"

# rdqd goes on serving, and rxe1's connection still works.
expect "rdqd still answers" 0 "$(ctl status >/dev/null 2>&1; echo $?)"
ctl ep send "$A2" "on rxe1" >/dev/null
expect "the connection on rxe1 still echoes" "on rxe1" "$(ctl ep recv "$A2" 2>&1)"

# silent-peer holds rxe0 too (it ignores the removal): once it exits, nobody does.
kill "$SILENT"
wait "$SILENT" 2>/dev/null
deleted() { [ -f /tmp/del.rc ]; }
if wait_until 30 deleted; then
	expect "rdma link delete completes (rdqd let the device go)" 0 "$(cat /tmp/del.rc)"
else
	fail "rdma link delete completes (rdqd let the device go)" \
		"still blocked; rdqd holds: $(ls -l /proc/$RDQD_PID/fd | grep -c infiniband) infiniband fds"
fi
expect_match "rdqd re-read its devices after the removal: only rxe1 left" "RDMA devices now: rxe1$" "$(cat "$RDQD_LOG")"

# The device comes back: rdqd uses it again, no restart.
if deleted; then
	rdma link add "$DEV" type rxe netdev "$NETDEV"
	expect "$DEV is added back" 0 "$?"
	back() { ctl dev show | grep -q "$DEV"; }
	wait_until 10 back
	expect_match "dev show lists $DEV again" "$DEV" "$(ctl dev show 2>&1)"
	L3=$(json_get ep "$(ctl -j ep listen "$ADDR:$PORT" 2>&1)")
	A3=$(json_get ep "$(ctl -j ep connect "$ADDR:$PORT" 2>&1)")
	expect_match "listen and connect on the returned $DEV" '^[0-9]+ [0-9]+$' "$L3 $A3"
	ctl ep send "$A3" "back again" >/dev/null 2>&1
	expect "the returned $DEV echoes" "back again" "$(ctl ep recv "$A3" 2>&1)"
	out=$(timeout 60 direct-check "$RDQ_SOCK" connect "$ADDR" "$PORT" 2>&1)
	expect "a new direct client connects on the returned $DEV, its messages echoed" 0 "$?"
	echo "$out"
fi

stats=$(ctl -j stats)
expect "no work item in use" 0 "$(json_get in_use "$stats")"
expect "only the stats request is pending" 1 "$(json_get pending "$stats")"
rdqd_stop
expect "rdqd exits 0" 0 "$?"
kill "$MONITOR" 2>/dev/null
expect_no_level_violation

finish 80
