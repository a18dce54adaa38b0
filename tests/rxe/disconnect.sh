#!/bin/sh
# The disconnect engine over real rxe: every path of a disconnect request
# happens for real. Peers: rdqd's own listener (answers a DREQ at once) and
# silent-peer (accepts, then never answers a DREQ: a hung remote host).
set -u
. "${RDQ_TESTS:-$(dirname "$0")/..}/rxe/lib.sh"

ADDR=${RDQ_ADDR_SELF:?RDQ_ADDR_SELF must name the rxe netdev address}
PORT=7472
SILENT_PORT=7473
N=${RDQ_STORM_N:-1000}

# Room for the storm below: N endpoints and their passive peers, N requests at once.
rdqd_start --max-pending $((N + 64)) --max-endpoints $((2 * N + 64)) \
	--disconnect-timeout 60000 || exit 1

ctl -j monitor >/tmp/events.out 2>&1 &
MONITOR=$!

silent_peer_start "$ADDR" $SILENT_PORT

L=$(json_get ep "$(ctl -j ep listen "$ADDR:$PORT")")
expect_match "rdqd listens" '^[0-9]+$' "$L"

# connect_to PORT: prints "EP QP" of a new active endpoint
connect_to() {
	out=$(ctl -j ep connect "$ADDR:$1")
	echo "$(json_get ep "$out") $(json_get qp "$out")"
}

# rid_of EP: the number of the pending ep.disconnect on EP (request.list), or nothing
rid_of() {
	ctl -j request list | tr '{' '\n' | grep '"op":"ep.disconnect"' | grep "\"ep\":$1[,}]" |
		sed -n 's/.*"rid":\([0-9]*\).*/\1/p' | head -n 1
}
has_pending() { [ -n "$(rid_of "$1")" ]; }

# stat NAME: a counter from stats (the first field of that name)
stat() { json_get "$1" "$(ctl -j stats)"; }
by_status() { ctl -j stats | sed -n "s/.*\"by_status\":{[^}]*\"$1\":\([0-9]*\).*/\1/p"; }

# --- active disconnect: our DREQ, the peer's DREP, status 0, QP in error
set -- $(connect_to $PORT)
A=$1
out=$(ctl -j ep disconnect "$A" --wait)
expect "active disconnect (DREP) completes with status 0" 0 "$(json_get status "$out")"
expect_match "the endpoint is disconnected afterwards" '"state":"disconnected"' "$(ctl -j ep show "$A")"
saw_event() { grep -q "\"event\":\"ep.disconnected\".*\"ep\":$1[,}]\|\"ep\":$1,.*\"event\":\"ep.disconnected\"" /tmp/events.out; }
if wait_until 5 saw_event "$A"; then pass "a watching client sees ep.disconnected"
else fail "a watching client sees ep.disconnected" "$(tail -n 5 /tmp/events.out)"; fi
ctl ep destroy "$A" >/dev/null

# --- disconnect started by the peer, with a recv pending: ECONNRESET, QP to error
set -- $(connect_to $PORT)
B=$1
P=$(passive_ep)
ctl ep recv "$B" --timeout 30000 >/tmp/recv.out 2>&1 &
RECV=$!
recv_pending() { ctl -j request list | grep -q '"op":"ep.recv"'; }
wait_until 10 recv_pending || fail "the recv waits" "$(ctl -j request list)"
ctl ep disconnect "$P" >/dev/null
wait $RECV
expect_match "peer's disconnect: a pending recv completes with ECONNRESET" ECONNRESET "$(cat /tmp/recv.out)"
peer_gone() { ctl -j ep show "$B" | grep -q '"state":"disconnected"'; }
if wait_until 10 peer_gone; then pass "peer's disconnect: the endpoint goes to disconnected"
else fail "peer's disconnect: the endpoint goes to disconnected" "$(ctl -j ep show "$B")"; fi
if wait_until 5 saw_event "$B"; then pass "peer's disconnect: watchers see ep.disconnected"
else fail "peer's disconnect: watchers see ep.disconnected" "$(tail -n 5 /tmp/events.out)"; fi
ctl ep destroy "$B" >/dev/null

