#!/bin/sh
# Direct endpoints: the client process owns the QP (its own verbs context),
# rdqd holds the rdma_cm id, connects it with the QP's number and hands the
# client the attributes rdma_cm computes for each of the QP's moves.
# Cases: active against rdqd's own echo listener (messages of 1 B to 64 KiB,
# each echoed byte for byte; ep show names the client's pid and QP); a QP of
# another process (EPERM) or none (ENOENT) connects nothing; a direct
# listener serving rdma-core's rdma_client and perftest's ib_send_lat -R
# (two connections at once); a listener's client that never takes a
# request (the peer is rejected with the reason, counted);
# disconnects from either side (the client flushes its QP when rdqd says,
# and confirms), a client that never confirms (the deadline answers), the
# client killed while connected (its endpoint goes, the peer is disconnected,
# counted).
set -u
. "${RDQ_TESTS:-$(dirname "$0")/..}/rxe/lib.sh"

ADDR=${RDQ_ADDR_SELF:?RDQ_ADDR_SELF must name the rxe netdev address}
ECHO_PORT=7480
OUT=/tmp/direct.out

rdqd_start || exit 1
L=$(json_get ep "$(ctl -j ep listen "$ADDR:$ECHO_PORT" 2>&1)")
expect_match "an echo listener for the direct clients" '^[0-9]+$' "$L"

# ------------------------------------------------------------ active side
out=$(timeout 60 direct-check "$RDQ_SOCK" connect "$ADDR" "$ECHO_PORT" 2>&1)
expect "a direct client connects its own QP and its messages are echoed" 0 "$?"
echo "$out"

out=$(timeout 60 direct-check "$RDQ_SOCK" steal "$ADDR" "$ECHO_PORT" 2>&1)
expect "another process's QP (EPERM) or none (ENOENT) connects nothing" 0 "$?"
echo "$out"

# ----------------------------------------------------------- passive side
rm -f "$OUT"
timeout 180 direct-check "$RDQ_SOCK" serve "$ADDR" 7481 4 >"$OUT" 2>&1 &
SERVER=$!
listening() { grep -q '^listening' "$OUT"; }
wait_until 10 listening || fail "the direct listener starts" "$(cat "$OUT")"
for i in 1 2; do
	out=$(timeout 60 rdma_client -s "$ADDR" -p 7481 2>&1)
	expect "rdma_client $i is served by the client's own QP and exits 0" 0 "$?"
done
# perftest's ib_send_lat -R makes two connections at once (its control channel and its test QP).
out=$(timeout 60 ib_send_lat -R -s 64 -n 1000 -p 7481 "$ADDR" 2>&1)
expect "ib_send_lat -R is served by the client's own QPs and exits 0" 0 "$?"
echo "$out" | tail -n 3
wait "$SERVER"
expect "the direct server saw each message and answered it" 0 "$?"
cat "$OUT"

# A client that never takes its listener's requests: the peer hears why.
rm -f "$OUT"
direct-check "$RDQ_SOCK" ignore "$ADDR" 7482 >"$OUT" 2>&1 &
IGNORER=$!
wait_until 10 listening || fail "the ignoring listener starts" "$(cat "$OUT")"
timeout 60 rdma_client -s "$ADDR" -p 7482 >/dev/null 2>&1
st=$?
[ "$st" -ne 0 ] && [ "$st" -ne 124 ]
expect "rdma_client is rejected when the listener's client takes no request" 0 "$?"
expect_match "rdqd says why in its log" "did not establish it within 1000 ms" "$(cat "$RDQD_LOG")"
no_children() { ctl -j ep show "$1" | grep -q '"connections":0'; }
one_peer() { ctl -j ep show "$L" | grep -q '"connections":1'; }
wait_until 5 no_children "$(sed -n 's/^listening //p' "$OUT")"
expect "the rejected request's endpoint is gone" 0 "$?"
kill "$IGNORER"; wait "$IGNORER" 2>/dev/null

# ------------------------------------------------------------ disconnects
# hold_start MODE: a direct client connected to the echo listener (hold:
# receiving, so it acts on rdqd's ep.flush; deaf: never reading rdqd again);
# its pid in HOLDER, its endpoint in EP.
hold_start() {
	rm -f "$OUT"
	direct-check "$RDQ_SOCK" "$1" "$ADDR" "$ECHO_PORT" >"$OUT" 2>&1 &
	HOLDER=$!
	wait_until 20 connected || fail "the $1 client connects" "$(cat "$OUT")"
	EP=$(sed -n 's/^connected ep \([0-9]*\).*/\1/p' "$OUT")
}
hold_stop() { kill -KILL "$HOLDER"; wait "$HOLDER" 2>/dev/null; }
connected() { grep -q '^connected' "$OUT"; }
ended() { grep -q '^ended' "$OUT"; }

# rdqctl disconnects a direct endpoint: its client flushes the QP and confirms.
hold_start hold
out=$(ctl -j ep disconnect "$EP" --wait 2>&1)
expect "ep disconnect --wait completes with status 0 once the client flushed its QP" 0 \
	"$(json_get status "$out")"
wait_until 5 ended
expect "the client's receive ends: its QP was flushed" "ended: Connection reset by peer" \
	"$(grep '^ended' "$OUT")"
ctl ep destroy "$EP" >/dev/null
hold_stop

# The peer disconnects (the echo side's endpoint destroyed: a DREQ): the client is told too.
hold_start hold
wait_until 5 one_peer
ctl ep destroy "$(passive_ep)" >/dev/null
wait_until 10 ended
expect "the peer's DREQ reaches the client as a flush of its QP" 0 "$?"
expect_match "rdqd shows the direct endpoint disconnected" '"state":"disconnected"' \
	"$(ctl -j ep show "$EP")"
ctl ep destroy "$EP" >/dev/null
hold_stop

# A client that never confirms its flush: the disconnect's deadline answers.
hold_start deaf
out=$(ctl ep disconnect "$EP" --wait --timeout 1000 2>&1)
expect_match "a flush never confirmed: the disconnect fails at its deadline" \
	"did not confirm its flush within the request's deadline \\((99[0-9]|10[0-9][0-9]) ms\\)" "$out"
hold_stop

# The client dies connected: rdqd destroys its id, which disconnects the peer.
hold_start hold
wait_until 5 one_peer
expect "the echo listener holds the direct client's connection" 0 "$?"
direct_dropped() { ctl -j stats | sed -n 's/.*"direct":{"dropped":\([0-9]*\).*/\1/p'; }
dropped_before=$(direct_dropped)
hold_stop
gone() { ! ctl ep show "$1" >/dev/null 2>&1; }
wait_until 10 gone "$EP"
expect "the killed client's direct endpoint is gone" 0 "$?"
wait_until 10 no_children "$L"
expect "its peer was disconnected: the echo side's endpoint is gone too" 0 "$?"
expect "it is counted (direct.dropped)" $((dropped_before + 1)) "$(direct_dropped)"

expect_no_level_violation
ctl ep destroy "$L" >/dev/null
rdqd_stop
expect "rdqd exits 0" 0 "$?"
finish
