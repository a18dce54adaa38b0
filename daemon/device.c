/* SPDX-License-Identifier: MIT */
/*
 * The RDMA devices: listing them (dev.show), and noticing when they come and
 * go. Opening a device and reading the device lists may block, so those steps
 * run on a worker and the loop only answers and applies what they found.
 *
 * Devices may appear after rdqd started (socket activation at boot, rdma_rxe
 * loaded later, `rdma link add`): the loop listens to the kernel's uevents and,
 * when one is about an RDMA device or the rdma_cm device, a worker reads the
 * device lists again and opens the rdma_cm channel if it is not open yet.
 */
#include "device.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "encode.h"
#include "engine/level.h"
#include "engine/workers.h"
#include "log.h"
#include "protocol/errname.h"
#include "rdqd.h"
#include "request.h"
#include "verbs_device.h"
#include "work.h"

static const char *port_state(enum ibv_port_state s)
{
	return ibv_port_state_str(s);
}

static void read_gids(struct ibv_context *ctx, uint8_t port, int count, struct port_view *out)
{
	static const union ibv_gid zero;

	out->ngids = 0;
	for (int i = 0; i < count && out->ngids < DEVICE_GIDS_MAX; i++) {
		union ibv_gid gid;

		if (ibv_query_gid(ctx, port, i, &gid) || !memcmp(&gid, &zero, sizeof(gid)))
			continue;
		inet_ntop(AF_INET6, gid.raw, out->gids[out->ngids++], sizeof(out->gids[0]));
	}
}

static void describe_device(struct ibv_device *dev, struct device_view *out)
{
	struct ibv_device_attr attr;
	struct ibv_context *ctx;

	RDQ_PASSIVE_ONLY();
	snprintf(out->name, sizeof(out->name), "%s", ibv_get_device_name(dev));
	out->transport = dev->transport_type == IBV_TRANSPORT_IB ? "ib/roce" : "iwarp";
	ctx = ibv_open_device(dev);
	out->err = ctx ? 0 : errno;
	if (ctx)
		out->err = ibv_query_device(ctx, &attr); /* returns the errno value */
	if (out->err) {
		/* Kept in the list: rdqctl names the device and fails with this. */
		if (ctx)
			ibv_close_device(ctx);
		return;
	}
	for (uint8_t p = 1; p <= attr.phys_port_cnt && out->nports < DEVICE_PORTS_MAX; p++) {
		struct port_view *port = &out->ports[out->nports];
		struct ibv_port_attr pa;

		if (ibv_query_port(ctx, p, &pa))
			continue;
		port->port = p;
		port->state = port_state(pa.state);
		port->mtu = 128 << pa.active_mtu;
		read_gids(ctx, p, pa.gid_tbl_len, port);
		out->nports++;
	}
	ibv_close_device(ctx);
}

/*
 * What dev.show's worker found, for the loop to answer with. The loop keeps
 * the last one for the next dev.show (d->device_watch.spare_list), so that
 * asking again costs no allocation while the devices stay as many.
 */
struct device_list {
	unsigned n, cap;
	struct device_view devices[];
};

static void devices_query(struct work_item *item)
{
	struct ibv_device **list;
	struct device_list *found = item->data; /* the spare, or NULL */
	int n = 0;

	RDQ_PASSIVE_ONLY();
	list = ibv_get_device_list(&n);
	if (!list)
		n = 0;
	if (!found || found->cap < (unsigned)n) {
		free(found);
		found = malloc(sizeof(*found) + (size_t)n * sizeof(found->devices[0]));
		if (found)
			found->cap = (unsigned)n;
	}
	if (found) {
		found->n = 0;
		memset(found->devices, 0, found->cap * sizeof(found->devices[0]));
	}
	for (int i = 0; found && i < n; i++)
		describe_device(list[i], &found->devices[found->n++]);
	if (list)
		ibv_free_device_list(list);
	item->data = found;
}

static void devices_answer(struct work_item *item)
{
	struct rdqd *d = item->ctx;
	struct device_list *found = item->data;

	if (found)
		request_complete(work_of(item)->request, 0,
				 RESULT(RESULT_DEVICES, .devices = {found->devices, found->n}),
				 NULL);
	else
		request_fail(work_of(item)->request, -ENOMEM, "out of memory");
	if (!d->device_watch.spare_list)
		d->device_watch.spare_list = found;
	else
		free(found);
	item->data = NULL;
}

