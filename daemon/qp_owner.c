/* SPDX-License-Identifier: MIT */
/*
 * A QP's creator from RDMA netlink (NETLINK_RDMA, the nldev client): one dump
 * of the devices finds the named device's index and its ports; one request
 * for that device's QP by number (the kernel's resource tracking keeps QPs by
 * their number) gives the pid the kernel recorded when it was created.
 * Asking for the one QP, not dumping them all, keeps the check's cost the
 * same however many QPs the device has. The kernel answers such a request
 * only for a QP that has its port (INIT onwards), naming the port; for one
 * still in RESET the device's QPs are dumped and searched instead.
 *
 * Each thread keeps its socket, and the index of the device it last asked
 * about, for its next check: a check is then one request and one answer.
 * The answer names the device, so an index that has since gone to another
 * device (rxe0 deleted and made again) is seen, and the check starts over
 * with a fresh socket and a fresh dump. A socket left in doubt (a read that
 * failed, an answer of another sequence) is closed, never reused.
 *
 * Every attribute read is checked first against the type the kernel declares
 * for it (mnl_attr_validate), so a short or malformed attribute is skipped,
 * never read past its end.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <rdma/rdma_netlink.h>

#include "engine/level.h"
#include "qp_owner.h"

/* The attributes this file reads, and the type each must have. */
static const enum mnl_attr_data_type attr_types[RDMA_NLDEV_ATTR_MAX] = {
	[RDMA_NLDEV_ATTR_DEV_INDEX] = MNL_TYPE_U32,
	[RDMA_NLDEV_ATTR_DEV_NAME] = MNL_TYPE_NUL_STRING,
	[RDMA_NLDEV_ATTR_RES_QP] = MNL_TYPE_NESTED,
	[RDMA_NLDEV_ATTR_RES_QP_ENTRY] = MNL_TYPE_NESTED,
	[RDMA_NLDEV_ATTR_RES_LQPN] = MNL_TYPE_U32,
	[RDMA_NLDEV_ATTR_RES_PID] = MNL_TYPE_U32,
	[RDMA_NLDEV_ATTR_RES_KERN_NAME] = MNL_TYPE_NUL_STRING,
	[RDMA_NLDEV_ATTR_PORT_INDEX] = MNL_TYPE_U32,
};

/*
 * mnl_attr_parse's callback: keeps each attribute this file reads and that
 * has its declared type in the table data points to. Attributes of newer
 * kernels, and any this file does not read, are passed over.
 */
static int attr_keep(const struct nlattr *attr, void *data)
{
	const struct nlattr **table = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type >= RDMA_NLDEV_ATTR_MAX || attr_types[type] == MNL_TYPE_UNSPEC)
		return MNL_CB_OK;
	if (mnl_attr_validate(attr, attr_types[type]) < 0)
		return MNL_CB_OK;
	table[type] = attr;
	return MNL_CB_OK;
}

/*
 * A dump's end. The kernel reports an error that stopped a dump (a device
 * index that is gone, say) in the NLMSG_DONE message's payload, which
 * libmnl's own handler ignores: without this, a failed dump would look like
 * an empty one, and a QP that is there like one that is not.
 */
static int dump_done(const struct nlmsghdr *nlh, void *data)
{
	int error = 0;

	if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(error))
		memcpy(&error, mnl_nlmsg_get_payload(nlh), sizeof(error));
	if (error < 0) {
		errno = -error;
		return MNL_CB_ERROR;
	}
	return MNL_CB_STOP;
}

/* A thread's netlink socket, the buffer its answers are read into, and the device last found. */
struct nldev {
	struct mnl_socket *sock;
	unsigned portid;
	unsigned seq;
	char *buf;
	char dev_name[64]; /* "": none found yet */
	uint32_t dev_index;
	uint32_t dev_ports; /* its last port's number: ports are 1 to this */
};

/*
 * The kernel sizes a dump's messages to the reader's largest read, up to
 * 32 KiB, but never below a page or so: a buffer of 32 KiB takes any of them
 * whole (a truncated one would be an error, ENOSPC).
 */
#define NLDEV_BUF_SIZE 32768

static void nldev_close(struct nldev *nl)
{
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl->buf);
	*nl = (struct nldev){.seq = 0};
}

static int nldev_open(struct nldev *nl)
{
	int err;

	*nl = (struct nldev){.seq = 0};
	nl->buf = malloc(NLDEV_BUF_SIZE);
	if (!nl->buf)
		return -ENOMEM;
	nl->sock = mnl_socket_open2(NETLINK_RDMA, SOCK_CLOEXEC);
	if (!nl->sock)
		goto err;
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0)
		goto err;
	nl->portid = mnl_socket_get_portid(nl->sock);
	return 0;
