#!/usr/bin/env python3
"""The mutation check: plants known bugs, one at a time, in a copy of rdq's
sources and passes only if the race table, a unit test or the simulator fails
for each one, and the simulator alone (tests/sim: its allocation sweep and its
fixed seeds, without the race table) kills every one.

A test suite is as good as the bugs it catches. Each mutant below is a bug
that once existed, or that the design exists to prevent; if the tests stay
green with one planted, they no longer guard that part of the code.

Usage: check-mutants.py SOURCE_ROOT [WORK_DIR]
RDQ_MUTANTS=name,name... plants only those (a developer's quick check).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

# (name, file, original text, mutated text): the original must occur exactly once.
MUTANTS = [
    ("deadline_timer_kept_after_dequeue", "daemon/request.c",
     """	req->state = REQ_NEW;
	if (req->deadline) {
		event_del(req->deadline);
		req->deadline = NULL;
	}
}""",
     """	req->state = REQ_NEW;
}"""),
    ("disconnected_does_not_dequeue", "daemon/ep_disconnect.c",
     "	req = request_queue_pop(&ep->disconnect_q);\n	request_queue_fail_all(&ep->recv_q,",
     "	req = NULL;\n	request_queue_fail_all(&ep->recv_q,"),
    ("cancel_completes_a_dequeued_request", "daemon/request.c",
     """	if (s.found->state != REQ_QUEUED)
		return -EALREADY;
""",
     ""),
    ("handle_lookup_ignores_the_full_id", "daemon/engine/handle_table.c",
     "if (!slot->object || slot->id != h)",
     "if (!slot->object)"),
    ("teardown_posted_before_a_pending_step", "daemon/ep_teardown.c",
     """		work_of(item)->request = req;
	}
	ep_post(ep, item);
}

static void qp_destroy_done(""",
     """		work_of(item)->request = req;
	}
	work_item_queue(&d->workers, item);
}

