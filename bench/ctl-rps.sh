#!/bin/sh
# Control-plane requests per second, side by side: rdqd answering `version`
# (driven by rdq-load) against redis-server answering PING_INLINE (driven by
# redis-benchmark), both on a Unix socket on this machine (no RDMA needed),
# at 1 and 50 connections, one request at a time or 16 in flight (MODES).
# Each mode runs REPEAT times (default 3), alternating the two; a "ratio"
# line per mode gives the median of rdqd / redis, with the lowest and
# highest. Use a release build (meson setup --buildtype=release);
# bench/plot-ctl-rps turns the output into a table and a plot.
# Usage: bench/ctl-rps.sh [BUILD_DIR] [N]   (default: build, 200000 requests a run)
set -eu
for tool in redis-server redis-benchmark; do
	command -v "$tool" >/dev/null ||
		{ echo "ctl-rps: $tool not found: apt-get install redis-server redis-tools"; exit 2; }
done
build=$(cd "${1:-build}" && pwd)
n=${2:-200000}
repeat=${REPEAT:-3}
# Each mode is "CONNECTIONS DEPTH": 1 and 50 connections, one request at a time or 16 in flight.
MODES=${MODES:-"1,1 50,1 1,16 50,16"}
dir=$(mktemp -d)
trap 'kill $rdqd_pid $redis_pid 2>/dev/null; rm -rf "$dir"' EXIT
results=$dir/results

"$build/daemon/rdqd" -q -s "$dir/rdqd.sock" --max-clients 256 2>"$dir/rdqd.log" &
rdqd_pid=$!
redis-server --port 0 --unixsocket "$dir/redis.sock" --save '' --appendonly no \
	--daemonize no >"$dir/redis.log" 2>&1 &
redis_pid=$!
i=0
until [ -S "$dir/rdqd.sock" ] && [ -S "$dir/redis.sock" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "ctl-rps: a server did not start"; exit 1; }
	sleep 0.05
done

now_ms() { date +%s%3N; }

# rdq CONNS DEPTH: requests/s of n version requests over CONNS connections, DEPTH in flight on
# each, from one rdq-load process (as redis-benchmark drives redis); LIB=1: through librdq
# instead, one rdq-calls process per connection.
rdq() {
	if [ "${LIB:-0}" = 1 ]; then
		per=$((n / $1))
		t0=$(now_ms)
		k=0
		while [ $k -lt "$1" ]; do
			"$build/bench/rdq-calls" -s "$dir/rdqd.sock" -n "$per" -P "$2" version >/dev/null &
			k=$((k + 1))
		done
		wait
		echo $((per * $1 * 1000 / ($(now_ms) - t0)))
		return
	fi
	"$build/bench/rdq-load" -s "$dir/rdqd.sock" -n "$n" -c "$1" -P "$2" version |
		awk '{ printf "%d\n", $(NF - 1) }'
}

# redis CONNS DEPTH: redis-benchmark's requests/s for PING_INLINE.
redis() {
	redis-benchmark -s "$dir/redis.sock" -n "$n" -c "$1" -P "$2" -t ping_inline --csv 2>/dev/null |
		awk -F'"' '/PING_INLINE/ { printf "%d\n", $4 }'
}

for mode in $MODES; do
	set -- "${mode%,*}" "${mode#*,}"
	run=1
	while [ $run -le "$repeat" ]; do
		r=$(rdq "$1" "$2")
		p=$(redis "$1" "$2")
		echo "rps connections $1 depth $2 run $run rdqd $r redis $p" | tee -a "$results"
		run=$((run + 1))
	done
done
for mode in $MODES; do
	set -- "${mode%,*}" "${mode#*,}"
	grep "^rps connections $1 depth $2 " "$results" | awk '{ printf "%.3f\n", $9 / $11 }' |
		sort -n | awk -v c="$1" -v p="$2" '{ r[NR] = $1 }
		END { printf "ratio connections %s depth %s rdqd/redis median %.2f min %.2f max %.2f runs %d\n",
			c, p, r[int((NR + 1) / 2)], r[1], r[NR], NR }'
done