# --- disconnect of an endpoint whose QP was destroyed first: ENOENT, nothing touched
set -- $(connect_to $PORT)
C=$1 Q=$2
out=$(ctl qp destroy "$Q" 2>&1)
expect "qp destroy succeeds" 0 "$?"
out=$(ctl ep send "$C" "no qp" 2>&1)
expect_match "send after qp destroy gives ENOTCONN" ENOTCONN "$out"
out=$(ctl -j ep disconnect "$C" --wait 2>&1)
expect_match "disconnect after qp destroy completes with ENOENT" ENOENT "$out"
expect_match "and says the QP was already destroyed" "already destroyed" "$out"
out=$(ctl qp destroy "$Q" 2>&1)
expect_match "a second qp destroy gives ENOENT" ENOENT "$out"
ctl ep destroy "$C" >/dev/null

# --- local deadline: the silent peer never answers; ETIMEDOUT, the QP goes to error anyway
set -- $(connect_to $SILENT_PORT)
D=$1
expect_match "connect to silent-peer" '^[0-9]+$' "$D"
out=$(ctl -j ep disconnect "$D" --wait --timeout 1500 2>&1)
expect_match "local deadline: the disconnect completes with ETIMEDOUT" ETIMEDOUT "$out"
expect_match "local deadline: the QP is in error" "is in error" "$out"
out=$(ctl ep disconnect "$D" --wait 2>&1)
expect_match "a second disconnect while the DREQ is out gives EALREADY" EALREADY "$out"

# --- cancel during disconnect: rdqctl cancel RID from another connection
set -- $(connect_to $SILENT_PORT)
E=$1
ctl ep disconnect "$E" --wait --timeout 60000 >/tmp/cancel.out 2>&1 &
WAITER=$!
if wait_until 10 has_pending "$E"; then pass "the waiting disconnect is listed by request list"
else fail "the waiting disconnect is listed by request list" "$(ctl -j request list)"; fi
RID=$(rid_of "$E")
out=$(ctl cancel "$RID" 2>&1)
expect "cancel RID succeeds" 0 "$?"
wait $WAITER
expect_match "cancel during disconnect: the request completes with ECANCELED" ECANCELED \
	"$(cat /tmp/cancel.out)"
out=$(ctl cancel "$RID" 2>&1)
expect_match "cancelling it again gives ENOENT" ENOENT "$out"

# --- destroy during disconnect: the waiting request is cancelled, the handle goes stale
set -- $(connect_to $SILENT_PORT)
F=$1
ctl ep disconnect "$F" --wait --timeout 60000 >/tmp/destroy.out 2>&1 &
WAITER=$!
wait_until 10 has_pending "$F"
ctl ep destroy "$F" >/dev/null
wait $WAITER
expect_match "destroy during disconnect: the request completes with ECANCELED" ECANCELED \
	"$(cat /tmp/destroy.out)"
expect_match "the destroyed endpoint is gone (ENOENT)" ENOENT "$(ctl ep show "$F" 2>&1)"

# --- the issuing connection closes during disconnect: its request is cancelled
set -- $(connect_to $SILENT_PORT)
G=$1
before=$(by_status ECANCELED)
# rdqctl itself, not the ctl function: $! must be the process that holds the connection.
rdqctl -s "$RDQ_SOCK" ep disconnect "$G" --wait --timeout 60000 >/dev/null 2>&1 &
WAITER=$!
wait_until 10 has_pending "$G"
kill "$WAITER"
wait $WAITER 2>/dev/null
cancelled() { [ "$(by_status ECANCELED)" -gt "$before" ]; }
if wait_until 5 cancelled; then pass "a closed connection's waiting disconnect is cancelled"
else fail "a closed connection's waiting disconnect is cancelled" "ECANCELED stayed at $before"; fi
expect "nothing is pending after it" "" "$(rid_of "$G")"

# --- the late DISCONNECTED: silent-peer exits, the kernel answers every DREQ
kill "$SILENT"
wait "$SILENT" 2>/dev/null
late() { ctl -j ep show "$D" | grep -q '"state":"disconnected"'; }
if wait_until 20 late; then pass "a DISCONNECTED after the local deadline is taken in (no second completion)"
else fail "a DISCONNECTED after the local deadline is taken in" "$(ctl -j ep show "$D")"; fi
for ep in $D $E $G; do ctl ep destroy "$ep" >/dev/null; done

