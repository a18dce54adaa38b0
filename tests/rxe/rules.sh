#!/bin/sh
# Listeners' address rules over rxe, on one host whose peers differ by their
# source address: the rxe netdev gets two more IPv4 addresses and three IPv6
# ULA ones, and echo-peer (--from SRC) connects from the one it is told.
# An IPv4 listener that admits one address alone (deny any, allow it) and
# an IPv6 listener that denies one: the admitted peer gets its echo, the
# refused one reads the reason in the REJ, and stats.network counts it.
# rdqctl ep serve, rdqd-carried and --direct, with --deny: the same. Then a
# declared listener (listen-dir) with a peer connected: its file
# changes only its rules and SIGHUP comes; the same listener stays, its peer
# stays connected, and a new peer the new rules refuse is refused.
set -u
. "${RDQ_TESTS:-$(dirname "$0")/..}/rxe/lib.sh"

SELF=${RDQ_ADDR_SELF:?RDQ_ADDR_SELF must name the rxe netdev address}
NETDEV=${RDQ_NETDEV:-d0}
NET=${SELF%.*}
GOOD=$NET.21 # admitted
BAD=$NET.22  # refused
V6=fd00:77::1
GOOD6=fd00:77::21
BAD6=fd00:77::22
PORT=7495
DIR=/tmp/listen.d

