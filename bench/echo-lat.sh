#!/bin/sh
# Echo latency, side by side in one boot of the rxe host: perftest's
# ib_send_lat (rdma_cm, events) against its own server, then the same client
# against rdqd's echo service, at each message size.
# Usage (on the host):
#   tests/rxe/rxehost run --build-dir build -- bench/echo-lat.sh [SIZE...]
set -u
. "${RDQ_TESTS:?}/rxe/lib.sh"
ADDR=${RDQ_ADDR_SELF:?}
ITERS=${ITERS:-2000}
[ $# -gt 0 ] || set -- 64 4096

rdqd_start -q || exit 1
ctl ep listen "$ADDR:7472" >/dev/null
for size in "$@"; do
	for run in 1 2 3; do
		ib_send_lat -R -e -s "$size" -n "$ITERS" -p 7490 >/tmp/lat-server.out 2>&1 &
		srv=$!
		sleep 1
		echo "== size $size run $run: ib_send_lat"
		timeout 120 ib_send_lat -R -e -s "$size" -n "$ITERS" -p 7490 "$ADDR" 2>&1 |
			grep -E '^ *[0-9]+ +[0-9]+ '
		wait "$srv" 2>/dev/null
		echo "== size $size run $run: rdqd"
		timeout 120 ib_send_lat -R -e -s "$size" -n "$ITERS" -p 7472 "$ADDR" 2>&1 |
			grep -E '^ *[0-9]+ +[0-9]+ |rror|ERR'
	done
done
ctl -j stats
rdqd_stop
