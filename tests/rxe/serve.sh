#!/bin/sh
# rdqctl ep serve, the inetd of RDMA, against foreign peers: rdma-core's
# rdma_client and echo-peer (--ask: text requests, answers printed; the echo
# mode: every byte value, several messages in flight, checked in order).
# Cases: answers (upper-cased, exact bytes, in order), several peers at once
# and --max-running; a command that fails, times out or writes nothing
# closes that peer's connection and no other's; a peer that vanishes while
# its command runs; the serving rdqctl interrupted (SIGINT: exit 0) or
# killed (SIGKILL): its listener and endpoints go, peers see the disconnect,
# new peers are refused, rdqd goes on.
set -u
. "${RDQ_TESTS:-$(dirname "$0")/..}/rxe/lib.sh"

ADDR=${RDQ_ADDR_SELF:?RDQ_ADDR_SELF must name the rxe netdev address}
PORT=7473
OUT=/tmp/serve.out
ERR=/tmp/serve.err

# A service with ways to fail, chosen by the request's first word.
cat >/tmp/svc.sh <<'EOF'
x=$(cat)
case $x in
fail*) echo "failing on purpose" >&2; exit 3 ;;
partial*) printf 'PARTIAL ANSWER'; exit 2 ;;
slow*) sleep 30 ;;
empty*) exit 0 ;;
esac
printf %s "$x" | tr a-z A-Z
EOF

# serve_start [OPTIONS] -- COMMAND...: rdqctl ep serve in the background, its pid in SERVER
# (exec: the pid is rdqctl's own, for the signals); waits for its "serving" line.
serve_start() {
	rm -f "$OUT" "$ERR"
	(exec rdqctl -s "$RDQ_SOCK" -j ep serve "$ADDR:$PORT" "$@" >"$OUT" 2>"$ERR") &
	SERVER=$!
	wait_until 10 seen '"event":"serving"' || fail "rdqctl ep serve starts" "$(cat "$OUT" "$ERR")"
}

# seen PATTERN: rdqctl's output has a line with PATTERN.
seen() { grep -q -- "$1" "$OUT"; }
count() { grep -c -- "$1" "$OUT"; }

# serve_stop: SIGINT; rdqctl must exit 0.
serve_stop() {
	kill -INT "$SERVER"
	wait "$SERVER"
}

passives() { ctl -j ep show | tr '{' '\n' | grep -c '"role":"passive"'; }
no_passive() { [ "$(passives)" -eq 0 ]; }
no_endpoints() { ctl -j status | grep -q '"endpoints":0'; }
running() { ps | grep -v grep | grep -c "$1"; }
accepted_at_least() { [ "$(count '"event":"accepted"')" -ge "$1" ]; }
sleeping() { [ "$(running 'sleep 30')" -ge 1 ]; }
# refused STATUS: rdma_client failed on its own (a reject), not by timeout's kill.
refused() { [ "$1" -ne 0 ] && [ "$1" -ne 124 ] && echo yes || echo "no (exit $1)"; }

rdqd_start || exit 1

# ---------------------------------------------------------------- answers
serve_start -- tr a-z A-Z
expect_match "rdqctl says where it serves, and the listener" \
	"\"local\":\"$ADDR:$PORT\",\"listener\":[0-9]+" "$(cat "$OUT")"
L=$(json_get listener "$(grep serving "$OUT")")
expect_match "its listener is in serve mode" '"mode":"serve"' "$(ctl -j ep show "$L")"

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

# Several peers at once, each answered its own.
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
expect "the peers that left are destroyed (no passive endpoint left)" 0 "$(passives)"
serve_stop
expect "SIGINT: rdqctl exits 0" 0 "$?"

# Exact bytes, in order: every byte value, 4 requests in flight, cat as the command.
serve_start -- cat
out=$(timeout 120 echo-peer "$ADDR" "$PORT" 4096 24 4 2>&1)
expect "24 answers through cat, 4 in flight: every byte back, in order" 0 "$?"
out=$(timeout 120 echo-peer "$ADDR" "$PORT" 65536 3 2>&1)
expect "the largest message (65536 bytes) through cat, byte for byte" 0 "$?"
serve_stop

