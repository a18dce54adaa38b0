/* SPDX-License-Identifier: MIT */
/*
 * The handle table (daemon/engine/handle_table.h): which ids are given and in
 * what order, the wrap at the top of the id space, what a handle names and
 * when it stops naming it, the limit, growth, the acquire callback, foreach,
 * collect's order, and two threads sharing one table.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>

#include "engine/handle_table.h"

#define KIND_EP	  1u
#define KIND_QP	  2u
#define KIND_CONN 3u

/* Counts acquire() calls and remembers the last object, so tests can see references taken. */
static atomic_uint acquired;
static void *_Atomic last_acquired;

static void count_acquire(void *object)
{
	atomic_fetch_add(&acquired, 1);
	atomic_store(&last_acquired, object);
}

static int setup_table(void **state, uint32_t limit)
{
	static struct handle_table table;

	atomic_store(&acquired, 0);
	atomic_store(&last_acquired, NULL);
	if (handle_table_init(&table, limit, count_acquire) < 0)
		return -1;
	*state = &table;
	return 0;
}

static int setup_limit_1000(void **state)
{
	return setup_table(state, 1000);
}

static int setup_limit_1(void **state)
{
	return setup_table(state, 1);
}

static int setup_limit_3(void **state)
{
	return setup_table(state, 3);
}

static int setup_limit_64(void **state)
{
	return setup_table(state, 64);
}

static int setup_limit_max(void **state)
{
	return setup_table(state, UINT32_MAX);
}

static int teardown_table(void **state)
{
	handle_table_fini(*state);
	return 0;
}

/* An object is found by its handle, with or without its kind, until it is removed. */
static void test_insert_lookup_remove(void **state)
{
	struct handle_table *t = *state;
	int object;
	rdq_handle_t h = RDQ_HANDLE_NONE;

	assert_int_equal(handle_table_count(t), 0);
	assert_int_equal(handle_table_insert(t, &object, KIND_EP, &h), 0);
	assert_true(h != RDQ_HANDLE_NONE);
	assert_true(h <= RDQ_HANDLE_MAX);
	assert_int_equal(handle_table_count(t), 1);

	assert_ptr_equal(handle_table_lookup(t, h, KIND_EP), &object);
	assert_ptr_equal(handle_table_lookup(t, h, 0), &object);

	assert_ptr_equal(handle_table_remove(t, h), &object);
	assert_int_equal(handle_table_count(t), 0);
	assert_null(handle_table_lookup(t, h, KIND_EP));
	assert_null(handle_table_lookup(t, h, 0));
	/* Removing twice is how a double destroy looks: the second finds nothing. */
	assert_null(handle_table_remove(t, h));
	assert_int_equal(handle_table_count(t), 0);
}

#define TOP RDQ_HANDLE_MAX /* the largest id */

/*
 * Where the cursor stands and which ids are live decide the next ids: each
 * case keeps some objects, moves the cursor (the tests' seam), and inserts,
 * in a table of its own.
 */
static void test_next_ids(void **state)
{
	enum { MOST = 4 };
	static const struct {
		const char *name;
		unsigned keep;		   /* objects inserted first and kept: ids 1 .. keep */
		rdq_handle_t seek;	   /* where the cursor is moved then; 0: left alone */
		rdq_handle_t expect[MOST]; /* the ids the next inserts get (0 ends) */
	} cases[] = {
		{"a new table gives 1, 2, 3 in order", 0, 0, {1, 2, 3}},
		{"after live ones, the next in order", 2, 0, {3, 4, 5}},
		{"the top of the id space, then 1", 0, TOP - 1, {TOP - 1, TOP, 1, 2}},
		{"after the wrap, ids still live are skipped", 2, TOP, {TOP, 3, 4}},
		/* 64 slots: id 65 would sit where id 1 does. */
		{"an id whose slot an older id holds is skipped", 1, 65, {66, 67}},
		{"ids that go around the slots", 0, 62, {62, 63, 64, 65}},
	};
	int objects[MOST * 2];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct handle_table t;
		rdq_handle_t h[MOST * 2];
		unsigned n = 0;

		print_message("%s\n", cases[c].name);
		assert_int_equal(handle_table_init(&t, 1000, NULL), 0);
		for (; n < cases[c].keep; n++) {
			assert_int_equal(handle_table_insert(&t, &objects[n], KIND_EP, &h[n]), 0);
			assert_int_equal(h[n], n + 1);
		}
		if (cases[c].seek)
			handle_table_seek(&t, cases[c].seek);
		for (unsigned i = 0; i < MOST && cases[c].expect[i]; i++, n++) {
			assert_int_equal(handle_table_insert(&t, &objects[n], KIND_EP, &h[n]), 0);
			assert_int_equal(h[n], cases[c].expect[i]);
		}
		for (unsigned i = 0; i < n; i++)
			assert_ptr_equal(handle_table_remove(&t, h[i]), &objects[i]);
		assert_int_equal(handle_table_count(&t), 0);
		handle_table_fini(&t);
	}
}

