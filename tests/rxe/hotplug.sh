#!/bin/sh
# Devices that appear after rdqd started: rdqd starts with no RDMA device,
# then `rdma link add` makes rxe0; within 2 s rdqd lists it, has opened the
# rdma_cm channel, and serves listen, connect, send, recv, disconnect and
# destroy on it, without a restart.
set -u
. "${RDQ_TESTS:-$(dirname "$0")/..}/rxe/lib.sh"

ADDR=${RDQ_ADDR_SELF:?RDQ_ADDR_SELF must name the rxe netdev address}
DEV=${RDQ_RXE_DEV:-rxe0}
NETDEV=${RDQ_NETDEV:-d0}
PORT=7472

# The test host made rxe0 before this script: take it away before rdqd starts.
rdma link delete "$DEV"
expect "before rdqd: no RDMA device" "" "$(ls /sys/class/infiniband 2>/dev/null)"

rdqd_start || exit 1
out=$(ctl -j status)
expect_match "without a device: status says why" '"rdma":false.*"rdma_error":"no RDMA device found"' "$out"
expect_match "without a device: no device listed" '"devices":0,"device_names":\[\]' "$out"
out=$(ctl ep listen "$ADDR:$PORT" 2>&1)
expect_match "without a device: listen fails with ENODEV and the reason" 'ENODEV.*no RDMA device found' "$out"

rdma link add "$DEV" type rxe netdev "$NETDEV"
expect "rdma link add $DEV after rdqd started" 0 "$?"
usable() { ctl -j status | grep -q "\"rdma\":true.*\"device_names\":\[\"$DEV\"\]"; }
if wait_until 2 usable; then pass "within 2 s, status lists $DEV and RDMA is usable"
else fail "within 2 s, status lists $DEV and RDMA is usable" "$(ctl -j status)"; fi
expect_match "dev show lists $DEV" "$DEV" "$(ctl dev show 2>&1)"
expect_match "the log says the channel opened" "rdma_cm channel open" "$(cat "$RDQD_LOG")"

connection_life "on the new device" "$ADDR" "$PORT"

# Counters balance: every request received was completed, bar the stats request itself.
out=$(ctl -j stats)
rec=$(json_get received "$out")
done_=$(json_get completed "$out")
expect "completed = received - 1 (the stats request itself)" "$((rec - 1))" "$done_"
expect "nothing left pending but stats itself" 1 "$(json_get pending "$out")"

expect_no_level_violation
rdqd_stop
expect "rdqd exits 0 on SIGTERM" 0 "$?"
finish
