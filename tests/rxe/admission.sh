#!/bin/sh
# Admission of the network's connections, over real soft-RoCE on one host.
# rdqd (the one under test) runs with --max-endpoints 10 and
# --max-network-endpoints 8, and listens with --max-connections 5. The
# foreign peers: a second rdqd, whose 20 connects hold their connections
# open (rdma-core's clients either finish at once or ping-pong without pause
# against an echo service) and which prints what a rejecting peer put in the
# REJ's private data; and rdma-core's rping. Checks: exactly 5 passive
# endpoints; the rest rejected at once with a reason, counted in
# stats.network; the owner's own quota untouched by peers; rdqd's own cap;
# one log line a second, not one a reject; ep show's PARENT and PEERS
# columns; and, once the peers are killed, the passive endpoints gone and the
# counters balanced.
set -u
. "${RDQ_TESTS:-$(dirname "$0")/..}/rxe/lib.sh"

ADDR=${RDQ_ADDR_SELF:?RDQ_ADDR_SELF must name the rxe netdev address}
PORT=7480  # the listener of 5
PORT2=7481 # a listener of the default 1024, for rdqd's own cap
N=20
MAX=5
PEER_SOCK=/tmp/rdq-peer/rdqd.sock
PEER_LOG=/tmp/rdqd-peer.log

peer() {
	rdqctl -s "$PEER_SOCK" "$@"
}

