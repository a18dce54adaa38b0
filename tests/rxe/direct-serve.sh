#!/bin/sh
# rdqctl ep serve --direct: rdqd holds each peer's rdma_cm id, rdqctl takes
# the connection with a QP of its own and moves the messages on it.
# Cases: answers to rdma-core's rdma_client and echo-peer (upper-cased, in
# order), several peers at once; ep show lists the listener and each served
# endpoint as direct, with rdqctl's pid and the QP's number; peers that
# leave are closed and their endpoints gone; a failing command closes its
# peer's connection; SIGINT ends serving with status 0 and leaves nothing;
# the serving rdqctl killed (SIGKILL): its endpoints go, the connected peer
# is disconnected, direct.dropped counts it. Then examples/echo-server
# --direct against a librdq client, every byte checked.
set -u
. "${RDQ_TESTS:-$(dirname "$0")/..}/rxe/lib.sh"

ADDR=${RDQ_ADDR_SELF:?RDQ_ADDR_SELF must name the rxe netdev address}
PORT=7476
OUT=/tmp/direct-serve.out
ERR=/tmp/direct-serve.err

# serve_start [OPTIONS] -- COMMAND...: rdqctl ep serve --direct in the background, its pid
# in SERVER (exec: rdqctl's own); waits for its "serving" line.
serve_start() {
	rm -f "$OUT" "$ERR"
	(exec rdqctl -s "$RDQ_SOCK" -j ep serve --direct "$ADDR:$PORT" "$@" >"$OUT" 2>"$ERR") &
	SERVER=$!
	wait_until 10 seen '"event":"serving"' || fail "rdqctl ep serve --direct starts" "$(cat "$OUT" "$ERR")"
}
serve_stop() {
	kill -INT "$SERVER"
	wait "$SERVER"
}

seen() { grep -q -- "$1" "$OUT"; }
count() { grep -c -- "$1" "$OUT"; }
passives() { ctl -j ep show | tr '{' '\n' | grep -c '"role":"passive"'; }
no_passive() { [ "$(passives)" -eq 0 ]; }
no_endpoints() { ctl -j status | grep -q '"endpoints":0'; }
accepted_at_least() { [ "$(count '"event":"accepted"')" -ge "$1" ]; }
direct_dropped() { ctl -j stats | sed -n 's/.*"direct":{"dropped":\([0-9]*\).*/\1/p'; }

rdqd_start || exit 1

# ---------------------------------------------------------------- answers
serve_start -- tr a-z A-Z
expect_match "rdqctl says where it serves, and the listener" \
	"\"local\":\"$ADDR:$PORT\",\"listener\":[0-9]+" "$(cat "$OUT")"
L=$(json_get listener "$(grep serving "$OUT")")
expect_match "its listener is direct, rdqctl's" "\"mode\":\"direct\",\"client_pid\":$SERVER" \
	"$(ctl -j ep show "$L")"

out=$(timeout 60 rdma_client -s "$ADDR" -p "$PORT" 2>&1)
expect "rdma-core's rdma_client gets its 16 bytes back and exits 0" 0 "$?"
wait_until 10 seen '"request":16,"answer":16'
expect "rdqctl answered rdma_client's 16 bytes with 16" 0 "$?"

out=$(timeout 60 echo-peer --ask "$ADDR" "$PORT" 20000 "hello rdma" "second, in order" 2>&1)
expect "echo-peer is answered twice" 0 "$?"
expect "the answers are the requests upper-cased, in order" \
	"echo-peer: connected
HELLO RDMA
SECOND, IN ORDER" "$out"

pids=""
for i in 1 2 3 4; do
	timeout 60 echo-peer --ask "$ADDR" "$PORT" 20000 "peer $i asks" >/tmp/ask.$i 2>&1 &
	pids="$pids $!"
done
bad=0
for p in $pids; do wait "$p" || bad=$((bad + 1)); done
expect "four peers at once all answered" 0 "$bad"
got=""
for i in 1 2 3 4; do got="$got$(tail -n 1 /tmp/ask.$i);"; done
expect "each peer got its own answer" "PEER 1 ASKS;PEER 2 ASKS;PEER 3 ASKS;PEER 4 ASKS;" "$got"
wait_until 10 no_passive
expect "the peers that left are closed, their endpoints gone" 0 "$(passives)"
expect "closed lines say the peers disconnected" 6 "$(count '"why":"the peer disconnected"')"