/*
 * One object at a time, removed before the next comes: a removed id is never
 * given again (before the id space wraps), though its slot is free, and each
 * removed id stays stale while later ids go around the 64 slots three times,
 * reusing every slot, its own too.
 */
static void test_removed_ids_not_reused(void **state)
{
	enum { N = 200 };
	struct handle_table *t = *state;
	int objects[2];
	rdq_handle_t h[N];

	for (int i = 0; i < N; i++) {
		assert_int_equal(handle_table_insert(t, &objects[i % 2], KIND_EP, &h[i]), 0);
		assert_int_equal(h[i], i + 1);
		for (int j = 0; j < i; j++) {
			assert_null(handle_table_lookup(t, h[j], 0));
			assert_null(handle_table_remove(t, h[j]));
		}
		assert_ptr_equal(handle_table_lookup(t, h[i], KIND_EP), &objects[i % 2]);
		assert_ptr_equal(handle_table_remove(t, h[i]), &objects[i % 2]);
	}
	assert_int_equal(handle_table_count(t), 0);
}

/*
 * A stale id whose slot holds a newer id: id 1 and id 65 share a slot of
 * 64. The stale id must neither find nor remove the new object, of the same
 * kind or any, and takes no reference.
 */
static void test_stale_id_in_a_reused_slot(void **state)
{
	struct handle_table *t = *state;
	int first, second;
	rdq_handle_t h1, h;

	assert_int_equal(handle_table_insert(t, &first, KIND_EP, &h1), 0);
	assert_int_equal(h1, 1);
	assert_ptr_equal(handle_table_remove(t, h1), &first);
	for (rdq_handle_t id = 2; id <= 65; id++) {
		assert_int_equal(handle_table_insert(t, &second, KIND_EP, &h), 0);
		assert_int_equal(h, id);
		if (id < 65)
			assert_ptr_equal(handle_table_remove(t, h), &second);
	}

	assert_null(handle_table_lookup(t, h1, KIND_EP));
	assert_null(handle_table_lookup(t, h1, 0));
	assert_null(handle_table_remove(t, h1));
	assert_int_equal(atomic_load(&acquired), 0);
	assert_int_equal(handle_table_count(t), 1);
	assert_ptr_equal(handle_table_lookup(t, h, KIND_EP), &second);
	assert_ptr_equal(handle_table_remove(t, h), &second);
}

/* Handles a client might send that never named anything. */
static void test_bad_handles(void **state)
{
	struct handle_table *t = *state;
	static const struct {
		const char *name;
		rdq_handle_t h;
	} cases[] = {
		{"handle 0 (none)", RDQ_HANDLE_NONE},
		{"an id not given yet, in a free slot", 2},
		{"an id of slot 0", 64},
		{"an id in the live object's slot", 65},
		{"the largest id in the live object's slot",
		 (RDQ_HANDLE_MAX & ~(rdq_handle_t)63) + 1},
		{"an id far past the slots", 1000000},
		{"the largest id", RDQ_HANDLE_MAX},
		{"2^31, past the id space", RDQ_HANDLE_MAX + 1},
		{"the live id plus 2^32", ((rdq_handle_t)1 << 32) + 1},
		{"largest 32-bit value", UINT32_MAX},
		{"every bit set", UINT64_MAX},
	};
	int object;
	rdq_handle_t h;

	/* A table that never stored anything has no slots at all: nothing to index. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("empty table, %s\n", cases[i].name);
		assert_null(handle_table_lookup(t, cases[i].h, 0));
		assert_null(handle_table_remove(t, cases[i].h));
	}

	assert_int_equal(handle_table_insert(t, &object, KIND_EP, &h), 0);
	assert_int_equal(h, 1); /* the cases above assume the first object gets id 1, of 64 slots */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("one object, %s\n", cases[i].name);
		assert_null(handle_table_lookup(t, cases[i].h, 0));
		assert_null(handle_table_remove(t, cases[i].h));
	}
	assert_int_equal(handle_table_count(t), 1);
	assert_int_equal(atomic_load(&acquired), 0);
	assert_ptr_equal(handle_table_remove(t, h), &object);
}