# --max-running: three peers at once, each command two seconds long. With 4 slots
# they overlap (three starts before an end); with 1 they take turns.
cat >/tmp/slow-tr.sh <<'EOF'
echo start >>/tmp/turns
sleep 2
echo end >>/tmp/turns
tr a-z A-Z
EOF
for max in 4 1; do
	rm -f /tmp/turns
	serve_start --max-running "$max" -- sh /tmp/slow-tr.sh
	pids=""
	for i in 1 2 3; do
		timeout 60 echo-peer --ask "$ADDR" "$PORT" 30000 "turn $i" >/tmp/ask.$i 2>&1 &
		pids="$pids $!"
	done
	bad=0
	for p in $pids; do wait "$p" || bad=$((bad + 1)); done
	expect "--max-running $max: three peers answered" 0 "$bad"
	turns=$(tr '\n' ' ' </tmp/turns)
	if [ "$max" = 4 ]; then
		expect "--max-running 4: the three commands run at once" \
			"start start start end end end " "$turns"
	else
		expect "--max-running 1: one command at a time" \
			"start end start end start end " "$turns"
	fi
	serve_stop
done

# ---------------------------------------------------------------- failing commands
serve_start --timeout 3000 -- sh /tmp/svc.sh
timeout 60 echo-peer --ask "$ADDR" "$PORT" 30000 "slow one" >/tmp/ask.slow 2>&1 &
SLOW=$!
# While one command hangs, another peer is answered as usual.
out=$(timeout 60 echo-peer --ask "$ADDR" "$PORT" 20000 "first fine" "second fine" 2>&1)
expect "a peer is answered while another's command hangs" \
	"echo-peer: connected
FIRST FINE
SECOND FINE" "$out"
out=$(timeout 60 echo-peer --ask "$ADDR" "$PORT" 20000 "fine" "fail now" "never sent" 2>&1)
expect "a command that exits non-zero: its peer's connection is closed" 4 "$?"
expect "the peer got its earlier answer, then the disconnect" \
	"echo-peer: connected
FINE
echo-peer: disconnected by the other side" "$out"
expect_match "rdqctl says why on stderr" \
	'rdqctl: ep [0-9]+ \([0-9.:]+\): sh exited with status 3; closing its connection' \
	"$(cat "$ERR")"
expect_match "the command's own stderr is rdqctl's" "failing on purpose" "$(cat "$ERR")"
out=$(timeout 60 echo-peer --ask "$ADDR" "$PORT" 20000 "partial" 2>&1)
expect "a command that writes and then exits non-zero: its peer's connection is closed" 4 "$?"
expect "what it wrote is not sent" \
	"echo-peer: connected
echo-peer: disconnected by the other side" "$out"
expect_match "rdqctl says it exited with status 2" "sh exited with status 2" "$(cat "$ERR")"
out=$(timeout 60 echo-peer --ask "$ADDR" "$PORT" 20000 "empty" 2>&1)
expect "a command that writes nothing: its peer's connection is closed" 4 "$?"
expect_match "rdqctl says it wrote nothing" "sh wrote nothing" "$(cat "$ERR")"
wait "$SLOW"
expect "a command past --timeout: its peer's connection is closed" 4 "$?"
expect_match "the slow peer saw the disconnect" "disconnected by the other side" \
	"$(cat /tmp/ask.slow)"
expect_match "rdqctl says it ran past --timeout" "ran past --timeout 3000 ms and was killed" \
	"$(cat "$ERR")"
expect "the timed-out command's process group is killed (no sleep left)" 0 "$(running 'sleep 30')"
expect_match "closed events say why" '"event":"closed".*"why":"sh exited with status 3"' \
	"$(cat "$OUT")"
