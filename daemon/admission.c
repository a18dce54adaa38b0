/* SPDX-License-Identifier: MIT */
#include "admission.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "engine/level.h"
#include "log.h"
#include "protocol/addr_prefix.h"
#include "rdqd.h"
#include "shares.h"

/* Rejections are logged at most this often: a flood of peers makes one line a second. */
#define REJECT_LOG_INTERVAL_S 1

enum admission admission_check(struct rdqd *d, rdq_handle_t listener, unsigned connections,
			       unsigned max, char *reason, size_t size)
{
	RDQ_DISPATCH_ONLY();
	if (connections >= max) {
		snprintf(reason, size, "rdq: listener %llu is full (%u connections)",
			 (unsigned long long)listener, max);
		return REFUSE_LISTENER_FULL;
	}
	if (shares_total(d, SHARE_NETWORK_ENDPOINTS) >= d->opt.max_network_endpoints) {
		snprintf(reason, size, "rdq: too many connections from the network (%u)",
			 d->opt.max_network_endpoints);
		return REFUSE_DAEMON_FULL;
	}
	/*
	 * Last, since it may cost a system call. An endpoint holds no
	 * descriptor of its own (its device's QPs share one channel), but while
	 * rdqd has none to spare its own clients are turned away, the owner
	 * too: the network must not go on growing what nobody can reach to
	 * manage, and an accept that needs one (the verbs library opens files
	 * at times) would fail later, after a worker made the QP.
	 */
	if (control_fd_starved(d)) {
		snprintf(reason, size, "rdq: out of file descriptors");
		return REFUSE_NOFD;
	}
	return ADMIT;
}

enum admission admission_check_peer(const struct rdq_peer_rules *rules, const struct sockaddr *peer,
				    char *reason, size_t size)
{
	char host[RDQ_PREFIX_STRLEN];

	RDQ_DISPATCH_ONLY();
	if (rdq_peer_rules_admit(rules, peer))
		return ADMIT;
	rdq_peer_format(peer, host, sizeof(host));
	snprintf(reason, size, "rdq: peer %s is refused by the listener's address rules", host);
	return REFUSE_PEER_RULE;
}

void admission_accepted(struct rdqd *d)
{
	d->counters.net_requests++;
	d->counters.net_accepted++;
}

/* What the operator may change, for the log; the peer is told only the reason. */
static const char *remedy(enum admission why)
{
	switch (why) {
	case REFUSE_LISTENER_FULL:
		return "; its owner may listen with a larger max_connections";
	case REFUSE_DAEMON_FULL:
		return "; raise --max-network-endpoints";
	case REFUSE_NOFD:
		return "; raise LimitNOFILE= or close endpoints";
	case REFUSE_NO_SERVER:
		return "; the client serving the listener does not read what rdqd sends it";
	case REFUSE_PEER_RULE:
		return "; the listener's allow and deny prefixes say so";
	default:
		return "";
	}
}

/* The reason without the "rdq: " the peer needs to tell who rejected it. */
static const char *bare(const char *reason)
{
	return strncmp(reason, "rdq: ", 5) == 0 ? reason + 5 : reason;
}

/*
 * The second of rejections is over: the ones it held make one line, and the
 * next second is watched the same way. A quiet second ends the episode, so
 * that the next rejection is logged at once again.
 */
static void on_reject_log(evutil_socket_t fd, short what, void *arg)
{
	struct rdqd *d = arg;
	const struct timeval interval = {.tv_sec = REJECT_LOG_INTERVAL_S};

	if (!d->rejects_unlogged)
		return;
	log_warn("rejected %llu more connection request(s) from the network in the last %d s; "
		 "the latest: %s",
		 (unsigned long long)d->rejects_unlogged, REJECT_LOG_INTERVAL_S,
		 bare(d->reject_last));
	d->rejects_unlogged = 0;
	evtimer_add(d->reject_log_timer, &interval);
}

void admission_rejected(struct rdqd *d, enum admission why, const char *reason)
{
	const struct timeval interval = {.tv_sec = REJECT_LOG_INTERVAL_S};

	RDQ_DISPATCH_ONLY();
	d->counters.net_requests++;
	switch (why) {
	case REFUSE_LISTENER_FULL:
		d->counters.net_rejected_listener_full++;
		break;
	case REFUSE_DAEMON_FULL:
		d->counters.net_rejected_daemon_full++;
		break;
	case REFUSE_NOFD:
		d->counters.net_rejected_nofd++;
		break;
	case REFUSE_NO_SERVER:
		d->counters.net_rejected_no_server++;
		break;
	case REFUSE_PEER_RULE:
		d->counters.net_rejected_by_rule++;
		break;
	default:
		d->counters.net_rejected_other++;
		break;
	}
	if (!d->reject_log_timer)
		d->reject_log_timer = evtimer_new(d->base, on_reject_log, d);
	if (d->reject_log_timer && evtimer_pending(d->reject_log_timer, NULL)) {
		d->rejects_unlogged++;
		snprintf(d->reject_last, sizeof(d->reject_last), "%s", reason);
		return;
	}
	log_warn("rejected a connection request from the network: %s%s (stats: network)",
		 bare(reason), remedy(why));
	if (d->reject_log_timer)
		evtimer_add(d->reject_log_timer, &interval);
}

void admission_fini(struct rdqd *d)
{
	if (d->reject_log_timer)
		event_free(d->reject_log_timer);
	d->reject_log_timer = NULL;
}
