#!/bin/sh
# The rxe suite: rdqd over real soft-RoCE. Each case names the path it covers.
# Runs inside the test host (tests/rxe/rxehost) or natively; needs RDQ_ADDR_SELF.
set -u
. "${RDQ_TESTS:-$(dirname "$0")/..}/rxe/lib.sh"

ADDR=${RDQ_ADDR_SELF:?RDQ_ADDR_SELF must name the rxe netdev address}
PORT=7472

rdqd_start || exit 1

# dev show lists the rxe device with an active port
out=$(ctl dev show 2>&1)
expect_match "dev show lists ${RDQ_RXE_DEV:-rxe0}" "${RDQ_RXE_DEV:-rxe0}" "$out"

# who created a QP, as rdqd reads it from RDMA netlink: qp-owner-check's cases, each a
# case here; uid 1001 is rdqd's service user's stand-in (no privileges, not the QPs' owner)
qp-owner-check "${RDQ_RXE_DEV:-rxe0}" 1001 >/tmp/qp-owner.out 2>&1
status=$?
while IFS= read -r line; do
	case $line in
	"ok - "*) pass "qp owner: ${line#ok - }" ;;
	"FAIL - "*) fail "qp owner: ${line#FAIL - }" "see above" ;;
	*) echo "$line" ;;
	esac
done </tmp/qp-owner.out
expect "qp-owner-check exits 0" 0 "$status"

# listen, then connect a second endpoint to the listener
L=$(ctl -j ep listen "$ADDR:$PORT")
L=$(json_get ep "$L")
expect_match "listen returns an endpoint handle" '^[0-9]+$' "$L"
out=$(ctl -j ep connect "$ADDR:$PORT")
A=$(json_get ep "$out")
Q=$(json_get qp "$out")
expect_match "connect returns ep and qp handles" '^[0-9]+ [0-9]+$' "$A $Q"

# a message goes out and comes back from the listener's echo service
ctl ep send "$A" "hello over rxe" >/dev/null
expect "echo returns the same message" "hello over rxe" "$(ctl ep recv "$A")"

# twenty more, in order, one at a time
ok=yes
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	ctl ep send "$A" "message $i" >/dev/null || ok="send $i failed"
	got=$(ctl ep recv "$A") || ok="recv $i failed"
	[ "$got" = "message $i" ] || ok="message $i came back as [$got]"
done
expect "twenty echoes in order" yes "$ok"

# several sends in flight before any receive: all come back
for i in 1 2 3 4 5 6 7 8; do ctl ep send "$A" "burst $i" >/dev/null; done
got=""
for i in 1 2 3 4 5 6 7 8; do got="$got$(ctl ep recv "$A");"; done
expect "eight sends in flight all echo" \
	"burst 1;burst 2;burst 3;burst 4;burst 5;burst 6;burst 7;burst 8;" "$got"

# the listener's side shows a passive endpoint with the traffic counted
out=$(ctl -j ep show)
expect_match "ep show lists the passive endpoint" '"role":"passive"' "$out"

# a message larger than a page comes back whole (the largest sizes: data.sh)
big=$(head -c 5000 /dev/zero | tr '\0' 'x')
ctl ep send "$A" "$big" >/dev/null
expect "a 5000-byte message comes back whole" "$big" "$(ctl ep recv "$A")"

# a receive with nothing sent times out with EAGAIN
out=$(ctl ep recv "$A" --timeout 200 2>&1)
expect_match "recv with nothing to read gives EAGAIN" EAGAIN "$out"

# active disconnect: the DREQ is answered (DREP), the request completes with status 0
out=$(ctl -j ep disconnect "$A" --wait)
expect "active disconnect completes with status 0" 0 "$(json_get status "$out")"
expect_match "the active endpoint shows disconnected" '"state":"disconnected"' \
	"$(ctl -j ep show "$A")"
out=$(ctl ep send "$A" "after" 2>&1)
expect_match "send after disconnect gives ENOTCONN" ENOTCONN "$out"
# the passive endpoint is destroyed once its connection is gone
no_passive() { ! ctl -j ep show | grep -q '"role":"passive"'; }
if wait_until 10 no_passive; then pass "the passive endpoint goes away after the disconnect"
else fail "the passive endpoint goes away after the disconnect" "$(ctl -j ep show)"; fi
ctl ep destroy "$A" >/dev/null
out=$(ctl ep show "$A" 2>&1)
expect_match "a destroyed endpoint's handle is stale (ENOENT)" ENOENT "$out"

