#!/bin/sh
# Connection storm, side by side in one boot of the rxe host: rdma-core's cmtime
# (client and server processes) against rdqd (which plays both sides: the
# listener's passive endpoints and the active ones) driven by rdq-storm, and
# against direct endpoints (rdqd holds QP-less rdma_cm ids, rdq-direct-storm
# makes the QPs and moves them through rdqd's steps) on the same listener.
# Each N runs REPEAT times (default 3), the three contestants in turn, their
# order reversed every other run so that none always goes first; each starts
# on an idle guest. Each run prints a "storm" line with the times, and one with
# the guest CPU each contestant's whole run took; the end a "ratio" line per N,
# phase and contestant: the median of its time / cmtime's over the runs, with
# the lowest and highest, and the same for the CPU. Last, what rdqd's QP owner
# check costs when it must dump the device's QPs (a QP still in RESET) as the
# QPs on the device grow (qp-owner-time, up to 2 N: a direct storm's N QPs and
# rdqd's N passive ones).
# Usage (on the host):
#   tests/rxe/rxehost run --build-dir build --mem 2048 --timeout 1800 [--env REPEAT=5] -- bench/storm.sh [N...]
set -u
. "${RDQ_TESTS:?}/rxe/lib.sh"
ADDR=${RDQ_ADDR_SELF:?}
REPEAT=${REPEAT:-3}
RESULTS=/tmp/storm-results
[ $# -gt 0 ] || set -- 100 1000
: >"$RESULTS"

# cmtime's total ms for a step (its table's first number column).
cm_step() { sed -n "s/^$1 *: *\([0-9.]*\).*/\1/p" /tmp/cmtime.out; }

# The guest's CPU time so far, in ms, busy in any process or the kernel (not idle, not
# waiting for I/O): /proc/stat's first line, in clock ticks of 10 ms. Around a contestant's run
# it says how much CPU its whole run took, both its processes (or rdqd and its client) and the
# kernel's RDMA work for them: on one vCPU a run cannot take less time than that.
cpu_busy_ms() {
	awk '/^cpu / { print ($2 + $3 + $4 + $7 + $8) * 10; exit }' /proc/stat
}

# Waits (up to 30 s) until the guest has been idle for a second: what a contestant leaves
# behind (rdqd tearing down endpoints on its workers, a killed cmtime server's QPs destroyed by
# the kernel, rdma_cm's time-wait) must not be paid by the next one. Busy means more than 5 of
# the second's 100 ticks.
settle() {
	i=0
	while [ $i -lt 30 ]; do
		t0=$(cpu_busy_ms)
		sleep 1
		[ $(($(cpu_busy_ms) - t0)) -le 50 ] && return 0
		i=$((i + 1))
	done
	echo "storm: the guest did not settle in 30 s"
}

# Each contestant sets its connect and disconnect ms (empty if it failed).
run_cmtime() {
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
}

run_rdq() {
	# One block of N: its line gives rdqd's CPU time over the connect phase too.
	rdq_out=$(timeout 600 rdq-storm -s "$RDQ_SOCK" -n "$n" -b "$n" -p "$RDQD_PID" \
		"$ADDR:7472" 2>&1)
	printf '%s\n' "$rdq_out" | grep '^block [1-9]' | sed 's/^/rdq-storm: /'
	rdq_connect=$(printf '%s\n' "$rdq_out" | sed -n 's/^rdq-storm n=.* connect \([0-9.]*\) ms.*/\1/p')
	rdq_disconnect=$(printf '%s\n' "$rdq_out" |
		sed -n 's/^rdq-storm n=.* disconnect \([0-9.]*\) ms.*/\1/p')
}

run_direct() {
	direct_out=$(timeout 600 rdq-direct-storm -s "$RDQ_SOCK" -n "$n" -p "$RDQD_PID" \
		"$ADDR:7472" 2>&1)
	printf '%s\n' "$direct_out" | grep '^rdq-direct-storm where' | sed 's/^/direct: /'
	direct_connect=$(printf '%s\n' "$direct_out" |
		sed -n 's/^rdq-direct-storm n=.* connect \([0-9.]*\) ms.*/\1/p')
	direct_disconnect=$(printf '%s\n' "$direct_out" |
		sed -n 's/^rdq-direct-storm n=.* disconnect \([0-9.]*\) ms.*/\1/p')
}

rdqd_start -q || exit 1
ctl ep listen "$ADDR:7472" --max-connections 65536 >/dev/null
for n in "$@"; do
	run=1
	while [ "$run" -le "$REPEAT" ]; do
		if [ $((run % 2)) -eq 1 ]; then
			order="cmtime rdq direct"
		else
			order="direct rdq cmtime"
		fi
		cpu_line=""
		settle
		for who in $order; do
			before=$(cpu_busy_ms)
			"run_$who"
			settle # the contestant's leftovers are its own CPU, not the next one's
			cpu_line="$cpu_line $who $(($(cpu_busy_ms) - before))"
		done
		echo "storm N=$n run $run guest cpu ms (connect and disconnect, every process):$cpu_line" |
			tee -a "$RESULTS"
		if [ -z "$rdq_connect" ] || [ -z "$cm_disconnect" ] || [ -z "$direct_connect" ]; then
			echo "storm N=$n run $run failed: cmtime [$(tail -3 /tmp/cmtime.out)]" \
				"rdq-storm [$rdq_out] rdq-direct-storm [$direct_out]"
		else
			echo "storm N=$n run $run order $(echo "$order" | tr ' ' ,)" \
				"connect cmtime $cm_connect rdqd $rdq_connect direct $direct_connect" \
				"disconnect cmtime $cm_disconnect rdqd $rdq_disconnect direct $direct_disconnect" |
				tee -a "$RESULTS"
		fi
		run=$((run + 1))
	done
done
# Per N, phase and contestant: the ratios to cmtime of each run, sorted; the median, lowest
# and highest.
for n in "$@"; do
	for phase in connect disconnect; do
		for who in rdqd direct; do
			grep "^storm N=$n " "$RESULTS" | awk -v p="$phase" -v w="$who" '{
				for (i = 1; i <= NF; i++) if ($i == p) {
					for (j = i + 1; j <= i + 6; j += 2) v[$j] = $(j + 1)
					printf "%.3f\n", v[w] / v["cmtime"]
				}
			}' | sort -n | awk -v n="$n" -v p="$phase" -v w="$who" '
				{ r[NR] = $1 }
				END { if (NR) printf "ratio N=%s %s %s/cmtime median %.2f min %.2f max %.2f runs %d\n",
					n, p, w, r[int((NR + 1) / 2)], r[1], r[NR], NR }'
		done
	done
done
# The same for the guest's CPU over each whole run.
for n in "$@"; do
	for who in rdq direct; do
		grep "^storm N=$n run .* guest cpu ms" "$RESULTS" | awk -v w="$who" '{
			for (i = 1; i <= NF; i++) v[$i] = $(i + 1)
			printf "%.3f\n", v[w] / v["cmtime"]
		}' | sort -n | awk -v n="$n" -v w="$who" '
			{ r[NR] = $1 }
			END { if (NR) printf "ratio N=%s cpu %s/cmtime median %.2f min %.2f max %.2f runs %d\n",
				n, w, r[int((NR + 1) / 2)], r[1], r[NR], NR }'
	done
done
ctl -j stats
rdqd_stop
max=0
for n in "$@"; do [ "$n" -gt "$max" ] && max=$n; done
qp-owner-time "$RDQ_RXE_DEV" 20 1 $((max / 2)) "$max" $((2 * max))
