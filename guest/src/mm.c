/* mm: the memory-management system calls seen from user space.
 *
 * malloc/free/realloc/calloc of many sizes, brk via sbrk (grow, shrink, re-grow reads
 * zeros), anonymous private and shared mmap, partial munmap (hole in the middle, the
 * neighbours stay readable, the hole faults with SEGV_MAPERR), mprotect (write to a
 * read-only page and read of a PROT_NONE page fault with SEGV_ACCERR; a SIGSEGV handler
 * with SA_SIGINFO and siglongjmp recovers), MAP_FIXED over an existing mapping,
 * MAP_FIXED_NOREPLACE (EEXIST on overlap), madvise(MADV_DONTNEED) zeroing private anonymous
 * pages, mremap grow/shrink/move, untouched anonymous memory reading as zeros, a 64 MiB
 * mapping touched sparsely, and a deep stack. Expected failures print errno names.
 * No addresses are printed: only offsets, booleans and checksums. Exit status 0 when
 * every check that prints "ok"/"FAIL" passed, 1 otherwise. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "errname.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static long PG;
static int failures;

static void check(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAIL");
    if (!ok)
        failures++;
}

static uint64_t fnv(const void *p, size_t n)
{
    const unsigned char *c = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void *map(size_t len, int prot, int flags)
{
    return mmap(NULL, len, prot, flags | MAP_ANONYMOUS, -1, 0);
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 13 + (i >> 12));
}

static int check_fill(const unsigned char *p, size_t n, unsigned seed, size_t off)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + (i + off) * 13 + ((i + off) >> 12)))
            return 0;
    return 1;
}

/* ---- fault probing: touch an address, report whether/how it faulted */
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

static void test_malloc(void)
{
    printf("== malloc\n");
    enum { NP = 600 };
    static unsigned char *ptrs[NP];
    static size_t sizes[NP];
    uint64_t sum = 0;
    for (int i = 0; i < NP; i++) {
        /* sizes from 1 byte to ~1 MiB, skewed small; some above the mmap threshold */
        size_t sz = (i % 50 == 49) ? (size_t)(200000 + (next() % 900000)) : (size_t)(1 + next() % (1u << (i % 14)));
        sizes[i] = sz;
        ptrs[i] = malloc(sz);
        if (!ptrs[i]) {
            printf("malloc(%zu) failed\n", sz);
            failures++;
            return;
        }
        fill(ptrs[i], sz, (unsigned)i);
    }
    for (int i = 0; i < NP; i += 2) { /* free every other, then reuse */
        if (!check_fill(ptrs[i], sizes[i], (unsigned)i, 0))
            failures++, printf("corrupted block %d\n", i);
        free(ptrs[i]);
        sizes[i] = 1 + next() % 3000;
        ptrs[i] = malloc(sizes[i]);
        fill(ptrs[i], sizes[i], (unsigned)i + 1000);
    }
    int bad = 0;
    for (int i = 0; i < NP; i++) {
        unsigned seed = (i % 2 == 0) ? (unsigned)i + 1000 : (unsigned)i;
        if (!check_fill(ptrs[i], sizes[i], seed, 0))
            bad++;
        sum += fnv(ptrs[i], sizes[i]) ^ sizes[i];
    }
    check("malloc blocks intact after interleaved free/malloc", bad == 0);
    printf("malloc content checksum %016lx\n", (unsigned long)sum);
    /* realloc keeps the prefix */
    unsigned char *r = malloc(100);
    fill(r, 100, 7);
    int ok = 1;
    for (size_t sz = 200; sz <= (1u << 22); sz *= 3) {
        r = realloc(r, sz);
        ok &= check_fill(r, 100, 7, 0);
    }
    r = realloc(r, 50);
    ok &= check_fill(r, 50, 7, 0);
    check("realloc grow to 4 MiB and shrink keeps contents", ok);
    free(r);
    unsigned char *c = calloc(1000, 1000);
    check("calloc(1000,1000) is zero", c && all_zero(c, 1000000));
    free(c);
    for (int i = 0; i < NP; i++)
        free(ptrs[i]);
    errno = 0;
    void *huge = malloc((size_t)1 << 62);
    printf("malloc(2^62): %s %s\n", huge ? "non-NULL" : "NULL", errname(errno));
}

