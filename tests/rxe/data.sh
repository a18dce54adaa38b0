#!/bin/sh
# Messages through the shared verbs resources, against foreign peers written
# against librdmacm (echo-peer): every size up to the largest allowed, a
# message over it, a peer that never posts a receive (RNR) while others are
# served, and an endpoint whose client does not read (--recv-backlog).
set -u
. "${RDQ_TESTS:-$(dirname "$0")/..}/rxe/lib.sh"

ADDR=${RDQ_ADDR_SELF:?RDQ_ADDR_SELF must name the rxe netdev address}
PORT=7480
EVENTS=/tmp/data-events.out

stat_of() { json_get "$1" "$(ctl -j stats)"; }

# requests_balance NAME: every request received has its reply (the stats request is pending).
requests_balance() {
	stats=$(ctl -j stats)
	received=$(json_get received "$stats")
	rejected=$(json_get rejected "$stats")
	replied=$(json_get replied "$stats")
	pending=$(json_get pending "$stats")
	expect "$1: every request has its reply" "$((received + rejected))" "$((replied + pending))"
	expect "$1: no reply dropped" 0 "$(json_get dropped "$stats")"
}

# ---------------------------------------------------------------- default limits
rdqd_start || exit 1
ctl -j monitor >"$EVENTS" 2>&1 &
MON=$!
L=$(json_get ep "$(ctl -j ep listen "$ADDR:$PORT")")
expect_match "listen" '^[0-9]+$' "$L"

for size in 1 4095 4096 4097 65536; do
	out=$(timeout 60 echo-peer "$ADDR" "$PORT" "$size" 20 2>&1)
	expect "20 echoes of $size bytes come back byte for byte" 0 "$?"
done
expect_match "the 64 KiB peer says so" "20 echoes of 65536 bytes, every byte checked" "$out"

# A peer that never posts a receive: rdqd's echo to it is refused (RNR) until
# the retries run out; its endpoint then fails and rdqd disconnects it.
timeout 90 echo-peer --deaf "$ADDR" "$PORT" 64 4 60 >/tmp/deaf.out 2>&1 &
DEAF=$!
# Meanwhile another peer is served as usual.
out=$(timeout 60 echo-peer "$ADDR" "$PORT" 4096 200 2>&1)
expect "another peer gets 200 echoes while one does not receive" 0 "$?"
wait $DEAF
expect "the deaf peer is disconnected by rdqd" 0 "$?"
expect_match "the deaf peer saw the disconnect" "disconnected by the other side" \
	"$(cat /tmp/deaf.out)"
rnr_event() { grep '"event":"ep.error"' "$EVENTS" | grep -q 'not receiving (RNR)'; }
if wait_until 10 rnr_event; then pass "watchers get ep.error: the peer is not receiving (RNR)"
else fail "watchers get ep.error: the peer is not receiving (RNR)" "$(cat "$EVENTS")"; fi
expect "stats count one failed transport" 1 "$(stat_of transport_failed)"
no_passive() { ! ctl -j ep show | grep -q '"role":"passive"'; }
if wait_until 20 no_passive; then pass "no passive endpoint is left"
else fail "no passive endpoint is left" "$(ctl -j ep show)"; fi
requests_balance "default limits"
kill "$MON" 2>/dev/null
rdqd_stop
expect "rdqd exits 0" 0 "$?"

# ---------------------------------------------------------------- exact bytes
# Protocol version 2 carries a message's bytes after the JSON of a frame,
# unescaped: rdqctl sends a file's bytes (@FILE, or - for standard input)
# and writes what comes back to a file (--out).
all_bytes() {
	i=0
	while [ $i -lt 256 ]; do
		printf "\\$(printf %03o $i)"
		i=$((i + 1))
	done
}
rdqd_start || exit 1
ctl ep listen "$ADDR:$PORT" >/dev/null
A=$(json_get ep "$(ctl -j ep connect "$ADDR:$PORT")")
all_bytes >/tmp/all.bin
expect "the test file holds the 256 byte values" 256 "$(od -An -v -tu1 /tmp/all.bin | tr -s ' ' '\n' | grep -c .)"
ctl ep send "$A" @/tmp/all.bin && ctl ep recv "$A" --out /tmp/all.back
cmp -s /tmp/all.bin /tmp/all.back
expect "all 256 byte values come back exactly through rdqd's echo" 0 "$?"
head -c 65536 /dev/urandom >/tmp/max.bin
ctl ep send "$A" - </tmp/max.bin && ctl ep recv "$A" --out - >/tmp/max.back
cmp -s /tmp/max.bin /tmp/max.back
expect "the largest message (--max-message, 65536 bytes) comes back exactly, stdin to stdout" 0 "$?"
head -c 65537 /dev/urandom >/tmp/over.bin
out=$(ctl ep send "$A" @/tmp/over.bin 2>&1)
expect_match "one byte more is refused with EMSGSIZE" 'EMSGSIZE.*--max-message' "$out"
out=$(ctl -j ep send "$A" waited --wait)
expect_match "--wait answers once the send completed" '"completed": *true' "$out"
expect "and its echo comes back" waited "$(ctl ep recv "$A")"
out=$(ctl -j ep send "$A" posted)
expect_match "without --wait the answer says the send is only posted" '"completed": *false' "$out"
expect "and its echo comes back too" posted "$(ctl ep recv "$A")"

