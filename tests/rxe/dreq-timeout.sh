#!/bin/sh
# DREQ timeout over a real wire (two test hosts): host 1 connects two
# endpoints to host 2's rdqd, then host 2's VM is killed, so no DREP can ever
# come. Endpoint A waits for rdma_cm: DISCONNECTED with -ETIMEDOUT after the
# kernel's DREQ retries (about 100 s here), and the request completes with
# ETIMEDOUT. Endpoint B has a 3 s local deadline: ETIMEDOUT from rdqd, and
# rdma_cm's DISCONNECTED that comes much later causes no second completion.
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

rxehost-kill-peer 60
expect "host 2 is gone (killed, nothing closed)" 0 "$?"

# -t 0: rdqctl waits as long as the daemon takes (its default gives up after 10 s).
start=$(cut -d. -f1 /proc/uptime)
ctl -j -t 0 ep disconnect "$A" --wait --timeout 300000 >/tmp/a.out 2>&1 &
WAIT_A=$!
out=$(ctl -j -t 0 ep disconnect "$B" --wait --timeout 3000 2>&1)
expect_match "local deadline: B's disconnect completes with ETIMEDOUT" ETIMEDOUT "$out"
expect_match "local deadline: it says rdma_cm had not reported" "did not report" "$out"

wait $WAIT_A
took=$(($(cut -d. -f1 /proc/uptime) - start))
expect_match "DREQ timeout: A's disconnect completes with ETIMEDOUT" ETIMEDOUT "$(cat /tmp/a.out)"
expect_match "DREQ timeout: reported by rdma_cm (the peer never answered)" "never answered the DREQ" \
	"$(cat /tmp/a.out)"
echo "  rdma_cm reported the DREQ timeout after ${took} s"

# B's DREQ times out at about the same moment: the late DISCONNECTED is only recorded.
late() { ctl -j ep show "$B" | grep -q '"state":"disconnected"'; }
if wait_until 30 late; then pass "B takes in rdma_cm's late DISCONNECTED (no second completion)"
else fail "B takes in rdma_cm's late DISCONNECTED" "$(ctl -j ep show "$B")"; fi
stats=$(ctl -j stats)
expect "every request completed (only stats pending)" 1 "$(json_get pending "$stats")"
expect "no work item in use" 0 "$(json_get in_use "$stats")"
ctl ep destroy "$A" >/dev/null
ctl ep destroy "$B" >/dev/null
rdqd_stop
expect "rdqd exits 0" 0 "$?"
expect_no_level_violation

finish