# network FIELD: a counter of stats.network.
network() {
	ctl -j stats | sed -n 's/.*"network":{\([^}]*\)}.*/\1/p' |
		sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

# passive_of LISTENER: how many passive endpoints have that parent.
passive_of() {
	ctl -j ep show | tr '{' '\n' | grep '"role":"passive"' | grep -c "\"parent\":$1,"
}

rdqd_start --max-endpoints 10 --max-network-endpoints 8 || exit 1
mkdir -p "$(dirname "$PEER_SOCK")"
rdqd -s "$PEER_SOCK" 2>"$PEER_LOG" &
PEER_PID=$!
wait_until 20 peer version || { echo "the peer rdqd did not start:"; cat "$PEER_LOG"; exit 1; }

L=$(json_get ep "$(ctl -j ep listen "$ADDR:$PORT" --max-connections $MAX 2>&1)")
expect_match "listen --max-connections $MAX" '^[0-9]+$' "$L"

# --- 20 foreign connections at once: 5 are taken, 15 rejected with the reason

i=0
pids=""
while [ $i -lt $N ]; do
	i=$((i + 1))
	peer ep connect "$ADDR:$PORT" --timeout 20000 >/tmp/foreign.$i.out 2>&1 &
	pids="$pids $!"
done
# shellcheck disable=SC2086 # one word a pid
wait $pids
ok=$(cat /tmp/foreign.*.out | grep -c '^ep [0-9]* qp [0-9]*$')
refused=$(cat /tmp/foreign.*.out | grep -c "ECONNREFUSED")
expect "of $N foreign connects, $MAX are taken" $MAX "$ok"
expect "the other $((N - MAX)) are refused" $((N - MAX)) "$refused"
expect "each refused peer read why in the REJ" $((N - MAX)) \
	"$(cat /tmp/foreign.*.out | grep -c "rdq: listener $L is full ($MAX connections)")"
expect "exactly $MAX passive endpoints exist" $MAX "$(passive_of "$L")"
expect "stats: $N requests from the network" $N "$(network requests)"
expect "stats: $MAX accepted" $MAX "$(network accepted)"
expect "stats: $((N - MAX)) rejected, the listener full" $((N - MAX)) \
	"$(network rejected_listener_full)"
expect "stats: $MAX network endpoints" $MAX "$(network endpoints)"
out=$(ctl -j ep show "$L")
expect "ep show: the listener holds $MAX of $MAX" "$MAX $MAX" \
	"$(json_get connections "$out") $(json_get max_connections "$out")"

# ep show's text: a listener has no parent and no QP ("-"), and shows its peers; a
# passive endpoint names its listener.
row=$(ctl ep show | awk -v l="$L" '$1 == l { print $2, $8, $9 }')
expect "ep show: the listener's QP, PARENT and PEERS" "- - $MAX/$MAX" "$row"
P=$(passive_ep)
row=$(ctl ep show | awk -v p="$P" '$1 == p { print $8, $9 }')
expect "ep show: a passive endpoint's PARENT is its listener" "$L -" "$row"

# --- rdma-core's rping against the full listener: rejected at once too

i=0
pids=""
while [ $i -lt 5 ]; do
	i=$((i + 1))
	timeout 30 rping -c -a "$ADDR" -p $PORT -C 1 >/tmp/rping.$i.out 2>&1 &
	pids="$pids $!"
done
# shellcheck disable=SC2086 # one word a pid
wait $pids
expect "five rping clients rejected too" $((N - MAX + 5)) "$(network rejected_listener_full)"
expect "rping saw the reject" 5 "$(cat /tmp/rping.*.out | grep -c REJECTED)"

# --- the owner's own endpoints: its quota of 10 is its own

out=$(ctl ep connect "$ADDR:$PORT" 2>&1)
expect_match "the owner's connect to its full listener: refused, with the reason" \
	"ECONNREFUSED.*listener $L is full" "$out"
L2=$(json_get ep "$(ctl -j ep listen "$ADDR:$PORT2" 2>&1)")
expect_match "the owner listens again" '^[0-9]+$' "$L2"
A1=$(json_get ep "$(ctl -j ep connect "$ADDR:$PORT2" 2>&1)")
A2=$(json_get ep "$(ctl -j ep connect "$ADDR:$PORT2" 2>&1)")
A3=$(json_get ep "$(ctl -j ep connect "$ADDR:$PORT2" 2>&1)")
expect_match "three own connects to it work" '^[0-9]+ [0-9]+ [0-9]+$' "$A1 $A2 $A3"
ctl ep send "$A1" "own echo" >/dev/null
expect "the owner's connection echoes" "own echo" "$(ctl ep recv "$A1" 2>&1)"
# rdqd's cap: 5 + 3 passive endpoints are --max-network-endpoints 8.
out=$(ctl ep connect "$ADDR:$PORT2" 2>&1)
expect_match "a ninth network endpoint: refused, rdqd full" \
	"ECONNREFUSED.*too many connections from the network \(8\)" "$out"
out=$(peer ep connect "$ADDR:$PORT2" 2>&1)
expect_match "a foreign one too" "ECONNREFUSED.*too many connections from the network" "$out"
expect "stats: 2 rejected, rdqd full" 2 "$(network rejected_daemon_full)"
# Own: L, L2, A1..A3 (5 of 10), beside 8 network endpoints. Five more are its own to make.
i=0
extra=""
while [ $i -lt 5 ]; do
	i=$((i + 1))
	extra="$extra $(json_get ep "$(ctl -j ep listen "$ADDR:$((PORT2 + i))" 2>&1)")"
done
expect_match "the owner makes its 10 own endpoints beside 8 of the network's" \
	'^( [0-9]+){5}$' "$extra"
out=$(ctl ep listen "$ADDR:$((PORT2 + 6))" 2>&1)
expect_match "its 11th is over its quota" EDQUOT "$out"
for ep in $extra; do ctl ep destroy "$ep" >/dev/null; done

# --- the foreign peers are killed: their passive endpoints go, room is back

kill -KILL "$PEER_PID"
wait "$PEER_PID" 2>/dev/null
no_foreign() { [ "$(passive_of "$L")" = 0 ]; }
wait_until 30 no_foreign
expect "the killed peers' passive endpoints are gone" 0 "$(passive_of "$L")"
expect "stats: the owner's 3 network endpoints are left" 3 "$(network endpoints)"
out=$(ctl -j ep connect "$ADDR:$PORT" 2>&1)
expect_match "with room again, the owner's connect to the listener works" '"ep":[0-9]+' "$out"
A4=$(json_get ep "$out")
ctl ep send "$A4" "room again" >/dev/null
expect "and echoes" "room again" "$(ctl ep recv "$A4" 2>&1)"

# --- everything destroyed: the counters balance

for ep in $(ctl -j ep show | tr '{' '\n' | grep -v '"role":"passive"' |
	sed -n 's/.*"ep":\([0-9]*\).*/\1/p'); do
	ctl ep destroy "$ep" >/dev/null 2>&1
done
no_endpoints() { ctl -j status | grep -q '"endpoints":0'; }
wait_until 30 no_endpoints
expect "every endpoint is gone" 0 "$(json_get endpoints "$(ctl -j status)")"
expect "stats: no network endpoint is left" 0 "$(network endpoints)"
req=$(network requests)
sum=$(($(network accepted) + $(network rejected_listener_full) + $(network rejected_daemon_full) + \
	$(network rejected_nofd) + $(network rejected_other)))
expect "stats: requests = accepted + rejected" "$req" "$sum"
expect "stats: accepted: 5 foreign, 3 own on the second listener, 1 after" 9 \
	"$(network accepted)"
expect "stats: nothing rejected for descriptors or other reasons" "0 0" \
	"$(network rejected_nofd) $(network rejected_other)"
rejects=$(($(network rejected_listener_full) + $(network rejected_daemon_full)))
lines=$(grep -c "connection request.* from the network" "$RDQD_LOG")
if [ "$lines" -ge 1 ] && [ "$lines" -lt "$rejects" ]; then
	pass "the log has $lines lines for $rejects rejects, not one a reject"
else
	fail "rejects are logged at most once a second" "$lines lines for $rejects rejects: $(grep "from the network" "$RDQD_LOG")"
fi
expect_match "the log says which limit" "listener $L is full" "$(cat "$RDQD_LOG")"

rdqd_stop
expect "rdqd exits 0 on SIGTERM" 0 "$?"
expect_no_level_violation
finish