# disconnect started by the peer: the passive side disconnects, the active side sees it
out=$(ctl -j ep connect "$ADDR:$PORT")
B=$(json_get ep "$out")
P=$(passive_ep)
expect_match "a second connection has a passive endpoint" '^[0-9]+$' "$P"
# Ids are not reused (not before 2^31 of them have gone by): every endpoint and QP made since A
# (all but the listener) has a greater handle, and A's handle still names nothing.
reused=no
for h in $(ctl -j ep show | grep -o '"\(ep\|qp\)":[0-9]*' | cut -d: -f2); do
	[ "$h" -eq 0 ] || [ "$h" -eq "$L" ] || [ "$h" -gt "$A" ] || reused=$h
done
expect "the endpoints and QPs made since have greater handles" no "$reused"
expect_match "the stale handle still gives ENOENT" ENOENT "$(ctl ep show "$A" 2>&1)"
out=$(ctl -j ep disconnect "$P" --wait)
expect "the passive side's disconnect completes with status 0" 0 "$(json_get status "$out")"
disconnected() { ctl -j ep show "$B" | grep -q '"state":"disconnected"'; }
if wait_until 10 disconnected; then pass "the active side sees the peer's disconnect"
else fail "the active side sees the peer's disconnect" "$(ctl -j ep show "$B")"; fi
out=$(ctl ep recv "$B" --timeout 100 2>&1)
expect_match "recv on a disconnected endpoint gives ENOTCONN" ENOTCONN "$out"
ctl ep destroy "$B" >/dev/null

# interop: rdma-core's rdma_client talks to the rdq listener's echo service
if command -v rdma_client >/dev/null; then
	out=$(timeout 30 rdma_client -s "$ADDR" -p "$PORT" 2>&1)
	expect "rdma_client (rdma-core) gets its echo from rdqd" 0 "$?"
fi

# interop: rdq connects to rdma-core's rdma_server, which answers 16 bytes of its own
# (a zeroed buffer) to the 16 it receives, then disconnects
if command -v rdma_server >/dev/null; then
	timeout 60 rdma_server -p 7999 >/tmp/rdma_server.out 2>&1 &
	SRV=$!
	listening() { grep -q 'rdma_server: start' /tmp/rdma_server.out; }
	wait_until 10 listening
	sleep 1
	out=$(ctl -j ep connect "$ADDR:7999")
	D=$(json_get ep "$out")
	ctl ep send "$D" "0123456789abcdef" >/dev/null
	got=$(ctl -j ep recv "$D" 2>&1)
	expect "rdqd connects to rdma_server and gets its 16-byte reply" 16 "$(json_get bytes "$got")"
	wait $SRV
	expect "rdma_server completes and exits 0" 0 "$?"
	ctl ep destroy "$D" >/dev/null
fi

# destroying a listener with a live connection destroys its passive endpoint first
out=$(ctl -j ep connect "$ADDR:$PORT")
E=$(json_get ep "$out")
ctl ep destroy "$L" >/dev/null
out=$(ctl -j ep show)
expect_match "the listener and its passive endpoint are gone" '^\{"endpoints":\[\{[^{]*"role":"active"[^{]*\}\]\}$' "$out"
ctl ep destroy "$E" >/dev/null

# connecting where nobody listens is refused, and leaves no endpoint behind
out=$(ctl ep connect "$ADDR:7999" --timeout 3000 2>&1)
expect_match "connect to a closed port fails (ECONNREFUSED or ETIMEDOUT)" \
	'ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH' "$out"

# afterwards: no objects, and every request has its reply
out=$(ctl -j ep show)
expect "no endpoints remain" '{"endpoints":[]}' "$out"
stats=$(ctl -j stats)
received=$(printf '%s' "$stats" | sed -n 's/.*"received":\([0-9]*\).*/\1/p')
rejected=$(printf '%s' "$stats" | sed -n 's/.*"rejected":\([0-9]*\).*/\1/p')
replied=$(printf '%s' "$stats" | sed -n 's/.*"replied":\([0-9]*\).*/\1/p')
pending=$(printf '%s' "$stats" | sed -n 's/.*"pending":\([0-9]*\).*/\1/p')
# The stats request itself is received and pending while it answers.
expect "requests received equal replies sent" "$((received + rejected))" "$((replied + pending))"
expect "only the stats request is pending" 1 "$pending"
objects=$(printf '%s' "$stats" | sed -n 's/.*"objects":\([0-9]*\).*/\1/p')
expect "no objects remain (no QP leaked)" 0 "$objects"

# SIGTERM with a listener and a connection: clean exit 0
ctl ep listen "$ADDR:$PORT" >/dev/null
ctl ep connect "$ADDR:$PORT" >/dev/null
rdqd_stop
expect "rdqd exits 0 on SIGTERM with connections up" 0 "$?"
expect_no_level_violation

finish
