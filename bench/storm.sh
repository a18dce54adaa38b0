#!/bin/sh
# Connection storm, side by side in one boot of the rxe host: rdma-core's cmtime
# (client and server processes) against rdqd (which plays both sides: the
# listener's passive endpoints and the active ones) driven by rdq-storm.
# Usage (on the host): tests/rxe/rxehost run --build-dir build -- bench/storm.sh [N...]
set -u
. "${RDQ_TESTS:?}/rxe/lib.sh"
ADDR=${RDQ_ADDR_SELF:?}
[ $# -gt 0 ] || set -- 100

rdqd_start -q || exit 1
ctl ep listen "$ADDR:7472" >/dev/null
for n in "$@"; do
	echo "== N=$n: cmtime"
	cmtime -b "$ADDR" -c "$n" >/tmp/cmtime-server.out 2>&1 &
	srv=$!
	sleep 1
	cmtime -s "$ADDR" -c "$n" 2>&1 | tee /tmp/cmtime.out
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	echo "== N=$n: rdqd"
	rdq-storm -s "$RDQ_SOCK" -n "$n" "$ADDR:7472" || echo "rdq-storm failed"
done
ctl stats
rdqd_stop
