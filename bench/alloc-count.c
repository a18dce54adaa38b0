/* SPDX-License-Identifier: MIT */
/*
 * alloc-count: an LD_PRELOAD library that counts a process's heap
 * allocations (malloc, calloc, realloc, aligned allocations), for
 * bench/alloc-count.sh. On SIGUSR2 it appends one line,
 * "allocations N bytes M", to the file named by ALLOC_COUNT_FILE: the totals
 * since the process started, so that two readings around a run of requests
 * give the allocations those requests cost. The line goes on with "own K": of
 * the N, those called from the program itself or from libevent (its
 * buffers), not from the libraries it calls for RDMA, names or the like.
 *
 * It also counts the large copies: calls of memcpy, memmove, mempcpy (and
 * their _FORTIFY_SOURCE forms, __memcpy_chk and the like) of at least
 * COPY_COUNT_MIN bytes (unset: none are counted), made from any library of
 * the process, since libevent and jansson copy on their callers' behalf. Set
 * to a message's size, it tells how often that message was copied
 * (tests/rxe/data.sh). They end the line: "copies C". A process that exits
 * writes the line once more, so that a short-lived client needs no signal.
 * Copies a compiler made inline (a small constant size) are not seen; a
 * message's size is not constant, so its copies are calls.
 */
#include <dlfcn.h>
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

static atomic_ulong allocations, bytes, own, copies;

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

/* ------------------------------------------------ copies */

typedef void *copy_fn(void *dst, const void *src, size_t n);

static size_t copy_min = SIZE_MAX; /* COPY_COUNT_MIN, read at start */

/*
 * glibc's function name, found on first use: a copy may come before this
 * library's constructor ran (another library's constructor). dlsym copies
 * nothing through these wrappers, so the lookup cannot recurse.
 */
static copy_fn *real(_Atomic(copy_fn *) *slot, const char *name)
{
	copy_fn *fn = atomic_load_explicit(slot, memory_order_relaxed);

	if (!fn) {
		/* POSIX's way to take a function from dlsym (ISO C has no such conversion). */
		*(void **)&fn = dlsym(RTLD_NEXT, name);
		atomic_store_explicit(slot, fn, memory_order_relaxed);
	}
	return fn;
}

static void count_copy(size_t n)
{
	if (n >= copy_min)
		atomic_fetch_add_explicit(&copies, 1, memory_order_relaxed);
}

static _Atomic(copy_fn *) real_memcpy, real_memmove, real_mempcpy;

void *memcpy(void *dst, const void *src, size_t n)
{
	count_copy(n);
	return real(&real_memcpy, "memcpy")(dst, src, n);
}

void *memmove(void *dst, const void *src, size_t n)
{
	count_copy(n);
	return real(&real_memmove, "memmove")(dst, src, n);
}

void *mempcpy(void *dst, const void *src, size_t n)
{
	count_copy(n);
	return real(&real_mempcpy, "mempcpy")(dst, src, n);
}

/* The checked forms: the destination's size is known to the compiler and checked first. */
void *__memcpy_chk(void *dst, const void *src, size_t n, size_t dst_size);
void *__memmove_chk(void *dst, const void *src, size_t n, size_t dst_size);
void *__mempcpy_chk(void *dst, const void *src, size_t n, size_t dst_size);

void *__memcpy_chk(void *dst, const void *src, size_t n, size_t dst_size)
{
	if (n > dst_size)
		abort();
	return memcpy(dst, src, n);
}

void *__memmove_chk(void *dst, const void *src, size_t n, size_t dst_size)
{
	if (n > dst_size)
		abort();
	return memmove(dst, src, n);
}

void *__mempcpy_chk(void *dst, const void *src, size_t n, size_t dst_size)
{
	if (n > dst_size)
		abort();
	return mempcpy(dst, src, n);
}

/* ------------------------------------------------ readings */

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
	char line[128];
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
	memcpy(line + n, " copies ", 8);
	n += 8;
	n += decimal(atomic_load(&copies), line + n);
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
	const char *min = getenv("COPY_COUNT_MIN");
	int first = 1;

	dl_iterate_phdr(note_own_code, &first);
	if (min && *min)
		copy_min = strtoull(min, NULL, 10);

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
}

/* The totals once more at exit, for a process that is gone before anyone could signal it. */
__attribute__((destructor)) static void stop(void)
{
	report(0);
}
