#!/bin/sh
# Serve mode, side by side in one boot of the rxe host: a peer written on
# rdma_cm directly (rdma-pingpong) against four echo servers, REPEAT times
# (default 3) at each message size, the four in turn within a run (in
# reverse order every other run, so that none always goes first):
#   rdqd_echo    rdqd's echo-mode listener: the daemon sends each message back
#   echo_server  examples/echo-server, a librdq program serving a serve-mode
#                listener: rdqd hands it each message over its Unix socket
#                (ep.recv) and sends its answer (ep.send)
#   echo_direct  examples/echo-server --direct: the same program on a direct
#                listener: rdqd connects its own QPs, which carry the messages
#   rdma_echo    rdma-echo-server, an echo server on rdma_cm and verbs
#                directly, no daemon
# Per server, size and run:
#   lat  one client, ITERS (default 2000) round trips: p50 and p99 in µs
#   rps  CLIENTS (default 4) clients at once, ITERS round trips each, timed
#        from a common start after their warm-up: requests per second is
#        all their round trips over the span from the first one's start to
#        the last one's end
#
# Output, which bench/plot-serve-rtt turns into tables and a plot:
#   lat size S run R server X p50 P p99 Q
#   rps size S run R server X clients C rps N
#   sum size S server X p50 median .. min .. max .. p99 ... rps ... runs N
#   ratio size S echo_server/rdma_echo p50 median .. min .. max .. p99 ... rps ... runs N
#   ratio size S echo_direct/rdma_echo ... (the same for the direct server)
#   goal size S p50 M<=2 yes|no rps M>=0.5 yes|no (the medians of the ratios)
# Ratios are taken within each run, then summarised over the runs.
# Usage (on the host):
#   tests/rxe/rxehost run --build-dir build --timeout 1500 -- bench/serve-rtt.sh [SIZE...] | tee serve-rtt.log
#   bench/plot-serve-rtt serve-rtt.log docs/img/serve-rtt.png
set -u
. "${RDQ_TESTS:?}/rxe/lib.sh"
ADDR=${RDQ_ADDR_SELF:?}
ITERS=${ITERS:-2000}
REPEAT=${REPEAT:-3}
CLIENTS=${CLIENTS:-4}
RESULTS=/tmp/serve-results
# A client that takes longer than this has hung (an echo that never came).
LIMIT=${LIMIT:-300}
[ $# -gt 0 ] || set -- 64 4096
: >"$RESULTS"

# Each server's port.
port() {
	case $1 in
	rdqd_echo) echo 7472 ;;
	echo_server) echo 7490 ;;
	echo_direct) echo 7492 ;;
	rdma_echo) echo 7491 ;;
	esac
}

# lat SIZE RUN SERVER: one client's round trips.
lat() {
	out=$(timeout "$LIMIT" rdma-pingpong "$ADDR" "$(port "$3")" "$1" "$ITERS" 2>&1)
	# shellcheck disable=SC2046 # two numbers, or none
	set -- "$1" "$2" "$3" $(printf '%s\n' "$out" |
		sed -n 's/.* p50_us \([0-9.]*\) p99_us \([0-9.]*\).*/\1 \2/p')
	if [ $# -eq 5 ]; then
		echo "lat size $1 run $2 server $3 p50 $4 p99 $5" | tee -a "$RESULTS"
	else
		echo "lat size $1 run $2 server $3 failed"
		printf '%s\n' "$out" | head -n 5
	fi
}

# rps SIZE RUN SERVER: CLIENTS clients at once. They connect and warm up,
# then start timing together two seconds on (time enough for the others to
# connect); the span counts from the earliest start in any case.
rps() {
	go=$(($(date +%s) + 2))
	pids=
	i=1
	while [ "$i" -le "$CLIENTS" ]; do
		timeout "$LIMIT" rdma-pingpong -t "$go" "$ADDR" "$(port "$3")" "$1" "$ITERS" \
			>"/tmp/serve-client.$i" 2>&1 &
		pids="$pids $!"
		i=$((i + 1))
	done
	bad=0
	for pid in $pids; do
		wait "$pid" || bad=1
	done
	if [ "$bad" -ne 0 ]; then
		echo "rps size $1 run $2 server $3 failed"
		cat /tmp/serve-client.* | grep -v '^pingpong ' | head -n 5
		return
	fi
	cat /tmp/serve-client.* | awk -v s="$1" -v r="$2" -v x="$3" '$1 == "pingpong" {
		n += $5; c++
		for (i = 1; i < NF; i++) {
			if ($i == "t0" && (t0 == "" || $(i + 1) < t0)) t0 = $(i + 1)
			if ($i == "t1" && (t1 == "" || $(i + 1) > t1)) t1 = $(i + 1)
		}
	}
	END { if (c > 0 && t1 > t0)
		printf "rps size %s run %s server %s clients %d rps %.1f\n", s, r, x, c, n / (t1 - t0) }' |
		tee -a "$RESULTS"
}

