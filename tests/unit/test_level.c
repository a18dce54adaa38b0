/* SPDX-License-Identifier: MIT */
/*
 * Execution levels (daemon/engine/level.h): a passive-only call on the loop, or
 * a loop-only call on a worker, aborts with a message naming the function;
 * the right level, an unset level, or disarmed checks let the call through.
 *
 * Each case runs in a forked child with its stderr on a pipe, so an abort
 * ends the child, not the test, and the parent reads what it said.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config.h"
#include "engine/level.h"
#include "engine/workers.h"

/* Stand-ins for a blocking call and a loop-only call, as the daemon writes them. */
static void blocking_call(void)
{
	RDQ_PASSIVE_ONLY();
}

static void loop_only_call(void)
{
	RDQ_DISPATCH_ONLY();
}

/*
 * Real library calls whose first statement is the check. They are only run
 * where the check aborts, so the zeroed struct is never touched.
 */
static struct workers zeroed_workers;

static void call_workers_stop(void)
{
	workers_stop(&zeroed_workers);
}

static void call_work_item_get(void)
{
	work_item_get(&zeroed_workers, NULL);
}

static void call_workers_drain_done(void)
{
	workers_drain_done(&zeroed_workers);
}

enum arming {
	ARM_DEFAULT, /* as built: armed iff RDQ_LEVEL_CHECKS */
	ARM_ON,
	ARM_OFF,
	ARM_OFF_THEN_ON,
};

static const struct level_case {
	const char *name;
	enum rdq_level level; /* the calling thread's level */
	enum arming arming;
	void (*call)(void);
	bool aborts;
	const char *message; /* what stderr must contain when it aborts */
} cases[] = {
	{"passive-only at DISPATCH (a blocking call on the loop) aborts", RDQ_LEVEL_DISPATCH,
	 ARM_ON, blocking_call, true, "level violation: blocking_call may block"},
	{"passive-only at PASSIVE (on a worker) runs", RDQ_LEVEL_PASSIVE, ARM_ON, blocking_call,
	 false, NULL},
	{"passive-only at UNSET (a thread rdq did not start) runs", RDQ_LEVEL_UNSET, ARM_ON,
	 blocking_call, false, NULL},
	{"dispatch-only at PASSIVE (a loop call on a worker) aborts", RDQ_LEVEL_PASSIVE, ARM_ON,
	 loop_only_call, true, "level violation: loop_only_call belongs to the loop thread"},
	{"dispatch-only at DISPATCH runs", RDQ_LEVEL_DISPATCH, ARM_ON, loop_only_call, false, NULL},
	{"dispatch-only at UNSET runs", RDQ_LEVEL_UNSET, ARM_ON, loop_only_call, false, NULL},
	{"disarmed: passive-only at DISPATCH runs", RDQ_LEVEL_DISPATCH, ARM_OFF, blocking_call,
	 false, NULL},
	{"disarmed: dispatch-only at PASSIVE runs", RDQ_LEVEL_PASSIVE, ARM_OFF, loop_only_call,
	 false, NULL},
	{"disarmed then armed again: passive-only at DISPATCH aborts", RDQ_LEVEL_DISPATCH,
	 ARM_OFF_THEN_ON, blocking_call, true, "level violation: blocking_call may block"},
	{"as built: passive-only at DISPATCH aborts iff RDQ_LEVEL_CHECKS", RDQ_LEVEL_DISPATCH,
	 ARM_DEFAULT, blocking_call, RDQ_LEVEL_CHECKS, "level violation: blocking_call may block"},
	{"library: workers_stop on the loop aborts, naming it", RDQ_LEVEL_DISPATCH, ARM_ON,
	 call_workers_stop, true, "level violation: workers_stop may block"},
	{"library: work_item_get on a worker aborts, naming it", RDQ_LEVEL_PASSIVE, ARM_ON,
	 call_work_item_get, true, "level violation: work_item_get belongs to the loop thread"},
	{"library: workers_drain_done on a worker aborts, naming it", RDQ_LEVEL_PASSIVE, ARM_ON,
	 call_workers_drain_done, true,
	 "level violation: workers_drain_done belongs to the loop thread"},
};

/* Runs c in a child; returns its wait status and what it wrote to stderr. */
static int run_in_child(const struct level_case *c, char *err, size_t size)
{
	struct rlimit no_core = {0, 0};
	size_t used = 0;
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		if (dup2(fds[1], STDERR_FILENO) < 0)
			_exit(100);
		close(fds[1]);
		/* The aborts are expected: no core files for them. */
		setrlimit(RLIMIT_CORE, &no_core);
		switch (c->arming) {
		case ARM_DEFAULT:
			break;
		case ARM_ON:
			rdq_level_checks_arm(true);
			break;
		case ARM_OFF:
			rdq_level_checks_arm(false);
			break;
		case ARM_OFF_THEN_ON:
			rdq_level_checks_arm(false);
			rdq_level_checks_arm(true);
			break;
		}
		rdq_level_set(c->level);
		c->call();
		_exit(0);
	}
	close(fds[1]);
	while (used < size - 1 && (n = read(fds[0], err + used, size - 1 - used)) > 0)
		used += (size_t)n;
	err[used] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void test_level_cases(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct level_case *c = &cases[i];
		char err[512];
		int status;

		print_message("%s\n", c->name);
		status = run_in_child(c, err, sizeof(err));
		if (c->aborts) {
			assert_true(WIFSIGNALED(status));
			assert_int_equal(WTERMSIG(status), SIGABRT);
			assert_non_null(strstr(err, c->message));
		} else {
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
			assert_string_equal(err, "");
		}
	}
}

static void *report_level(void *arg)
{
	*(enum rdq_level *)arg = rdq_level_current();
	return NULL;
}

/* The level belongs to the thread: a new thread starts UNSET whatever its creator is at. */
static void test_level_is_per_thread(void **state)
{
	enum rdq_level seen = RDQ_LEVEL_PASSIVE;
	pthread_t thread;

	rdq_level_set(RDQ_LEVEL_DISPATCH);
	assert_int_equal(rdq_level_current(), RDQ_LEVEL_DISPATCH);
	assert_int_equal(pthread_create(&thread, NULL, report_level, &seen), 0);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(seen, RDQ_LEVEL_UNSET);
	assert_int_equal(rdq_level_current(), RDQ_LEVEL_DISPATCH);

	rdq_level_set(RDQ_LEVEL_PASSIVE);
	assert_int_equal(rdq_level_current(), RDQ_LEVEL_PASSIVE);
	rdq_level_set(RDQ_LEVEL_UNSET);
	assert_int_equal(rdq_level_current(), RDQ_LEVEL_UNSET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_level_cases),
		cmocka_unit_test(test_level_is_per_thread),
	};

	return cmocka_run_group_tests_name("level", tests, NULL, NULL);
}