void device_show(struct rdqd *d, struct request *req)
{
	struct work_item *item;
	int err;

	RDQ_DISPATCH_ONLY();
	item = work_item_get(&d->workers, &err);
	if (!item) {
		request_fail_no_work_item(req, err);
		return;
	}
	item->ctx = d;
	item->data = d->device_watch.spare_list;
	d->device_watch.spare_list = NULL;
	item->passive = devices_query;
	item->dispatch = devices_answer;
	request_set_in_flight(req);
	work_of(item)->request = req;
	work_item_queue(&d->workers, item);
}

/* ----------------------------------------------------------- noticing devices */

/* How long the loop waits after a uevent before it reads the lists: one read per burst. */
#define SCAN_DELAY_MS 50
/* Uevents read per callback before other callbacks get their turn. */
#define UEVENTS_PER_CALLBACK 32
/* The kernel's uevent multicast group (udev's own group is 2). */
#define UEVENT_GROUP_KERNEL 1

/* What a scan found: made on a worker, applied on the loop, then freed. */
struct device_scan {
	struct rdma_event_channel *channel; /* opened by this scan, or NULL */
	struct verbs_device *retired;	    /* shared verbs resources of devices now gone */
	/* The devices libibverbs can use, by name. */
	char names[RDQD_DEVICES_MAX][RDQD_DEVICE_NAME_MAX];
	unsigned n;
	char error[sizeof(((struct rdqd *)0)->rdma_error)]; /* why RDMA is unusable, or "" */
};

/* Appends word to the space-separated list in buf (used bytes so far); returns the new length. */
static size_t append_word(char *buf, size_t size, size_t used, const char *word)
{
	int n;

	if (used >= size)
		return used;
	n = snprintf(buf + used, size - used, "%s%s", used ? " " : "", word);
	return n < 0 ? used : used + (size_t)n;
}

/* Appends the kernel's RDMA device names (/sys/class/infiniband) to buf. */
static int kernel_device_names(char *buf, size_t size)
{
	DIR *dir = opendir("/sys/class/infiniband");
	struct dirent *de;
	size_t used = 0;
	int n = 0;

	buf[0] = '\0';
	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		used = append_word(buf, size, used, de->d_name);
	}
	closedir(dir);
	return n;
}

/*
 * Makes the shared verbs resources of each device librdmacm has open (and
 * libibverbs still lists) ahead of the first QP on it: registering the
 * buffer pool takes long, and the first connection should not wait for it.
 */
static void prepare_shared_resources(struct rdqd *d, struct ibv_device **list, int n)
{
	struct ibv_context **contexts = rdma_get_devices(NULL);

	RDQ_PASSIVE_ONLY();
	for (int i = 0; contexts && contexts[i]; i++) {
		bool listed = false;
		struct verbs_device *v;

		for (int j = 0; j < n && !listed; j++)
			listed = list[j] == contexts[i]->device;
		v = listed ? verbs_device_get(d, contexts[i]) : NULL;
		if (v)
			verbs_device_put(v); /* the device list keeps its own reference */
	}
	if (contexts)
		rdma_free_devices(contexts);
}

/*
 * Reads which devices are usable now. The first time there is one, opens
 * the rdma_cm channel: librdmacm needs a device to initialise, so it is not
 * opened before. With the channel open, rdma_get_devices makes librdmacm
 * re-read its own list, which also lets a removed device go.
 */
static void scan_devices(struct rdqd *d, struct device_scan *s, bool channel_open)
{
	struct ibv_device **list;
	char kernel_names[96];
	bool busy = false;
	int n = 0;

	RDQ_PASSIVE_ONLY();
	list = ibv_get_device_list(&n);
	if (!list)
		n = 0;
	s->n = 0;
	for (int i = 0; i < n && s->n < RDQD_DEVICES_MAX; i++)
		snprintf(s->names[s->n++], RDQD_DEVICE_NAME_MAX, "%s",
			 ibv_get_device_name(list[i]));
	/* The shared resources of a device that left go first; librdmacm closes it after. */
	s->retired = verbs_devices_retire_gone(d, list, n, &busy);
	if (n == 0) {
		if (kernel_device_names(kernel_names, sizeof(kernel_names)) > 0)
			snprintf(s->error, sizeof(s->error),
				 "the kernel has RDMA device(s) (%s) but libibverbs has no "
				 "userspace driver for them; install ibverbs-providers",
				 kernel_names);
		else
			snprintf(s->error, sizeof(s->error), "no RDMA device found");
	} else if (channel_open) {
		/* rdma_get_devices lets librdmacm close removed devices: not while theirs live. */
		if (!busy)
			prepare_shared_resources(d, list, n);
	} else {
		s->channel = rdma_create_event_channel();
		if (s->channel) {
			prepare_shared_resources(d, list, n);
		} else {
			int err = errno;

			if (err == ENOENT || err == ENODEV)
				snprintf(s->error, sizeof(s->error),
					 "no rdma_cm device (/dev/infiniband/rdma_cm); load the "
					 "rdma_ucm module");
			else
				snprintf(s->error, sizeof(s->error),
					 "cannot open /dev/infiniband/rdma_cm: %s (%s)",
					 strerror(err), rdq_errno_name(err));
		}
	}
	if (list)
		ibv_free_device_list(list);
}

