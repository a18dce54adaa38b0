#!/bin/sh
# A cut wire between two test hosts: host 1 holds three connections to host
# 2's rdqd, then rxehost takes both VMs' network links down (qemu set_link:
# the NICs lose their carrier, nothing passes, neither VM dies). While the
# wire is cut:
#  - A: a send with a 3 s deadline ends with ETIMEDOUT in about 3 s and
#    leaves nothing pending;
#  - B: a disconnect with a 3 s deadline ends with ETIMEDOUT (rdqd's local
#    deadline: rdma_cm retries the DREQ far longer);
#  - C: a send with a 120 s deadline fails on its own once the transport's
#    retries (retry_count 6) run out, and C's connection is given up with
#    it: ep.error says why, and C is disconnecting;
#  - D: a direct connection (host 1's client owns its QP): a disconnect with
#    a 3 s deadline ends with ETIMEDOUT, and the client is told to flush
#    its QP, which it does;
#  - rdma_cm's UNREACHABLE, if it comes within 30 s, reaches the watcher as
#    ep.error for a connected endpoint (whether it comes is the kernel's
#    doing, so its absence is reported, not failed).
# Then the wire is mended: a new connection echoes, no request is left
# pending, no reply was dropped, and both rdqds stop cleanly.
# Run: tests/rxe/rxehost run --build-dir build --hosts 2 --timeout 600 -- tests/rxe/linkcut.sh
set -u
. "${RDQ_TESTS:-$(dirname "$0")/..}/rxe/lib.sh"

PORT=7473
# A and B's deadline; the slack covers rdqctl's start and the round trip in
# a TCG guest (100 to 300 ms measured), and is below 2 s so that rdqd's
# default deadline (5000 ms) would not pass for 3000.
DEADLINE_MS=3000
SLACK_MS=1500
# How long to wait for rdma_cm's UNREACHABLE after the cut.
UNREACHABLE_WAIT=30
EVENTS=/tmp/events.jsonl

# Milliseconds since boot (/proc/uptime has hundredths).
now_ms() {
	cs=$(cut -d' ' -f1 /proc/uptime | tr -d .)
	echo $((cs * 10))
}

# expect_took NAME MS: passes when MS lies between the deadline and deadline + slack.
expect_took() {
	if [ "$2" -ge $((DEADLINE_MS - 100)) ] && [ "$2" -le $((DEADLINE_MS + SLACK_MS)) ]; then
		pass "$1 (${2} ms)"
	else
		fail "$1" "took ${2} ms, wanted $((DEADLINE_MS - 100))..$((DEADLINE_MS + SLACK_MS)) ms"
	fi
}

if [ "${RDQ_HOST_INDEX:-1}" = 2 ]; then
	rdqd_start || exit 1
	ctl ep listen "$RDQ_ADDR_SELF:$PORT" >/dev/null || exit 1
	rxehost-signal listening
	# Serve the echo until host 1 is done with it.
	rxehost-wait finished 300 || echo "host 1 never said it was finished"
	rdqd_stop
	expect "host 2: rdqd exits 0" 0 "$?"
	expect_no_level_violation
	# Flags go with their VM: stay until host 1, having seen this one, is gone.
	rxehost-signal stopped
	gone() { ! ping -c 1 -W 1 "$RDQ_ADDR_PEER"; }
	wait_until 60 gone
	finish
	exit 0
fi

connect_to_host2 "$PORT"

# The watcher: one JSON event a line. The third connection, made once it
# watches, shows that events reach it.
rdqctl -s "$RDQ_SOCK" -j monitor >"$EVENTS" 2>&1 &
MON=$!
watching() { [ "$(json_get connections "$(ctl -j status)")" -ge 2 ]; }
wait_until 10 watching || fail "the monitor connects" "$(cat "$EVENTS")"
C=$(json_get ep "$(ctl -j ep connect "$PEER:$PORT")")
ctl ep send "$C" pong >/dev/null
expect "host 2 echoes on a third connection" pong "$(ctl ep recv "$C" 2>&1)"
seen_c() { grep '"event":"ep.established"' "$EVENTS" | grep -q "\"ep\":${C}[,}]"; }
if wait_until 10 seen_c; then pass "the monitor sees events (C established)"
else fail "the monitor sees events" "$(cat "$EVENTS")"; fi

