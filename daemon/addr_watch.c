/* SPDX-License-Identifier: MIT */
#include "addr_watch.h"

#include <errno.h>
#include <event2/event.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "engine/level.h"
#include "engine/workers.h"
#include "local_addrs.h"
#include "log.h"
#include "rdqd.h"

/* Messages read per callback before other callbacks get their turn. */
#define READS_PER_CALLBACK 16
/* The kernel's events pile up here while the loop is busy: room for a burst. */
#define RECV_BUFFER_BYTES (1 << 20)

/* mnl_attr_parse's callback: keeps IFA_ADDRESS and IFA_LOCAL, each checked to be an address. */
static int attr_keep(const struct nlattr *attr, void *data)
{
	const struct nlattr **table = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type != IFA_ADDRESS && type != IFA_LOCAL)
		return MNL_CB_OK;
	if (mnl_attr_get_payload_len(attr) != 4 && mnl_attr_get_payload_len(attr) != 16)
		return MNL_CB_OK;
	table[type] = attr;
	return MNL_CB_OK;
}

/*
 * The address an RTM_NEWADDR or RTM_DELADDR is about: IFA_LOCAL where there
 * is one (on a point-to-point link IFA_ADDRESS is the peer's), else
 * IFA_ADDRESS. *usable: false for an IPv6 address still checked for
 * duplicates (tentative), which no one can bind yet; the kernel says again
 * when it is usable.
 */
static bool message_addr(const struct nlmsghdr *nlh, struct local_addr *out, bool *usable)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFA_MAX + 1] = {0};
	const struct nlattr *a;
	size_t len;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifa)) ||
	    (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
		return false;
	mnl_attr_parse(nlh, sizeof(*ifa), attr_keep, tb);
	a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	len = ifa->ifa_family == AF_INET ? 4 : 16;
	if (!a || mnl_attr_get_payload_len(a) != len)
		return false;
	memset(out, 0, sizeof(*out));
	out->family = ifa->ifa_family;
	memcpy(out->bytes, mnl_attr_get_payload(a), len);
	*usable = !(ifa->ifa_flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED));
	return true;
}

/* A dump's message: each address into the set data points to. */
static int dumped(const struct nlmsghdr *nlh, void *data)
{
	struct local_addr a;
	bool usable;

	if (nlh->nlmsg_type == RTM_NEWADDR && message_addr(nlh, &a, &usable) && usable)
		local_addrs_add(data, &a);
	return MNL_CB_OK;
}

