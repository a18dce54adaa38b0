/* SPDX-License-Identifier: MIT */
/*
 * rdq-sim: runs seeded schedules of the whole daemon (see sim.h) and says
 * which seeds it ran. A failure prints its seed and last steps; the seed
 * replays it exactly.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>

#include "engine/level.h"
#include "log.h"
#include "sim.h"

static const char usage[] =
	"usage: rdq-sim [--seed S] [--steps K] [--fixed N] [--seconds N | --minutes N] "
	"[--verbose]\n"
	"       rdq-sim --alloc-sweep FILE | --check-replay N\n"
	"\n"
	"Runs seeded schedules of rdqd's own code against simulated clients, rdma_cm,\n"
	"workers, timers and injected faults, checking the invariants after every step.\n"
	"\n"
	"  --seed S      replay the one schedule of seed S, exactly (prints its steps)\n"
	"  --steps K     steps per schedule (default: the seed picks 20 to 200)\n"
	"  --fixed N     first run the fixed seeds 1..N (default 2000)\n"
	"  --seconds N   then fresh random seeds until N seconds have passed in all (default 0)\n"
	"  --minutes N   the same, in minutes: the long mode for a developer's machine\n"
	"  --verbose     print every step as it is taken\n"
	"  --alloc-sweep FILE  fail each allocation of each kind of request's life in turn;\n"
	"                FILE gets the sites reached, which tests/sim/alloc-report.py names\n"
	"  --check-replay N  run seeds 1..N, then again in the other order: each must take\n"
	"                the same steps (the digest of its trace) whatever ran before it\n"
	"\n"
	"Exit status 0 when every schedule kept every invariant, 1 at the first that did not.\n";

uint64_t steps_before;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seeds 1..n, forwards then backwards: a schedule must not depend on the ones before it. */
static int check_replay(uint64_t n, uint64_t steps)
{
	uint64_t *digest = calloc(n + 1, sizeof(*digest));

	if (!digest)
		return 2;
	for (uint64_t s = 1; s <= n; s++) {
		schedule_run(s, steps);
		digest[s] = trace_digest;
	}
	for (uint64_t s = n; s >= 1; s--) {
		schedule_run(s, steps);
		if (digest[s] != trace_digest) {
			fprintf(stderr,
				"seed %llu took other steps when replayed after seed %llu\n",
				(unsigned long long)s, (unsigned long long)(s + 1));
			free(digest);
			return 1;
		}
	}
	printf("seeds 1..%llu took the same steps in both orders\n", (unsigned long long)n);
	free(digest);
	return 0;
}

/* A crash (ASan, UBSan, an abort in rdqd's code) still says which seed and what led there. */
static void on_death(void)
{
	fprintf(stderr, "\nsim: seed %llu died at step %llu\n", (unsigned long long)sim.seed,
		(unsigned long long)sim.step);
	fprintf(stderr, "sim: found after %llu steps in all\n",
		(unsigned long long)(steps_before + sim.step));
	trace_print();
}

static void on_abort(int sig)
{
	(void)sig;
	on_death();
	signal(SIGABRT, SIG_DFL);
	abort();
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"seed", required_argument, NULL, 's'},
		{"steps", required_argument, NULL, 'k'},
		{"fixed", required_argument, NULL, 'f'},
		{"seconds", required_argument, NULL, 't'},
		{"minutes", required_argument, NULL, 'm'},
		{"verbose", no_argument, NULL, 'v'},
		{"check-replay", required_argument, NULL, 'r'},
		{"alloc-sweep", required_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t seed = 0, steps = 0, fixed = 2000, schedules = 0, total_steps = 0, base = 0;
	double seconds = 0, start = now_s();
	bool replay = false;
	uint64_t replay_check = 0;
	const char *sweep_report = NULL;
	int opt;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			seed = strtoull(optarg, NULL, 0);
			replay = true;
			break;
		case 'k':
			steps = strtoull(optarg, NULL, 0);
			break;
		case 'f':
			fixed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			seconds = strtod(optarg, NULL);
			break;
		case 'm':
			seconds = 60 * strtod(optarg, NULL);
			break;
		case 'v':
			trace_verbose = true;
			break;
		case 'r':
			replay_check = strtoull(optarg, NULL, 0);
			break;
		case 'a':
			sweep_report = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	/* rdqd's errors stay (an illegal state move says which before it aborts); the rest is
	 * noise. */
	log_max_priority = LOG_ERR;
	__sanitizer_set_death_callback(on_death);
	signal(SIGABRT, on_abort);

	if (replay_check)
		return check_replay(replay_check, steps);
	if (sweep_report)
		return alloc_sweep(sweep_report);
	if (replay) {
		total_steps = schedule_run(seed, steps);
		trace_print();
		printf("seed %llu: %llu steps, every invariant kept\n", (unsigned long long)seed,
		       (unsigned long long)total_steps);
		return 0;
	}
	for (uint64_t s = 1; s <= fixed; s++, schedules++)
		steps_before = total_steps += schedule_run(s, steps);
	printf("fixed seeds 1..%llu: %llu schedules, %llu steps\n", (unsigned long long)fixed,
	       (unsigned long long)schedules, (unsigned long long)total_steps);
	fflush(stdout);
	if (getrandom(&base, sizeof(base), 0) != sizeof(base))
		base = (uint64_t)time(NULL) << 20;
	base |= 1ull << 63; /* never one of the fixed seeds */
	for (uint64_t i = 0; now_s() - start < seconds; i++, schedules++) {
		if (i == 0)
			printf("random seeds: %llu + i\n", (unsigned long long)base);
		steps_before = total_steps += schedule_run(base + i, steps);
	}
	printf("%llu schedules, %llu steps in %.1f s: every invariant kept\n",
	       (unsigned long long)schedules, (unsigned long long)total_steps, now_s() - start);
	return 0;
}