/* A handle of one kind passed where another is expected finds nothing, and takes no reference. */
static void test_kind_mismatch(void **state)
{
	struct handle_table *t = *state;
	int ep, qp;
	rdq_handle_t h_ep, h_qp;

	assert_int_equal(handle_table_insert(t, &ep, KIND_EP, &h_ep), 0);
	assert_int_equal(handle_table_insert(t, &qp, KIND_QP, &h_qp), 0);

	assert_null(handle_table_lookup(t, h_ep, KIND_QP));
	assert_null(handle_table_lookup(t, h_qp, KIND_EP));
	assert_null(handle_table_lookup(t, h_ep, KIND_CONN));
	assert_int_equal(atomic_load(&acquired), 0);

	assert_ptr_equal(handle_table_lookup(t, h_ep, KIND_EP), &ep);
	assert_ptr_equal(handle_table_lookup(t, h_qp, KIND_QP), &qp);
	assert_ptr_equal(handle_table_lookup(t, h_qp, 0), &qp);
	assert_int_equal(atomic_load(&acquired), 3);

	assert_ptr_equal(handle_table_remove(t, h_ep), &ep);
	assert_ptr_equal(handle_table_remove(t, h_qp), &qp);
}

/* At the limit an insert fails with -ENOSPC and changes nothing; a remove makes room again. */
static void test_limit(void **state)
{
	struct handle_table *t = *state;
	int objects[4];
	rdq_handle_t h[4];
	rdq_handle_t untouched = 0x5555;

	for (int i = 0; i < 3; i++)
		assert_int_equal(handle_table_insert(t, &objects[i], KIND_EP, &h[i]), 0);
	assert_int_equal(handle_table_insert(t, &objects[3], KIND_EP, &untouched), -ENOSPC);
	assert_int_equal(untouched, 0x5555);
	assert_int_equal(handle_table_count(t), 3);
	for (int i = 0; i < 3; i++)
		assert_ptr_equal(handle_table_lookup(t, h[i], KIND_EP), &objects[i]);

	assert_ptr_equal(handle_table_remove(t, h[1]), &objects[1]);
	assert_int_equal(handle_table_insert(t, &objects[3], KIND_EP, &h[3]), 0);
	assert_int_equal(handle_table_insert(t, &objects[1], KIND_EP, &untouched), -ENOSPC);
	assert_int_equal(handle_table_count(t), 3);

	assert_ptr_equal(handle_table_remove(t, h[0]), &objects[0]);
	assert_ptr_equal(handle_table_remove(t, h[2]), &objects[2]);
	assert_ptr_equal(handle_table_remove(t, h[3]), &objects[3]);
}

/*
 * A limit of exactly 64: kept at most half full, the table grows twice past
 * its initial 64 slots to hold them, and no further.
 */
static void test_limit_at_initial_capacity(void **state)
{
	struct handle_table *t = *state;
	int objects[65];
	rdq_handle_t h[65];

	for (int i = 0; i < 64; i++)
		assert_int_equal(handle_table_insert(t, &objects[i], KIND_EP, &h[i]), 0);
	assert_int_equal(handle_table_insert(t, &objects[64], KIND_EP, &h[64]), -ENOSPC);
	for (int i = 0; i < 64; i++)
		assert_ptr_equal(handle_table_remove(t, h[i]), &objects[i]);
	assert_int_equal(handle_table_count(t), 0);
}