/* Reads every address there is now into out. Blocks: start-up or a worker. */
static int dump_addrs(struct local_addrs *out)
{
	char *buf = malloc(MNL_SOCKET_BUFFER_SIZE);
	struct mnl_socket *sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	struct nlmsghdr *nlh;
	struct rtgenmsg *gen;
	unsigned seq = (unsigned)time(NULL), portid;
	int ret = -ENOMEM, n;

	RDQ_PASSIVE_ONLY();
	if (!buf || !sock) {
		ret = buf ? -errno : -ENOMEM;
		goto out;
	}
	if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(sock);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	gen = mnl_nlmsg_put_extra_header(nlh, sizeof(*gen));
	gen->rtgen_family = AF_UNSPEC;
	if (mnl_socket_sendto(sock, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	ret = MNL_CB_OK;
	while (ret > MNL_CB_STOP &&
	       (n = (int)mnl_socket_recvfrom(sock, buf, MNL_SOCKET_BUFFER_SIZE)) > 0)
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, dumped, out);
	ret = ret < 0 ? -errno : 0;
out:
	if (sock)
		mnl_socket_close(sock);
	free(buf);
	return ret;
}

/* One event: the set changes, and the subscriber hears of a real change only. */
static int event_message(const struct nlmsghdr *nlh, void *data)
{
	struct rdqd *d = data;
	struct local_addr a;
	bool usable, added = false, removed = false;

	if (!message_addr(nlh, &a, &usable))
		return MNL_CB_OK;
	if (nlh->nlmsg_type == RTM_NEWADDR && usable)
		added = local_addrs_add(&d->local_addrs, &a) > 0;
	else if (nlh->nlmsg_type == RTM_NEWADDR || nlh->nlmsg_type == RTM_DELADDR)
		removed = local_addrs_remove(&d->local_addrs, &a);
	if (added || removed)
		d->addr_watch.changed(d, &a, added);
	return MNL_CB_OK;
}

static void reread_read(struct work_item *item)
{
	RDQ_PASSIVE_ONLY();
	item->status = dump_addrs(item->data);
}

static void reread_done(struct work_item *item)
{
	struct rdqd *d = item->ctx;
	struct local_addrs *fresh = item->data;

	d->addr_watch.reread_queued = false;
	if (item->status == 0 && !d->shutting_down) {
		local_addrs_clear(&d->local_addrs);
		d->local_addrs = *fresh;
		log_info("the host's addresses read again: %u", d->local_addrs.n);
		d->addr_watch.reread(d);
	} else {
		local_addrs_clear(fresh);
		if (item->status < 0)
			log_warn("cannot read the host's addresses again: %s",
				 strerror(-item->status));
	}
	free(fresh);
}

/* The kernel dropped events: which addresses came or went is lost, so all are read again. */
static void reread(struct rdqd *d)
{
	struct local_addrs *fresh;
	struct work_item *item;

	if (d->addr_watch.reread_queued || d->shutting_down)
		return;
	fresh = calloc(1, sizeof(*fresh));
	item = fresh ? work_item_get_uncapped(&d->workers) : NULL;
	if (!item) {
		free(fresh);
		log_warn("cannot read the host's addresses again: out of memory");
		return;
	}
	item->ctx = d;
	item->data = fresh;
	item->passive = reread_read;
	item->dispatch = reread_done;
	d->addr_watch.reread_queued = true;
	work_item_queue(&d->workers, item);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct rdqd *d = arg;
	uint64_t start = now_us();
	char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
	int i;

	for (i = 0; i < READS_PER_CALLBACK; i++) {
		ssize_t n = mnl_socket_recvfrom(d->addr_watch.sock, buf, sizeof(buf));

		if (n < 0) {
			if (errno == ENOBUFS) {
				log_warn("rtnetlink dropped address events; reading the "
					 "addresses again");
				reread(d);
			} else if (errno != EAGAIN && errno != EINTR) {
				log_warn("rtnetlink: %s", strerror(errno));
			}
			break;
		}
		mnl_cb_run(buf, (size_t)n, 0, 0, event_message, d);
	}
	if (i == READS_PER_CALLBACK)
		event_active(d->addr_watch.event, EV_READ, 0);
	loop_histogram_record(d, start);
}

int addr_watch_start(struct rdqd *d, addr_changed_fn *changed, addrs_reread_fn *reread_fn)
{
	struct addr_watch *w = &d->addr_watch;
	int size = RECV_BUFFER_BYTES, ret;

	RDQ_PASSIVE_ONLY();
	w->changed = changed;
	w->reread = reread_fn;
	w->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	/* Subscribed before the dump: a change during it is read after, never lost. */
	if (!w->sock || mnl_socket_bind(w->sock, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
					MNL_SOCKET_AUTOPID) < 0)
		goto err;
	setsockopt(mnl_socket_get_fd(w->sock), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	w->event = event_new(d->base, mnl_socket_get_fd(w->sock), EV_READ | EV_PERSIST, on_readable,
			     d);
	if (!w->event) {
		errno = ENOMEM;
		goto err;
	}
	event_add(w->event, NULL);
	ret = dump_addrs(&d->local_addrs);
	if (ret < 0) {
		errno = -ret;
		goto err;
	}
	return 0;
err:
	ret = -errno;
	log_warn("cannot follow the host's addresses (rtnetlink: %s); listeners that wait for "
		 "their address keep waiting",
		 strerror(-ret));
	addr_watch_stop(d);
	return ret;
}

void addr_watch_stop(struct rdqd *d)
{
	struct addr_watch *w = &d->addr_watch;

	if (w->event)
		event_free(w->event);
	w->event = NULL;
	if (w->sock)
		mnl_socket_close(w->sock);
	w->sock = NULL;
	local_addrs_clear(&d->local_addrs);
}