static void log_devices(struct rdqd *d)
{
	char line[256] = "";
	size_t used = 0;

	for (unsigned i = 0; i < d->ndevices; i++)
		used = append_word(line, sizeof(line), used, d->device_names[i]);
	log_info("RDMA devices now: %s", used ? line : "none");
}

/* Loop side: takes what a scan found. */
static void scan_apply(struct rdqd *d, struct device_scan *s)
{
	bool changed = d->ndevices != s->n ||
		       memcmp(d->device_names, s->names, s->n * sizeof(s->names[0])) != 0;

	if (s->channel) {
		if (d->device_watch.channel_opened(d, s->channel) < 0) {
			snprintf(s->error, sizeof(s->error), "cannot watch the rdma_cm channel");
			rdma_destroy_event_channel(s->channel);
		} else {
			log_info("rdma_cm channel open");
			changed = true;
		}
	}
	memcpy(d->device_names, s->names, s->n * sizeof(s->names[0]));
	d->ndevices = s->n;
	if (strcmp(d->rdma_error, s->error)) {
		snprintf(d->rdma_error, sizeof(d->rdma_error), "%s", s->error);
		if (d->rdma_error[0])
			log_warn("no RDMA: %s; RDMA requests fail with ENODEV", d->rdma_error);
	}
	if (changed) {
		log_devices(d);
		if (d->device_watch.changed)
			d->device_watch.changed(d);
	}
}

static void devices_rescan(struct work_item *item)
{
	RDQ_PASSIVE_ONLY();
	scan_devices(item->ctx, item->data, item->arg);
}

static void shared_resources_destroy(struct work_item *item)
{
	RDQ_PASSIVE_ONLY();
	verbs_device_destroy(item->data);
	item->data = NULL;
}

/* Now librdmacm may let the device go: read the lists again. */
static void shared_resources_destroyed(struct work_item *item)
{
	device_resync(item->ctx);
}

/*
 * Devices a scan found gone: the loop stops reading their completions and
 * drops the list's reference. Where no QP is left, a worker destroys their
 * resources; otherwise the last QP's teardown does.
 */
static void retire(struct rdqd *d, struct verbs_device *retired)
{
	while (retired) {
		struct verbs_device *v = retired;
		struct work_item *item;

		retired = v->retired_next;
		verbs_device_unwatch(v);
		if (!verbs_device_release(v))
			continue;
		item = work_item_get_uncapped(&d->workers);
		if (!item) {
			log_warn("cannot free the resources of a removed device: out of memory");
			continue;
		}
		item->ctx = d;
		item->data = v;
		item->passive = shared_resources_destroy;
		item->dispatch = shared_resources_destroyed;
		work_item_queue(&d->workers, item);
	}
}

static void devices_rescanned(struct work_item *item)
{
	struct rdqd *d = item->ctx;
	struct device_scan *s = item->data;

	d->device_watch.scan_queued = false;
	retire(d, s->retired);
	scan_apply(d, s);
	free(s);
	if (d->device_watch.scan_again) {
		d->device_watch.scan_again = false;
		device_resync(d);
	}
}

void device_resync(struct rdqd *d)
{
	struct work_item *item;
	struct device_scan *s;

	RDQ_DISPATCH_ONLY();
	if (d->shutting_down)
		return;
	if (d->device_watch.scan_queued) {
		/* The one out may have read the lists already: read them once more after it. */
		d->device_watch.scan_again = true;
		return;
	}
	s = calloc(1, sizeof(*s));
	item = s ? work_item_get_uncapped(&d->workers) : NULL;
	if (!item) {
		free(s);
		log_warn("cannot re-read the RDMA devices: out of memory");
		return;
	}
	item->ctx = d;
	item->data = s;
	item->arg = d->cm != NULL;
	item->passive = devices_rescan;
	item->dispatch = devices_rescanned;
	d->device_watch.scan_queued = true;
	work_item_queue(&d->workers, item);
}

