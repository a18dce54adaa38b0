#!/bin/sh
# Connection storm, side by side in one boot of the rxe host: rdma-core's cmtime
# (client and server processes) against rdqd (which plays both sides: the
# listener's passive endpoints and the active ones) driven by rdq-storm.
# Each N runs REPEAT times (default 3), alternating the two; each run prints
# a "storm" line, and the end a "ratio" line per N and phase: the median of
# rdqd / cmtime over the runs, with the lowest and highest.
# Usage (on the host):
#   tests/rxe/rxehost run --build-dir build --mem 2048 --timeout 1800 -- bench/storm.sh [N...]
set -u
. "${RDQ_TESTS:?}/rxe/lib.sh"
ADDR=${RDQ_ADDR_SELF:?}
REPEAT=${REPEAT:-3}
RESULTS=/tmp/storm-results
[ $# -gt 0 ] || set -- 100 1000
: >"$RESULTS"

# cmtime's total ms for a step (its table's first number column).
cm_step() { sed -n "s/^$1 *: *\([0-9.]*\).*/\1/p" /tmp/cmtime.out; }

rdqd_start -q || exit 1
ctl ep listen "$ADDR:7472" --max-connections 65536 >/dev/null
for n in "$@"; do
	run=1
	while [ "$run" -le "$REPEAT" ]; do
		cmtime -b "$ADDR" -c "$n" >/tmp/cmtime-server.out 2>&1 &
		srv=$!
		sleep 1
		timeout 600 cmtime -s "$ADDR" -c "$n" >/tmp/cmtime.out 2>&1
		kill "$srv" 2>/dev/null
		wait "$srv" 2>/dev/null
		# cmtime's connect: create id, resolve addr and route, create qp, connect.
		cm_connect=$(printf '%s\n' "$(cm_step 'create id')" "$(cm_step 'resolve addr')" \
			"$(cm_step 'resolve route')" "$(cm_step 'create qp')" "$(cm_step connect)" |
			awk '{ s += $1 } END { printf "%.1f", s }')
		cm_disconnect=$(cm_step disconnect)
		# cmtime's own table for the record, and what else it said, counted: at large N its
		# server rejects connections (event: RDMA_CM_EVENT_REJECTED), and then its figures
		# are not those of N connections.
		grep -E '^(step|[a-z ]+ *:)' /tmp/cmtime.out | sed 's/^/cmtime: /'
		grep -vE '^(step|[a-z ]+ *:|connecting|disconnecting)' /tmp/cmtime.out | sort | uniq -c |
			sed 's/^/cmtime said: /'
		out=$(timeout 600 rdq-storm -s "$RDQ_SOCK" -n "$n" "$ADDR:7472" 2>&1)
		rdq_connect=$(printf '%s\n' "$out" | sed -n 's/.* connect \([0-9.]*\) ms.*/\1/p')
		rdq_disconnect=$(printf '%s\n' "$out" | sed -n 's/.* disconnect \([0-9.]*\) ms.*/\1/p')
		if [ -z "$rdq_connect" ] || [ -z "$cm_disconnect" ]; then
			echo "storm N=$n run $run failed: cmtime [$(tail -3 /tmp/cmtime.out)] rdq-storm [$out]"
		else
			echo "storm N=$n run $run connect cmtime $cm_connect rdqd $rdq_connect" \
				"disconnect cmtime $cm_disconnect rdqd $rdq_disconnect" | tee -a "$RESULTS"
		fi
		run=$((run + 1))
	done
done
# Per N and phase: the ratios of each run, sorted; the median, lowest and highest.
for n in "$@"; do
	for phase in connect disconnect; do
		grep "^storm N=$n " "$RESULTS" | awk -v p="$phase" '{
			for (i = 1; i <= NF; i++) if ($i == p) printf "%.3f\n", $(i + 4) / $(i + 2)
		}' | sort -n | awk -v n="$n" -v p="$phase" '
			{ r[NR] = $1 }
			END { if (NR) printf "ratio N=%s %s rdqd/cmtime median %.2f min %.2f max %.2f runs %d\n",
				n, p, r[int((NR + 1) / 2)], r[1], r[NR], NR }'
	done
done
ctl -j stats
rdqd_stop