err:
	err = -errno;
	nldev_close(nl);
	return err;
}

/* Each thread's socket: made at its first check, closed when the thread ends. */
static pthread_key_t thread_nldev;
static pthread_once_t thread_nldev_once = PTHREAD_ONCE_INIT;
static int thread_nldev_err;

static void thread_nldev_free(void *nl)
{
	nldev_close(nl);
	free(nl);
}

static void thread_nldev_init(void)
{
	thread_nldev_err = -pthread_key_create(&thread_nldev, thread_nldev_free);
}

/* The calling thread's socket, opened if it has none (or lost it); NULL and *err if it can't be. */
static struct nldev *thread_socket(int *err)
{
	struct nldev *nl;

	pthread_once(&thread_nldev_once, thread_nldev_init);
	if (thread_nldev_err) {
		*err = thread_nldev_err;
		return NULL;
	}
	nl = pthread_getspecific(thread_nldev);
	if (!nl) {
		nl = calloc(1, sizeof(*nl));
		if (!nl) {
			*err = -ENOMEM;
			return NULL;
		}
		*err = -pthread_setspecific(thread_nldev, nl);
		if (*err) {
			free(nl);
			return NULL;
		}
	}
	if (!nl->sock) {
		*err = nldev_open(nl);
		if (*err < 0)
			return NULL;
	}
	return nl;
}

/*
 * Dumps command (an nldev command that can dump), for the device *dev_index
 * (all devices when NULL), and hands each message of the answer to cb. Reads
 * the dump to its end even when cb has found what it wanted, so that no
 * message of it is left to be taken for the next dump's. Returns 0, or a
 * negative errno: the kernel's (an NLMSG_ERROR, or an error at the dump's
 * end), or the socket's.
 */
static int nldev_dump(struct nldev *nl, unsigned command, const uint32_t *dev_index, mnl_cb_t cb,
		      void *data)
{
	mnl_cb_t control[NLMSG_MIN_TYPE] = {[NLMSG_DONE] = dump_done};
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);
	int ret;

	nlh->nlmsg_type = RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, command);
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++nl->seq;
	if (dev_index)
		mnl_attr_put_u32(nlh, RDMA_NLDEV_ATTR_DEV_INDEX, *dev_index);
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, NLDEV_BUF_SIZE);

		if (n < 0)
			return -errno;
		/* Checks each message's sequence and port; NLMSG_ERROR sets errno. */
		ret = mnl_cb_run2(nl->buf, (size_t)n, nl->seq, nl->portid, cb, data, control,
				  NLMSG_MIN_TYPE);
	} while (ret > 0);
	if (ret == 0)
		return 0;
	/* libmnl's ESRCH is a message of another sequence: not qp_owner_pid's "no owner". */
	return errno == ESRCH ? -EPROTO : -errno;
}

/* The device dump's search: a name in, its index and last port out. Index 0 is a device's too. */
struct device_search {
	const char *name;
	bool found;
	uint32_t index;
	uint32_t ports; /* its last port's number: ports are 1 to this */
};

static int device_match(const struct nlmsghdr *nlh, void *data)
{
	struct device_search *s = data;
	const struct nlattr *tb[RDMA_NLDEV_ATTR_MAX] = {NULL};

	mnl_attr_parse(nlh, 0, attr_keep, tb);
	if (!tb[RDMA_NLDEV_ATTR_DEV_INDEX] || !tb[RDMA_NLDEV_ATTR_DEV_NAME])
		return MNL_CB_OK;
	if (strcmp(mnl_attr_get_str(tb[RDMA_NLDEV_ATTR_DEV_NAME]), s->name) != 0)
		return MNL_CB_OK;
	s->index = mnl_attr_get_u32(tb[RDMA_NLDEV_ATTR_DEV_INDEX]);
	s->ports = tb[RDMA_NLDEV_ATTR_PORT_INDEX] ? mnl_attr_get_u32(tb[RDMA_NLDEV_ATTR_PORT_INDEX])
						  : 1;
	s->found = true;
	return MNL_CB_OK;
}

/* The QP's answer: a QP number (and a port) in; whether it came, and its owner, out. */
struct qp_search {
	const char *dev_name;
	bool other_device; /* the answer named another device: the index asked for is stale */
	uint32_t dev_index;
	uint32_t port;
	uint32_t qp_num;
	bool found;
	bool has_pid; /* false: a kernel QP, or one whose creator has exited */
	pid_t pid;
};

