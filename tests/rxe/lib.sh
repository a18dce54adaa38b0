# Shared by the rxe suite and the demo (POSIX sh: busybox sh in the test host).
# Starts rdqd on a private socket and gives small helpers for named checks.

RDQ_SOCK=${RDQ_SOCK:-/tmp/rdq-test/rdqd.sock}
RDQD_LOG=${RDQD_LOG:-/tmp/rdqd.log}
PASSED=0
FAILED=0

ctl() {
	rdqctl -s "$RDQ_SOCK" "$@"
}

# Starts rdqd and waits (up to 20 s) until it answers.
rdqd_start() {
	mkdir -p "$(dirname "$RDQ_SOCK")"
	rdqd -s "$RDQ_SOCK" -v "$@" 2>"$RDQD_LOG" &
	RDQD_PID=$!
	i=0
	while ! ctl version >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 200 ] || ! kill -0 "$RDQD_PID" 2>/dev/null; then
			echo "rdqd did not start; its log:"
			cat "$RDQD_LOG"
			return 1
		fi
		sleep 0.1
	done
}

# Stops rdqd with SIGTERM; fails unless it exits 0 within 30 s.
rdqd_stop() {
	kill -TERM "$RDQD_PID"
	i=0
	while kill -0 "$RDQD_PID" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 300 ]; then
			echo "rdqd did not exit after SIGTERM"
			kill -KILL "$RDQD_PID"
			return 1
		fi
		sleep 0.1
	done
	wait "$RDQD_PID"
}

# pass NAME / fail NAME WHY: record a case's result.
pass() {
	PASSED=$((PASSED + 1))
	echo "ok - $1"
}

fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL - $1: $2"
}

# expect NAME WANT GOT: passes when GOT equals WANT.
expect() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1" "expected [$2], got [$3]"
	fi
}

# expect_match NAME PATTERN TEXT: passes when TEXT contains PATTERN (grep -E).
expect_match() {
	if printf '%s\n' "$3" | grep -Eq -- "$2"; then
		pass "$1"
	else
		fail "$1" "[$3] does not match /$2/"
	fi
}

# json_get FIELD JSON: a top-level integer or string field from compact JSON.
json_get() {
	printf '%s\n' "$2" | sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" | head -n 1
}

# wait_until SECONDS COMMAND...: retries COMMAND every 0.1 s until it succeeds.
wait_until() {
	limit=$(($1 * 10))
	shift
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt $limit ] && return 1
		sleep 0.1
	done
}

summary() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

# finish [LINES]: the summary; after a failure also the daemon log's tail, and exit 1.
finish() {
	summary || {
		echo "--- rdqd log"
		tail -n "${1:-60}" "$RDQD_LOG"
		exit 1
	}
}

# expect_no_level_violation: no execution-level check fired in the daemon (its log says so).
expect_no_level_violation() {
	if grep -q 'level violation' "$RDQD_LOG"; then fail "no level violation" "$(grep violation "$RDQD_LOG")"
	else pass "no level violation in the daemon log"; fi
}

# connection_life NAME ADDR PORT: the whole life of a connection, a case each: listen,
# connect, an echo, disconnect (answered with a DREP), destroy, and no endpoint left.
connection_life() {
	L=$(json_get ep "$(ctl -j ep listen "$2:$3" 2>&1)")
	A=$(json_get ep "$(ctl -j ep connect "$2:$3" 2>&1)")
	expect_match "$1: listen and connect" '^[0-9]+ [0-9]+$' "$L $A"
	ctl ep send "$A" "hello, $1" >/dev/null
	expect "$1: send and recv through the echo" "hello, $1" "$(ctl ep recv "$A" 2>&1)"
	out=$(ctl -j ep disconnect "$A" --wait 2>&1)
	expect "$1: disconnect completes with status 0 (DREP)" 0 "$(json_get status "$out")"
	ctl ep destroy "$A" >/dev/null && ctl ep destroy "$L" >/dev/null
	expect "$1: destroy both endpoints" 0 "$?"
	no_endpoints() { ctl -j status | grep -q '"endpoints":0'; }
	wait_until 5 no_endpoints || fail "$1: every endpoint is gone" "$(ctl -j ep show)"
}

# passive_ep: the handle of the first passive endpoint that ep show lists.
passive_ep() {
	ctl -j ep show | tr '{' '\n' | grep '"role":"passive"' | sed -n 's/.*"ep":\([0-9]*\).*/\1/p' |
		head -n 1
}

# silent_peer_start ADDR PORT: starts silent-peer (its pid in SILENT), waits until it listens.
silent_peer_start() {
	# A second start must not read the first one's "listening" before its own
	# process has truncated the file.
	rm -f /tmp/silent.out
	silent-peer "$1" "$2" >/tmp/silent.out 2>&1 &
	SILENT=$!
	wait_until 10 grep -q listening /tmp/silent.out ||
		fail "silent-peer listens" "$(cat /tmp/silent.out)"
}

# connect_to_host2 PORT: host 1's start against host 2's listener (two-host
# scripts): rdqd, two connections (their handles in A and B), an echo on A.
# Sets PEER, A and B.
connect_to_host2() {
	PEER=${RDQ_ADDR_PEER:?two hosts needed: rxehost run --hosts 2}
	rdqd_start || exit 1
	rxehost-wait listening 120 || { echo "host 2 never listened"; exit 1; }
	A=$(json_get ep "$(ctl -j ep connect "$PEER:$1")")
	B=$(json_get ep "$(ctl -j ep connect "$PEER:$1")")
	expect_match "two connections to host 2" '^[0-9]+ [0-9]+$' "$A $B"
	ctl ep send "$A" ping >/dev/null
	expect "host 2 echoes" ping "$(ctl ep recv "$A" 2>&1)"
}

# awk functions for the benchmarks' summaries of repeated runs, put before their own program:
# spread("v1 v2 ...") is "median M min A max B" (and sets last to the median); count(list) is
# how many values list holds.
SPREAD_AWK='
function spread(list,   v, n, i, j, t) {
	n = split(list, v, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
			t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
		}
	last = v[int((n + 1) / 2)]
	return sprintf("median %.2f min %.2f max %.2f", last, v[1], v[n])
}
function count(list,   v) { return split(list, v, " ") }
'
