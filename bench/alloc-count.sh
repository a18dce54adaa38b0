#!/bin/sh
# Heap allocations per request in rdqd, in steady state: rdqd runs with the
# alloc-count preload; after a warm-up, N requests of each operation go
# through one connection (rdq-calls), and the preload's totals are read
# before and after (SIGUSR2). No RDMA is needed: the operations are ones the
# loop answers itself. The figure includes the connection's own start and
# end, spread over the N requests.
# Usage: bench/alloc-count.sh [BUILD_DIR] [N]   (default: build, 10000)
set -eu
build=$(cd "${1:-build}" && pwd)
n=${2:-10000}
rdqd=${RDQD:-$build/daemon/rdqd} # another rdqd to measure, with this build's tools
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
sock=$dir/rdqd.sock
counts=$dir/counts

ALLOC_COUNT_FILE=$counts LD_PRELOAD=$build/bench/liballoc-count.so \
	"$rdqd" -q -s "$sock" 2>"$dir/rdqd.log" &
pid=$!
i=0
until [ -S "$sock" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "alloc-count: rdqd did not start"; cat "$dir/rdqd.log"; exit 1; }
	sleep 0.05
done

# reading: the totals the preload wrote at the last SIGUSR2.
reading() {
	: >"$counts"
	kill -USR2 "$pid"
	i=0
	until [ -s "$counts" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "alloc-count: no reading"; exit 1; }
		sleep 0.02
	done
	cut -d' ' -f2 "$counts"
}

for op in version status stats; do
	"$build/bench/rdq-calls" -s "$sock" -n 1000 "$op" >/dev/null
	before=$(reading)
	"$build/bench/rdq-calls" -s "$sock" -n "$n" "$op" >/dev/null
	after=$(reading)
	awk -v op="$op" -v n="$n" -v a="$before" -v b="$after" \
		'BEGIN { printf "alloc %s: %.2f allocations per request (%d requests)\n", op, (b - a) / n, n }'
done
