/* SPDX-License-Identifier: MIT */
/*
 * alloc-count: an LD_PRELOAD library that counts a process's heap
 * allocations (malloc, calloc, realloc, aligned allocations), for
 * bench/alloc-count.sh. On SIGUSR2 it appends one line,
 * "allocations N bytes M", to the file named by ALLOC_COUNT_FILE: the totals
 * since the process started, so that two readings around a run of requests
 * give the allocations those requests cost.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* glibc's own allocator, which the wrappers below pass every call to. */
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t align, size_t size);

static atomic_ulong allocations, bytes;

static void count(size_t size)
{
	atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&bytes, size, memory_order_relaxed);
}

void *malloc(size_t size)
{
	count(size);
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	count(n * size);
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	count(size);
	return __libc_realloc(p, size);
}

void *aligned_alloc(size_t align, size_t size)
{
	count(size);
	return __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	count(size);
	p = __libc_memalign(align, size);
	if (!p)
		return 12; /* ENOMEM */
	*out = p;
	return 0;
}

/* Writes v in decimal to buf; returns its length. Async-signal-safe. */
static size_t decimal(unsigned long v, char *buf)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

static void report(int sig)
{
	const char *path = getenv("ALLOC_COUNT_FILE");
	char line[96];
	size_t n = 0;
	int fd;

	(void)sig;
	if (!path)
		return;
	memcpy(line, "allocations ", 12);
	n = 12 + decimal(atomic_load(&allocations), line + 12);
	memcpy(line + n, " bytes ", 7);
	n += 7;
	n += decimal(atomic_load(&bytes), line + n);
	line[n++] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, line, n) < 0) {
		/* Nothing to do: the reading is missing, and the script says so. */
	}
	close(fd);
}

__attribute__((constructor)) static void start(void)
{
	struct sigaction sa = {.sa_handler = report, .sa_flags = SA_RESTART};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
}
