/* SPDX-License-Identifier: MIT */
/*
 * The device's qp_num map (rdqd's own verbs_device.c) under the simulated
 * QPs: each QP the fakes make is added to it and removed at its teardown, as
 * qp.c does, in a map that starts at four slots so that numbers collide and
 * the map grows. After every step every live QP's number must find that QP
 * (a receive completion names its QP only by number) and every torn-down
 * one nothing.
 */
#include <rdma/rdma_cma.h>
#include <stdlib.h>

#include "fakes.h"
#include "object.h"
#include "qp.h"
#include "sim.h"
#include "verbs_device.h"

static struct verbs_device dev;

/*
 * verbs_device.c also holds librdmacm's device contexts, which the simulator
 * never opens: only the map is used here, so these are never reached.
 */
struct ibv_context **rdma_get_devices(int *num_devices)
{
	(void)num_devices;
	sim_fail("verbs_device.c asked librdmacm for its devices: the simulator has none");
}

void rdma_free_devices(struct ibv_context **list)
{
	(void)list;
	sim_fail("verbs_device.c freed librdmacm's devices: the simulator has none");
}

static int map_add(struct qp *qp)
{
	return verbs_device_map_add(&dev, qp);
}

static void map_remove(struct qp *qp)
{
	verbs_device_map_remove(&dev, qp);
}

void qpmap_start(void)
{
	pthread_mutex_init(&dev.map_lock, NULL);
	dev.map.size = 4;
	dev.map.used = 0;
	dev.map.slots = calloc(dev.map.size, sizeof(*dev.map.slots));
	if (!dev.map.slots)
		sim_fail("out of memory for the qp_num map");
	/*
	 * Numbers a multiple of 1024 apart share their home slot in any map up
	 * to 1024 slots (the home is the number times an odd constant, masked).
	 */
	fake.qp_stride = rng_one_in(&sim.rng, 2) ? 1024 : 1;
	fake.qp_made = map_add;
	fake.qp_gone = map_remove;
}

void qpmap_check(void)
{
	unsigned live = 0;

	for (unsigned i = 0; i < fake.nqps; i++) {
		const struct fake_qp *r = &fake.qps[i];
		struct qp *found = verbs_device_map_lookup(&dev, r->qp_num);

		if (!r->teardowns) {
			live++;
			if (found != r->qp)
				sim_fail("QP #%u (number %#x) is live but the qp_num map finds %s",
					 i, r->qp_num, found ? "another QP" : "nothing");
		} else if (found) {
			sim_fail("QP #%u (number %#x) was torn down but the qp_num map finds a QP",
				 i, r->qp_num);
		}
		object_unref(found);
	}
	if (dev.map.used != live)
		sim_fail("the qp_num map holds %u QPs, %u are live", dev.map.used, live);
}

void qpmap_stop(void)
{
	fake.qp_made = NULL;
	fake.qp_gone = NULL;
	free(dev.map.slots);
	dev.map.slots = NULL;
	pthread_mutex_destroy(&dev.map_lock);
}
