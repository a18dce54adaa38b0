/* SPDX-License-Identifier: MIT */
/*
 * The buffers received messages are kept in (struct qp_msg): made for a
 * message that arrives before a receive asks for it, lent by its reply to
 * the connection's output, and kept for the next message when they come
 * back, a few at a time, so that steady traffic allocates nothing. Loop
 * only, but for the giving back, which libevent may call as rdqd stops.
 */
#include "qp.h"

#include <stdlib.h>

#include "engine/level.h"
#include "rdqd.h"

/*
 * Messages' buffers the loop gave back, kept for the next ones: none under
 * AddressSanitizer, so that its quarantine still catches a message used after
 * it was given back.
 */
#ifdef RDQ_ASAN
#define MSG_SPARES 0
#else
#define MSG_SPARES 16
#endif
#define MSG_MIN_CAP 256

struct qp_msg *qp_message_new(struct rdqd *d, uint32_t len)
{
	struct qp_msg **link = &d->msg_spares, *m;
	uint32_t cap = MSG_MIN_CAP;

	for (; *link; link = &(*link)->next) {
		if ((*link)->cap >= len) {
			m = *link;
			*link = m->next;
			d->msg_spare_count--;
			return m;
		}
	}
	while (cap < len)
		cap *= 2;
	m = malloc(sizeof(*m) + cap);
	if (m) {
		m->d = d;
		m->cap = cap;
	}
	return m;
}

/* Keeps m for the next message, or frees it when enough are kept. */
static void message_keep(struct rdqd *d, struct qp_msg *m)
{
	if (d->msg_spare_count >= MSG_SPARES) {
		free(m);
		return;
	}
	m->next = d->msg_spares;
	d->msg_spares = m;
	d->msg_spare_count++;
}

void qp_message_done(struct rdqd *d, struct qp_msg *m)
{
	RDQ_DISPATCH_ONLY();
	message_keep(d, m);
}

void qp_message_given_back(const void *frame, size_t len, void *arg)
{
	struct qp_msg *m = arg;

	/* No level check: rdqd's stop frees the last outputs on the loop thread after its loop. */
	message_keep(m->d, m);
}

void qp_message_spares_free(struct rdqd *d)
{
	while (d->msg_spares) {
		struct qp_msg *m = d->msg_spares;

		d->msg_spares = m->next;
		free(m);
	}
	d->msg_spare_count = 0;
}