/* Looks for the QP among one message's entries; the device's QPs may take several messages. */
static int qp_match(const struct nlmsghdr *nlh, void *data)
{
	struct qp_search *s = data;
	const struct nlattr *tb[RDMA_NLDEV_ATTR_MAX] = {NULL};
	const struct nlattr *entry;

	mnl_attr_parse(nlh, 0, attr_keep, tb);
	if (tb[RDMA_NLDEV_ATTR_DEV_NAME] &&
	    strcmp(mnl_attr_get_str(tb[RDMA_NLDEV_ATTR_DEV_NAME]), s->dev_name) != 0) {
		s->other_device = true; /* read on to the dump's end; its QPs are not asked for */
		return MNL_CB_OK;
	}
	/* The kernel filters by the index asked for; a message of another device is not ours. */
	if (!tb[RDMA_NLDEV_ATTR_DEV_INDEX] ||
	    mnl_attr_get_u32(tb[RDMA_NLDEV_ATTR_DEV_INDEX]) != s->dev_index)
		return MNL_CB_OK;
	if (!tb[RDMA_NLDEV_ATTR_RES_QP])
		return MNL_CB_OK;
	mnl_attr_for_each_nested(entry, tb[RDMA_NLDEV_ATTR_RES_QP])
	{
		const struct nlattr *qp[RDMA_NLDEV_ATTR_MAX] = {NULL};

		if (mnl_attr_get_type(entry) != RDMA_NLDEV_ATTR_RES_QP_ENTRY)
			continue;
		mnl_attr_parse_nested(entry, attr_keep, qp);
		if (!qp[RDMA_NLDEV_ATTR_RES_LQPN] ||
		    mnl_attr_get_u32(qp[RDMA_NLDEV_ATTR_RES_LQPN]) != s->qp_num)
			continue;
		s->found = true;
		/*
		 * A kernel QP carries its creator's name (KERN_NAME) and no pid; a
		 * user QP whose creator is a zombie carries neither. Neither is owned
		 * by a process, so neither can be a client's.
		 */
		if (qp[RDMA_NLDEV_ATTR_RES_PID] && !qp[RDMA_NLDEV_ATTR_RES_KERN_NAME]) {
			s->has_pid = true;
			s->pid = (pid_t)mnl_attr_get_u32(qp[RDMA_NLDEV_ATTR_RES_PID]);
		}
		break;
	}
	return MNL_CB_OK;
}

/* The one message that answers a request for a single QP: its attributes at the top level. */
static int qp_answer(const struct nlmsghdr *nlh, void *data)
{
	struct qp_search *s = data;
	const struct nlattr *tb[RDMA_NLDEV_ATTR_MAX] = {NULL};

	mnl_attr_parse(nlh, 0, attr_keep, tb);
	if (tb[RDMA_NLDEV_ATTR_DEV_NAME] &&
	    strcmp(mnl_attr_get_str(tb[RDMA_NLDEV_ATTR_DEV_NAME]), s->dev_name) != 0) {
		s->other_device = true;
		return MNL_CB_STOP;
	}
	if (tb[RDMA_NLDEV_ATTR_DEV_INDEX] &&
	    mnl_attr_get_u32(tb[RDMA_NLDEV_ATTR_DEV_INDEX]) == s->dev_index &&
	    tb[RDMA_NLDEV_ATTR_RES_LQPN] &&
	    mnl_attr_get_u32(tb[RDMA_NLDEV_ATTR_RES_LQPN]) == s->qp_num) {
		s->found = true;
		/*
		 * A kernel QP carries its creator's name (KERN_NAME) and no pid; a
		 * user QP whose creator is a zombie carries neither. Neither is owned
		 * by a process, so neither can be a client's.
		 */
		if (tb[RDMA_NLDEV_ATTR_RES_PID] && !tb[RDMA_NLDEV_ATTR_RES_KERN_NAME]) {
			s->has_pid = true;
			s->pid = (pid_t)mnl_attr_get_u32(tb[RDMA_NLDEV_ATTR_RES_PID]);
		}
	}
	/* No dump follows a single answer, and no acknowledgement: this message is the end. */
	return MNL_CB_STOP;
}

/*
 * Asks for QP s->qp_num of device s->dev_index, on port s->port, alone.
 * Returns 0 (s->found says whether it came), or a negative errno: the
 * kernel's (ENOENT: no such QP; EAGAIN: the QP is not on that port, or has
 * no port yet) or the socket's.
 */