# One librdq client: version 1 requests still work beside version 2, and 16
# version 2 requests pipelined on one connection are each answered once.
out=$(timeout 60 proto-client "$RDQ_SOCK" "$ADDR" "$PORT" 16 2>&1)
expect "version 1 and 2 from one client; 16 pipelined sends and receives" 0 "$?"
echo "$out" | sed 's/^/  /'

# A foreign server (written against librdmacm) echoes what rdqd's client
# sends: the NULs and every other byte it sends back reach the client intact.
timeout 60 echo-peer --serve "$ADDR" 7481 2 >/tmp/serve.out 2>&1 &
SERVE=$!
serving() { grep -q listening /tmp/serve.out; }
wait_until 10 serving
F=$(json_get ep "$(ctl -j ep connect "$ADDR:7481")")
ctl ep send "$F" @/tmp/all.bin && ctl ep recv "$F" --out /tmp/foreign.back
cmp -s /tmp/all.bin /tmp/foreign.back
expect "a foreign peer's message with NULs (all 256 byte values) reaches the client exactly" 0 "$?"
ctl ep send "$F" @/tmp/max.bin && ctl ep recv "$F" --out /tmp/foreign-max.back
cmp -s /tmp/max.bin /tmp/foreign-max.back
expect "a foreign peer's 64 KiB message reaches the client exactly" 0 "$?"
wait $SERVE
expect "the foreign server served both" 0 "$?"
requests_balance "exact bytes"
rdqd_stop
expect "rdqd exits 0" 0 "$?"

# ---------------------------------------------------------------- a small maximum and backlog
rdqd_start --max-message 4096 --recv-backlog 4 || exit 1
L=$(json_get ep "$(ctl -j ep listen "$ADDR:$PORT")")
big=$(head -c 4097 /dev/zero | tr '\0' 'x')
A=$(json_get ep "$(ctl -j ep connect "$ADDR:$PORT")")
out=$(ctl ep send "$A" "$big" 2>&1)
expect_match "ep.send over --max-message gives EMSGSIZE and names the option" \
	'EMSGSIZE.*--max-message' "$out"

out=$(timeout 60 echo-peer "$ADDR" "$PORT" 4097 1 2>&1)
expect "a peer's message over the maximum fails at the peer" 3 "$?"
expect_match "the peer is told its message was refused" \
	"remote operation error|Remote Invalid Request" "$out"
oversize_logged() { grep -q 'larger than the largest allowed.*4096 bytes' "$RDQD_LOG"; }
if wait_until 10 oversize_logged; then pass "rdqd says which endpoint got a message too large"
else fail "rdqd says which endpoint got a message too large" "$(tail -5 "$RDQD_LOG")"; fi
expect "the oversize message counts as a failed transport" 1 "$(stat_of transport_failed)"

# A client that does not read: four echoes wait, the fifth fails the endpoint.
for i in 1 2 3 4 5; do ctl ep send "$A" "unread $i" >/dev/null; done
not_connected() { ! ctl -j ep show "$A" | grep -q '"state":"connected"'; }
if wait_until 10 not_connected; then pass "the fifth unread message fails the endpoint"
else fail "the fifth unread message fails the endpoint" "$(ctl -j ep show "$A")"; fi
expect "stats count the full backlog" 1 "$(stat_of backlog_full)"
expect "the four held messages can still be read, in order" "unread 1" "$(ctl ep recv "$A" 2>&1)"
out=$(ctl ep send "$A" again 2>&1)
expect_match "a send on the failed endpoint is refused" 'ENOTCONN|ENOBUFS' "$out"
ctl ep destroy "$A" >/dev/null
requests_balance "small maximum"
rdqd_stop
expect "rdqd exits 0" 0 "$?"

# ---------------------------------------------------------------- two send slots
# Six peers with 8 messages in flight each against a device with 2 send
# slots: a receive slot goes back at once, a send slot only when its echo is
# acknowledged, so echoes wait for a slot, in order; every one comes back
# whole and in order. A slot that comes back must reach every echo waiting
# for one, not only the first in line (which may have nothing left to send):
# with that wake-up lost, peers stalled here.
rdqd_start --send-slots 2 || exit 1
ctl ep listen "$ADDR:$PORT" >/dev/null
k=1
pids=""
while [ $k -le 6 ]; do
	timeout 120 echo-peer "$ADDR" "$PORT" 4096 300 8 >/tmp/many-$k.out 2>&1 &
	pids="$pids $!"
	k=$((k + 1))
done
bad=0
for p in $pids; do wait "$p" || bad=$((bad + 1)); done
expect "six peers, 8 in flight each, 2 send slots: every echo comes back whole, in order" 0 "$bad"
waited=$(stat_of echo_waited)
echo "  echoes that waited for a send slot: $waited"
expect_match "echoes waited for a send slot" '^[1-9]' "$waited"
requests_balance "two send slots"
rdqd_stop
expect "rdqd exits 0" 0 "$?"

