#!/bin/sh
# Serve mode through librdq: examples/echo-server serves a listener; a librdq
# client (serve-client) connects through rdqd and exchanges a thousand
# requests of mixed sizes, up to the largest message, every byte checked;
# two clients at once; the server's own count shows it answered them (not
# rdqd's echo); when it stops, its listener and endpoints are gone and a new
# peer is turned away.
set -u
. "${RDQ_TESTS:-$(dirname "$0")/..}/rxe/lib.sh"

ADDR=${RDQ_ADDR_SELF:?RDQ_ADDR_SELF must name the rxe netdev address}
PORT=7490
SERVER_LOG=/tmp/echo-server.out

rdqd_start || exit 1
echo-server -s "$RDQ_SOCK" "$ADDR:$PORT" >"$SERVER_LOG" 2>&1 &
SERVER=$!
serving() { grep -q "serving $ADDR:$PORT" "$SERVER_LOG"; }
wait_until 10 serving || fail "echo-server serves" "$(cat "$SERVER_LOG")"
L=$(sed -n 's/.*(listener \([0-9]*\)).*/\1/p' "$SERVER_LOG")
expect_match "its listener is in serve mode" '"mode":"serve"' "$(ctl -j ep show "$L")"

out=$(timeout 300 serve-client -s "$RDQ_SOCK" "$ADDR" "$PORT" 1000 65536 2>&1)
expect "1000 requests of 1 to 65536 bytes, every answer exact" 0 "$?"
expect_match "serve-client says so" "1000 answers of 1 to 65536 bytes" "$out"

timeout 120 serve-client -s "$RDQ_SOCK" "$ADDR" "$PORT" 200 4096 >/tmp/sc1.out 2>&1 &
C1=$!
timeout 120 serve-client -s "$RDQ_SOCK" "$ADDR" "$PORT" 200 65536 >/tmp/sc2.out 2>&1 &
C2=$!
wait "$C1"
r1=$?
wait "$C2"
expect "two clients at once: both get every answer exact" "0 0" "$r1 $?"

# The largest message plus one never reaches the server: rdqd refuses to send it.
out=$(timeout 60 serve-client -s "$RDQ_SOCK" "$ADDR" "$PORT" 2 65537 2>&1)
expect_match "a request over --max-message is refused at the client's rdqd" \
	'request 1 \(65537 bytes\): EMSGSIZE' "$out"

kill -TERM "$SERVER"
wait "$SERVER"
expect "echo-server stops on SIGTERM with status 0" 0 "$?"
expect_match "it answered every request itself (1000 + 200 + 200 + 1)" \
	"answered 1401 request\\(s\\) from 4 peer\\(s\\)" "$(cat "$SERVER_LOG")"
gone() { ! ctl -j ep show | grep -q '"mode":"serve"'; }
if wait_until 10 gone; then pass "its listener and served endpoints are gone with it"
else fail "its listener and served endpoints are gone with it" "$(ctl -j ep show)"; fi
out=$(timeout 60 serve-client -s "$RDQ_SOCK" "$ADDR" "$PORT" 1 16 2>&1)
expect_match "a new peer is turned away: nobody listens" 'connect: ECONNREFUSED: .*the peer rejected the connection' "$out"
expect_status_ok() { ctl status >/dev/null 2>&1; }
if expect_status_ok; then pass "rdqd still answers"; else fail "rdqd still answers" ""; fi

# The synchronous server (rdq_accept, one peer at a time) with watch on: three peers in turn;
# the events that came among the announcements are kept for rdq_client_next, in order.
accept-server -s "$RDQ_SOCK" "$ADDR" "$PORT" 3 >/tmp/accept-server.out 2>&1 &
ACCEPT=$!
accepting() { grep -q "serving $ADDR:$PORT" /tmp/accept-server.out; }
wait_until 10 accepting || fail "accept-server serves" "$(cat /tmp/accept-server.out)"
ok=0
for size in 16 4096 65536; do
	timeout 120 serve-client -s "$RDQ_SOCK" "$ADDR" "$PORT" 20 "$size" >>/tmp/accept-clients.out 2>&1 &&
		ok=$((ok + 1))
done
expect "rdq_accept: three peers in turn each get 20 exact answers" "3" \
	"$ok$([ "$ok" = 3 ] || cat /tmp/accept-clients.out)"
wait "$ACCEPT"
expect "accept-server ends cleanly" 0 "$?"
expect_match "it served them all; rdq_accept kept the events it read (each ep.destroyed)" \
	"served 60 request\\(s\\) from 3 peer\\(s\\); [0-9]+ other event\\(s\\) kept, each served endpoint's ep.destroyed among them" \
	"$(cat /tmp/accept-server.out)"

rdqd_stop || fail "rdqd exits 0 on SIGTERM" "see $RDQD_LOG"
finish