# A direct connection across the same wire: the client process owns its QP.
direct-check "$RDQ_SOCK" hold "$PEER" "$PORT" >/tmp/direct.out 2>&1 &
DHOLD=$!
dconnected() { grep -q '^connected' /tmp/direct.out; }
wait_until 20 dconnected || fail "a direct client connects to host 2" "$(cat /tmp/direct.out)"
DE=$(sed -n 's/^connected ep \([0-9]*\).*/\1/p' /tmp/direct.out)

# Notes when the first ep.error arrives and the endpoints' states then (the
# checks below are busy meanwhile).
(
	i=0
	# rdma_cm's UNREACHABLE: an ep.error without a reason (a failed transport gives one).
	until grep '"event":"ep.error"' "$EVENTS" | grep -qv '"reason"'; do
		i=$((i + 1))
		[ $i -le $((UNREACHABLE_WAIT * 10 + 50)) ] || exit 0
		sleep 0.1
	done
	at=$(now_ms)
	ctl -j ep show >/tmp/error.eps
	echo "$at" >/tmp/error.at
) &
ERRWATCH=$!

# ---- the cut
cut_start=$(now_ms)
rxehost-link down both 30
expect "the wire to host 2 is cut" 0 "$?"
cut_at=$(now_ms)
echo "  wire cut: host 2 stopped answering ping $((cut_at - cut_start)) ms after the request"

# C's send waits for its completion with a long deadline: it ends when the
# transport's retries run out.
(
	rdqctl -s "$RDQ_SOCK" -j -t 0 ep send "$C" "lost on the wire" --wait --timeout 120000 \
		>/tmp/c.out 2>&1
	now_ms >/tmp/c.end
) &

t0=$(now_ms)
out=$(ctl -j ep send "$A" "into the cut" --wait --timeout $DEADLINE_MS 2>&1)
took=$(($(now_ms) - t0))
expect_match "send across the cut ends with ETIMEDOUT (rdqd's send deadline)" \
	"ETIMEDOUT: the send did not complete within $DEADLINE_MS ms" "$out"
expect_took "send: answered within its deadline and slack" "$took"
send_a_pending() { ctl -j request list | tr '{' '\n' | grep '"op":"ep.send"' | grep -q "\"ep\":${A}[,}]"; }
if send_a_pending; then fail "nothing pending for A's send" "$(ctl -j request list)"
else pass "nothing pending for A's send after its ETIMEDOUT"; fi

t0=$(now_ms)
out=$(ctl -j ep disconnect "$B" --wait --timeout $DEADLINE_MS 2>&1)
took=$(($(now_ms) - t0))
expect_match "disconnect across the cut ends with ETIMEDOUT" ETIMEDOUT "$out"
expect_match "disconnect: rdqd's local deadline (rdma_cm had not reported)" "did not report" "$out"
expect_took "disconnect: answered within its deadline and slack" "$took"

t0=$(now_ms)
out=$(ctl -j ep disconnect "$DE" --wait --timeout $DEADLINE_MS 2>&1)
took=$(($(now_ms) - t0))
expect_match "a direct endpoint's disconnect across the cut ends with ETIMEDOUT" ETIMEDOUT "$out"
expect_match "direct disconnect: its client was told to flush its QP" "told to flush its QP" "$out"
expect_took "direct disconnect: answered within its deadline and slack" "$took"
dended() { grep -q '^ended' /tmp/direct.out; }
wait_until 5 dended
expect "the direct client flushed its QP across the cut" 0 "$?"

