/* SPDX-License-Identifier: MIT */
/*
 * The QP attributes a direct endpoint's client applies with ibv_modify_qp,
 * as rdqd sends them (docs/protocol.md, ep.attach): each one's mask bit and
 * its member of struct ibv_qp_attr, which is also its name on the wire. One
 * list, for rdqd's encoder and librdq's reader; the address vector
 * (IBV_QP_AV, "ah_attr") is an object of its own, written and read beside
 * it. A mask bit outside this list and IBV_QP_AV is not carried: rdqd
 * refuses to send it rather than drop it.
 */
#ifndef RDQ_PROTOCOL_QP_ATTR_FIELDS_H
#define RDQ_PROTOCOL_QP_ATTR_FIELDS_H

#include <infiniband/verbs.h>

#define RDQ_QP_ATTR_FIELDS(X)                                                                      \
	X(IBV_QP_STATE, qp_state)                                                                  \
	X(IBV_QP_ACCESS_FLAGS, qp_access_flags)                                                    \
	X(IBV_QP_PKEY_INDEX, pkey_index)                                                           \
	X(IBV_QP_PORT, port_num)                                                                   \
	X(IBV_QP_PATH_MTU, path_mtu)                                                               \
	X(IBV_QP_TIMEOUT, timeout)                                                                 \
	X(IBV_QP_RETRY_CNT, retry_cnt)                                                             \
	X(IBV_QP_RNR_RETRY, rnr_retry)                                                             \
	X(IBV_QP_RQ_PSN, rq_psn)                                                                   \
	X(IBV_QP_MAX_QP_RD_ATOMIC, max_rd_atomic)                                                  \
	X(IBV_QP_MIN_RNR_TIMER, min_rnr_timer)                                                     \
	X(IBV_QP_SQ_PSN, sq_psn)                                                                   \
	X(IBV_QP_MAX_DEST_RD_ATOMIC, max_dest_rd_atomic)                                           \
	X(IBV_QP_DEST_QPN, dest_qp_num)

/* Every mask bit carried: the list's and the address vector's. */
#define RDQ_QP_ATTR_CARRIED                                                                        \
	(IBV_QP_STATE | IBV_QP_ACCESS_FLAGS | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_PATH_MTU |  \
	 IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_RQ_PSN |                    \
	 IBV_QP_MAX_QP_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER | IBV_QP_SQ_PSN |                          \
	 IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_DEST_QPN | IBV_QP_AV)

#endif