/*
 * The largest limit a uint32_t can say, "as many as you can index": the
 * table must still hold objects (the header promises -ENOSPC only when
 * limit objects are stored).
 */
static void test_limit_uint32_max(void **state)
{
	struct handle_table *t = *state;
	int object;
	rdq_handle_t h = RDQ_HANDLE_NONE;

	assert_int_equal(handle_table_insert(t, &object, KIND_EP, &h), 0);
	assert_ptr_equal(handle_table_lookup(t, h, KIND_EP), &object);
	assert_ptr_equal(handle_table_remove(t, h), &object);
}

/*
 * Growing past the initial 64 slots (several times) re-places every object
 * at its id modulo the new size: every handle given out before must still
 * find its own object, and the handles stay distinct. Ids that wrap at the
 * top of the id space sit at both ends of the slots; ids with gaps (every
 * other one removed) leave holes the growth must not fill wrongly.
 */
static void test_growth_keeps_handles(void **state)
{
	enum { N = 300 };
	static const struct {
		const char *name;
		rdq_handle_t seek; /* the first id; 0: 1 */
		bool gaps;	   /* remove every other object as the table fills */
	} cases[] = {
		{"ids from 1", 0, false},
		{"ids across the top of the id space", RDQ_HANDLE_MAX - N / 2, false},
		{"every other id removed as it fills", 0, true},
		{"ids with gaps, across the top", RDQ_HANDLE_MAX - N / 3, true},
	};
	static int objects[N];
	static rdq_handle_t h[N];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		/* A table of its own, so that each case starts small and grows. */
		struct handle_table table, *t = &table;

		print_message("%s\n", cases[c].name);
		assert_int_equal(handle_table_init(t, 1000, NULL), 0);
		if (cases[c].seek)
			handle_table_seek(t, cases[c].seek);
		for (int i = 0; i < N; i++) {
			assert_int_equal(handle_table_insert(t, &objects[i], KIND_EP, &h[i]), 0);
			if (cases[c].gaps && i % 2)
				assert_ptr_equal(handle_table_remove(t, h[i - 1]), &objects[i - 1]);
			/* Check all older ones at each step, so the moment of each growth is
			 * covered. */
			for (int j = 0; j <= i; j++) {
				if (cases[c].gaps && j % 2 == 0 && j < i)
					assert_null(handle_table_lookup(t, h[j], KIND_EP));
				else
					assert_ptr_equal(handle_table_lookup(t, h[j], KIND_EP),
							 &objects[j]);
			}
		}
		for (int i = 0; i < N; i++)
			for (int j = i + 1; j < N; j++)
				assert_true(h[i] != h[j]);
		if (!cases[c].gaps) {
			assert_int_equal(handle_table_count(t), N);
			for (int i = 0; i < N; i += 2)
				assert_ptr_equal(handle_table_remove(t, h[i]), &objects[i]);
		}
		assert_int_equal(handle_table_count(t), N / 2);
		for (int i = 0; i < N; i++) {
			if (i % 2)
				assert_ptr_equal(handle_table_lookup(t, h[i], KIND_EP),
						 &objects[i]);
			else
				assert_null(handle_table_lookup(t, h[i], KIND_EP));
		}
		for (int i = 1; i < N; i += 2)
			assert_ptr_equal(handle_table_remove(t, h[i]), &objects[i]);
		assert_int_equal(handle_table_count(t), 0);
		handle_table_fini(t);
	}
}

/*
 * The table doubles before it would be more than half full, so that an
 * insert's search for a free slot stays short; and it grows no more than
 * that.
 */
static void test_at_most_half_full(void **state)
{
	enum { N = 300 };
	struct handle_table *t = *state;
	static int objects[N];
	static rdq_handle_t h[N];

	for (int i = 0; i < N; i++) {
		assert_int_equal(handle_table_insert(t, &objects[i], KIND_EP, &h[i]), 0);
		assert_true(t->capacity >= 2 * (uint32_t)(i + 1));
		assert_true(t->capacity == 64 || t->capacity < 4 * (uint32_t)(i + 1));
		assert_int_equal(t->capacity & (t->capacity - 1), 0);
	}
	for (int i = 0; i < N; i++)
		assert_ptr_equal(handle_table_remove(t, h[i]), &objects[i]);
}

