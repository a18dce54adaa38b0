/* SPDX-License-Identifier: MIT */
/*
 * The qp_num map of a device's shared resources (daemon/verbs_device.c):
 * receive completions from the shared receive queue name their QP only by
 * number, so a wrong answer here hands a message to the wrong connection.
 * Thousands of QPs come and go in random order, with numbers chosen to
 * collide; every lookup is checked against a plain list after each step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "engine/level.h"
#include "qp.h"
#include "verbs_device.h"

#define QPS 5000

/* The map takes a reference at each lookup; the test's QPs live on the stack of the test. */
void *object_unref(void *obj)
{
	if (obj)
		atomic_fetch_sub(&((struct object *)obj)->refs, 1);
	return NULL;
}

static struct qp qps[QPS];
static struct ibv_qp ibqps[QPS];
static bool in_map[QPS];

static struct verbs_device *device_new(void)
{
	struct verbs_device *v = calloc(1, sizeof(*v));

	assert_non_null(v);
	pthread_mutex_init(&v->map_lock, NULL);
	v->map.size = 256;
	v->map.slots = calloc(v->map.size, sizeof(*v->map.slots));
	assert_non_null(v->map.slots);
	return v;
}

static void device_free(struct verbs_device *v)
{
	free(v->map.slots);
	pthread_mutex_destroy(&v->map_lock);
	free(v);
}

/* Every QP in the map is found as itself; every other number finds nothing. */
static void check_all(struct verbs_device *v)
{
	unsigned present = 0;

	for (unsigned i = 0; i < QPS; i++) {
		struct qp *found = verbs_device_map_lookup(v, ibqps[i].qp_num);

		if (in_map[i]) {
			assert_ptr_equal(found, &qps[i]);
			present++;
		} else {
			assert_null(found);
		}
		object_unref(found);
	}
	assert_int_equal(v->map.used, present);
	assert_true(v->map.used * 2 <= v->map.size);
}

static void test_random_churn(void **state)
{
	struct verbs_device *v = device_new();

	srand(7);
	for (unsigned i = 0; i < QPS; i++) {
		/* Multiples of the table sizes: the home slots collide, the runs are long. */
		ibqps[i].qp_num =
			(i % 3 == 0) ? i * 1024u : 0x800001u + i * 34u; /* odd: distinct */
		qps[i].qp = &ibqps[i];
		atomic_init(&qps[i].obj.refs, 1);
		in_map[i] = false;
	}
	for (unsigned round = 0; round < 40000; round++) {
		unsigned i = (unsigned)rand() % QPS;

		if (in_map[i])
			verbs_device_map_remove(v, &qps[i]);
		else
			assert_int_equal(verbs_device_map_add(v, &qps[i]), 0);
		in_map[i] = !in_map[i];
		if (round % 4000 == 0)
			check_all(v);
	}
	check_all(v);
	/* Everything out, in index order: the map ends empty and still answers. */
	for (unsigned i = 0; i < QPS; i++) {
		if (in_map[i])
			verbs_device_map_remove(v, &qps[i]);
		in_map[i] = false;
	}
	check_all(v);
	assert_int_equal(v->map.used, 0);
	/* Lookups took a reference each and gave it back. */
	for (unsigned i = 0; i < QPS; i++)
		assert_int_equal(atomic_load(&qps[i].obj.refs), 1);
	device_free(v);
}

static void test_remove_absent(void **state)
{
	struct verbs_device *v = device_new();

	ibqps[0].qp_num = 17;
	qps[0].qp = &ibqps[0];
	ibqps[1].qp_num = 17 + 256; /* same home slot */
	qps[1].qp = &ibqps[1];
	assert_int_equal(verbs_device_map_add(v, &qps[0]), 0);
	verbs_device_map_remove(v, &qps[1]); /* never added: nothing changes */
	assert_ptr_equal(verbs_device_map_lookup(v, 17), &qps[0]);
	object_unref(&qps[0]);
	assert_int_equal(v->map.used, 1);
	device_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_churn),
		cmocka_unit_test(test_remove_absent),
	};

	/* The map's functions declare their levels; this test is both. */
	rdq_level_checks_arm(false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