# waits until the log FILE says PATTERN (up to 20 s).
started() {
	wait_until 20 grep -q "$2" "$1" || {
		echo "not started: $(cat "$1")"
		exit 1
	}
}

rdqd_start -q || exit 1
ctl ep listen "$ADDR:7472" >/dev/null
echo-server -s "$RDQ_SOCK" "$ADDR:7490" >/tmp/echo-server.out 2>&1 &
ECHO_SERVER=$!
echo-server -s "$RDQ_SOCK" --direct "$ADDR:7492" >/tmp/echo-direct.out 2>&1 &
ECHO_DIRECT=$!
rdma-echo-server "$ADDR" 7491 >/tmp/rdma-echo-server.out 2>&1 &
RDMA_ECHO=$!
started /tmp/echo-server.out "serving $ADDR:7490"
started /tmp/echo-direct.out "serving $ADDR:7492"
started /tmp/rdma-echo-server.out "listening $ADDR:7491"

start=$(date +%s)
for size in "$@"; do
	run=1
	while [ "$run" -le "$REPEAT" ]; do
		if [ $((run % 2)) -eq 1 ]; then
			order="rdqd_echo echo_server echo_direct rdma_echo"
		else
			order="rdma_echo echo_direct echo_server rdqd_echo"
		fi
		for x in $order; do
			lat "$size" "$run" "$x"
			rps "$size" "$run" "$x"
		done
		run=$((run + 1))
	done
done
echo "measured in $(($(date +%s) - start)) s"

# The summaries: per size and server the spread of each figure over the
# runs; the ratios of echo_server to rdma_echo, each taken within a run;
# and whether their medians meet the goal (round trip at most twice the
# plain server's, requests per second at least half).
awk -v sizes="$*" "$SPREAD_AWK"'
$1 == "lat" { p50[$3 "/" $7 "/" $5] = $9; p99[$3 "/" $7 "/" $5] = $11 }
$1 == "rps" { rps[$3 "/" $7 "/" $5] = $11 }
END {
	nx = split("rdqd_echo echo_server echo_direct rdma_echo", servers, " ")
	ns = split(sizes, sz, " ")
	for (s = 1; s <= ns; s++) {
		S = sz[s]
		for (k = 1; k <= nx; k++) {
			a = ""; b = ""; c = ""
			for (r = 1; r <= 1000; r++) {
				key = S "/" servers[k] "/" r
				if (key in p50) { a = a " " p50[key]; b = b " " p99[key] }
				if (key in rps) c = c " " rps[key]
			}
			if (a != "" && c != "")
				printf "sum size %s server %s p50 %s p99 %s rps %s runs %d\n", S,
					servers[k], spread(a), spread(b), spread(c), count(a)
		}
		for (k = 1; k <= 2; k++) {
		X = k == 1 ? "echo_server" : "echo_direct"
		a = ""; b = ""; c = ""
		for (r = 1; r <= 1000; r++) {
			n = S "/" X "/" r; d = S "/rdma_echo/" r
			if (n in p50 && d in p50 && n in rps && d in rps && p50[d] > 0 && p99[d] > 0 &&
			    rps[d] > 0) {
				a = a " " p50[n] / p50[d]
				b = b " " p99[n] / p99[d]
				c = c " " rps[n] / rps[d]
			}
		}
		if (a != "") {
			ra = spread(a); m50 = last
			rb = spread(b)
			rc = spread(c); mrps = last
			printf "ratio size %s %s/rdma_echo p50 %s p99 %s rps %s runs %d\n", S, X,
				ra, rb, rc, count(a)
			if (k == 1)
				printf "goal size %s p50 %.2f<=2 %s rps %.2f>=0.5 %s\n", S,
					m50, (m50 <= 2 ? "yes" : "no"), mrps, (mrps >= 0.5 ? "yes" : "no")
		}
		}
	}
}' "$RESULTS"

# Both servers answered the requests themselves: their own counts.
kill -TERM "$ECHO_SERVER" "$ECHO_DIRECT" "$RDMA_ECHO"
wait "$ECHO_SERVER"
wait "$ECHO_DIRECT"
wait "$RDMA_ECHO"
tail -n 1 /tmp/echo-server.out /tmp/echo-direct.out /tmp/rdma-echo-server.out
ctl -j stats
rdqd_stop
