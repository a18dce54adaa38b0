/* SPDX-License-Identifier: MIT */
/*
 * dev.show: listing RDMA devices opens each one and queries its ports,
 * which may block, so it runs on a worker and the loop only answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <string.h>

#include "engine/level.h"
#include "engine/workers.h"
#include "log.h"
#include "rdqd.h"
#include "request.h"

static const char *port_state(enum ibv_port_state s)
{
	return ibv_port_state_str(s);
}

static json_t *gid_list(struct ibv_context *ctx, uint8_t port, int count)
{
	json_t *gids = json_array();

	for (int i = 0; i < count && i < 8; i++) {
		union ibv_gid gid;
		char text[INET6_ADDRSTRLEN];
		static const union ibv_gid zero;

		if (ibv_query_gid(ctx, port, i, &gid) || !memcmp(&gid, &zero, sizeof(gid)))
			continue;
		inet_ntop(AF_INET6, gid.raw, text, sizeof(text));
		json_array_append_new(gids, json_string(text));
	}
	return gids;
}

static json_t *describe_device(struct ibv_device *dev)
{
	struct ibv_context *ctx = ibv_open_device(dev);
	struct ibv_device_attr attr;
	json_t *ports = json_array();
	json_t *out;

	out = json_pack("{s:s, s:s}", "name", ibv_get_device_name(dev), "transport",
			dev->transport_type == IBV_TRANSPORT_IB ? "ib/roce" : "iwarp");
	if (!ctx || ibv_query_device(ctx, &attr)) {
		json_object_set_new(out, "error", json_string(strerror(errno)));
		json_object_set_new(out, "ports", ports);
		if (ctx)
			ibv_close_device(ctx);
		return out;
	}
	for (uint8_t p = 1; p <= attr.phys_port_cnt; p++) {
		struct ibv_port_attr pa;

		if (ibv_query_port(ctx, p, &pa))
			continue;
		json_array_append_new(ports,
				      json_pack("{s:i, s:s, s:i, s:o}", "port", p, "state",
						port_state(pa.state), "mtu", 128 << pa.active_mtu,
						"gids", gid_list(ctx, p, pa.gid_tbl_len)));
	}
	json_object_set_new(out, "ports", ports);
	ibv_close_device(ctx);
	return out;
}

static void devices_query(struct work_item *item)
{
	struct ibv_device **list;
	json_t *devices = json_array();
	int n = 0;

	RDQ_PASSIVE_ONLY();
	list = ibv_get_device_list(&n);
	for (int i = 0; list && i < n; i++)
		json_array_append_new(devices, describe_device(list[i]));
	if (list)
		ibv_free_device_list(list);
	item->data = devices;
}

static void devices_answer(struct work_item *item)
{
	request_complete(item->request, 0, json_pack("{s:o}", "devices", item->data), NULL);
}

void device_show(struct rdqd *d, struct request *req)
{
	struct work_item *item;

	RDQ_DISPATCH_ONLY();
	item = work_item_get(&d->workers);
	if (!item) {
		request_fail(req, -EBUSY, "the daemon is out of work items; try again");
		return;
	}
	item->ctx = d;
	item->passive = devices_query;
	item->dispatch = devices_answer;
	request_dispatch(req);
	item->request = req;
	work_item_queue(&d->workers, item);
}

/*
 * After a device removal. librdmacm keeps a removed device open until it
 * re-reads its device list, and the kernel cannot finish the removal (rxe
 * cannot cut a process loose) until every process has closed it. Tearing
 * down our ids and QPs is not enough: rdma_get_devices makes librdmacm
 * re-read the list and close the dead device. (rdma-core 44 gives up the
 * re-read while no device is left at all: then the device is let go only
 * when rdqd exits.)
 */
static void devices_resync(struct work_item *item)
{
	struct ibv_context **list;
	int count = 0;

	RDQ_PASSIVE_ONLY();
	list = rdma_get_devices(&count);
	if (list)
		rdma_free_devices(list);
	item->arg = count;
}

static void devices_resynced(struct work_item *item)
{
	struct rdqd *d = item->ctx;

	d->resync_queued = false;
	log_info("RDMA devices re-read after a removal: %d left", item->arg);
	if (d->resync_again) {
		d->resync_again = false;
		device_resync(d);
	}
}

void device_resync(struct rdqd *d)
{
	struct work_item *item;

	RDQ_DISPATCH_ONLY();
	if (d->resync_queued) {
		/* The one out may have read the list already: read it once more after it. */
		d->resync_again = true;
		return;
	}
	item = work_item_get_uncapped(&d->workers);
	if (!item)
		return;
	item->ctx = d;
	item->passive = devices_resync;
	item->dispatch = devices_resynced;
	d->resync_queued = true;
	work_item_queue(&d->workers, item);
}
