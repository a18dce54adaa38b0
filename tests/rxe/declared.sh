#!/bin/sh
# Declared listeners over rxe: rdqd starts with an echo listener declared
# (listen-dir) on an address no interface has yet. It waits for it; the
# address is added and within 2 s the listener listens and rdma-core's
# rdma_client, a foreign peer, gets its echo; the address is removed and the
# listener goes (its peer's endpoint with it), saying why; the address comes
# back and so does the listener. Then the device: rdma link delete takes it
# back to waiting, rdma link add brings it back. And SIGHUP adds a listener
# from a new file.
set -u
. "${RDQ_TESTS:-$(dirname "$0")/..}/rxe/lib.sh"

SELF=${RDQ_ADDR_SELF:?RDQ_ADDR_SELF must name the rxe netdev address}
DEV=${RDQ_RXE_DEV:-rxe0}
NETDEV=${RDQ_NETDEV:-d0}
# A second address in the rxe netdev's subnet (10.77.0.N/24), on no interface yet.
NEW=${SELF%.*}.50
PORT=7490
DIR=/tmp/listen.d

# A second device (rxe1 on its own dummy link) stays up throughout: with no RDMA device
# left, rdma-core 44's librdmacm never re-reads its device list and keeps the removed one
# open until rdqd exits (docs/architecture.md), so rdma link delete would never return.
ip link add d1 type dummy && ip addr add 10.78.0.1/24 dev d1 && ip link set d1 up &&
	rdma link add rxe1 type rxe netdev d1
expect "a second rxe device (rxe1) comes up" 0 "$?"

mkdir -p "$DIR"
printf '# an echo service\naddress = %s:%s\nmax-connections = 8\n' "$NEW" "$PORT" >"$DIR/echo.conf"

# The declared listener's row of ep show -j, one line.
row() {
	ctl -j ep show | tr '{' '\n' | grep "\"name\":\"$1\""
}
state_is() {
	row "$1" | grep -q "\"state\":\"$2\""
}

rdqd_start --listen-dir "$DIR" || exit 1
out=$(row echo)
expect_match "at start: the declared listener waits for its address" \
	"\"state\":\"waiting\".*\"reason\":\"for the address: $NEW:$PORT is on no interface\"" "$out"
expect_match "ep show names it and says why" "waiting .* echo +for the address" "$(ctl ep show)"

ip addr add "$NEW/24" dev "$NETDEV"
if wait_until 2 state_is echo listening; then pass "the address added: within 2 s it listens"
else fail "the address added: within 2 s it listens" "$(row echo)"; fi
out=$(timeout 60 rdma_client -s "$NEW" -p "$PORT" 2>&1)
expect "rdma_client gets its echo from the declared listener" 0 "$?"

# A connection of rdqd's own to it: its passive endpoint must go with the address.
A=$(json_get ep "$(ctl -j ep connect "$NEW:$PORT" 2>&1)")
ctl ep send "$A" hello >/dev/null
expect "an rdqd connection gets its echo too" hello "$(ctl ep recv "$A" 2>&1)"
expect_match "the listener holds its peer" '"connections":1' "$(row echo)"

ip addr del "$NEW/24" dev "$NETDEV"
if wait_until 2 state_is echo waiting; then pass "the address removed: within 2 s it waits"
else fail "the address removed: within 2 s it waits" "$(row echo)"; fi
expect_match "and says why" "\"reason\":\"for the address: $NEW:$PORT is on no interface\"" "$(row echo)"
no_passive() { [ -z "$(passive_ep)" ]; }
if wait_until 5 no_passive; then pass "its peer's endpoint went with it"
else fail "its peer's endpoint went with it" "$(ctl ep show)"; fi
timeout 10 rdma_client -s "$NEW" -p "$PORT" >/dev/null 2>&1
if [ $? -ne 0 ]; then pass "rdma_client finds nothing to connect to"
else fail "rdma_client finds nothing to connect to" "it got an echo"; fi
ctl ep destroy "$A" >/dev/null 2>&1

ip addr add "$NEW/24" dev "$NETDEV"
if wait_until 2 state_is echo listening; then pass "the address back: within 2 s it listens again"
else fail "the address back: within 2 s it listens again" "$(row echo)"; fi
out=$(timeout 60 rdma_client -s "$NEW" -p "$PORT" 2>&1)
expect "rdma_client gets its echo again" 0 "$?"

# The device goes: back to waiting, for a device; it comes back: listening again.
# The removal blocks in the kernel until every process lets the device go: background it.
rm -f /tmp/del.rc
(rdma link delete "$DEV" >/tmp/del.out 2>&1; echo $? >/tmp/del.rc) &
if wait_until 5 state_is echo waiting; then pass "rdma link delete: it waits"
else fail "rdma link delete: it waits" "$(row echo)"; fi
expect_match "for an RDMA device" '"reason":"for an RDMA device' "$(row echo)"
deleted() { [ -f /tmp/del.rc ]; }
if wait_until 30 deleted; then
	expect "rdma link delete completes (rdqd let the device go)" 0 "$(cat /tmp/del.rc)"
else
	fail "rdma link delete completes (rdqd let the device go)" "still blocked"
	finish 100
fi
rdma link add "$DEV" type rxe netdev "$NETDEV"
if wait_until 10 state_is echo listening; then pass "rdma link add: it listens again"
else fail "rdma link add: it listens again" "$(row echo)"; fi
out=$(timeout 60 rdma_client -s "$NEW" -p "$PORT" 2>&1)
expect "rdma_client gets its echo on the new device" 0 "$?"

# A new file and SIGHUP: a second listener, on an address that is there.
printf 'address = %s:%s\n' "$SELF" "$((PORT + 1))" >"$DIR/second.conf"
kill -HUP "$RDQD_PID"
if wait_until 5 state_is second listening; then pass "SIGHUP: the new file's listener listens"
else fail "SIGHUP: the new file's listener listens" "$(ctl ep show)"; fi
out=$(timeout 60 rdma_client -s "$SELF" -p "$((PORT + 1))" 2>&1)
expect "rdma_client gets its echo from it" 0 "$?"

expect_no_level_violation
rdqd_stop
status=$?
expect "rdqd exits 0 on SIGTERM" 0 "$status"
# A crash: the kernel's line names the library and the offset.
[ "$status" -gt 128 ] && dmesg | grep -i -A3 segfault
ip addr del "$NEW/24" dev "$NETDEV" 2>/dev/null
finish 100
