/* SPDX-License-Identifier: MIT */
/*
 * The disconnect race table: every pair of {cancel, connection close,
 * endpoint destroy, QP destroy, DISCONNECTED, DREQ timeout, local deadline,
 * device removal, shutdown} against a request in each of its states, each
 * case named after the race it covers. Most of this file is the table.
 *
 * rdqd's own code runs here (harness.h says how): the requests and the
 * other client's events go in over the real control socket, rdma_cm's
 * events through the real switch, and the test thread plays the loop and,
 * one step at a time, the workers. So a case picks the order of loop events
 * and worker steps exactly:
 *
 *  - queued:    the request waits on the endpoint's queue (before the DREQ
 *               step ran, while it runs, or after it);
 *  - dequeued:  DISCONNECTED (or the deadline) took it off the queue, and its
 *               work item waits for a worker;
 *  - running:   a worker is inside the request's step (the fake qp_to_error
 *               plays the racing event while the worker holds the locks);
 *  - returning: the step ran and the item waits for the loop to drain it.
 *
 * Each case asserts the request's single completion and its status, the
 * reply to the racing event's own request, how often the QP went to error
 * and the DREQ went out, and then, after destroying everything, that nothing
 * is left (harness.c's check_nothing_left). The connect and passive tables
 * are in race_connect.c.
 */
#include <errno.h>
#include <rdma/rdma_cma.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>

#include "session.h"
#include "clients.h"
#include "control.h"
#include "endpoint.h"
#include "engine/level.h"
#include "engine/workers.h"
#include "fakes.h"
#include "harness.h"
#include "race_connect.h"
#include "race_direct.h"
#include "log.h"
#include "object.h"
#include "protocol/errname.h"
#include "qp.h"
#include "rdqd.h"
#include "request.h"
#include "shutdown.h"
#include "work.h"

/* Where the request is when the first event comes. */
enum race_stage {
	AT_DREQ_QUEUED,	 /* issued; the DREQ step waits for a worker */
	AT_DREQ_RUNNING, /* a worker is inside rdma_disconnect */
	AT_QUEUED,	 /* the DREQ went out; it waits on the endpoint for rdma_cm */
	AT_DEQUEUED,	 /* .by took it off the queue; its QP step waits for a worker */
	AT_RUNNING,	 /* a worker is inside its QP step (qp_to_error) */
	AT_RETURNING,	 /* its QP step ran; the item waits for the loop */
};

/* The request under test. */
enum race_request {
	DISCONNECT,	   /* ep.disconnect --wait: waits on the endpoint for rdma_cm */
	DISCONNECT_NOWAIT, /* ep.disconnect: answered once the DREQ is sent */
	RECV,		   /* ep.recv: waits for a message; the peer disconnects */
};

struct race_case {
	const char *name;
	enum race_request request;
	enum sync_scope scope;
	bool tied; /* the endpoint is destroyed when its client's connection closes */
	enum race_stage stage;
	enum race_event by; /* what dequeued the request, for the stages after AT_QUEUED */
	enum race_event first, then;
	/* Expected: the request's one completion (0 or an errno) ... */
	int status;
	/* ... the replies to the events' own requests (cancel, ep.destroy, qp.destroy) ... */
	int first_reply, then_reply;
	/* ... and what reached the fakes: moves of the QP to error, DREQs (and DREPs) sent. */
	unsigned qp_errors, dreqs;
	/* rdma_disconnect fails with this errno: no DREQ went out, the endpoint stays connected. */
	int dreq_error;
};