wait_until 10 no_passive
expect "the closed peers' endpoints are destroyed" 0 "$(passives)"
out=$(timeout 60 echo-peer --ask "$ADDR" "$PORT" 20000 "still serving" 2>&1)
expect "rdqctl still serves after the failures" "STILL SERVING" "$(echo "$out" | tail -n 1)"
kill -0 "$SERVER" 2>/dev/null
expect "rdqctl is still running" 0 "$?"
serve_stop
expect "SIGINT: rdqctl exits 0" 0 "$?"

# ---------------------------------------------------------------- a peer that vanishes
serve_start -- sh -c 'sleep 2; cat'
(exec echo-peer --ask "$ADDR" "$PORT" 30000 "going away") >/tmp/ask.gone 2>&1 &
GONE=$!
wait_until 10 seen '"event":"accepted"'
sleep 0.5
kill -KILL "$GONE"
wait "$GONE" 2>/dev/null
wait_until 20 seen '"why":"the peer disconnected"'
expect "rdqctl notices the peer vanished while its command ran" 0 "$?"
kill -0 "$SERVER" 2>/dev/null
expect "rdqctl does not crash" 0 "$?"
out=$(timeout 60 echo-peer --ask "$ADDR" "$PORT" 30000 "another peer" 2>&1)
expect "another peer is served afterwards" "another peer" "$(echo "$out" | tail -n 1)"
wait_until 10 no_passive
expect "ep show lists no served endpoint left over" 0 "$(passives)"
expect "nothing on stderr: a peer leaving is no failure" "" "$(cat "$ERR")"
serve_stop
expect "SIGINT: rdqctl exits 0" 0 "$?"

# ---------------------------------------------------------------- the server goes away
# SIGINT while a command runs and a peer waits idle.
serve_start --timeout 60000 -- sh /tmp/svc.sh
L=$(json_get listener "$(grep serving "$OUT")")
timeout 60 echo-peer --ask "$ADDR" "$PORT" 30000 >/tmp/ask.idle 2>&1 &
IDLE=$!
timeout 60 echo-peer --ask "$ADDR" "$PORT" 30000 "slow again" >/tmp/ask.slow 2>&1 &
SLOW=$!
wait_until 10 accepted_at_least 2
wait_until 10 sleeping
expect "a command runs" 1 "$(running 'sleep 30')"
serve_stop
expect "SIGINT with a command running and peers connected: rdqctl exits 0" 0 "$?"
expect "the running command is killed" 0 "$(running 'sleep 30')"
wait "$IDLE"
expect "the idle peer sees the disconnect" 0 "$?"
wait "$SLOW"
expect "the peer waiting for an answer sees the disconnect" 4 "$?"
wait_until 10 no_endpoints
expect "the listener and its endpoints are gone" 0 "$?"
out=$(timeout 60 rdma_client -s "$ADDR" -p "$PORT" 2>&1)
expect "a new rdma_client is refused, cleanly (no timeout)" yes "$(refused $?)"

# SIGKILL: rdqd sees the connection close and cleans up the same way.
serve_start -- tr a-z A-Z
timeout 60 echo-peer --ask "$ADDR" "$PORT" 30000 >/tmp/ask.idle 2>&1 &
IDLE=$!
wait_until 10 seen '"event":"accepted"'
kill -KILL "$SERVER"
wait "$SERVER" 2>/dev/null
wait_until 10 no_endpoints
expect "SIGKILL: rdqd destroys the listener and its endpoints" 0 "$?"
wait "$IDLE"
expect "the connected peer sees the disconnect" 0 "$?"
expect_match "it says so" "disconnected by the other side" "$(cat /tmp/ask.idle)"
out=$(timeout 60 rdma_client -s "$ADDR" -p "$PORT" 2>&1)
expect "a new rdma_client is refused, cleanly (no timeout)" yes "$(refused $?)"
expect_match "rdqd still answers" '"pid":[0-9]+' "$(ctl -j status)"

rdqd_stop
expect "rdqd exits 0" 0 "$?"
expect_no_level_violation

finish
