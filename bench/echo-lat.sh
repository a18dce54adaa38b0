#!/bin/sh
# Echo latency, side by side in one boot of the rxe host: five ways of
# sending a message and waiting for its echo, REPEAT times (default 3) at
# each message size, the five in turn within a run (in reverse order every
# other run, so that none always goes first):
#   ib_send_lat  perftest's ib_send_lat -R -e (rdma_cm, completion events)
#                against its own server
#   rdqd_echo    the same client against rdqd's echo service (a listener's
#                passive endpoint sends each message back)
#   pingpong     rdma-pingpong, a plain rdma_cm client, against rdqd's echo
#   rdq          rdq-pingpong: ep.send then ep.recv through rdqd, whose
#                active endpoint talks to its own listener's echo
#   direct       rdq-pingpong -D: a direct connection, rdqd connects the
#                program's own QP, which carries the messages
# Every figure is a round trip in µs, the median (p50) and 99th percentile
# (p99) of ITERS (default 2000) round trips. ib_send_lat prints half the
# round trip for sends; its figures are doubled here.
#
# Output, which bench/plot-echo-lat turns into a table and a plot:
#   lat size S run R path P p50 X p99 Y       one per path and run
#   skip size S run R path P: WHY             a path that cannot send S bytes
#   sum size S path P p50 median .. min .. max .. p99 median .. min .. max .. runs N
#   ratio size S rdqd_echo/ib_send_lat p50 median .. min .. max .. p99 ... runs N
#   ratio size S rdq/pingpong p50 ... (through rdqd ÷ plain rdma_cm ping-pong)
#   ratio size S direct/pingpong p50 ... (direct ÷ plain rdma_cm ping-pong)
# Ratios are taken within each run, then summarised over the runs.
# Usage (on the host):
#   tests/rxe/rxehost run --build-dir build -- bench/echo-lat.sh [SIZE...] | tee echo-lat.log
#   bench/plot-echo-lat echo-lat.log docs/img/echo-lat.png
set -u
. "${RDQ_TESTS:?}/rxe/lib.sh"
ADDR=${RDQ_ADDR_SELF:?}
ITERS=${ITERS:-2000}
REPEAT=${REPEAT:-3}
RESULTS=/tmp/lat-results
# A run that takes longer than this has hung (an echo that never came).
LIMIT=${LIMIT:-120}
[ $# -gt 0 ] || set -- 64 4096 65536
: >"$RESULTS"

# record SIZE RUN PATH P50 P99: a result line, on the console and kept for the summary.
record() {
	if [ -n "${4:-}" ] && [ -n "${5:-}" ]; then
		echo "lat size $1 run $2 path $3 p50 $4 p99 $5" | tee -a "$RESULTS"
	else
		echo "lat size $1 run $2 path $3 failed"
	fi
}

# The round trip of ib_send_lat's result line: twice its t_typical and its 99% percentile.
perftest_rtt() {
	awk '$1 ~ /^[0-9]+$/ && NF >= 9 { p50 = 2 * $5; p99 = 2 * $8 }
		END { if (p50 != "") printf "%.1f %.1f\n", p50, p99 }'
}

# p50 and p99 from rdma-pingpong's or rdq-pingpong's line.
pingpong_rtt() {
	sed -n 's/.* p50_us \([0-9.]*\) p99_us \([0-9.]*\).*/\1 \2/p'
}

path_ib_send_lat() {
	ib_send_lat -R -e -s "$1" -n "$ITERS" -p 7490 >/tmp/lat-server.out 2>&1 &
	srv=$!
	sleep 1
	# shellcheck disable=SC2046 # two numbers, or none
	record "$1" "$2" ib_send_lat $(timeout "$LIMIT" ib_send_lat -R -e -s "$1" -n "$ITERS" \
		-p 7490 "$ADDR" 2>&1 | perftest_rtt)
	# A server whose client failed would wait for ever.
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
}

path_rdqd_echo() {
	# shellcheck disable=SC2046
	record "$1" "$2" rdqd_echo $(timeout "$LIMIT" ib_send_lat -R -e -s "$1" -n "$ITERS" \
		-p 7472 "$ADDR" 2>&1 | perftest_rtt)
}

path_pingpong() {
	out=$(timeout "$LIMIT" rdma-pingpong "$ADDR" 7472 "$1" "$ITERS" 2>&1)
	# shellcheck disable=SC2046
	record "$1" "$2" pingpong $(printf '%s\n' "$out" | pingpong_rtt)
	printf '%s\n' "$out" | grep -v '^pingpong ' | head -n 5
}

path_rdq() {
	rdq_pingpong rdq "$@"
}

path_direct() {
	rdq_pingpong direct "$@" -D
}

# rdq_pingpong PATH SIZE RUN [OPTION]: rdq-pingpong's round trips, recorded as PATH.
rdq_pingpong() {
	path=$1
	shift
	out=$(timeout "$LIMIT" rdq-pingpong ${3:-} -s "$RDQ_SOCK" "$ADDR:7472" "$1" "$ITERS" 2>&1)
	case $out in
	*" skipped: "*)
		echo "skip size $1 run $2 path $path: ${out#* skipped: }"
		return
		;;
	esac
	# shellcheck disable=SC2046
	record "$1" "$2" "$path" $(printf '%s\n' "$out" | pingpong_rtt)
	printf '%s\n' "$out" | grep -v '^rdqpingpong ' | head -n 5
}