static void on_scan_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rdqd *d = arg;
	uint64_t start = now_us();

	device_resync(d);
	loop_histogram_record(d, start);
}

/* Whether a uevent is about an RDMA device, its verbs device, or the rdma_cm device. */
static bool uevent_is_rdma(const char *msg, size_t len)
{
	static const char *const keys[] = {"SUBSYSTEM=infiniband", "DEVNAME=infiniband/",
					   "DEVNAME=/dev/infiniband/"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (memmem(msg, len, keys[i], strlen(keys[i])))
			return true;
	return false;
}

static void on_uevent(evutil_socket_t fd, short what, void *arg)
{
	struct rdqd *d = arg;
	uint64_t start = now_us();
	bool rdma = false;
	char msg[4096];
	int i;

	for (i = 0; i < UEVENTS_PER_CALLBACK; i++) {
		ssize_t n = recv(fd, msg, sizeof(msg), MSG_DONTWAIT);

		if (n < 0) {
			/* ENOBUFS: the kernel dropped uevents; one of them may have been ours. */
			if (errno == ENOBUFS)
				rdma = true;
			else if (errno != EAGAIN && errno != EINTR)
				log_warn("uevent socket: %s", strerror(errno));
			break;
		}
		if (uevent_is_rdma(msg, (size_t)n))
			rdma = true;
	}
	if (i == UEVENTS_PER_CALLBACK)
		event_active(d->device_watch.uevent_event, EV_READ, 0);
	if (rdma && !evtimer_pending(d->device_watch.scan_timer, NULL)) {
		struct timeval delay = {.tv_usec = SCAN_DELAY_MS * 1000};

		evtimer_add(d->device_watch.scan_timer, &delay);
	}
	loop_histogram_record(d, start);
}

/* Subscribes to the kernel's uevents; without them devices are read only at start. */
static int uevents_open(struct rdqd *d)
{
	struct sockaddr_nl addr = {.nl_family = AF_NETLINK, .nl_groups = UEVENT_GROUP_KERNEL};
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			NETLINK_KOBJECT_UEVENT);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	d->device_watch.uevent_fd = fd;
	d->device_watch.uevent_event = event_new(d->base, fd, EV_READ | EV_PERSIST, on_uevent, d);
	if (!d->device_watch.uevent_event)
		return -ENOMEM;
	event_add(d->device_watch.uevent_event, NULL);
	return 0;
}

int device_watch_start(struct rdqd *d, device_channel_fn *channel_opened)
{
	struct device_scan s = {0};
	int ret;

	RDQ_PASSIVE_ONLY();
	d->device_watch.channel_opened = channel_opened;
	pthread_mutex_init(&d->verbs_lock, NULL);
	d->device_watch.scan_timer = evtimer_new(d->base, on_scan_timer, d);
	if (!d->device_watch.scan_timer)
		return -ENOMEM;
	ret = uevents_open(d);
	if (ret < 0)
		log_warn("cannot watch for RDMA devices (uevents: %s); devices that appear "
			 "later are used only after a restart",
			 strerror(-ret));
	/* Start-up may block: the first read runs here, not on a worker. */
	scan_devices(d, &s, false);
	scan_apply(d, &s);
	return 0;
}

void device_watch_subscribe(struct rdqd *d, devices_changed_fn *changed)
{
	d->device_watch.changed = changed;
}

void device_watch_stop(struct rdqd *d)
{
	RDQ_PASSIVE_ONLY();
	if (d->device_watch.uevent_event)
		event_free(d->device_watch.uevent_event);
	d->device_watch.uevent_event = NULL;
	if (d->device_watch.uevent_fd >= 0)
		close(d->device_watch.uevent_fd);
	d->device_watch.uevent_fd = -1;
	if (d->device_watch.scan_timer)
		event_free(d->device_watch.scan_timer);
	d->device_watch.scan_timer = NULL;
	d->ndevices = 0;
	free(d->device_watch.spare_list);
	d->device_watch.spare_list = NULL;
	verbs_devices_close(d);
	pthread_mutex_destroy(&d->verbs_lock);
}
