#!/bin/sh
# Heap allocations per request in rdqd, in steady state, for each kind of
# request: rdqd runs with the alloc-count preload; after a warm-up, N requests
# go through one connection (rdq-calls), and the preload's totals are read
# before and after (SIGUSR2). Each line gives all allocations per request and
# rdqd's own (made by rdqd's code or by libevent for its buffers; the rest are
# made inside the libraries it calls: librdmacm, libibverbs and its driver).
#
# Kinds:
#   inline      version, status, stats: answered on the loop at once
#   worker      dev.show: answered after a worker step (it opens each device)
#   completion  ep.send with wait, answered at the send's completion, and
#               ep.recv in turn, answered with the echo rdqd's own listener
#               sent back (whose receive and send count too)
#   recv        ep.sendrecv: the reply carries the next message
#   event       ep.destroyed sent to watchers: an endpoint made and
#               destroyed per step, with and without four watchers; the
#               difference, per event sent, is what an event costs
# Without RDMA (no rdma_cm device here) only the inline kinds run; in the
# rxe host, all of them:
#   tests/rxe/rxehost run --build-dir build -- bench/alloc-count.sh build
#   tests/rxe/rxehost run --build-dir build -- bench/alloc-count.sh - 5000
# Usage: bench/alloc-count.sh [BUILD_DIR] [N]   (default: build, 10000; "-": the tools on PATH)
set -eu
if [ "${1:-build}" = - ]; then # the rxe host: the build's executables are on PATH
	rdqd=$(command -v rdqd) rdqctl=$(command -v rdqctl) calls=$(command -v rdq-calls)
	preload=$(dirname "$calls")/liballoc-count.so
else
	build=$(cd "${1:-build}" && pwd)
	rdqd=$build/daemon/rdqd rdqctl=$build/client/rdqctl calls=$build/bench/rdq-calls
	preload=$build/bench/liballoc-count.so
fi
n=${2:-10000}
rdqd=${RDQD:-$rdqd} # another rdqd to measure, with this build's tools
addr=${RDQ_ADDR_SELF:-}
dir=$(mktemp -d)
trap 'kill $pid $watchers 2>/dev/null; rm -rf "$dir"' EXIT
sock=$dir/rdqd.sock
counts=$dir/counts
watchers=

ALLOC_COUNT_FILE=$counts LD_PRELOAD=$preload \
	"$rdqd" -q --no-config -s "$sock" 2>"$dir/rdqd.log" &
pid=$!
i=0
until [ -S "$sock" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "alloc-count: rdqd did not start"; cat "$dir/rdqd.log"; exit 1; }
	sleep 0.05
done

# reading: "ALL OWN", the totals the preload wrote at the last SIGUSR2.
reading() {
	: >"$counts"
	kill -USR2 "$pid"
	i=0
	until [ -s "$counts" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "alloc-count: no reading"; exit 1; }
		sleep 0.02
	done
	cut -d' ' -f2,6 "$counts"
}

calls() { "$calls" -s "$sock" "$@" >/dev/null; }

# measure KIND N OP [ARGS]: a warm-up of N/10, then N requests between two readings.
measure() {
	kind=$1 count=$2 op=$3
	shift 3
	calls -n $((count / 10 + 1)) "$@" "$op"
	before=$(reading)
	calls -n "$count" "$@" "$op"
	after=$(reading)
	echo "$before $after" | awk -v k="$kind" -v op="$op" -v n="$count" \
		'{ printf "alloc %s %s: %.2f allocations per request, %.2f rdqd'"'"'s own (%d requests)\n",
		   k, op, ($3 - $1) / n, ($4 - $2) / n, n }'
}

for op in version status stats; do
	measure inline "$n" "$op"
done

rdma=$("$rdqctl" -s "$sock" -j status | grep -o '"rdma": *[a-z]*' | grep -c true || true)
if [ "$rdma" = 0 ] || [ -z "$addr" ]; then
	echo "alloc-count: no RDMA here: the worker, completion and event kinds need it (the rxe host)"
	exit 0
fi

ctl() { "$rdqctl" -s "$sock" "$@"; }
measure worker $((n / 10)) dev.show
ctl ep listen "$addr:7480" >/dev/null
ep=$(ctl ep connect "$addr:7480" | awk '{ print $2 }')
measure completion "$n" ep.send -a "{\"ep\":$ep,\"data\":\"0123456789abcdef\",\"wait\":true}" \
	-t ep.recv -T "{\"ep\":$ep}"
ep2=$(ctl ep connect "$addr:7480" | awk '{ print $2 }')
measure recv "$n" ep.sendrecv -a "{\"ep\":$ep2,\"data\":\"0123456789abcdef\"}"
# Events: four watchers, each an rdqctl monitor reading them; each request makes a listener and
# destroys it (a worker step each way), so it sends ep.destroyed to every watcher. Measured
# with and without the watchers, the difference is what the events cost.
events=$((n / 20))
pairs() {
	i=0
	while [ $i -lt "$1" ]; do
		h=$(ctl ep listen "$addr:$((7500 + i % 100))" | awk '{ print $2 }')
		ctl ep destroy "$h"
		i=$((i + 1))
	done
}
pairs 20
before=$(reading)
pairs "$events"
quiet=$(reading)
for w in 1 2 3 4; do
	ctl monitor >/dev/null &
	watchers="$watchers $!"
done
sleep 1
pairs 20
mid=$(reading)
pairs "$events"
loud=$(reading)
echo "$before $quiet $mid $loud" | awk -v n="$events" '{
	q = ($4 - $2) / n; l = ($8 - $6) / n
	printf "alloc event ep.destroyed: %.2f rdqd'"'"'s own allocations per event sent ", (l - q) / 4
	printf "(an ep.listen and ep.destroy: %.2f own without watchers, %.2f with 4)\n", q, l }'