# rdma_cm's UNREACHABLE on a connected endpoint becomes ep.error. Whether and
# when it comes depends on the kernel (on rxe it followed ARP failing once
# host 1's NIC lost its carrier), so its absence is a note, not a failure.
wait "$ERRWATCH"
if [ -s /tmp/error.at ]; then
	first=$(grep '"event":"ep.error"' "$EVENTS" | grep -v '"reason"' | head -n 1)
	echo "  first ep.error $(($(cat /tmp/error.at) - cut_at)) ms after the cut: $first"
	connected=""
	for e in $(grep '"event":"ep.error"' "$EVENTS" | grep -v '"reason"' |
		sed -n 's/.*"ep":\([0-9]*\).*/\1/p' | sort -u); do
		case $e in "$A" | "$B" | "$C" | "$DE") ;; *) fail "ep.error names one of our endpoints" "$e" ;; esac
		tr '{' '\n' </tmp/error.eps | grep "\"ep\":$e," | grep -q '"state":"connected"' &&
			connected="$connected $e"
	done
	echo "  connected when the first ep.error came, and named in one:$connected"
	expect_match "UNREACHABLE reaches the watcher as ep.error for a connected endpoint" \
		'[0-9]' "$connected"
else
	echo "  NOTE: no ep.error (rdma_cm UNREACHABLE) within ${UNREACHABLE_WAIT} s of the cut; not a failure"
fi

# The transport gives up on C's send by itself, long before its deadline.
sent_c() { [ -s /tmp/c.end ]; }
if wait_until 90 sent_c; then
	echo "  C's send ended $(($(cat /tmp/c.end) - cut_at)) ms after the cut: $(cat /tmp/c.out)"
	expect_match "a send with a long deadline fails when the transport's retries run out" \
		"ETIMEDOUT: the send failed: the transport gave up" "$(cat /tmp/c.out)"
	# The connection is given up with it: watchers are told why, and C is no longer connected.
	gave_up() { grep '"event":"ep.error"' "$EVENTS" | grep "\"ep\":${C}," | grep -q 'transport gave up'; }
	if wait_until 10 gave_up; then pass "watchers get ep.error for C: the transport gave up"
	else fail "watchers get ep.error for C: the transport gave up" "$(cat "$EVENTS")"; fi
	expect_match "C is disconnecting or disconnected, not connected" \
		'"state":"disconnect(ing|ed)"' "$(ctl -j ep show "$C")"
	expect_match "stats count the failed transport" '"transport_failed":[1-9]' "$(ctl -j stats)"
	# A client that did not wait for a send learns of the failure from its next request.
	expect_match "C's next send says its connection failed, and why" \
		"ETIMEDOUT: endpoint $C's connection failed: the transport gave up" \
		"$(ctl ep send "$C" "after the failure" 2>&1)"
else
	fail "C's send ends before its 120 s deadline" "still waiting 90 s later"
fi
echo "  events so far:"
sed 's/^/    /' "$EVENTS"

# ---- the wire is back
rxehost-link up both 30
expect "the wire to host 2 is back" 0 "$?"
D=$(json_get ep "$(ctl -j ep connect "$PEER:$PORT" 2>&1)")
expect_match "a new connection to host 2 after the cut" '^[0-9]+$' "$D"
ctl ep send "$D" "after the cut" >/dev/null
expect "host 2 echoes on the new connection" "after the cut" "$(ctl ep recv "$D" 2>&1)"
echo "  endpoints after the cut:"
ctl ep show | sed 's/^/    /'

kill "$MON"
wait "$MON"
kill "$DHOLD"
wait "$DHOLD" 2>/dev/null
for e in "$A" "$B" "$C" "$D"; do ctl ep destroy "$e" >/dev/null; done
stats=$(ctl -j stats)
expect "every request completed (only stats pending)" 1 "$(json_get pending "$stats")"
expect "no reply dropped" 0 "$(json_get dropped "$stats")"
rdqd_stop
expect "rdqd exits 0" 0 "$?"
expect_no_level_violation
# Host 2 stops its rdqd once it has seen this (host 1's flags go when it powers off).
rxehost-signal finished
rxehost-wait stopped 60 || fail "host 2 stops its rdqd" "no word from host 2 within 60 s"

finish
