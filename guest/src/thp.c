/* thp: transparent huge pages seen from the data, on 2 MiB-aligned MADV_HUGEPAGE memory.
 *
 * Under dirtybit (THP policy "madvise") these regions get 2 MiB folios mapped by one
 * level-1 page-table entry, the huge zero page on reads, and every operation below that
 * covers part of a huge mapping splits it; qemu-user ignores MADV_HUGEPAGE. The program
 * therefore prints only facts about the data, which must be the same either way:
 *
 *  - a read of untouched huge memory sees zeros (the huge zero page), a write then sees
 *    its data and zeros around it; every page of 4 MiB holds what was written;
 *  - fork: the child sees the pre-fork data, its writes are invisible to the parent and
 *    the parent's (made while the child waits) invisible to the child; a child that
 *    touches nothing and exits leaves the parent's data alone (the parent's next write
 *    reuses its huge page); the huge zero page stays zero in the parent when a child
 *    writes its copy;
 *  - partial munmap: the unmapped page faults (SEGV_MAPERR), its neighbours keep data;
 *  - partial mprotect: a write to the read-only page faults (SEGV_ACCERR), reads work,
 *    neighbours stay writable; back to read-write it is writable again;
 *  - MADV_DONTNEED on part of a huge page and on a whole one: zeros there, data elsewhere;
 *  - mremap of a whole 2 MiB region to a 2 MiB-aligned and to a misaligned address, and
 *    growing it: the data moves with it, the old range faults.
 *
 * No addresses are printed. Exit status 0 when all checks passed, else 1.
 *
 * With arguments "fork N": the fork case alone, N times (tests/thp.rs, on several harts:
 * child and parent copy-on-write the same forked THP at once, while partially mapped
 * folios are split). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

#define HUGE (2UL << 20)

static long PG;
static int failures;

static void check(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAIL");
    if (!ok)
        failures++;
}

/* ---- fault probing */
static sigjmp_buf jb;
static volatile void *fault_addr;
static volatile int fault_code;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    fault_addr = si->si_addr;
    fault_code = si->si_code;
    siglongjmp(jb, 1);
}

static const char *probe(volatile unsigned char *p, int write)
{
    static char buf[64];
    fault_addr = NULL;
    fault_code = 0;
    if (sigsetjmp(jb, 1) == 0) {
        if (write)
            *p = 0x77;
        else
            (void)*p;
        return "no fault";
    }
    snprintf(buf, sizeof buf, "SIGSEGV %s, si_addr %s",
             fault_code == SEGV_MAPERR ? "SEGV_MAPERR" : fault_code == SEGV_ACCERR ? "SEGV_ACCERR" : "other",
             fault_addr == (void *)p ? "exact" : "WRONG");
    return buf;
}

/* `len` bytes of MADV_HUGEPAGE anonymous memory at a 2 MiB-aligned address (the
 * unaligned head and tail of a larger mapping are unmapped again). */
static unsigned char *huge_region(size_t len)
{
    size_t span = len + HUGE;
    unsigned char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        printf("mmap: %s\n", errname(errno));
        exit(1);
    }
    uintptr_t a = ((uintptr_t)m + HUGE - 1) & ~(HUGE - 1);
    if (a > (uintptr_t)m)
        munmap(m, a - (uintptr_t)m);
    if ((uintptr_t)m + span > a + len)
        munmap((void *)(a + len), (uintptr_t)m + span - (a + len));
    int r = madvise((void *)a, len, MADV_HUGEPAGE);
    if (r != 0)
        printf("madvise(MADV_HUGEPAGE): %s\n", errname(errno));
    return (unsigned char *)a;
}

/* Fills page i of [p, p+len) with the 64-bit words seed + i*1000 + word index. */
static void fill(unsigned char *p, size_t len, uint64_t seed)
{
    for (size_t i = 0; i < len / PG; i++) {
        uint64_t *w = (uint64_t *)(p + i * PG);
        for (size_t j = 0; j < (size_t)PG / 8; j += 61)
            w[j] = seed + i * 1000 + j;
    }
}

/* Whether page i of [p, p+len) holds fill()'s pattern (skipping pages in [skip_lo,
 * skip_hi) by index). */
