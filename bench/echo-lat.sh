#!/bin/sh
# Echo latency, side by side in one boot of the rxe host: perftest's
# ib_send_lat (rdma_cm, completion events) against its own server, then the
# same client against rdqd's echo service, REPEAT times (default 3) at each
# message size. A "lat" line per run gives the typical (median) round trip
# of each, in µs; a "ratio" line per size the median of rdqd / ib_send_lat
# over the runs, with the lowest and highest.
# Usage (on the host):
#   tests/rxe/rxehost run --build-dir build -- bench/echo-lat.sh [SIZE...]
set -u
. "${RDQ_TESTS:?}/rxe/lib.sh"
ADDR=${RDQ_ADDR_SELF:?}
ITERS=${ITERS:-2000}
REPEAT=${REPEAT:-3}
RESULTS=/tmp/lat-results
[ $# -gt 0 ] || set -- 64 4096
: >"$RESULTS"

# The t_typical column of ib_send_lat's result line.
typical() { awk '$1 ~ /^[0-9]+$/ && NF >= 9 { print $5 }' | tail -n 1; }

rdqd_start -q || exit 1
ctl ep listen "$ADDR:7472" >/dev/null
for size in "$@"; do
	run=1
	while [ "$run" -le "$REPEAT" ]; do
		ib_send_lat -R -e -s "$size" -n "$ITERS" -p 7490 >/tmp/lat-server.out 2>&1 &
		srv=$!
		sleep 1
		peer=$(timeout 120 ib_send_lat -R -e -s "$size" -n "$ITERS" -p 7490 "$ADDR" 2>&1 |
			typical)
		wait "$srv" 2>/dev/null
		rdq=$(timeout 120 ib_send_lat -R -e -s "$size" -n "$ITERS" -p 7472 "$ADDR" 2>&1 |
			typical)
		if [ -z "$peer" ] || [ -z "$rdq" ]; then
			echo "lat size $size run $run failed: ib_send_lat [$peer] rdqd [$rdq]"
		else
			echo "lat size $size run $run ib_send_lat $peer rdqd $rdq" | tee -a "$RESULTS"
		fi
		run=$((run + 1))
	done
done
for size in "$@"; do
	grep "^lat size $size " "$RESULTS" | awk '{ printf "%.3f\n", $9 / $7 }' | sort -n |
		awk -v s="$size" '{ r[NR] = $1 }
			END { if (NR) printf "ratio size %s rdqd/ib_send_lat median %.2f min %.2f max %.2f runs %d\n",
				s, r[int((NR + 1) / 2)], r[1], r[NR], NR }'
done
ctl -j stats
rdqd_stop
