#!/bin/sh
# The static half of "the loop never blocks": every function of the daemon
# that makes a call that may sleep declares the PASSIVE level
# (RDQ_PASSIVE_ONLY(), which aborts if it ever runs on the loop), and so does
# every worker step (ep_work_*). Files hold features, not levels, so the
# check follows the declarations, not file names. The run-time half is
# RDQ_PASSIVE_ONLY() itself (see daemon/engine/level.h).
# Usage: check-blocking-calls.sh SOURCE_ROOT
set -u
root=$1
blocking='rdma_create_id|rdma_destroy_id|rdma_bind_addr|rdma_listen|rdma_resolve_addr|rdma_resolve_route|rdma_connect|rdma_accept|rdma_reject|rdma_establish|rdma_disconnect|rdma_init_qp_attr|rdma_create_event_channel|rdma_get_devices|ibv_create_qp|ibv_modify_qp|ibv_destroy_qp|ibv_create_cq|ibv_destroy_cq|ibv_reg_mr|ibv_dereg_mr|ibv_alloc_pd|ibv_dealloc_pd|ibv_create_comp_channel|ibv_destroy_comp_channel|ibv_open_device|ibv_query_port|ibv_get_device_list|getaddrinfo|pthread_join|usleep|nanosleep'
bad=0
for f in "$root"/daemon/*.c; do
	awk -v file="${f#"$root"/}" -v blocking="(^|[^a-z_])($blocking)[[:space:]]*\\(" '
		# A definition starts at column 0 with a name and "(", and is no prototype.
		/^[a-z].*\(/ && !/;$/ { name = $0; body = 1; calls = ""; passive = 0; next }
		body && /^[[:space:]]*(\/\*|\*)/ { next } # comment lines may name the calls
		body && /RDQ_PASSIVE_ONLY\(\)/ { passive = 1 }
		body && $0 ~ blocking { calls = calls "\n    " $0 }
		body && /^}/ {
			body = 0
			if (calls != "" && !passive) {
				print file ": " name "\n  may block but does not declare RDQ_PASSIVE_ONLY():" calls
				bad = 1
			}
			if (name ~ /[ *]ep_work_[a-z_]*\(/ && !passive) {
				print file ": " name "\n  is a worker step but does not declare RDQ_PASSIVE_ONLY()"
				bad = 1
			}
		}
		END { exit bad }' "$f" || bad=1
done
[ $bad -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $bad