# --- N endpoints disconnected at once, then the counters balance
out=$(rdq-storm -s "$RDQ_SOCK" -n "$N" -w "$N" "$ADDR:$PORT" 2>&1)
expect "storm: $N endpoints connected, disconnected (all at once) and destroyed" 0 "$?"
echo "$out" | sed 's/^/  /'
no_passive() { ! ctl -j ep show | grep -q '"role":"passive"'; }
wait_until 60 no_passive
stats=$(ctl -j stats)
received=$(json_get received "$stats")
completed=$(json_get completed "$stats")
expect "after the storm: completed = received (but the stats request)" "$((received - 1))" "$completed"
expect "after the storm: only the stats request is pending" 1 "$(json_get pending "$stats")"
expect "after the storm: no work item in use" 0 "$(json_get in_use "$stats")"
# The top-level count (stats.network has an "endpoints" of its own, for peers' endpoints).
left=$(printf '%s\n' "$stats" | sed -n 's/.*"endpoints":\([0-9]*\),"objects".*/\1/p')
expect "after the storm: only the listener is left" 1 "$left"
expect "after the storm: no endpoint of the network's is left" 0 \
	"$(printf '%s\n' "$stats" | sed -n 's/.*"network":{[^}]*"endpoints":\([0-9]*\).*/\1/p')"

# --- pool cap: a second rdqd with one work item; new requests beyond it get EBUSY, nothing stalls
CAP_SOCK=/tmp/rdq-cap/rdqd.sock
mkdir -p /tmp/rdq-cap
rdqd -s "$CAP_SOCK" --pool 1 --pool-cap 1 2>/tmp/rdqd-cap.log &
CAP_PID=$!
cap_up() { rdqctl -s "$CAP_SOCK" version; }
wait_until 10 cap_up
rdqctl -s "$CAP_SOCK" ep listen "$ADDR:7474" >/dev/null
for i in 1 2 3 4 5 6 7 8; do
	rdqctl -s "$CAP_SOCK" ep connect "$ADDR:7474" >/tmp/cap.$i 2>&1 &
done
wait_cap() { [ "$(cat /tmp/cap.* | wc -l)" -ge 8 ]; }
wait_until 30 wait_cap
expect_match "pool cap: a request beyond it fails with EBUSY" EBUSY "$(cat /tmp/cap.*)"
cap_stats=$(rdqctl -s "$CAP_SOCK" -j stats)
expect_match "pool cap: stats count the refusals" '"refused":[1-9]' "$cap_stats"
through=$(grep -L EBUSY /tmp/cap.* | wc -l)
expect_match "pool cap: the requests within it connect" '^[1-7]$' "$through"
expect "pool cap: the capped rdqd still answers" 0 "$(rdqctl -s "$CAP_SOCK" status >/dev/null 2>&1; echo $?)"
kill -TERM "$CAP_PID"
wait "$CAP_PID"
expect "pool cap: the capped rdqd exits 0" 0 "$?"

# --- SIGTERM with requests pending: each completes (ECANCELED), rdqd exits 0
silent_peer_start "$ADDR" $SILENT_PORT
set -- $(connect_to $SILENT_PORT)
H=$1
set -- $(connect_to $PORT)
I=$1
ctl ep disconnect "$H" --wait --timeout 60000 >/tmp/term-disc.out 2>&1 &
W1=$!
ctl ep recv "$I" --timeout 60000 >/tmp/term-recv.out 2>&1 &
W2=$!
wait_until 10 has_pending "$H"
wait_until 10 recv_pending || fail "the recv waits" "$(ctl -j request list)"
rdqd_stop
expect "rdqd exits 0 on SIGTERM with requests pending" 0 "$?"
wait $W1
expect_match "SIGTERM: the pending disconnect completes with ECANCELED" ECANCELED "$(cat /tmp/term-disc.out)"
wait $W2
expect_match "SIGTERM: the pending recv completes with ECANCELED" ECANCELED "$(cat /tmp/term-recv.out)"
kill "$SILENT" "$MONITOR" 2>/dev/null

expect_no_level_violation

finish 80