static int holds(const unsigned char *p, size_t len, uint64_t seed, size_t skip_lo, size_t skip_hi)
{
    for (size_t i = 0; i < len / PG; i++) {
        if (i >= skip_lo && i < skip_hi)
            continue;
        const uint64_t *w = (const uint64_t *)(p + i * PG);
        for (size_t j = 0; j < (size_t)PG / 8; j += 61)
            if (w[j] != seed + i * 1000 + j)
                return 0;
    }
    return 1;
}

static int all_zero(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i += 8)
        if (*(const uint64_t *)(p + i) != 0)
            return 0;
    return 1;
}

static pid_t xfork(void)
{
    fflush(stdout);
    pid_t p = fork();
    if (p < 0) {
        printf("fork: %s\n", errname(errno));
        exit(1);
    }
    return p;
}

static int wait_ok(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void test_zero_and_fill(void)
{
    printf("== huge zero page and fill\n");
    unsigned char *p = huge_region(4 * HUGE);
    check("untouched 4 MiB reads as zeros", all_zero(p, 4 * HUGE));
    p[HUGE + 12345] = 0xab;
    check("a write after a read sees its byte", p[HUGE + 12345] == 0xab);
    p[HUGE + 12345] = 0;
    check("and zeros around it", all_zero(p + HUGE, HUGE));
    fill(p, 4 * HUGE, 7);
    check("every page of 4 MiB holds its pattern", holds(p, 4 * HUGE, 7, 0, 0));
    munmap(p, 4 * HUGE);
}

static void test_fork(void)
{
    printf("== fork\n");
    unsigned char *p = huge_region(2 * HUGE);
    fill(p, 2 * HUGE, 100);
    int to_child[2];
    if (pipe(to_child) != 0) {
        printf("pipe: %s\n", errname(errno));
        exit(1);
    }
    pid_t c = xfork();
    if (c == 0) {
        char go;
        int ok = holds(p, 2 * HUGE, 100, 0, 0);
        fill(p, HUGE, 200); /* the child's own first huge page */
        p[HUGE + 3 * PG] = 0xcc;
        if (read(to_child[0], &go, 1) != 1)
            _exit(2);
        /* the parent has written its pages by now: still the pre-fork data here */
        ok = ok && holds(p, HUGE, 200, 0, 0) && holds(p + HUGE, HUGE, 100 + 512 * 1000, 3, 4);
        ok = ok && p[HUGE + 3 * PG] == 0xcc;
        printf("child: pre-fork data, own writes, parent's writes invisible: %s\n", ok ? "ok" : "FAIL");
        fflush(stdout);
        _exit(ok ? 0 : 1);
    }
    fill(p + HUGE, HUGE, 300);
    if (write(to_child[1], "g", 1) != 1)
        printf("write: %s\n", errname(errno));
    check("child exited ok", wait_ok(c));
    check("parent: child's writes invisible", holds(p, HUGE, 100, 0, 0));
    check("parent: own writes kept", holds(p + HUGE, HUGE, 300, 0, 0));
    close(to_child[0]);
    close(to_child[1]);

    /* A child that touches nothing: afterwards the parent writes everything. */
    c = xfork();
    if (c == 0)
        _exit(0);
    check("idle child exited ok", wait_ok(c));
    fill(p, 2 * HUGE, 400);
    check("parent writes after an idle child", holds(p, 2 * HUGE, 400, 0, 0));
    munmap(p, 2 * HUGE);

    /* The huge zero page shared with a child. */
    unsigned char *z = huge_region(HUGE);
    check("zero region reads zeros", all_zero(z, HUGE));
    c = xfork();
    if (c == 0) {
        z[5 * PG] = 1;
        _exit(z[5 * PG] == 1 && z[6 * PG] == 0 ? 0 : 1);
    }
    check("child wrote its copy of the zero region", wait_ok(c));
    check("parent's zero region still zeros", all_zero(z, HUGE));
    munmap(z, HUGE);
}

static void test_munmap_mprotect(void)
{
    printf("== partial munmap and mprotect\n");
    unsigned char *p = huge_region(2 * HUGE);
    fill(p, 2 * HUGE, 500);
    int r = munmap(p + 100 * PG, PG);
    printf("munmap one page inside a huge page: %d\n", r);
    printf("read of the hole: %s\n", probe(p + 100 * PG + 8, 0));
    check("neighbours keep their data", holds(p, 2 * HUGE, 500, 100, 101));
    r = mprotect(p + HUGE + 7 * PG, PG, PROT_READ);
    printf("mprotect one page read-only: %d\n", r);
    printf("write to it: %s\n", probe(p + HUGE + 7 * PG + 16, 1));
    printf("read of it: %s\n", probe(p + HUGE + 7 * PG + 16, 0));
    printf("write to its neighbour: %s\n", probe(p + HUGE + 8 * PG, 1));
    p[HUGE + 8 * PG] = 0;
    check("its data is intact", holds(p + HUGE + 7 * PG, PG, 500 + 519 * 1000, 0, 0));
    r = mprotect(p + HUGE, HUGE, PROT_READ | PROT_WRITE);
    printf("mprotect the huge page read-write again: %d\n", r);
    printf("write to the formerly read-only page: %s\n", probe(p + HUGE + 7 * PG + 16, 1));
    r = mprotect(p + HUGE, HUGE, PROT_READ);
    printf("mprotect the whole huge page read-only: %d\n", r);
    printf("write anywhere in it: %s\n", probe(p + HUGE + 300 * PG, 1));
    mprotect(p + HUGE, HUGE, PROT_READ | PROT_WRITE);
    munmap(p, 2 * HUGE);
}

static void test_dontneed(void)
{
    printf("== MADV_DONTNEED\n");
    unsigned char *p = huge_region(2 * HUGE);
    fill(p, 2 * HUGE, 600);
    int r = madvise(p + 10 * PG, 4 * PG, MADV_DONTNEED);
    printf("madvise(DONTNEED) of 4 pages: %d\n", r);
    check("those read zeros", all_zero(p + 10 * PG, 4 * PG));
    check("the rest keeps its data", holds(p, 2 * HUGE, 600, 10, 14));
    r = madvise(p + HUGE, HUGE, MADV_DONTNEED);
    printf("madvise(DONTNEED) of a whole huge page: %d\n", r);
    check("it reads zeros", all_zero(p + HUGE, HUGE));
    fill(p + HUGE, HUGE, 700);
    check("and can be refilled", holds(p + HUGE, HUGE, 700, 0, 0));
    munmap(p, 2 * HUGE);
}

static void test_mremap(void)
{
    printf("== mremap\n");
    unsigned char *p = huge_region(HUGE);
    fill(p, HUGE, 800);
    unsigned char *target = huge_region(4 * HUGE); /* an aligned place to move to */
    unsigned char *q = mremap(p, HUGE, HUGE, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    check("moved to an aligned address", q == target);
    check("the data moved with it", holds(q, HUGE, 800, 0, 0));
    printf("old address: %s\n", probe(p + 64, 0));
    unsigned char *q2 = mremap(q, HUGE, HUGE, MREMAP_MAYMOVE | MREMAP_FIXED, target + 2 * HUGE + PG);
    check("moved to a misaligned address", q2 == target + 2 * HUGE + PG);
    check("the data moved again", holds(q2, HUGE, 800, 0, 0));
    unsigned char *q3 = mremap(q2, HUGE, 2 * HUGE, MREMAP_MAYMOVE);
    check("grown", q3 != MAP_FAILED && holds(q3, HUGE, 800, 0, 0) && all_zero(q3 + HUGE, HUGE));
    if (q3 != MAP_FAILED)
        munmap(q3, 2 * HUGE);
    munmap(target, 4 * HUGE);
}

int main(int argc, char **argv)
{
    PG = sysconf(_SC_PAGESIZE);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);

    if (argc > 2 && strcmp(argv[1], "fork") == 0) {
        for (int i = atoi(argv[2]); i > 0; i--)
            test_fork();
        printf("%s\n", failures ? "FAILED" : "all ok");
        return failures ? 1 : 0;
    }
    test_zero_and_fill();
    test_fork();
    test_munmap_mprotect();
    test_dontneed();
    test_mremap();
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