# ---------------------------------------------------------------- ep show
timeout 60 echo-peer --ask "$ADDR" "$PORT" 30000 >/tmp/ask.idle 2>&1 &
IDLE=$!
wait_until 10 accepted_at_least 7
row=$(ctl -j ep show | tr '{' '\n' | grep '"role":"passive"')
expect_match "ep show -j: the served endpoint is direct, its QP rdqctl's" \
	"\"parent\":$L,.*\"mode\":\"direct\",\"client_pid\":$SERVER,\"qp_num\":[1-9]" "$row"
row=$(ctl ep show | grep passive)
expect_match "ep show: the served endpoint's MODE, PID and QPN" \
	" passive +direct +connected .* $SERVER +[0-9]+ " "$row"
kill "$IDLE"
wait "$IDLE" 2>/dev/null
wait_until 10 no_passive
serve_stop
expect "SIGINT: rdqctl exits 0" 0 "$?"
wait_until 10 no_endpoints
expect "the listener is gone with it" 0 "$?"

# ---------------------------------------------------------------- a failing command
serve_start -- sh -c 'x=$(cat); case $x in fail*) exit 3 ;; esac; printf %s "$x" | tr a-z A-Z'
out=$(timeout 60 echo-peer --ask "$ADDR" "$PORT" 20000 "fine" "fail now" "never sent" 2>&1)
expect "a command that exits non-zero: its peer's connection is closed" 4 "$?"
expect "the peer got its earlier answer, then the disconnect" \
	"echo-peer: connected
FINE
echo-peer: disconnected by the other side" "$out"
expect_match "rdqctl says why on stderr" \
	'rdqctl: ep [0-9]+ \([0-9.:]+\): sh exited with status 3; closing its connection' \
	"$(cat "$ERR")"
out=$(timeout 60 echo-peer --ask "$ADDR" "$PORT" 20000 "still serving" 2>&1)
expect "rdqctl still serves after the failure" "STILL SERVING" "$(echo "$out" | tail -n 1)"

# ---------------------------------------------------------------- rdqctl killed
timeout 60 echo-peer --ask "$ADDR" "$PORT" 30000 >/tmp/ask.idle 2>&1 &
IDLE=$!
wait_until 10 accepted_at_least 3
dropped_before=$(direct_dropped)
kill -KILL "$SERVER"
wait "$SERVER" 2>/dev/null
wait_until 10 no_endpoints
expect "SIGKILL: rdqd destroys the listener and the served endpoint" 0 "$?"
wait "$IDLE"
expect "the connected peer sees the disconnect" 0 "$?"
expect_match "it says so" "disconnected by the other side" "$(cat /tmp/ask.idle)"
expect "it is counted (direct.dropped)" $((dropped_before + 1)) "$(direct_dropped)"
out=$(timeout 60 rdma_client -s "$ADDR" -p "$PORT" 2>&1)
st=$?
[ "$st" -ne 0 ] && [ "$st" -ne 124 ]
expect "a new rdma_client is refused, cleanly (no timeout)" 0 "$?"

# ---------------------------------------------------------------- the example
echo-server -s "$RDQ_SOCK" --direct "$ADDR:$PORT" >/tmp/echo-direct.out 2>&1 &
ECHO=$!
direct_serving() { grep -q "serving $ADDR:$PORT (direct listener" /tmp/echo-direct.out; }
wait_until 10 direct_serving || fail "echo-server --direct serves" "$(cat /tmp/echo-direct.out)"
out=$(timeout 300 serve-client -s "$RDQ_SOCK" "$ADDR" "$PORT" 300 65536 2>&1)
expect "echo-server --direct: 300 requests of 1 to 65536 bytes, every answer exact" 0 "$?"
out=$(timeout 60 rdma_client -s "$ADDR" -p "$PORT" 2>&1)
expect "echo-server --direct answers rdma_client" 0 "$?"
kill -TERM "$ECHO"
wait "$ECHO"
expect "echo-server --direct stops on SIGTERM with status 0" 0 "$?"
expect_match "it answered every request itself" "answered 301 request\\(s\\) from 2 peer\\(s\\)" \
	"$(cat /tmp/echo-direct.out)"
wait_until 10 no_endpoints
expect "its listener and endpoints are gone with it" 0 "$?"

expect_no_level_violation
rdqd_stop
expect "rdqd exits 0" 0 "$?"
finish