rdqd_start -q || exit 1
ctl ep listen "$ADDR:7472" >/dev/null
start=$(date +%s)
for size in "$@"; do
	run=1
	while [ "$run" -le "$REPEAT" ]; do
		if [ $((run % 2)) -eq 1 ]; then
			order="ib_send_lat rdqd_echo pingpong rdq direct"
		else
			order="direct rdq pingpong rdqd_echo ib_send_lat"
		fi
		for p in $order; do
			"path_$p" "$size" "$run"
		done
		run=$((run + 1))
	done
done
echo "measured in $(($(date +%s) - start)) s"

# The summaries: per size and path the spread of p50 and p99 over the runs,
# and the two ratios, each taken within a run.
awk -v sizes="$*" "$SPREAD_AWK"'
$1 == "lat" { p50[$3 "/" $7 "/" $5] = $9; p99[$3 "/" $7 "/" $5] = $11 }
END {
	np = split("ib_send_lat rdqd_echo pingpong rdq direct", paths, " ")
	ns = split(sizes, sz, " ")
	for (s = 1; s <= ns; s++) {
		S = sz[s]
		for (k = 1; k <= np; k++) {
			a = ""; b = ""
			for (r = 1; r <= 1000; r++)
				if ((key = S "/" paths[k] "/" r) in p50) {
					a = a " " p50[key]; b = b " " p99[key]
				}
			if (a != "")
				printf "sum size %s path %s p50 %s p99 %s runs %d\n", S, paths[k],
					spread(a), spread(b), count(a)
		}
		split("rdqd_echo/ib_send_lat rdq/pingpong direct/pingpong", names, " ")
		split("rdqd_echo rdq direct", num, " ")
		split("ib_send_lat pingpong pingpong", den, " ")
		for (k = 1; k <= 3; k++) {
			a = ""; b = ""
			for (r = 1; r <= 1000; r++)
				if ((n = S "/" num[k] "/" r) in p50 && (d = S "/" den[k] "/" r) in p50 &&
				    p50[d] > 0 && p99[d] > 0) {
					a = a " " p50[n] / p50[d]
					b = b " " p99[n] / p99[d]
				}
			if (a != "")
				printf "ratio size %s %s p50 %s p99 %s runs %d\n", S, names[k],
					spread(a), spread(b), count(a)
		}
	}
}' "$RESULTS"
ctl -j stats
rdqd_stop