static void qp_destroy_done("""),
    ("event_queue_idles_before_its_item_is_back", "daemon/engine/workers.c",
     "next = serial_next(s, false);",
     "next = serial_next(s, true);"),
    ("late_disconnected_moves_the_qp_again", "daemon/ep_disconnect.c",
     "	if (!ep->qp_error_queued) {\n		queue_qp_error(ep, req, status,",
     "	if (1) {\n		queue_qp_error(ep, req, status,"),
    ("closed_client_keeps_its_tied_endpoints", "daemon/session.c",
     "	endpoint_destroy_tied(d, tied);\n",
     ""),
    ("shutdown_leaves_the_endpoints", "daemon/shutdown.c",
     "	control_stop_accepting(d);\n	/* Queued requests complete with ECANCELED; work in flight finishes on the workers. */\n	endpoint_destroy_all(d);\n",
     "	control_stop_accepting(d);\n"),
    ("connect_step_qp_kept_when_its_endpoint_is_gone", "daemon/ep_establish.c",
     "	if (qp) {\n		/* A QP nobody took",
     "	if (0) {\n		/* A QP nobody took"),
    ("early_connect_response_forgotten", "daemon/ep_establish.c",
     "		ep->early_event = RDMA_CM_EVENT_CONNECT_RESPONSE; /* the connect step is not back */",
     "		; /* the connect step is not back */"),
    ("cancelled_connect_keeps_its_endpoint", "daemon/ep_connect.c",
     "	request_on_cancel(req, ep_setup_cancelled);\n",
     ""),
    ("a_passive_endpoint_cannot_start_connecting", "daemon/endpoint.c",
     "[EP_IDLE] = TO(EP_LISTENING) | TO(EP_RESOLVING) | TO(EP_CONNECTING) | TO(EP_RESOLVED) |",
     "[EP_IDLE] = TO(EP_LISTENING) | TO(EP_RESOLVING) | TO(EP_RESOLVED) |"),
    ("a_failed_dreq_cannot_return_to_connected", "daemon/endpoint.c",
     "[EP_DISCONNECTING] = TO(EP_DISCONNECTED) | TO(EP_CONNECTED),",
     "[EP_DISCONNECTING] = TO(EP_DISCONNECTED),"),
    ("a_full_listener_admits_one_more", "daemon/admission.c",
     "	if (connections >= max) {",
     "	if (connections > max) {"),
    ("address_rules_admit_every_peer", "daemon/admission.c",
     "	if (rdq_peer_rules_admit(rules, peer))\n		return ADMIT;",
     "	if (rdq_peer_rules_admit(rules, peer) || rules)\n		return ADMIT;"),
    ("peers_spend_the_owners_quota", "daemon/endpoint.c",
     "	ep->obj.network = role == EP_ACCEPTED;",
     "	ep->obj.network = false;"),
    ("a_leaving_peer_keeps_its_place", "daemon/endpoint.c",
     "		moved->child_index = i;\n",
     "\n"),
    ("a_tied_endpoint_is_not_listed_under_its_connection", "daemon/endpoint.c",
     "	ep_tie(ep);\n	return ep;",
     "	return ep;"),
    ("a_removed_qp_leaves_a_hole_in_the_qp_map", "daemon/verbs_device.c",
     "		bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);",
     "		bool stays = true;"),
    ("a_failed_connection_is_forgotten_by_the_next_send", "daemon/ep_data.c",
     "	if (direct_data(ep, req) || failed_connection(ep, req))\n		return false;",
     "	if (direct_data(ep, req))\n		return false;"),
    ("an_unwaited_send_is_answered_at_its_completion", "daemon/ep_data.c",
     "	if (!post_send(ep, req, data, len, wait ? req : NULL))\n		return;",
     "	if (!post_send(ep, req, data, len, req))\n		return;\n	wait = true;"),
    ("the_fast_reader_takes_a_duplicate_key", "lib/protocol/json_read.c",
     "		if (json_object_getn(obj, key, key_len))\n			goto decline;",
     ""),
    ("the_writer_escapes_no_quote", "lib/protocol/json_write.c",
     "		if (c >= 0x20 && c != '\"' && c != '\\\\')",
     "		if (c >= 0x20 && c != '\\\\')"),
    ("served_endpoint_destroyed_at_its_disconnect", "daemon/ep_disconnect.c",
     "if (ep && ep->role == EP_ACCEPTED && !ep->serve && ep->state == EP_DISCONNECTED)",
     "if (ep && ep->role == EP_ACCEPTED && ep->state == EP_DISCONNECTED)"),
    ("serve_listener_not_tied_to_its_client", "daemon/ops.c",
     "		.tied = a->tied || a->mode != RDQ_MODE_ECHO,",
     "		.tied = a->tied,"),
    ("served_connection_never_announced", "daemon/ep_establish.c",
     "	if (ep->serve && !announce_served(ep))",
     "	if (0 && !announce_served(ep))"),
    # The request scanner took an argument out of its range that jansson's reader refused.
    ("the_scanner_takes_an_argument_out_of_range", "lib/protocol/request_read.c",
     "		if (!scan_int(s, &v) || v < a->min || v > a->max)",
     "		if (!scan_int(s, &v))"),
    # A duplicate argument was read, where jansson refuses the frame.
    ("the_scanner_takes_a_duplicate_argument", "lib/protocol/request_read.c",
     "		if (!scan_string(s, &key, &len) || !unknown_key_new(&seen, key, len) ||",
     "		if (!scan_string(s, &key, &len) || (seen.n = 0) ||"),
    # A request whose connection closed still kept the connection's list, and answered into it.
    ("an_orphaned_request_keeps_its_connection", "daemon/request.c",
     "	req->list = NULL;",
     "	(void)req->list;"),
    ("direct_qp_owner_not_checked", "daemon/ep_direct.c",
     "if (ret == 0 && a->owner != a->pid && process_of(a->owner) != a->pid)",
     "if (0)"),
    ("direct_disconnect_never_tells_the_client", "daemon/ep_direct.c",
     "	ret = ep_tell_flush(ep, status);\n	if (!req)",
     "	ret = 0;\n	if (!req)"),
    ("direct_flushed_completes_nothing", "daemon/ep_direct.c",
     "	while ((waiting = request_queue_pop(&ep->flush_q))) {",
     "	while (0 && (waiting = request_queue_pop(&ep->flush_q))) {"),
    # Found by the simulator (tests/sim): a QP no process owns failed ep.attach with ESRCH.
    ("a_qp_no_process_owns_fails_the_attach", "daemon/ep_direct.c",
     "	if (ret == -ESRCH) {\n		a->owner = 0;\n		ret = -EPERM;\n	}",
     "	if (0) {\n	}"),
    # Found by the simulator: a direct peer whose time ran out while a step was out was refused twice.
    ("a_direct_peer_is_refused_twice", "daemon/ep_direct.c",
     "	if (ep->reject_reason)\n		return;\n",
     ""),
    # Found by the simulator: with scope none a teardown overtook the reject step; no reject went.
    ("a_refusal_overtaken_by_its_teardown_sends_no_reject", "daemon/ep_teardown.c",
     "	if (t->ep->id && t->ep->reject_reason && !t->ep->reject_sent) {",
     "	if (0) {"),
    # Found by the simulator: a closed client's ep.connect went on connecting for nobody.
    # Found by the allocation sweep: ep.show out of memory answered an empty list.
    ("ep_show_out_of_memory_shows_nothing", "daemon/ops.c",
     "		if (handle_table_collect(&d->objects, OBJ_EP, visible_to, &req->uid, &handles,\n"
     "					 &count) < 0) {",
     "		if (handle_table_collect(&d->objects, OBJ_EP, visible_to, &req->uid, &handles,\n"
     "					 &count) < 0 && 0) {"),
    # Found by the allocation sweep: a work item out of memory was "out of work items", EBUSY.
    ("no_memory_for_a_step_says_busy", "daemon/ep_connect.c",
     "ep_connect_failed(ep, -ENOMEM, \"out of memory for a work item\");",
     "ep_connect_failed(ep, -EBUSY, \"out of work items\");"),
    # Found by the simulator: a peer refused while its client's ep.attach step was out; the step
    # then answered the client's next ep.attach (with the first QP's owner check).
    ("a_refused_peers_step_answers_the_next_attach", "daemon/ep_direct.c",
     """	if (ep->reject_reason) {
		request_fail(req, -ECONNREFUSED, "endpoint %llu: its peer was refused (%s)",
			     (unsigned long long)ep->obj.handle, ep->reject_reason);
		return false;
	}
	if (ep->connect_q.head || ep->direct_step_out) {""",
     """	if (ep->connect_q.head) {"""),
    ("a_closed_clients_connect_goes_on", "daemon/request.c",
     "		cancel(req, \"the client's connection closed\");",
     "		request_complete(req, -ECANCELED, NULL, \"the client's connection closed\");"),
]

# The tests that must catch them, as built by meson (paths in the build dir).
TESTS = [
    "tests/unit/race/test_race",
    "tests/unit/race/test_admission",
        "tests/unit/race/test_sends",
    "tests/unit/race/test_alloc",
    "tests/unit/test_handle_table",
    "tests/unit/test_workers",
    "tests/unit/test_level",
    "tests/unit/test_protocol",
    "tests/unit/test_request_read",
    "tests/unit/test_qp_map",
]
# A mutant that makes a test hang is caught too: the test is stopped here.
TEST_TIMEOUT_S = 30

# The simulator (tests/sim), run alone against each mutant: its fixed seeds, no table.
SIM = "tests/sim/rdq-sim"
SIM_RUNS = [["--alloc-sweep", os.devnull], ["--fixed", "10000"]]
SIM_TIMEOUT_S = 120


def run(cmd, cwd, quiet=True):
    out = subprocess.DEVNULL if quiet else None
    return subprocess.run(cmd, cwd=cwd, stdout=out, stderr=out).returncode


def tests_fail(build):
    """Returns the name of the first test that fails (or hangs), or None."""
    for test in TESTS:
        try:
            rc = subprocess.run([os.path.join(build, test)], cwd=build,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                timeout=TEST_TIMEOUT_S).returncode
        except subprocess.TimeoutExpired:
            return test + " (hung)"
        if rc != 0:
            return test
    return None


def build_tests(build):
    return run(["ninja", "-C", build] + TESTS + [SIM], cwd=build)


def sim_kills(build):
    """Runs the simulator alone: (killed, how), how naming the steps it took and the seed."""
    for args in SIM_RUNS:
        try:
            p = subprocess.run([os.path.join(build, SIM)] + args, cwd=build,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               errors="replace", timeout=SIM_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return True, "hung"
        if p.returncode == 0:
            continue
        if args[0] == "--alloc-sweep":
            return True, "killed by the allocation sweep"
        steps = re.search(r"found after (\d+) steps", p.stderr)
        seed = re.search(r"sim: seed (\d+)", p.stderr)
        return True, "killed after %s steps (seed %s)" % (steps.group(1) if steps else "?",
                                                         seed.group(1) if seed else "?")
    return False, "survived the allocation sweep and its fixed seeds"


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    source = os.path.abspath(sys.argv[1])
    work = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="rdq-mutants.")
    copy = os.path.join(work, "src")
    build = os.path.join(work, "build")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(source, copy, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", "build*", "*.orig"))
    if run(["meson", "setup", build, copy, "-Dtests=enabled"], cwd=work) != 0:
        print("meson setup of the copy failed")
        return 1
    if build_tests(build) != 0:
        print("the unmutated copy does not build")
        return 1
    failing = tests_fail(build)
    if failing:
        print(f"the unmutated copy already fails: {failing}")
        return 1

    survivors = 0
    sim_survivors = []
    only = [n for n in os.environ.get("RDQ_MUTANTS", "").split(",") if n]
    mutants = [m for m in MUTANTS if not only or m[0] in only]
    for name, path, original, mutated in mutants:
        target = os.path.join(copy, path)
        with open(target) as f:
            text = f.read()
        if text.count(original) != 1:
            print(f"FAIL - {name}: its code in {path} was not found once; update the mutant")
            survivors += 1
            continue
        with open(target, "w") as f:
            f.write(text.replace(original, mutated))
        try:
            if build_tests(build) != 0:
                print(f"FAIL - {name}: the mutant does not build; update it")
                survivors += 1
                continue
            sim_killed, how = sim_kills(build)
            if not sim_killed:
                sim_survivors.append(name)
            caught = tests_fail(build) or (sim_killed and "tests/sim/rdq-sim")
            if caught:
                print(f"ok - {name}: caught by {caught}; the simulator alone: {how}")
            else:
                print(f"FAIL - {name}: survived, every test passed with it; the simulator: {how}")
                survivors += 1
        finally:
            with open(target, "w") as f:
                f.write(text)
    print(f"{len(mutants) - survivors} killed, {survivors} survived")
    survivors += len(sim_survivors)
    print(f"the simulator alone killed {len(mutants) - len(sim_survivors)} of {len(mutants)}"
          + (": it missed " + ", ".join(sim_survivors) if sim_survivors else ""))
    if len(sys.argv) <= 2:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