/* The reference a lookup hands back is taken once per found object, and only then. */
static void test_acquire_once_per_lookup(void **state)
{
	struct handle_table *t = *state;
	int a, b;
	rdq_handle_t ha, hb;

	assert_int_equal(handle_table_insert(t, &a, KIND_EP, &ha), 0);
	assert_int_equal(handle_table_insert(t, &b, KIND_QP, &hb), 0);
	assert_int_equal(atomic_load(&acquired), 0); /* inserting takes no reference */

	assert_ptr_equal(handle_table_lookup(t, ha, KIND_EP), &a);
	assert_int_equal(atomic_load(&acquired), 1);
	assert_ptr_equal(atomic_load(&last_acquired), &a);

	assert_ptr_equal(handle_table_lookup(t, hb, 0), &b);
	assert_int_equal(atomic_load(&acquired), 2);
	assert_ptr_equal(atomic_load(&last_acquired), &b);

	assert_ptr_equal(handle_table_lookup(t, ha, 0), &a);
	assert_int_equal(atomic_load(&acquired), 3);
	assert_ptr_equal(atomic_load(&last_acquired), &a);

	/* Failed lookups: wrong kind, handle 0, then stale. None may take a reference. */
	assert_null(handle_table_lookup(t, ha, KIND_QP));
	assert_null(handle_table_lookup(t, RDQ_HANDLE_NONE, 0));
	assert_ptr_equal(handle_table_remove(t, ha), &a); /* remove neither takes nor drops */
	assert_null(handle_table_lookup(t, ha, KIND_EP));
	assert_int_equal(atomic_load(&acquired), 3);

	assert_ptr_equal(handle_table_remove(t, hb), &b);
	assert_int_equal(atomic_load(&acquired), 3);
}

/* A table with no acquire callback (the daemon's connection table) still finds objects. */
static void test_no_acquire_callback(void **state)
{
	struct handle_table t;
	int object;
	rdq_handle_t h;

	assert_int_equal(handle_table_init(&t, 4, NULL), 0);
	assert_int_equal(handle_table_insert(&t, &object, KIND_CONN, &h), 0);
	assert_ptr_equal(handle_table_lookup(&t, h, KIND_CONN), &object);
	assert_ptr_equal(handle_table_remove(&t, h), &object);
	handle_table_fini(&t);
}

/* fini accepts a zeroed table (one whose init never ran), as the daemon's error path needs. */
static void test_fini_zeroed(void **state)
{
	struct handle_table t = {0};

	handle_table_fini(&t);
	assert_null(t.slots);
}

struct visit {
	int *objects;
	rdq_handle_t *handles;
	int n;
	int seen[16];
	int calls;
	int stop_after; /* 0: never stop */
	bool handle_mismatch;
};

static bool visit_fn(void *object, rdq_handle_t h, void *arg)
{
	struct visit *v = arg;
	int i = (int)((int *)object - v->objects);

	v->calls++;
	if (i >= 0 && i < v->n) {
		v->seen[i]++;
		if (v->handles[i] != h)
			v->handle_mismatch = true;
	}
	return !(v->stop_after && v->calls == v->stop_after);
}

/*
 * Ten objects, EPs at even indexes and QPs at odd ones, with 2 and 5 removed:
 * foreach visits each live object exactly once, with its own handle, filters
 * by kind, and stops as soon as fn returns false.
 */