# ---------------------------------------------------------------- copies of a message
# A received message is copied at most once inside rdqd and once inside librdq, whether its
# ep.recv waited for it or it arrived first and was held (docs/architecture.md, "A message for
# ep.recv"). The alloc-count preload counts the copies (memcpy, memmove and their kin) of at
# least the message's size: in rdqd, read around each case (SIGUSR2); in the client, written as
# it exits. The size is the message's alone: nothing else rdqd or librdq copies is as large.
PRELOAD=$(dirname "$(command -v echo-peer)")/liballoc-count.so
if [ ! -f "$PRELOAD" ]; then
	echo "skip - copies of a message: no alloc-count preload (built with -Dbench=disabled)"
else
	SIZE=262139
	export ALLOC_COUNT_FILE=/tmp/rdqd.copies COPY_COUNT_MIN=$SIZE LD_PRELOAD="$PRELOAD"
	rdqd_start --max-message 1048576 || exit 1
	unset ALLOC_COUNT_FILE COPY_COUNT_MIN LD_PRELOAD
	# copies_in FILE: the copies its last line counts.
	copies_in() { tail -n 1 "$1" | sed -n 's/.* copies \([0-9]*\).*/\1/p'; }
	# rdqd_copies: rdqd's copies so far.
	rdqd_copies() {
		: >/tmp/rdqd.copies
		kill -USR2 "$RDQD_PID"
		wait_until 5 test -s /tmp/rdqd.copies
		copies_in /tmp/rdqd.copies
	}
	# receive INDEX [--next]: recv-client under the preload, its copies in /tmp/client.copies.
	receive() {
		rm -f /tmp/client.copies
		ALLOC_COUNT_FILE=/tmp/client.copies COPY_COUNT_MIN=$SIZE LD_PRELOAD="$PRELOAD" \
			timeout 60 recv-client "$RDQ_SOCK" "$E" "$SIZE" "$@"
	}
	received_is() { [ "$(json_get received "$(ctl -j ep show "$E")")" = "$1" ]; }
	recv_pending() { ctl -j request list | grep -q '"op":"ep.recv"'; }
	# A peer that sends each message when told (SIGUSR1, so not under timeout, which would take
	# it), to rdqd's ep.connect.
	echo-peer --push "$ADDR" 7482 "$SIZE" 4 >/tmp/push.out 2>&1 &
	PUSH=$!
	wait_until 10 grep -q listening /tmp/push.out
	E=$(json_get ep "$(ctl -j ep connect "$ADDR:7482")")
	wait_until 10 grep -q connected /tmp/push.out
	expect_match "a peer that sends when told is connected" '^[0-9]+$' "$E"
	# copy_case NAME INDEX first|after [--next]: message INDEX arrives before or after its
	# ep.recv; rdqd and librdq each copy it once.
	copy_case() {
		name=$1 index=$2 when=$3
		shift 3
		before=$(rdqd_copies)
		if [ "$when" = first ]; then
			kill -USR1 "$PUSH"
			wait_until 10 received_is $((index + 1)) ||
				fail "$name: the message is held" "$(ctl -j ep show "$E")"
			out=$(receive "$index" "$@" 2>&1)
			status=$?
		else
			receive "$index" "$@" >/tmp/recv.out 2>&1 &
			client=$!
			wait_until 10 recv_pending || fail "$name: ep.recv waits" "$(ctl -j request list)"
			kill -USR1 "$PUSH"
			wait "$client"
			status=$?
			out=$(cat /tmp/recv.out)
		fi
		expect "$name: the message comes exactly" "0 recv-client: $SIZE bytes, exact" \
			"$status $out"
		after=$(rdqd_copies)
		echo "  $name: rdqd copied it $((after - before)) times, librdq $(copies_in /tmp/client.copies)"
		expect "$name: rdqd copies it once" 1 $((after - before))
		expect "$name: librdq copies it once" 1 "$(copies_in /tmp/client.copies)"
	}
	copy_case "rdq_ep_recv waiting for a message" 0 after
	copy_case "a message held for rdq_ep_recv" 1 first
	copy_case "rdq_client_next waiting for a message" 2 after --next
	copy_case "a message held for rdq_client_next" 3 first --next
	if wait_until 10 grep -q 'sent 3' /tmp/push.out; then
		wait "$PUSH"
		expect "the peer sent its four messages" 0 "$?"
	else
		kill "$PUSH"
		fail "the peer sent its four messages" "$(cat /tmp/push.out)"
	fi
	requests_balance "copies"
	rdqd_stop
	expect "rdqd exits 0" 0 "$?"
fi

# ---------------------------------------------------------------- the largest maximum
rdqd_start --max-message 1048576 || exit 1
ctl ep listen "$ADDR:$PORT" >/dev/null
out=$(timeout 120 echo-peer "$ADDR" "$PORT" 1048576 3 2>&1)
expect "three 1 MiB messages come back byte for byte" 0 "$?"
requests_balance "1 MiB"
rdqd_stop
expect "rdqd exits 0" 0 "$?"
expect_no_level_violation

finish
