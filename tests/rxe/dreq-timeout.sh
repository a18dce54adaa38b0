#!/bin/sh
# DREQ timeout over a real wire (two test hosts): host 1 connects two
# endpoints to host 2's rdqd, then host 2's VM is killed, so no DREP can ever
# come. Endpoint A waits for rdma_cm: DISCONNECTED with -ETIMEDOUT after the
# kernel's DREQ retries (about 100 s here), and the request completes with
# ETIMEDOUT. Endpoint B has a 3 s local deadline: ETIMEDOUT from rdqd, and
# rdma_cm's DISCONNECTED that comes much later causes no second completion.
# Endpoint DE is direct (its QP owned by direct-check, a librdq client): its
# disconnect waits through the same DREQ retries as A's, alongside it, then
# rdqd hands the flush to the client (ep.flush), which moves its QP to error
# and confirms; the request completes with ETIMEDOUT, and the client closes
# its connection, leaving nothing behind.
# Run: tests/rxe/rxehost run --hosts 2 --timeout 400 -- tests/rxe/dreq-timeout.sh
set -u
. "${RDQ_TESTS:-$(dirname "$0")/..}/rxe/lib.sh"

PORT=7472

if [ "${RDQ_HOST_INDEX:-1}" = 2 ]; then
	rdqd_start || exit 1
	ctl ep listen "$RDQ_ADDR_SELF:$PORT" >/dev/null || exit 1
	rxehost-signal listening
	sleep 600 # until host 1 has this VM killed
	exit 0
fi

connect_to_host2 "$PORT"
# The direct client receives until rdqd ends its connection, then closes it and exits.
direct-check "$RDQ_SOCK" release "$PEER" "$PORT" >/tmp/direct.out 2>&1 &
DIRECT=$!
dconnected() { grep -q '^connected' /tmp/direct.out; }
wait_until 20 dconnected || fail "a direct client connects to host 2" "$(cat /tmp/direct.out)"
DE=$(sed -n 's/^connected ep \([0-9]*\).*/\1/p' /tmp/direct.out)
expect_match "the direct endpoint is connected to host 2" '"state":"connected"' \
	"$(ctl -j ep show "$DE" 2>&1)"
direct_dropped() { ctl -j stats | sed -n 's/.*"direct":{"dropped":\([0-9]*\).*/\1/p'; }
dropped_before=$(direct_dropped)

rxehost-kill-peer 60
expect "host 2 is gone (killed, nothing closed)" 0 "$?"

# -t 0: rdqctl waits as long as the daemon takes (its default gives up after 10 s).
start=$(cut -d. -f1 /proc/uptime)
ctl -j -t 0 ep disconnect "$A" --wait --timeout 300000 >/tmp/a.out 2>&1 &
WAIT_A=$!
# DE's wait shares A's: both DREQs go out now and time out together (after about 100 s; its
# deadline is shorter than A's so that a flush never confirmed fails sooner).
ctl -j -t 0 ep disconnect "$DE" --wait --timeout 200000 >/tmp/de.out 2>&1 &
WAIT_DE=$!
out=$(ctl -j -t 0 ep disconnect "$B" --wait --timeout 3000 2>&1)
expect_match "local deadline: B's disconnect completes with ETIMEDOUT" ETIMEDOUT "$out"
expect_match "local deadline: it says rdma_cm had not reported" "did not report" "$out"

wait $WAIT_A
took=$(($(cut -d. -f1 /proc/uptime) - start))
expect_match "DREQ timeout: A's disconnect completes with ETIMEDOUT" ETIMEDOUT "$(cat /tmp/a.out)"
expect_match "DREQ timeout: reported by rdma_cm (the peer never answered)" "never answered the DREQ" \
	"$(cat /tmp/a.out)"
echo "  rdma_cm reported the DREQ timeout after ${took} s"

wait $WAIT_DE
took=$(($(cut -d. -f1 /proc/uptime) - start))
expect_match "DREQ timeout: the direct endpoint's disconnect completes with ETIMEDOUT" ETIMEDOUT \
	"$(cat /tmp/de.out)"
expect_match "DREQ timeout: reported by rdma_cm, once the client flushed its QP" \
	"never answered the DREQ.*client's QP is in error" "$(cat /tmp/de.out)"
echo "  the direct endpoint's disconnect completed after ${took} s"
closed() { grep -q '^closed' /tmp/direct.out; }
wait_until 10 closed
expect "the direct client was told to flush (ep.flush), its receive ended, and it closed" \
	"ended: Connection reset by peer closed " "$(grep -E '^(ended|closed)' /tmp/direct.out | tr '\n' ' ')"
if closed; then
	wait "$DIRECT"
	expect "the direct client exits 0" 0 "$?"
else
	kill -KILL "$DIRECT"
	wait "$DIRECT" 2>/dev/null
fi
gone() { ! ctl ep show "$DE" >/dev/null 2>&1; }
wait_until 10 gone
expect "the direct endpoint is gone with its client's close" 0 "$?"
expect "a disconnected direct endpoint is not counted as dropped (direct.dropped)" \
	"$dropped_before" "$(direct_dropped)"

# B's DREQ times out at about the same moment: the late DISCONNECTED is only recorded.
late() { ctl -j ep show "$B" | grep -q '"state":"disconnected"'; }
if wait_until 30 late; then pass "B takes in rdma_cm's late DISCONNECTED (no second completion)"
else fail "B takes in rdma_cm's late DISCONNECTED" "$(ctl -j ep show "$B")"; fi
stats=$(ctl -j stats)
expect "every request completed (only stats pending)" 1 "$(json_get pending "$stats")"
expect "no work item in use" 0 "$(json_get in_use "$stats")"
ctl ep destroy "$A" >/dev/null
ctl ep destroy "$B" >/dev/null
no_endpoints() { [ "$(json_get endpoints "$(ctl -j status)")" = 0 ]; }
wait_until 10 no_endpoints
expect "no endpoint left" 0 "$(json_get endpoints "$(ctl -j status)")"
rdqd_stop
expect "rdqd exits 0" 0 "$?"
expect_no_level_violation

finish