static int nldev_get_qp(struct nldev *nl, struct qp_search *s)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);
	ssize_t n;
	int ret;

	nlh->nlmsg_type = RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_RES_QP_GET);
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = ++nl->seq;
	mnl_attr_put_u32(nlh, RDMA_NLDEV_ATTR_DEV_INDEX, s->dev_index);
	/* A QP's request names a port: the kernel keeps QPs per port for it. */
	mnl_attr_put_u32(nlh, RDMA_NLDEV_ATTR_PORT_INDEX, s->port);
	mnl_attr_put_u32(nlh, RDMA_NLDEV_ATTR_RES_LQPN, s->qp_num);
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	n = mnl_socket_recvfrom(nl->sock, nl->buf, NLDEV_BUF_SIZE);
	if (n < 0)
		return -errno;
	/* Checks the sequence and port; an NLMSG_ERROR (no such QP: ENOENT) sets errno. */
	ret = mnl_cb_run(nl->buf, (size_t)n, nl->seq, nl->portid, qp_answer, s);
	if (ret >= 0)
		return 0;
	return errno == ESRCH ? -EPROTO : -errno;
}

/*
 * Finds the device ibdev_name (the index nl remembers, or a dump of the
 * devices), then QP qp->qp_num on it. Returns 0 (qp says what came), -ESTALE
 * when the answer named another device, or another negative errno.
 */
static int owner_lookup(struct nldev *nl, const char *ibdev_name, struct qp_search *qp)
{
	int ret;

	if (!nl->dev_name[0] || strcmp(nl->dev_name, ibdev_name) != 0) {
		struct device_search device = {.name = ibdev_name};

		/* nldev finds a device by index only: all are dumped, the name matched here. */
		ret = nldev_dump(nl, RDMA_NLDEV_CMD_GET, NULL, device_match, &device);
		if (ret < 0)
			return ret;
		if (!device.found)
			return -ENODEV;
		if ((size_t)snprintf(nl->dev_name, sizeof(nl->dev_name), "%s", ibdev_name) >=
		    sizeof(nl->dev_name))
			return -ENAMETOOLONG; /* no device's name is this long */
		nl->dev_index = device.index;
		nl->dev_ports = device.ports;
	}
	/*
	 * The pid is the kernel's task_pid_vnr of the creator: its id in the
	 * reading thread's pid namespace. The kernel lists only the QPs created
	 * in that namespace (and kernel QPs in the initial one only).
	 */
	qp->dev_name = ibdev_name;
	qp->dev_index = nl->dev_index;
	/*
	 * QPs 0 and 1 (SMI, GSI) are the kernel's, one per port, and its
	 * resource tracking files them under the number and the port together:
	 * only the dump finds them by number.
	 */
	ret = -EAGAIN;
	for (qp->port = 1; qp->qp_num > 1 && ret == -EAGAIN && qp->port <= nl->dev_ports;
	     qp->port++)
		ret = nldev_get_qp(nl, qp);
	/* On no port yet (RESET), or QP 0 or 1: only a search of the whole device finds it. */
	if (ret == -EAGAIN)
		ret = nldev_dump(nl, RDMA_NLDEV_CMD_RES_QP_GET, &nl->dev_index, qp_match, qp);
	if (ret == 0 && qp->other_device)
		return -ESTALE;
	return ret;
}

int qp_owner_pid(const char *ibdev_name, uint32_t qp_num, pid_t *pid)
{
	for (int attempt = 0;; attempt++) {
		struct qp_search qp = {.qp_num = qp_num};
		struct nldev *nl;
		bool remembered;
		int ret;

		RDQ_PASSIVE_ONLY();
		nl = thread_socket(&ret);
		if (!nl)
			return ret;
		remembered = strcmp(nl->dev_name, ibdev_name) == 0;
		ret = owner_lookup(nl, ibdev_name, &qp);
		if (ret == 0 && !qp.found)
			ret = -ENOENT;
		else if (ret == 0 && !qp.has_pid)
			return -ESRCH;
		else if (ret == 0)
			*pid = qp.pid;
		if (ret == 0)
			return 0;
		/*
		 * The socket may hold an answer of its own still, and the index may
		 * be another device's now: both are let go. A failure with a
		 * remembered index is asked once more, from a fresh dump.
		 */
		nldev_close(nl);
		if (!remembered || attempt > 0)
			return ret == -ESTALE ? -ENODEV : ret;
	}
}