# network FIELD: a counter of stats.network.
network() {
	ctl -j stats | sed -n 's/.*"network":{\([^}]*\)}.*/\1/p' |
		sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

# The declared listener's row of ep show -j, one line.
row() {
	ctl -j ep show | tr '{' '\n' | grep "\"name\":\"$1\""
}
state_is() {
	row "$1" | grep -q "\"state\":\"$2\""
}

# No duplicate address detection: an address that waits for it cannot be bound (busybox's
# ip has no nodad; a NOARP dummy link skips it anyway).
echo 0 >"/proc/sys/net/ipv6/conf/$NETDEV/accept_dad" 2>/dev/null
ip addr add "$GOOD/24" dev "$NETDEV" && ip addr add "$BAD/24" dev "$NETDEV" &&
	ip -6 addr add "$V6/64" dev "$NETDEV" && ip -6 addr add "$GOOD6/64" dev "$NETDEV" &&
	ip -6 addr add "$BAD6/64" dev "$NETDEV"
expect "the peers' addresses are on $NETDEV" 0 "$?"

mkdir -p "$DIR"
printf 'address = %s:%s\n' "$SELF" "$((PORT + 2))" >"$DIR/ruled.conf"
rdqd_start --listen-dir "$DIR" || exit 1

# FAMILY LISTENER GOOD BAD COUNT: a peer from GOOD gets its echoes from the listener's
# address; one from BAD is rejected and reads why in the REJ; stats then counts COUNT refused.
allowed_and_refused() {
	out=$(timeout 60 echo-peer --from "$3" "$2" "$PORT" 64 3 2>&1)
	expect "$1: the allowed peer gets its echoes" 0 "$?"
	out=$(timeout 60 echo-peer --from "$4" "$2" "$PORT" 64 1 2>&1)
	status=$?
	expect "$1: the refused peer's connect is rejected" 5 "$status"
	expect_match "$1: it reads why in the REJ" \
		"rejected: rdq: peer $4 is refused by the listener's address rules" "$out"
	expect "$1: stats counts it, by_rule ($5 in all)" "$5" "$(network rejected_by_rule)"
}

# --- IPv4: only one address may connect

L4=$(json_get ep "$(ctl -j ep listen "$SELF:$PORT" --deny any --allow "$GOOD" 2>&1)")
expect_match "listen, IPv4, admitting $GOOD alone" '^[0-9]+$' "$L4"
allowed_and_refused IPv4 "$SELF" "$GOOD" "$BAD" 1
no_passive() { [ -z "$(passive_ep)" ]; }
if wait_until 5 no_passive; then pass "IPv4: no passive endpoint is left"
else fail "IPv4: no passive endpoint is left" "$(ctl ep show)"; fi
expect_match "ep show EP lists the listener's rules" "allow +$GOOD/32.*deny +any" \
	"$(ctl ep show "$L4" | tr '\n' ' ')"

# --- IPv6: one address refused, the rest admitted

L6=$(json_get ep "$(ctl -j ep listen "[$V6]:$PORT" --deny "$BAD6" 2>&1)")
expect_match "listen, IPv6, refusing $BAD6" '^[0-9]+$' "$L6"
allowed_and_refused IPv6 "$V6" "$GOOD6" "$BAD6" 2
expect_match "the log says it, with its remedy" \
	"is refused by the listener's address rules; the listener's allow and deny" \
	"$(cat "$RDQD_LOG")"

# --- rdqctl ep serve, rdqd-carried and direct: the same rules, the same words

for mode in serve direct; do
	flag=
	[ $mode = direct ] && flag=--direct
	port=$((PORT + 3))
	[ $mode = direct ] && port=$((PORT + 4))
	# shellcheck disable=SC2086 # flag: no word, or one
	(exec rdqctl -s "$RDQ_SOCK" -j ep serve $flag "$SELF:$port" --deny "$BAD" -- tr a-z A-Z \
		>/tmp/serve.$mode.out 2>&1) &
	SERVER=$!
	serving() { grep -q '"event":"serving"' "/tmp/serve.$mode.out"; }
	wait_until 10 serving || fail "ep serve ($mode) --deny starts" "$(cat /tmp/serve.$mode.out)"
	out=$(timeout 60 echo-peer --from "$GOOD" --ask "$SELF" "$port" 20000 "hi $mode" 2>&1)
	expect "ep serve ($mode): the allowed peer is answered" "echo-peer: connected
HI $(echo "$mode" | tr a-z A-Z)" "$out"
	out=$(timeout 60 echo-peer --from "$BAD" --ask "$SELF" "$port" 20000 "hi" 2>&1)
	status=$?
	expect "ep serve ($mode): the refused peer is rejected" 5 "$status"
	expect_match "ep serve ($mode): and reads why" \
		"rejected: rdq: peer $BAD is refused by the listener's address rules" "$out"
	kill -INT "$SERVER"
	wait "$SERVER"
done
expect "stats: four peers refused by rules so far" 4 "$(network rejected_by_rule)"

# --- A declared listener: its rules change on SIGHUP, its peer stays

if wait_until 10 state_is ruled listening; then pass "the declared listener listens"
else fail "the declared listener listens" "$(ctl ep show)"; fi
D=$(json_get ep "$(row ruled)")
wait_until 5 no_passive
rm -f /tmp/held.out
timeout 60 echo-peer --from "$BAD" --ask "$SELF" "$((PORT + 2))" 20000 >/tmp/held.out 2>&1 &
HELD=$!
held_up() { grep -q connected /tmp/held.out && [ -n "$(passive_ep)" ]; }
if wait_until 20 held_up; then pass "a peer from $BAD connects to it (no rules yet)"
else fail "a peer from $BAD connects to it (no rules yet)" "$(cat /tmp/held.out)"; fi
P=$(passive_ep)

printf 'address = %s:%s\ndeny = %s/32, %s\n' "$SELF" "$((PORT + 2))" "$BAD" "$BAD6" \
	>"$DIR/ruled.conf"
kill -HUP "$RDQD_PID"
new_rules() { grep -q "listener ruled: new address rules" "$RDQD_LOG"; }
if wait_until 10 new_rules; then pass "SIGHUP: the listener takes its new rules"
else fail "SIGHUP: the listener takes its new rules" "$(tail -5 "$RDQD_LOG")"; fi
expect "SIGHUP: the same listener, not made again" "$D" "$(json_get ep "$(row ruled)")"
expect_match "SIGHUP: its peer's endpoint stays connected" '"state":"connected"' \
	"$(ctl -j ep show "$P")"
out=$(timeout 60 echo-peer --from "$BAD" "$SELF" "$((PORT + 2))" 64 1 2>&1)
status=$?
expect "SIGHUP: a new peer from $BAD is rejected" 5 "$status"
expect_match "SIGHUP: and reads why" "rejected: rdq: peer $BAD is refused" "$out"
out=$(timeout 60 echo-peer --from "$GOOD" "$SELF" "$((PORT + 2))" 64 2 2>&1)
expect "SIGHUP: a peer from $GOOD still gets its echoes" 0 "$?"
expect_match "SIGHUP: the peer connected before is still there" '"state":"connected"' \
	"$(ctl -j ep show "$P")"
kill "$HELD" 2>/dev/null
wait "$HELD" 2>/dev/null
expect_match "the held peer had connected" "^echo-peer: connected" "$(cat /tmp/held.out)"
if grep -q "disconnected by the other side" /tmp/held.out; then
	fail "the held peer saw no disconnect" "$(cat /tmp/held.out)"
else pass "the held peer saw no disconnect"; fi
expect "stats: five peers refused by rules in all" 5 "$(network rejected_by_rule)"

expect_no_level_violation
rdqd_stop
expect "rdqd exits 0 on SIGTERM" 0 "$?"
finish 100