/* clang-format off */
static const struct race_case cases[] = {
	/* Each way a disconnect ends, alone; and a DREQ that cannot be sent. */
	{.name = "dreq_send_fails_and_the_endpoint_stays_connected",
	 .stage = AT_DREQ_QUEUED, .dreq_error = ENOTCONN,
	 .status = ENOTCONN, .qp_errors = 0, .dreqs = 1},
	{.name = "nowait_dreq_send_fails", .request = DISCONNECT_NOWAIT,
	 .stage = AT_DREQ_QUEUED, .dreq_error = EINVAL,
	 .status = EINVAL, .qp_errors = 0, .dreqs = 1},
	{.name = "drep_completes_with_status_0",
	 .stage = AT_QUEUED, .first = EV_DISCONNECTED,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "dreq_timeout_reports_etimedout",
	 .stage = AT_QUEUED, .first = EV_DREQ_TIMEOUT,
	 .status = ETIMEDOUT, .qp_errors = 1, .dreqs = 1},
	{.name = "deadline_reports_etimedout_and_moves_qp_to_error",
	 .stage = AT_QUEUED, .first = EV_DEADLINE,
	 .status = ETIMEDOUT, .qp_errors = 1, .dreqs = 1},

	/* Cancel: only a queued request can be cancelled; the DREQ still goes out. */
	{.name = "cancel_before_dreq_sent",
	 .stage = AT_DREQ_QUEUED, .first = EV_CANCEL, .then = EV_DISCONNECTED,
	 .status = ECANCELED, .qp_errors = 1, .dreqs = 1},
	{.name = "cancel_while_dreq_running",
	 .stage = AT_DREQ_RUNNING, .first = EV_CANCEL, .then = EV_DISCONNECTED,
	 .status = ECANCELED, .qp_errors = 1, .dreqs = 1},
	{.name = "cancel_while_disconnect_queued",
	 .stage = AT_QUEUED, .first = EV_CANCEL, .then = EV_DISCONNECTED,
	 .status = ECANCELED, .qp_errors = 1, .dreqs = 1},
	{.name = "disconnected_then_cancel_is_too_late",
	 .stage = AT_DEQUEUED, .by = EV_DISCONNECTED, .first = EV_CANCEL, .first_reply = EALREADY,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "dreq_timeout_then_cancel_is_too_late",
	 .stage = AT_DEQUEUED, .by = EV_DREQ_TIMEOUT, .first = EV_CANCEL, .first_reply = EALREADY,
	 .status = ETIMEDOUT, .qp_errors = 1, .dreqs = 1},
	{.name = "deadline_then_cancel_is_too_late",
	 .stage = AT_DEQUEUED, .by = EV_DEADLINE, .first = EV_CANCEL, .first_reply = EALREADY,
	 .status = ETIMEDOUT, .qp_errors = 1, .dreqs = 1},
	{.name = "cancel_while_qp_error_running_is_too_late",
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_CANCEL, .first_reply = EALREADY,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "cancel_while_returning_is_too_late",
	 .stage = AT_RETURNING, .by = EV_DISCONNECTED, .first = EV_CANCEL, .first_reply = EALREADY,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "cancel_after_completion_finds_nothing",
	 .stage = AT_QUEUED, .first = EV_DISCONNECTED, .then = EV_CANCEL, .then_reply = ENOENT,
	 .status = 0, .qp_errors = 1, .dreqs = 1},

	/* The client's connection closes: a cancel, and a destroy of its tied endpoints. */
	{.name = "close_while_disconnect_queued_cancels",
	 .stage = AT_QUEUED, .first = EV_CLOSE, .then = EV_DISCONNECTED,
	 .status = ECANCELED, .qp_errors = 1, .dreqs = 1},
	{.name = "close_before_dreq_sent_destroys_tied_endpoint", .tied = true,
	 .stage = AT_DREQ_QUEUED, .first = EV_CLOSE,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 0},
	{.name = "close_while_dreq_running_tied", .tied = true,
	 .stage = AT_DREQ_RUNNING, .first = EV_CLOSE,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 1},
	{.name = "close_while_disconnect_queued_tied", .tied = true,
	 .stage = AT_QUEUED, .first = EV_CLOSE,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 1},
	{.name = "close_while_dequeued_completes_normally",
	 .stage = AT_DEQUEUED, .by = EV_DISCONNECTED, .first = EV_CLOSE,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "close_while_dequeued_tied_reports_enoent", .tied = true,
	 .stage = AT_DEQUEUED, .by = EV_DISCONNECTED, .first = EV_CLOSE,
	 .status = ENOENT, .qp_errors = 0, .dreqs = 1},
	{.name = "close_while_qp_error_running_tied", .tied = true,
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_CLOSE,
	 .status = 0, .qp_errors = 1, .dreqs = 1},

	/* Endpoint destroy: queued requests are cancelled; a dequeued one finds it gone. */
	{.name = "destroy_before_dreq_sent",
	 .stage = AT_DREQ_QUEUED, .first = EV_DESTROY,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 0},
	{.name = "destroy_while_dreq_running",
	 .stage = AT_DREQ_RUNNING, .first = EV_DESTROY,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 1},
	{.name = "destroy_while_disconnect_queued",
	 .stage = AT_QUEUED, .first = EV_DESTROY,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 1},
	{.name = "destroy_while_dequeued_reports_enoent",
	 .stage = AT_DEQUEUED, .by = EV_DISCONNECTED, .first = EV_DESTROY,
	 .status = ENOENT, .qp_errors = 0, .dreqs = 1},
	{.name = "destroy_after_dreq_timeout_reports_enoent",
	 .stage = AT_DEQUEUED, .by = EV_DREQ_TIMEOUT, .first = EV_DESTROY,
	 .status = ENOENT, .qp_errors = 0, .dreqs = 1},
	{.name = "destroy_after_deadline_keeps_etimedout",
	 .stage = AT_DEQUEUED, .by = EV_DEADLINE, .first = EV_DESTROY,
	 .status = ETIMEDOUT, .qp_errors = 0, .dreqs = 1},
	{.name = "destroy_while_qp_error_running",
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_DESTROY,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "destroy_while_returning",
	 .stage = AT_RETURNING, .by = EV_DISCONNECTED, .first = EV_DESTROY,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "destroy_now_while_qp_error_running_waits_for_the_step",
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_DESTROY_NOW,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "destroy_now_while_answering_peer_dreq_waits_for_the_step", .request = RECV,
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_DESTROY_NOW,
	 .status = ECONNRESET, .qp_errors = 1, .dreqs = 1},
	{.name = "destroy_now_while_dreq_running_waits_for_the_step",
	 .stage = AT_DREQ_RUNNING, .first = EV_DESTROY_NOW,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 1},
	{.name = "disconnected_after_destroy_is_stale",
	 .stage = AT_QUEUED, .first = EV_DESTROY, .then = EV_DISCONNECTED,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 1},

	/* QP destroy: the endpoint lives on; the step that looks the QP up finds it gone. */
	{.name = "qp_destroyed_before_dreq_sent",
	 .stage = AT_DREQ_QUEUED, .first = EV_QP_DESTROY, .then = EV_DISCONNECTED,
	 .status = ENOENT, .qp_errors = 0, .dreqs = 1},
	{.name = "qp_destroyed_while_dreq_running",
	 .stage = AT_DREQ_RUNNING, .first = EV_QP_DESTROY, .then = EV_DISCONNECTED,
	 .status = ENOENT, .qp_errors = 0, .dreqs = 1},
	{.name = "qp_destroyed_before_disconnected",
	 .stage = AT_QUEUED, .first = EV_QP_DESTROY, .then = EV_DISCONNECTED,
	 .status = ENOENT, .qp_errors = 0, .dreqs = 1},
	{.name = "qp_destroyed_before_deadline",
	 .stage = AT_QUEUED, .first = EV_QP_DESTROY, .then = EV_DEADLINE,
	 .status = ETIMEDOUT, .qp_errors = 0, .dreqs = 1},
	{.name = "qp_destroyed_while_dequeued",
	 .stage = AT_DEQUEUED, .by = EV_DISCONNECTED, .first = EV_QP_DESTROY,
	 .status = ENOENT, .qp_errors = 0, .dreqs = 1},
	{.name = "qp_destroyed_while_qp_error_running",
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_QP_DESTROY_NOW,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "qp_destroy_after_destroy_finds_nothing",
	 .stage = AT_QUEUED, .first = EV_DESTROY, .then = EV_QP_DESTROY, .then_reply = ENOENT,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 1},

	/* DISCONNECTED: the first one dequeues; later ones find nothing to do. */
	{.name = "disconnected_before_dreq_sent",
	 .stage = AT_DREQ_QUEUED, .first = EV_DISCONNECTED,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "disconnected_while_dreq_running",
	 .stage = AT_DREQ_RUNNING, .first = EV_DISCONNECTED,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "second_disconnected_is_ignored",
	 .stage = AT_DEQUEUED, .by = EV_DISCONNECTED, .first = EV_DISCONNECTED,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "disconnected_while_qp_error_running_is_ignored",
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_DISCONNECTED,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "deadline_then_late_disconnected",
	 .stage = AT_DEQUEUED, .by = EV_DEADLINE, .first = EV_DISCONNECTED,
	 .status = ETIMEDOUT, .qp_errors = 1, .dreqs = 1},
	{.name = "late_disconnected_after_deadline_completed",
	 .stage = AT_QUEUED, .first = EV_DEADLINE, .then = EV_DISCONNECTED,
	 .status = ETIMEDOUT, .qp_errors = 1, .dreqs = 1},
	{.name = "disconnected_while_deadline_step_running",
	 .stage = AT_RUNNING, .by = EV_DEADLINE, .first = EV_DISCONNECTED,
	 .status = ETIMEDOUT, .qp_errors = 1, .dreqs = 1},

	/* DREQ timeout: DISCONNECTED with -ETIMEDOUT, after something else already ended it. */
	{.name = "dreq_timeout_after_drep_is_ignored",
	 .stage = AT_DEQUEUED, .by = EV_DISCONNECTED, .first = EV_DREQ_TIMEOUT,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "dreq_timeout_while_qp_error_running_is_ignored",
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_DREQ_TIMEOUT,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "dreq_timeout_after_deadline",
	 .stage = AT_DEQUEUED, .by = EV_DEADLINE, .first = EV_DREQ_TIMEOUT,
	 .status = ETIMEDOUT, .qp_errors = 1, .dreqs = 1},

	/* Local deadline: fires only while the request is queued. */
	{.name = "deadline_before_dreq_sent",
	 .stage = AT_DREQ_QUEUED, .first = EV_DEADLINE,
	 .status = ETIMEDOUT, .qp_errors = 1, .dreqs = 1},
	{.name = "deadline_while_dreq_running",
	 .stage = AT_DREQ_RUNNING, .first = EV_DEADLINE,
	 .status = ETIMEDOUT, .qp_errors = 1, .dreqs = 1},
	{.name = "deadline_after_dequeue_never_fires",
	 .stage = AT_DEQUEUED, .by = EV_DISCONNECTED, .first = EV_DEADLINE,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "deadline_while_qp_error_running_never_fires",
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_DEADLINE,
	 .status = 0, .qp_errors = 1, .dreqs = 1},

	/* Device removal: the endpoint is torn down; what waits on it gets ENODEV. */
	{.name = "device_removal_before_dreq_sent",
	 .stage = AT_DREQ_QUEUED, .first = EV_DEVICE_REMOVAL,
	 .status = ENODEV, .qp_errors = 0, .dreqs = 0},
	{.name = "device_removal_while_dreq_running",
	 .stage = AT_DREQ_RUNNING, .first = EV_DEVICE_REMOVAL,
	 .status = ENODEV, .qp_errors = 0, .dreqs = 1},
	{.name = "device_removal_while_queued",
	 .stage = AT_QUEUED, .first = EV_DEVICE_REMOVAL,
	 .status = ENODEV, .qp_errors = 0, .dreqs = 1},
	{.name = "device_removal_while_dequeued",
	 .stage = AT_DEQUEUED, .by = EV_DISCONNECTED, .first = EV_DEVICE_REMOVAL,
	 .status = ENODEV, .qp_errors = 0, .dreqs = 1},
	{.name = "device_removal_after_deadline_keeps_etimedout",
	 .stage = AT_DEQUEUED, .by = EV_DEADLINE, .first = EV_DEVICE_REMOVAL,
	 .status = ETIMEDOUT, .qp_errors = 0, .dreqs = 1},
	{.name = "device_removal_while_qp_error_running",
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_DEVICE_REMOVAL,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "disconnected_after_device_removal_is_stale",
	 .stage = AT_QUEUED, .first = EV_DEVICE_REMOVAL, .then = EV_DISCONNECTED,
	 .status = ENODEV, .qp_errors = 0, .dreqs = 1},

	/* Shutdown: every endpoint destroyed, as ep.destroy would. */
	{.name = "shutdown_before_dreq_sent",
	 .stage = AT_DREQ_QUEUED, .first = EV_SHUTDOWN,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 0},
	{.name = "shutdown_while_dreq_running",
	 .stage = AT_DREQ_RUNNING, .first = EV_SHUTDOWN,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 1},
	{.name = "shutdown_while_queued",
	 .stage = AT_QUEUED, .first = EV_SHUTDOWN,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 1},
	{.name = "shutdown_while_dequeued",
	 .stage = AT_DEQUEUED, .by = EV_DISCONNECTED, .first = EV_SHUTDOWN,
	 .status = ENOENT, .qp_errors = 0, .dreqs = 1},
	{.name = "shutdown_while_qp_error_running",
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_SHUTDOWN,
	 .status = 0, .qp_errors = 1, .dreqs = 1},

	/* ep.disconnect without --wait: the request rides the DREQ step, never cancelable. */
	{.name = "nowait_cancel_is_too_late", .request = DISCONNECT_NOWAIT,
	 .stage = AT_DREQ_QUEUED, .first = EV_CANCEL,
	 .first_reply = EALREADY, .then = EV_DISCONNECTED,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "nowait_destroy_before_dreq_sent", .request = DISCONNECT_NOWAIT,
	 .stage = AT_DREQ_QUEUED, .first = EV_DESTROY,
	 .status = ENOENT, .qp_errors = 0, .dreqs = 0},
	{.name = "nowait_destroy_while_dreq_running", .request = DISCONNECT_NOWAIT,
	 .stage = AT_DREQ_RUNNING, .first = EV_DESTROY,
	 .status = 0, .qp_errors = 0, .dreqs = 1},
	{.name = "nowait_disconnected_before_dreq_sent", .request = DISCONNECT_NOWAIT,
	 .stage = AT_DREQ_QUEUED, .first = EV_DISCONNECTED,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "nowait_device_removal_before_dreq_sent", .request = DISCONNECT_NOWAIT,
	 .stage = AT_DREQ_QUEUED, .first = EV_DEVICE_REMOVAL,
	 .status = ENODEV, .qp_errors = 0, .dreqs = 0},

	/* A disconnect the peer starts: a waiting receive fails, the worker sends the DREP. */
	{.name = "peer_disconnect_fails_recv_with_econnreset", .request = RECV,
	 .stage = AT_QUEUED, .first = EV_DISCONNECTED,
	 .status = ECONNRESET, .qp_errors = 1, .dreqs = 1},
	{.name = "cancel_recv", .request = RECV,
	 .stage = AT_QUEUED, .first = EV_CANCEL,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 0},
	{.name = "close_cancels_recv", .request = RECV,
	 .stage = AT_QUEUED, .first = EV_CLOSE,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 0},
	{.name = "destroy_cancels_recv", .request = RECV,
	 .stage = AT_QUEUED, .first = EV_DESTROY,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 0},
	{.name = "device_removal_fails_recv_with_enodev", .request = RECV,
	 .stage = AT_QUEUED, .first = EV_DEVICE_REMOVAL,
	 .status = ENODEV, .qp_errors = 0, .dreqs = 0},
	{.name = "recv_deadline_reports_eagain", .request = RECV,
	 .stage = AT_QUEUED, .first = EV_DEADLINE,
	 .status = EAGAIN, .qp_errors = 0, .dreqs = 0},
	{.name = "qp_destroyed_then_peer_disconnect_fails_recv", .request = RECV,
	 .stage = AT_QUEUED, .first = EV_QP_DESTROY, .then = EV_DISCONNECTED,
	 .status = ECONNRESET, .qp_errors = 0, .dreqs = 1},
	{.name = "destroy_while_answering_peer_dreq", .request = RECV,
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_DESTROY,
	 .status = ECONNRESET, .qp_errors = 1, .dreqs = 1},
	{.name = "qp_destroyed_while_answering_peer_dreq", .request = RECV,
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_QP_DESTROY_NOW,
	 .status = ECONNRESET, .qp_errors = 1, .dreqs = 1},

	/* The same races when every endpoint shares one event queue (--sync-scope device). */
	{.name = "cancel_while_disconnect_queued_sync_device", .scope = SYNC_DEVICE,
	 .stage = AT_QUEUED, .first = EV_CANCEL, .then = EV_DISCONNECTED,
	 .status = ECANCELED, .qp_errors = 1, .dreqs = 1},
	{.name = "destroy_before_dreq_sent_sync_device", .scope = SYNC_DEVICE,
	 .stage = AT_DREQ_QUEUED, .first = EV_DESTROY,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 0},
	{.name = "destroy_while_qp_error_running_sync_device", .scope = SYNC_DEVICE,
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_DESTROY,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "deadline_while_dreq_running_sync_device", .scope = SYNC_DEVICE,
	 .stage = AT_DREQ_RUNNING, .first = EV_DEADLINE,
	 .status = ETIMEDOUT, .qp_errors = 1, .dreqs = 1},
	{.name = "destroy_now_while_qp_error_running_sync_device", .scope = SYNC_DEVICE,
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_DESTROY_NOW,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "device_removal_while_queued_sync_device", .scope = SYNC_DEVICE,
	 .stage = AT_QUEUED, .first = EV_DEVICE_REMOVAL,
	 .status = ENODEV, .qp_errors = 0, .dreqs = 1},
	{.name = "qp_destroyed_while_qp_error_running_sync_device", .scope = SYNC_DEVICE,
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_QP_DESTROY_NOW,
	 .status = 0, .qp_errors = 1, .dreqs = 1},

	/* And with no event queue at all (--sync-scope none): only ep->lock orders the steps. */
	{.name = "cancel_while_disconnect_queued_sync_none", .scope = SYNC_NONE,
	 .stage = AT_QUEUED, .first = EV_CANCEL, .then = EV_DISCONNECTED,
	 .status = ECANCELED, .qp_errors = 1, .dreqs = 1},
	{.name = "destroy_before_dreq_sent_sync_none", .scope = SYNC_NONE,
	 .stage = AT_DREQ_QUEUED, .first = EV_DESTROY,
	 .status = ECANCELED, .qp_errors = 0, .dreqs = 0},
	{.name = "destroy_while_qp_error_running_sync_none", .scope = SYNC_NONE,
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_DESTROY,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "deadline_while_dreq_running_sync_none", .scope = SYNC_NONE,
	 .stage = AT_DREQ_RUNNING, .first = EV_DEADLINE,
	 .status = ETIMEDOUT, .qp_errors = 1, .dreqs = 1},
	{.name = "destroy_now_while_qp_error_running_sync_none", .scope = SYNC_NONE,
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_DESTROY_NOW,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
	{.name = "device_removal_while_queued_sync_none", .scope = SYNC_NONE,
	 .stage = AT_QUEUED, .first = EV_DEVICE_REMOVAL,
	 .status = ENODEV, .qp_errors = 0, .dreqs = 1},
	{.name = "qp_destroyed_while_qp_error_running_sync_none", .scope = SYNC_NONE,
	 .stage = AT_RUNNING, .by = EV_DISCONNECTED, .first = EV_QP_DESTROY_NOW,
	 .status = 0, .qp_errors = 1, .dreqs = 1},
};
/* clang-format on */

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* The first event, noting where the request was when it came. */
static void fire_first(const struct race_case *c)
{
	struct request *req = pending_request(w.r_rid, 0);

	w.r_state_at_first = req ? (int)req->state : -1;
	w.first_id = fire(c->first);
}

/* The hook: a worker is inside a step; the loop plays the first event meanwhile. */
static void race_hook(void *arg)
{
	enum rdq_level level = rdq_level_current();

	rdq_level_set(RDQ_LEVEL_DISPATCH);
	fire_first(arg);
	rdq_level_set(level);
}

/* ------------------------------------------------------------ the case */

static int setup(void **state)
{
	const struct race_case *c = *state;
	int ret = world_start(c->scope);

	fake.disconnect_error = c->dreq_error;
	return ret;
}

static int teardown(void **state)
{
	world_stop();
	return 0;
}

/* Issues the request under test on the client's connection. */
static void issue_request(enum race_request kind)
{
	struct request *req;

	if (kind == RECV)
		w.r_id = clients_send(CLIENT, "ep.recv",
				      json_pack("{s:I, s:I}", "ep", (json_int_t)w.ep, "timeout_ms",
						(json_int_t)FAR_MS));
	else
		w.r_id = clients_send(CLIENT, "ep.disconnect",
				      json_pack("{s:I, s:b, s:I}", "ep", (json_int_t)w.ep, "wait",
						kind == DISCONNECT, "timeout_ms",
						(json_int_t)FAR_MS));
	req = pending_request(0, w.r_id);
	assert_non_null(req);
	w.r_rid = req->rid;
}

/* The worker step the request's dequeuing leaves for a worker. */
static work_fn qp_step(const struct race_case *c)
{
	/* A disconnect the peer started also answers its DREQ. */
	return c->request == RECV ? ep_work_answer_dreq : ep_work_qp_error;
}

/*
 * Plays the case up to its stage. Returns true if the first event was
 * played already, by the hook, inside a running step.
 */
static bool reach_stage(const struct race_case *c)
{
	struct workers *wk = &w.d.workers;

	if (c->stage == AT_DREQ_QUEUED)
		return false;
	if (c->stage == AT_DREQ_RUNNING) {
		fake_hook_set(FAKE_AT_DREQ, race_hook, (void *)c);
		assert_true(workers_run_queued(wk, ep_work_disconnect));
		assert_int_equal(fake.hooks_run, 1);
		return true;
	}
	if (c->request != RECV)
		step(ep_work_disconnect);
	if (c->stage == AT_QUEUED)
		return false;

	fire(c->by);
	if (c->stage == AT_DEQUEUED)
		return false;
	if (c->stage == AT_RUNNING)
		fake_hook_set(FAKE_AT_QP_ERROR, race_hook, (void *)c);
	assert_true(workers_run_queued(wk, qp_step(c)));
	if (c->stage == AT_RUNNING) {
		assert_int_equal(fake.hooks_run, 1);
		return true;
	}
	return false;
}

/* ------------------------------------------------------------- checks */

/* Where the request was when the first event came: what the stage promises. */
static void check_stage(const struct race_case *c)
{
	const char *expected;

	if (c->stage <= AT_QUEUED)
		expected = request_state_name(c->request == DISCONNECT_NOWAIT ? REQ_IN_FLIGHT
									      : REQ_QUEUED);
	else /* dequeued: a receive is answered at once, a disconnect rides its QP step */
		expected = c->request == RECV ? "gone" : request_state_name(REQ_IN_FLIGHT);
	assert_string_equal(
		w.r_state_at_first < 0 ? "gone" : request_state_name(w.r_state_at_first), expected);
}

/* What reached the QP and the rdma_cm_id. */
static void check_effects(const struct race_case *c)
{
	struct fake_qp *q = fake_qp_by_handle(w.qp);

	if (q->to_error != c->qp_errors)
		print_message("the QP went to error %u times\n", q->to_error);
	assert_int_equal(q->to_error, c->qp_errors);
	if (q->error_on_freed)
		print_message("the QP was moved to error after its teardown\n");
	assert_int_equal(q->error_on_freed, 0);
	assert_int_equal(fake.ids[0].disconnects, c->dreqs);
	assert_int_equal(fake.ids[0].used_after_destroy, 0);
	/* A removal's teardown lets librdmacm re-read its devices; nothing else does. */
	assert_int_equal(fake.resyncs,
			 c->first == EV_DEVICE_REMOVAL || c->then == EV_DEVICE_REMOVAL);
	/* Only a queued request's deadline can fire: one at most. */
	assert_true(w.deadlines_armed <= 1);
	/*
	 * No second worker may run a teardown (the QP's or the endpoint's) while
	 * a step uses what it frees: the event queue keeps it from the workers,
	 * or (sync scope none) the endpoint's lock makes it wait.
	 */
	if (c->first == EV_QP_DESTROY_NOW || c->first == EV_DESTROY_NOW) {
		assert_int_equal(w.second_worker_runs, 0);
		assert_int_equal(w.lock_waits, c->scope == SYNC_NONE);
	}
	/* No DREQ went out: the connection is as it was, and can be disconnected again. */
	if (c->dreq_error) {
		struct ep *ep = endpoint_lookup(&w.d, w.ep, w.uid);

		assert_non_null(ep);
		assert_string_equal(ep_state_name(ep->state), "connected");
		object_unref(ep);
	}
}

static void run_case(void **state)
{
	const struct race_case *c = *state;

	world_connect(c->tied);
	issue_request(c->request);
	if (!reach_stage(c))
		fire_first(c);
	assert_true(settle());
	w.then_id = fire(c->then);
	assert_true(settle());

	check_stage(c);
	check_effects(c);
	check_completed_once(w.r_id, w.r_rid, c->status);
	check_event_reply(w.first_id, c->first_reply);
	check_event_reply(w.then_id, c->then_reply);
	check_nothing_left();
}

int main(void)
{
	static struct CMUnitTest tests[NCASES];

	/* The loop's warnings (a device removed, a connect failed) are what the cases do. */
	log_max_priority = LOG_ERR;
	for (size_t i = 0; i < NCASES; i++)
		tests[i] = (struct CMUnitTest){
			.name = cases[i].name,
			.test_func = run_case,
			.setup_func = setup,
			.teardown_func = teardown,
			.initial_state = (void *)&cases[i],
		};
	return cmocka_run_group_tests_name("race-disconnect", tests, NULL, NULL) +
	       race_connect_run() + race_direct_run();
}