static void test_foreach(void **state)
{
	struct handle_table *t = *state;
	int objects[10];
	rdq_handle_t h[10];
	struct visit v;

	v = (struct visit){.objects = objects, .handles = h, .n = 10};
	handle_table_foreach(t, 0, visit_fn, &v);
	assert_int_equal(v.calls, 0); /* an empty table that never grew */

	for (int i = 0; i < 10; i++)
		assert_int_equal(
			handle_table_insert(t, &objects[i], i % 2 ? KIND_QP : KIND_EP, &h[i]), 0);
	assert_ptr_equal(handle_table_remove(t, h[2]), &objects[2]);
	assert_ptr_equal(handle_table_remove(t, h[5]), &objects[5]);

	print_message("all kinds\n");
	v = (struct visit){.objects = objects, .handles = h, .n = 10};
	handle_table_foreach(t, 0, visit_fn, &v);
	assert_int_equal(v.calls, 8);
	assert_false(v.handle_mismatch);
	for (int i = 0; i < 10; i++)
		assert_int_equal(v.seen[i], i == 2 || i == 5 ? 0 : 1);

	print_message("EPs only\n");
	v = (struct visit){.objects = objects, .handles = h, .n = 10};
	handle_table_foreach(t, KIND_EP, visit_fn, &v);
	assert_int_equal(v.calls, 4);
	for (int i = 0; i < 10; i++)
		assert_int_equal(v.seen[i], i % 2 == 0 && i != 2 ? 1 : 0);

	print_message("a kind with no objects\n");
	v = (struct visit){.objects = objects, .handles = h, .n = 10};
	handle_table_foreach(t, KIND_CONN, visit_fn, &v);
	assert_int_equal(v.calls, 0);

	print_message("stop after the third\n");
	v = (struct visit){.objects = objects, .handles = h, .n = 10, .stop_after = 3};
	handle_table_foreach(t, 0, visit_fn, &v);
	assert_int_equal(v.calls, 3);

	print_message("stop at the first\n");
	v = (struct visit){.objects = objects, .handles = h, .n = 10, .stop_after = 1};
	handle_table_foreach(t, KIND_QP, visit_fn, &v);
	assert_int_equal(v.calls, 1);

	assert_int_equal(atomic_load(&acquired), 0); /* foreach takes no references */
	for (int i = 0; i < 10; i++)
		if (i != 2 && i != 5)
			assert_ptr_equal(handle_table_remove(t, h[i]), &objects[i]);
}

/* Keeps the objects at index 5 and up of the array arg points to. */
static bool keep_from_5(void *object, void *arg)
{
	return (int *)object - (int *)arg >= 5;
}

/*
 * collect returns the handles in ascending order (ep.show pages by them),
 * which is not the slots' order once ids go around the slots: of 64 slots,
 * ids 60 .. 69 sit at 60 .. 63, then at 0 .. 5. Objects at even indexes are
 * EPs, at odd ones QPs; each case filters them one way.
 */
static void test_collect_sorted(void **state)
{
	static const struct {
		const char *name;
		unsigned kind;
		bool from_5; /* keep: objects 5 and up */
		unsigned count;
		rdq_handle_t expect[10];
	} cases[] = {
		{"all", 0, false, 10, {60, 61, 62, 63, 64, 65, 66, 67, 68, 69}},
		{"EPs only", KIND_EP, false, 5, {60, 62, 64, 66, 68}},
		{"kept by the callback", 0, true, 5, {65, 66, 67, 68, 69}},
		{"QPs kept by the callback", KIND_QP, true, 3, {65, 67, 69}},
		{"a kind with no objects", KIND_CONN, false, 0, {0}},
	};
	struct handle_table *t = *state;
	int objects[10];
	rdq_handle_t h[10];
	rdq_handle_t *got;
	unsigned count = 99;

	assert_int_equal(handle_table_collect(t, 0, NULL, NULL, &got, &count), 0);
	assert_null(got); /* an empty table */
	assert_int_equal(count, 0);

	handle_table_seek(t, 60);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(
			handle_table_insert(t, &objects[i], i % 2 ? KIND_QP : KIND_EP, &h[i]), 0);
		assert_int_equal(h[i], 60 + i);
	}
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		print_message("%s\n", cases[c].name);
		count = 99;
		assert_int_equal(handle_table_collect(t, cases[c].kind,
						      cases[c].from_5 ? keep_from_5 : NULL, objects,
						      &got, &count),
				 0);
		assert_int_equal(count, cases[c].count);
		for (unsigned i = 0; i < count; i++)
			assert_int_equal(got[i], cases[c].expect[i]);
		if (!count)
			assert_null(got);
		free(got);
	}
	assert_int_equal(atomic_load(&acquired), 0); /* collect takes no references */
	for (int i = 0; i < 10; i++)
		assert_ptr_equal(handle_table_remove(t, h[i]), &objects[i]);
}