static void test_brk(void)
{
    printf("== brk\n");
    unsigned char *p0 = sbrk(0);
    unsigned char *p1 = sbrk(3 * PG);
    unsigned char *p2 = sbrk(0);
    check("sbrk(3 pages) returns old break", p1 == p0);
    printf("break moved by %ld bytes\n", (long)(p2 - p0));
    check("new brk memory is zero", all_zero(p1, 3 * PG));
    memset(p1, 0xaa, 3 * PG);
    sbrk(-PG);
    printf("after sbrk(-page): break moved by %ld bytes\n", (long)((unsigned char *)sbrk(0) - p0));
    sbrk(PG);
    check("page given back and re-grown reads zero", all_zero(p1 + 2 * PG, PG));
    check("pages kept across shrink keep data", p1[0] == 0xaa && p1[2 * PG - 1] == 0xaa);
    sbrk(-3 * PG);
    check("break restored", sbrk(0) == p0);
}

static void test_mmap_munmap(void)
{
    printf("== mmap/munmap\n");
    size_t len = 16 * PG;
    unsigned char *p = map(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    check("mmap anonymous private", p != MAP_FAILED);
    check("untouched anonymous memory reads zero", all_zero(p, len));
    fill(p, len, 3);
    printf("mapping checksum %016lx\n", (unsigned long)fnv(p, len));
    int r = munmap(p + 5 * PG, 3 * PG);
    printf("munmap pages 5..7 of 16: %s\n", r ? errname(errno) : "OK");
    check("page 4 intact", check_fill(p + 4 * PG, PG, 3, 4 * PG));
    check("page 8 intact", check_fill(p + 8 * PG, PG, 3, 8 * PG));
    check("pages 0..4 and 8..15 intact",
          check_fill(p, 5 * PG, 3, 0) && check_fill(p + 8 * PG, 8 * PG, 3, 8 * PG));
    printf("read page 5 (hole): %s\n", probe(p + 5 * PG, 0));
    printf("write page 7 last byte (hole): %s\n", probe(p + 8 * PG - 1, 1));
    printf("munmap unaligned address: %s\n", munmap(p + 1, PG) ? errname(errno) : "OK");
    printf("munmap length 0: %s\n", munmap(p, 0) ? errname(errno) : "OK");
    printf("munmap of the hole again: %s\n", munmap(p + 5 * PG, 3 * PG) ? errname(errno) : "OK");
    printf("munmap unaligned length (rounds up): %s\n", munmap(p + 15 * PG, 1) ? errname(errno) : "OK");
    printf("read page 15 after that: %s\n", probe(p + 15 * PG, 0));
    munmap(p, len);
    errno = 0;
    void *q = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap length 0: %s\n", q == MAP_FAILED ? errname(errno) : "mapped");
    q = mmap(NULL, PG, PROT_READ, MAP_ANONYMOUS, -1, 0);
    printf("mmap without PRIVATE/SHARED: %s\n", q == MAP_FAILED ? errname(errno) : "mapped");
    q = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, -1, 0);
    printf("mmap file-backed with fd -1: %s\n", q == MAP_FAILED ? errname(errno) : "mapped");
    q = mmap((void *)(uintptr_t)(PG + 1), PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("mmap MAP_FIXED unaligned: %s\n", q == MAP_FAILED ? errname(errno) : "mapped");

    /* shared anonymous: one process only, but the mapping must behave like memory */
    unsigned char *s = map(4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED);
    check("shared anonymous zero then writable", s != MAP_FAILED && all_zero(s, 4 * PG));
    fill(s, 4 * PG, 9);
    check("shared anonymous keeps data", check_fill(s, 4 * PG, 9, 0));
    munmap(s, 4 * PG);
}

static void test_mprotect(void)
{
    printf("== mprotect\n");
    unsigned char *p = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    fill(p, 4 * PG, 5);
    printf("mprotect page 1 read-only: %s\n", mprotect(p + PG, PG, PROT_READ) ? errname(errno) : "OK");
    printf("read page 1: %s\n", probe(p + PG + 10, 0));
    printf("write page 1: %s\n", probe(p + PG + 10, 1));
    printf("write page 0: %s\n", probe(p + 10, 1));
    printf("write page 2: %s\n", probe(p + 2 * PG, 1));
    printf("mprotect page 3 PROT_NONE: %s\n", mprotect(p + 3 * PG, PG, PROT_NONE) ? errname(errno) : "OK");
    printf("read page 3: %s\n", probe(p + 3 * PG + 100, 0));
    printf("mprotect all read-write: %s\n", mprotect(p, 4 * PG, PROT_READ | PROT_WRITE) ? errname(errno) : "OK");
    /* undo the two probe writes that succeeded (page 0 offset 10, page 2 offset 0) */
    p[10] = (unsigned char)(5 + 10 * 13);
    p[2 * PG] = (unsigned char)(5 + 2 * PG * 13 + 2);
    check("contents preserved through protection changes", check_fill(p, 4 * PG, 5, 0));
    printf("mprotect unaligned: %s\n", mprotect(p + 1, PG, PROT_READ) ? errname(errno) : "OK");
    printf("mprotect bad prot bits: %s\n", mprotect(p, PG, 0x1000) ? errname(errno) : "OK");
    munmap(p, 4 * PG);
    printf("mprotect unmapped range: %s\n", mprotect(p, PG, PROT_READ) ? errname(errno) : "OK");
    /* exec-only and write-implies-read are not checked: RISC-V allows W without R only
     * as a reserved encoding, and Linux maps PROT_WRITE to RW. */
    unsigned char *w = map(PG, PROT_WRITE, MAP_PRIVATE);
    w[0] = 42;
    printf("PROT_WRITE-only page is readable: %s (value %d)\n", probe(w, 0), w[0]);
    munmap(w, PG);
}

static void test_fixed(void)
{
    printf("== MAP_FIXED / MAP_FIXED_NOREPLACE\n");
    unsigned char *p = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    fill(p, 4 * PG, 11);
    unsigned char *q = mmap(p + PG, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    check("MAP_FIXED returns the requested address", q == p + PG);
    check("MAP_FIXED replaced pages read zero", all_zero(p + PG, 2 * PG));
    check("pages around the MAP_FIXED range intact",
          check_fill(p, PG, 11, 0) && check_fill(p + 3 * PG, PG, 11, 3 * PG));
    q = mmap(p + 2 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (q == MAP_FAILED)
        printf("MAP_FIXED_NOREPLACE over existing mapping: %s\n", errname(errno));
    else if (q == p + 2 * PG)
        printf("MAP_FIXED_NOREPLACE over existing mapping: REPLACED\n");
    else {
        printf("MAP_FIXED_NOREPLACE over existing mapping: mapped elsewhere\n");
        munmap(q, PG);
    }
    munmap(p + 2 * PG, PG);
    q = mmap(p + 2 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    check("MAP_FIXED_NOREPLACE into a free hole maps exactly there", q == p + 2 * PG);
    munmap(p, 4 * PG);
}

static void test_madvise(void)
{
    printf("== madvise\n");
    unsigned char *p = map(8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    fill(p, 8 * PG, 13);
    printf("madvise(DONTNEED) pages 2..4: %s\n", madvise(p + 2 * PG, 3 * PG, MADV_DONTNEED) ? errname(errno) : "OK");
    check("DONTNEED pages read back zero", all_zero(p + 2 * PG, 3 * PG));
    check("other pages intact", check_fill(p, 2 * PG, 13, 0) && check_fill(p + 5 * PG, 3 * PG, 13, 5 * PG));
    p[3 * PG] = 1;
    check("DONTNEED page is writable again", p[3 * PG] == 1 && p[3 * PG + 1] == 0);
    printf("madvise unaligned: %s\n", madvise(p + 1, PG, MADV_DONTNEED) ? errname(errno) : "OK");
    printf("madvise bad advice: %s\n", madvise(p, PG, 12345) ? errname(errno) : "OK");
    printf("madvise(WILLNEED): %s\n", madvise(p, PG, MADV_WILLNEED) ? errname(errno) : "OK");
    munmap(p, 8 * PG);
    printf("madvise(DONTNEED) on unmapped range: %s\n", madvise(p, PG, MADV_DONTNEED) ? errname(errno) : "OK");
}

static void test_mremap(void)
{
    printf("== mremap\n");
    unsigned char *p = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    fill(p, 4 * PG, 17);
    unsigned char *q = mremap(p, 4 * PG, 64 * PG, MREMAP_MAYMOVE);
    check("mremap grow 4 -> 64 pages", q != MAP_FAILED);
    check("grown mapping keeps contents", check_fill(q, 4 * PG, 17, 0));
    check("grown part reads zero", all_zero(q + 4 * PG, 60 * PG));
    fill(q + 4 * PG, 60 * PG, 19);
    unsigned char *r = mremap(q, 64 * PG, 2 * PG, 0);
    check("mremap shrink in place", r == q && check_fill(r, 2 * PG, 17, 0));
    printf("page 2 after shrink: %s\n", probe(q + 2 * PG, 0));
    /* move to a chosen address */
    unsigned char *dst = map(8 * PG, PROT_NONE, MAP_PRIVATE);
    unsigned char *m = mremap(r, 2 * PG, 3 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst + 4 * PG);
    check("MREMAP_FIXED moves to the requested address", m == dst + 4 * PG);
    check("moved mapping keeps contents", check_fill(m, 2 * PG, 17, 0) && all_zero(m + 2 * PG, PG));
    printf("old address after move: %s\n", probe(r, 0));
    printf("reserved page before target still PROT_NONE: %s\n", probe(dst + 3 * PG, 0));
    /* growing in place into an occupied range fails without MAYMOVE */
    unsigned char *a = map(3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    a[0] = 1;
    a[PG] = 2;
    errno = 0;
    unsigned char *g = mremap(a, PG, 2 * PG, 0);
    printf("mremap grow into mapped neighbour without MAYMOVE: %s\n", g == MAP_FAILED ? errname(errno) : "OK");
    g = mremap(a, PG, 2 * PG, MREMAP_MAYMOVE);
    check("with MAYMOVE it moves and keeps the first page", g != MAP_FAILED && g != a && g[0] == 1 && g[PG] == 0);
    check("the neighbour page is untouched", a[PG] == 2);
    printf("mremap unaligned old address: %s\n",
           mremap(a + PG + 1, PG, 2 * PG, MREMAP_MAYMOVE) == MAP_FAILED ? errname(errno) : "OK");
    printf("mremap to new size 0: %s\n", mremap(a + PG, PG, 0, MREMAP_MAYMOVE) == MAP_FAILED ? errname(errno) : "OK");
    munmap(a, 3 * PG);
    munmap(g, 2 * PG);
    munmap(dst, 8 * PG);
}

static void test_large(void)
{
    printf("== large mapping\n");
    size_t len = 64u << 20;
    unsigned char *p = map(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    check("mmap 64 MiB", p != MAP_FAILED);
    uint64_t sum = 0;
    for (size_t off = 0; off < len; off += 64 * 1024)
        p[off + (off >> 16) % PG] = (unsigned char)(off >> 16);
    for (size_t off = 0; off < len; off += 64 * 1024)
        sum = sum * 31 + p[off + (off >> 16) % PG];
    int zeros = 1;
    for (size_t off = 32 * 1024; off < len; off += 64 * 1024)
        zeros &= p[off] == 0;
    printf("sparse 64 MiB checksum %016lx, untouched bytes zero: %s\n", (unsigned long)sum, zeros ? "yes" : "no");
    munmap(p, len);
    unsigned char *m = malloc(len);
    for (size_t off = 0; off < len; off += 1 << 20)
        m[off] = 1;
    size_t cnt = 0;
    for (size_t off = 0; off < len; off += 1 << 20)
        cnt += m[off];
    printf("malloc 64 MiB, touched %zu MiB\n", cnt);
    free(m);
}

static uint64_t deep(int n, uint64_t acc)
{
    volatile unsigned char frame[1024];
    frame[0] = (unsigned char)n;
    frame[512] = (unsigned char)(n * 7);
    frame[1023] = (unsigned char)(n >> 8);
    if (n == 0)
        return acc;
    return deep(n - 1, acc * 3 + frame[0] + frame[1023]) + frame[512];
}

int main(void)
{
    PG = sysconf(_SC_PAGESIZE);
    printf("page size %ld\n", PG);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);

    test_malloc();
    test_brk();
    test_mmap_munmap();
    test_mprotect();
    test_fixed();
    test_madvise();
    test_mremap();
    test_large();
    printf("== stack\n");
    printf("2 MiB of stack frames: %016lx\n", (unsigned long)deep(2000, 1));
    printf("mm: %d failures\n", failures);
    return failures ? 1 : 0;
}
