/* SPDX-License-Identifier: MIT */
/*
 * alloc-count: an LD_PRELOAD library that counts a process's heap
 * allocations (malloc, calloc, realloc, aligned allocations), for
 * bench/alloc-count.sh. On SIGUSR2 it appends one line,
 * "allocations N bytes M", to the file named by ALLOC_COUNT_FILE: the totals
 * since the process started, so that two readings around a run of requests
 * give the allocations those requests cost. The line ends with "own K": of
 * the N, those called from the program itself or from libevent (its
 * buffers), not from the libraries it calls for RDMA, names or the like.
 */
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* glibc's own allocator, which the wrappers below pass every call to. */
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t align, size_t size);

static atomic_ulong allocations, bytes, own;

/* The code of the program and of libevent, found once at start. */
#define OWN_RANGES 8
static struct {
	uintptr_t start, end;
} own_code[OWN_RANGES];
static unsigned own_ranges;

static void count_from(size_t size, const void *caller)
{
	uintptr_t pc = (uintptr_t)caller;

	atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&bytes, size, memory_order_relaxed);
	for (unsigned i = 0; i < own_ranges; i++)
		if (pc >= own_code[i].start && pc < own_code[i].end) {
			atomic_fetch_add_explicit(&own, 1, memory_order_relaxed);
			break;
		}
}

#define count(size) count_from((size), __builtin_return_address(0))

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
	memcpy(line + n, " own ", 5);
	n += 5;
	n += decimal(atomic_load(&own), line + n);
	line[n++] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, line, n) < 0) {
		/* Nothing to do: the reading is missing, and the script says so. */
	}
	close(fd);
}

/* Notes the executable segments of the program (the first object) and of libevent. */
static int note_own_code(struct dl_phdr_info *info, size_t size, void *arg)
{
	int *first = arg;
	bool own_object = *first || strstr(info->dlpi_name, "libevent");

	(void)size;
	*first = 0;
	for (int i = 0; own_object && i < info->dlpi_phnum && own_ranges < OWN_RANGES; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			own_code[own_ranges].start = info->dlpi_addr + ph->p_vaddr;
			own_code[own_ranges].end = own_code[own_ranges].start + ph->p_memsz;
			own_ranges++;
		}
	}
	return 0;
}

__attribute__((constructor)) static void start(void)
{
	struct sigaction sa = {.sa_handler = report, .sa_flags = SA_RESTART};
	int first = 1;

	dl_iterate_phdr(note_own_code, &first);

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
}
