/* SPDX-License-Identifier: MIT */
/*
 * Who owns a QP: the process that created it, as the kernel's RDMA resource
 * tracking records it (what `rdma resource show qp` lists). A client that
 * asks rdqd to drive a QP of its own names it by number; before rdqd touches
 * it, the creator's pid must be the client's (its SO_PEERCRED pid), or any
 * local process could have rdqd connect a QP that belongs to another.
 */
#ifndef RDQD_QP_OWNER_H
#define RDQD_QP_OWNER_H

#include <stdint.h>
#include <sys/types.h>

/*
 * The process that created QP qp_num on the RDMA device ibdev_name (e.g.
 * "rxe0"). Returns 0 and writes *pid; -ENOENT when the device has no such
 * QP; -ESRCH when the QP has no owning process (a kernel QP, or its creator
 * has exited); -ENODEV when no device has that name; another negative errno
 * when RDMA netlink fails. *pid is written only on success.
 *
 * The kernel records the creating thread: a QP made on a thread other than
 * its process's first has that thread's id, which is not the process's pid,
 * so a comparison with a peer's pid fails closed. The pid is as seen from the
 * caller's pid namespace, and the kernel lists only the QPs made in it: a
 * client in another pid namespace gets -ENOENT. rdqd and its clients share
 * one, so the pid compares directly with SO_PEERCRED's.
 *
 * Blocks on netlink: workers only. Thread-safe: each thread keeps a socket
 * of its own (closed when the thread ends) and the index of the device it
 * last asked about, so a check is one request and one answer.
 */
int qp_owner_pid(const char *ibdev_name, uint32_t qp_num, pid_t *pid);

#endif