/*
 * Two threads share one table, each cycling its own objects through a small
 * window of live handles so that slots are freed and reused by the other
 * thread all the time. Each thread checks, after every step, that its live
 * handles find its own objects and that a handle it removed finds nothing.
 * They start together at a barrier; the run is bounded by a count, not time.
 */
#define RACE_ROUNDS 20000
#define RACE_WINDOW 8

struct racer {
	struct handle_table *t;
	pthread_barrier_t *start;
	int objects[RACE_WINDOW];
	unsigned inserts, removes, lookups_found, failures;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	rdq_handle_t live[RACE_WINDOW] = {0};

	pthread_barrier_wait(r->start);
	for (unsigned round = 0; round < RACE_ROUNDS; round++) {
		unsigned i = round % RACE_WINDOW;
		rdq_handle_t stale = live[i];

		if (stale) {
			if (handle_table_remove(r->t, stale) != &r->objects[i])
				r->failures++;
			else
				r->removes++;
			if (handle_table_lookup(r->t, stale, 0) || handle_table_remove(r->t, stale))
				r->failures++;
		}
		if (handle_table_insert(r->t, &r->objects[i], KIND_EP, &live[i]) < 0) {
			r->failures++;
			live[i] = 0;
			continue;
		}
		r->inserts++;
		for (unsigned j = 0; j < RACE_WINDOW; j++) {
			if (!live[j])
				continue;
			if (handle_table_lookup(r->t, live[j], KIND_EP) == &r->objects[j])
				r->lookups_found++;
			else
				r->failures++;
		}
	}
	for (unsigned i = 0; i < RACE_WINDOW; i++) {
		if (!live[i])
			continue;
		if (handle_table_remove(r->t, live[i]) == &r->objects[i])
			r->removes++;
		else
			r->failures++;
	}
	return NULL;
}

static void test_two_threads(void **state)
{
	struct handle_table *t = *state;
	pthread_barrier_t start;
	struct racer racers[2];
	pthread_t threads[2];

	assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
	for (int i = 0; i < 2; i++) {
		racers[i] = (struct racer){.t = t, .start = &start};
		assert_int_equal(pthread_create(&threads[i], NULL, racer_main, &racers[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);
	pthread_barrier_destroy(&start);

	for (int i = 0; i < 2; i++) {
		print_message("thread %d: %u inserts, %u removes, %u lookups\n", i,
			      racers[i].inserts, racers[i].removes, racers[i].lookups_found);
		assert_int_equal(racers[i].failures, 0);
		assert_int_equal(racers[i].inserts, RACE_ROUNDS);
		assert_int_equal(racers[i].removes, racers[i].inserts);
	}
	assert_int_equal(handle_table_count(t), 0);
	assert_int_equal(atomic_load(&acquired), racers[0].lookups_found + racers[1].lookups_found);
}

#define TABLE_TEST(fn, limit)                                                                      \
	cmocka_unit_test_setup_teardown(fn, setup_limit_##limit, teardown_table)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TABLE_TEST(test_insert_lookup_remove, 1000),
		cmocka_unit_test(test_next_ids),
		TABLE_TEST(test_removed_ids_not_reused, 1),
		TABLE_TEST(test_stale_id_in_a_reused_slot, 1),
		TABLE_TEST(test_bad_handles, 1000),
		TABLE_TEST(test_kind_mismatch, 1000),
		TABLE_TEST(test_limit, 3),
		TABLE_TEST(test_limit_at_initial_capacity, 64),
		TABLE_TEST(test_limit_uint32_max, max),
		cmocka_unit_test(test_growth_keeps_handles),
		TABLE_TEST(test_at_most_half_full, 1000),
		TABLE_TEST(test_acquire_once_per_lookup, 1000),
		cmocka_unit_test(test_no_acquire_callback),
		cmocka_unit_test(test_fini_zeroed),
		TABLE_TEST(test_foreach, 1000),
		TABLE_TEST(test_collect_sorted, 1000),
		TABLE_TEST(test_two_threads, 64),
	};

	return cmocka_run_group_tests_name("handle_table", tests, NULL, NULL);
}
