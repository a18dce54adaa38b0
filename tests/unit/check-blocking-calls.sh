#!/bin/sh
# The static half of "the loop never blocks": calls that may sleep appear only in
# the daemon's worker-side files (*_work.c, device.c). The run-time half is
# RDQ_PASSIVE_ONLY() in those functions (see daemon/engine/level.h).
# Usage: check-blocking-calls.sh SOURCE_ROOT
set -u
root=$1
blocking='rdma_create_id|rdma_destroy_id|rdma_bind_addr|rdma_listen|rdma_resolve_addr|rdma_resolve_route|rdma_connect|rdma_accept|rdma_reject|rdma_establish|rdma_disconnect|rdma_init_qp_attr|ibv_create_qp|ibv_modify_qp|ibv_destroy_qp|ibv_create_cq|ibv_destroy_cq|ibv_reg_mr|ibv_dereg_mr|ibv_alloc_pd|ibv_dealloc_pd|ibv_create_comp_channel|ibv_destroy_comp_channel|ibv_open_device|ibv_query_port|getaddrinfo|pthread_join|usleep|nanosleep'
bad=0
for f in "$root"/daemon/*.c; do
	case "$f" in
	*_work.c | */device.c) continue ;;
	esac
	# Comment lines may name these calls; code may not.
	hits=$(grep -nE "\\b($blocking)\\s*\\(" "$f" | grep -vE '^[0-9]+:\s*(/\*|\*)')
	if [ -n "$hits" ]; then
		echo "$f: a call that may block, outside a worker-side file:"
		echo "$hits"
		bad=1
	fi
done
# Every non-static function of a worker-side file declares its level: most are
# PASSIVE; an entry point the loop calls says DISPATCH.
for f in "$root"/daemon/*_work.c "$root"/daemon/device.c; do
	awk -v file="$f" '
		/^[a-z].*\(/ && !/^static/ && !/;$/ { name = $0; want = 1; next }
		want && /RDQ_(PASSIVE|DISPATCH)_ONLY\(\)/ { want = 0 }
		want && /^}/ { print file ": " name " declares no level (RDQ_PASSIVE_ONLY or RDQ_DISPATCH_ONLY)"; bad = 1; want = 0 }
		END { exit bad }' "$f" || bad=1
done
[ $bad -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $bad
