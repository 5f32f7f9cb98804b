/* gupconc [ROUNDS]: concurrent pins. Several threads issue /sys/kernel/debug/gup_test
 * commands (Linux mm/gup_test.c) at once over one shared buffer and their own buffers while
 * another thread faults and zaps pages of the same address space; afterwards every
 * reference GUP took must be gone.
 *
 * Set-up: one 4 MiB private anonymous buffer, 2 MiB-aligned, shared by the threads: the
 * first half of 4 KiB pages, the second half MADV_HUGEPAGE (one 2 MiB folio, checked from
 * the PFNs in /proc/self/pagemap), written with a pattern. Then T = 4 pinning threads and one
 * writer start together at a barrier:
 *
 * - Each pinning thread opens /sys/kernel/debug/gup_test itself, maps and writes its own
 *   512 KiB buffer, and for ROUNDS rounds (default 3) issues GUP_FAST_BENCHMARK,
 *   PIN_FAST_BENCHMARK, PIN_LONGTERM_BENCHMARK, GUP_BASIC_TEST and PIN_BASIC_TEST over
 *   the shared buffer and over its own: FOLL_WRITE or read-only depending on the thread
 *   and the command (so R/O and R/W GUPs of the same pages run at once), nr_pages_per_call
 *   1, 3, 64 or 512 depending on thread, command and round. Every ioctl must return 0 and
 *   give back the size it was asked (gup_test cuts `size` to what GUP walked); its own
 *   buffer must keep the data it wrote.
 * - The writer, until the pinning threads are done, stores the pattern's own words again
 *   into each half page of the shared buffer (TLB and A/D traffic; the data does not
 *   change, so neither does what the benchmarks see) and writes, checks and
 *   madvise(MADV_DONTNEED)s its own 128 KiB (faults, zaps and TLB shootdowns in the address
 *   space the GUPs walk); after a zap its region must read as zeros.
 *
 * After the threads are joined the main thread checks that no reference survived:
 * 1. the shared buffer holds its pattern, and /proc/self/pagemap shows every page present
 *    and mapped exactly once (PM_MMAP_EXCLUSIVE, bit 56);
 * 2. fork(): with the child alive every page is shared with it (not exclusive). The mm has
 *    MMF_HAS_PINNED, so a page whose pin count had not returned to zero would have been
 *    copied for the child at fork (folio_needs_cow_for_dma()) and would still be exclusive
 *    in the parent. The child then writes its whole copy and exits; the parent's data must
 *    be unchanged and its pages exclusive again;
 * 3. the parent writes every page: the write fault must reuse each page in place (same
 *    PFN): wp_can_reuse_anon_folio() (do_huge_pmd_wp_page() for the 2 MiB folio) reuses
 *    an anonymous folio only at refcount 1, so a FOLL_GET reference or a pin left behind
 *    would force a copy (on the older --gup generations the reuse rule is the mapcount
 *    and the line is the same).
 *
 * stdout is the same for every interleaving, hart count and scheduler: the counts it prints
 * are what the program asked for, confirmed by counting what succeeded. No addresses, PFNs,
 * times or per-thread progress are printed. Exit status 0 when every check holds, 1
 * otherwise (the failing check is printed). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

#include "gup_test_abi.h"

/* ---- pagemap (Documentation/admin-guide/mm/pagemap.rst) ---- */
#define PM_PFRAME_MASK ((1ULL << 55) - 1)
#define PM_MMAP_EXCLUSIVE (1ULL << 56)
#define PM_PRESENT (1ULL << 63)

#define KB (1UL << 10)
#define MB (1UL << 20)
#define PMD_SIZE (2 * MB)
#define SHARED_SIZE (4 * MB)
#define PRIVATE_SIZE (512 * KB)
#define ZAP_SIZE (128 * KB)
#define NTHREADS 4
#define DEFAULT_ROUNDS 3

enum { CMD_GUP_FAST, CMD_PIN_FAST, CMD_PIN_LONGTERM, CMD_GUP_BASIC, CMD_PIN_BASIC, NCMDS };

static const struct {
    const char *name;
    unsigned long cmd;
} cmds[NCMDS] = {
    [CMD_GUP_FAST] = { "GUP_FAST_BENCHMARK", GUP_FAST_BENCHMARK },
    [CMD_PIN_FAST] = { "PIN_FAST_BENCHMARK", PIN_FAST_BENCHMARK },
    [CMD_PIN_LONGTERM] = { "PIN_LONGTERM_BENCHMARK", PIN_LONGTERM_BENCHMARK },
    [CMD_GUP_BASIC] = { "GUP_BASIC_TEST", GUP_BASIC_TEST },
    [CMD_PIN_BASIC] = { "PIN_BASIC_TEST", PIN_BASIC_TEST },
};

static const uint32_t per_call_choices[] = { 1, 3, 64, 512 };
#define NCHOICES (sizeof per_call_choices / sizeof per_call_choices[0])

static long PG;
static unsigned rounds = DEFAULT_ROUNDS;
static char *shared;
static pthread_barrier_t start;
static int pinners_done;

/* Successful ioctls (returned 0, size back as asked), by command, R/W or R/O, and
 * target (0 shared, 1 the thread's own buffer); and the pages they walked. */
static unsigned long ok_calls[NCMDS][2][2];
static unsigned long ok_pages[NCMDS];

/* The first failure of any thread, printed by main. */
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static char failure[256];

static void fail(const char *what, const char *why)
{
    pthread_mutex_lock(&fail_lock);
    if (!failure[0])
        snprintf(failure, sizeof failure, "%s: %s", what, why);
    pthread_mutex_unlock(&fail_lock);
}

static const char *ename(int e)
{
    if (e == ENODEV)
        return "ENODEV";
    return errname(e);
}

/* The shared buffer's 64-bit word number `i`. */
static inline uint64_t pattern(size_t i)
{
    return (i + 1) * 0x9e3779b97f4a7c15ULL;
}

/* The word number `i` thread `t` keeps in its own buffer in round `r`. */
static inline uint64_t private_pattern(unsigned t, unsigned r, size_t i)
{
    return (i + 1) * 0xbf58476d1ce4e5b9ULL + t * 0x100000001ULL + r;
}

#define WORDS(bytes) ((bytes) / sizeof(uint64_t))

/* A 2 MiB-aligned private anonymous range of `size` bytes. */
static char *map_aligned(size_t size)
{
    char *raw = mmap(NULL, size + PMD_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    return (char *)(((uintptr_t)raw + PMD_SIZE - 1) & ~(uintptr_t)(PMD_SIZE - 1));
}

/* One gup_test command; 0 if it returned 0 and gave back the size asked. */
static int gup_cmd(int fd, unsigned c, char *mem, size_t size, uint32_t per_call,
                   uint32_t gup_flags, int target)
{
    struct gup_test g;
    memset(&g, 0, sizeof g);
    g.addr = (uintptr_t)mem;
    g.size = size;
    g.nr_pages_per_call = per_call;
    g.gup_flags = gup_flags;
    if (ioctl(fd, cmds[c].cmd, &g)) {
        fail(cmds[c].name, ename(errno));
        return -1;
    }
    if (g.size != size || g.addr != (uintptr_t)mem || g.nr_pages_per_call != per_call) {
        fail(cmds[c].name, "the size back is not the size asked");
        return -1;
    }
    __atomic_fetch_add(&ok_calls[c][gup_flags & FOLL_WRITE ? 0 : 1][target], 1,
                       __ATOMIC_RELAXED);
    __atomic_fetch_add(&ok_pages[c], size / PG, __ATOMIC_RELAXED);
    return 0;
}

/* Whether the command runs with FOLL_WRITE for thread `t`: half the commands each way,
 * flipped between odd and even threads, so R/O and R/W GUPs of one page overlap. */
static uint32_t flags_for(unsigned t, unsigned c, int target)
{
    return ((c + t + (unsigned)target) & 1) ? FOLL_WRITE : 0;
}

static void *pinner(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg;
    pthread_barrier_wait(&start);

    int fd = open("/sys/kernel/debug/gup_test", O_RDWR);
    if (fd < 0) {
        fail("open /sys/kernel/debug/gup_test", ename(errno));
        return NULL;
    }
    char *own = mmap(NULL, PRIVATE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (own == MAP_FAILED) {
        fail("mmap of a thread's buffer", ename(errno));
        close(fd);
        return NULL;
    }
    for (unsigned r = 0; r < rounds; r++) {
        uint64_t *w = (uint64_t *)own;
        for (size_t i = 0; i < WORDS(PRIVATE_SIZE); i++)
            w[i] = private_pattern(t, r, i);
        for (unsigned c = 0; c < NCMDS; c++) {
            uint32_t per_call = per_call_choices[(t + c + r) % NCHOICES];
            if (gup_cmd(fd, c, shared, SHARED_SIZE, per_call, flags_for(t, c, 0), 0) ||
                gup_cmd(fd, c, own, PRIVATE_SIZE, per_call_choices[(t + c + r + 1) % NCHOICES],
                        flags_for(t, c, 1), 1))
                goto out;
        }
        for (size_t i = 0; i < WORDS(PRIVATE_SIZE); i++) {
            if (w[i] != private_pattern(t, r, i)) {
                fail("a thread's own buffer", "data changed under the GUPs");
                goto out;
            }
        }
    }
out:
    munmap(own, PRIVATE_SIZE);
    close(fd);
    return NULL;
}

static int zap_reads_zero = 1;
static unsigned long writer_rounds;

static void *writer(void *arg)
{
    (void)arg;
    char *zap = mmap(NULL, ZAP_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pthread_barrier_wait(&start);
    if (zap == MAP_FAILED) {
        fail("mmap of the writer's region", ename(errno));
        return NULL;
    }
    /* At least one round, then until the pinning threads are done. */
    do {
        for (size_t i = 0; i < WORDS(SHARED_SIZE); i += WORDS(PG) / 2)
            ((volatile uint64_t *)shared)[i] = pattern(i);
        for (size_t off = 0; off < ZAP_SIZE; off += PG) {
            if (((volatile char *)zap)[off] != 0)
                zap_reads_zero = 0;
            ((volatile char *)zap)[off] = 1;
        }
        if (madvise(zap, ZAP_SIZE, MADV_DONTNEED)) {
            fail("madvise(MADV_DONTNEED)", ename(errno));
            break;
        }
        writer_rounds++;
    } while (!__atomic_load_n(&pinners_done, __ATOMIC_ACQUIRE));
    munmap(zap, ZAP_SIZE);
    return NULL;
}

/* Reads the pagemap entries of [mem, mem + size) into `ent`; 0 or an errno. */
static int read_pagemap(const char *mem, size_t size, uint64_t *ent)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd < 0)
        return errno;
    size_t bytes = size / PG * sizeof *ent;
    ssize_t n = pread(fd, ent, bytes, (off_t)((uintptr_t)mem / PG * sizeof *ent));
    int e = errno;
    close(fd);
    if (n != (ssize_t)bytes)
        return n < 0 ? e : EIO;
    return 0;
}

/* Pages of `ent` with all of `set` and none of `clear`. */
static size_t count(const uint64_t *ent, size_t n, uint64_t set, uint64_t clear)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (ent[i] & (set | clear)) == set;
    return k;
}

/* Whether every word of the shared buffer holds its pattern. */
static int shared_intact(void)
{
    const uint64_t *w = (const uint64_t *)shared;
    for (size_t i = 0; i < WORDS(SHARED_SIZE); i++)
        if (w[i] != pattern(i))
            return 0;
    return 1;
}

static int failed;

static void check(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "yes" : "NO");
    failed |= !ok;
}

int main(int argc, char **argv)
{
    PG = sysconf(_SC_PAGESIZE);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1)
        rounds = (unsigned)strtoul(argv[1], NULL, 0);
    const size_t npages = SHARED_SIZE / PG, half = npages / 2;
    uint64_t *ent = malloc(npages * sizeof *ent), *before = malloc(npages * sizeof *ent);
    if (!ent || !before) {
        printf("malloc failed\n");
        return 1;
    }

    shared = map_aligned(SHARED_SIZE);
    if (!shared || madvise(shared + SHARED_SIZE / 2, SHARED_SIZE / 2, MADV_HUGEPAGE)) {
        printf("mmap or MADV_HUGEPAGE of the shared buffer: %s\n", ename(errno));
        return 1;
    }
    for (size_t i = 0; i < WORDS(SHARED_SIZE); i++)
        ((uint64_t *)shared)[i] = pattern(i);
    int e = read_pagemap(shared, SHARED_SIZE, ent);
    if (e) {
        printf("/proc/self/pagemap: %s\n", ename(e));
        return 1;
    }
    /* One 2 MiB folio: 512 present pages with consecutive PFNs from a 2 MiB-aligned one. */
    int huge = (ent[half] & PM_PFRAME_MASK) % (PMD_SIZE / PG) == 0;
    for (size_t i = half; i < npages; i++)
        huge &= (ent[i] & PM_PRESENT) &&
                (ent[i] & PM_PFRAME_MASK) == (ent[half] & PM_PFRAME_MASK) + (i - half);
    printf("shared buffer: %zu pages of 4 KiB, then 2 MiB MADV_HUGEPAGE\n", half);
    check("the MADV_HUGEPAGE half is one 2 MiB folio (aligned consecutive PFNs)", huge);

    printf("%d threads x %u rounds, each round: every command over the shared buffer (%zu "
           "pages) and over the thread's own (%lu pages); meanwhile a writer rewrites the "
           "shared buffer and zaps its own pages with MADV_DONTNEED\n",
           NTHREADS, rounds, npages, PRIVATE_SIZE / PG);
    pthread_t tid[NTHREADS], wtid;
    if (pthread_barrier_init(&start, NULL, NTHREADS + 1)) {
        printf("pthread_barrier_init failed\n");
        return 1;
    }
    for (unsigned t = 0; t < NTHREADS; t++) {
        if (pthread_create(&tid[t], NULL, pinner, (void *)(uintptr_t)t)) {
            printf("pthread_create failed\n");
            return 1;
        }
    }
    if (pthread_create(&wtid, NULL, writer, NULL)) {
        printf("pthread_create failed\n");
        return 1;
    }
    for (unsigned t = 0; t < NTHREADS; t++)
        pthread_join(tid[t], NULL);
    __atomic_store_n(&pinners_done, 1, __ATOMIC_RELEASE);
    pthread_join(wtid, NULL);
    if (failure[0]) {
        printf("FAILED: %s\n", failure);
        failed = 1;
    }

    unsigned long want = (unsigned long)NTHREADS * rounds;
    for (unsigned c = 0; c < NCMDS; c++) {
        unsigned long n = 0;
        for (int w = 0; w < 2; w++)
            for (int tg = 0; tg < 2; tg++)
                n += ok_calls[c][w][tg];
        printf("%s: %lu ioctls returned 0 with the size asked (shared buffer %lu R/W %lu R/O, "
               "own buffers %lu R/W %lu R/O), %lu pages\n",
               cmds[c].name, n, ok_calls[c][0][0], ok_calls[c][1][0], ok_calls[c][0][1],
               ok_calls[c][1][1], ok_pages[c]);
        failed |= n != 2 * want;
    }
    check("the writer ran and its zapped pages read as zeros", writer_rounds > 0 && zap_reads_zero);

    /* 1. Data and mappings after the threads. */
    check("shared buffer holds its pattern", shared_intact());
    e = read_pagemap(shared, SHARED_SIZE, before);
    if (e) {
        printf("/proc/self/pagemap: %s\n", ename(e));
        return 1;
    }
    printf("shared buffer: %zu of %zu pages present, %zu mapped exclusively\n",
           count(before, npages, PM_PRESENT, 0), npages,
           count(before, npages, PM_PRESENT | PM_MMAP_EXCLUSIVE, 0));

    /* 2. fork(): a page still pinned would be copied for the child, not shared. */
    int ready[2], go[2];
    char ch = 0;
    if (pipe(ready) || pipe(go)) {
        printf("pipe: %s\n", ename(errno));
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        printf("fork: %s\n", ename(errno));
        return 1;
    }
    if (pid == 0) {
        (void)!write(ready[1], "r", 1);
        if (read(go[0], &ch, 1) != 1)
            _exit(2);
        uint64_t *w = (uint64_t *)shared;
        for (size_t i = 0; i < WORDS(SHARED_SIZE); i++)
            w[i] = ~pattern(i);
        for (size_t i = 0; i < WORDS(SHARED_SIZE); i++)
            if (w[i] != ~pattern(i))
                _exit(3);
        _exit(0);
    }
    if (read(ready[0], &ch, 1) != 1) {
        printf("child did not start\n");
        return 1;
    }
    e = read_pagemap(shared, SHARED_SIZE, ent);
    if (e) {
        printf("/proc/self/pagemap: %s\n", ename(e));
        return 1;
    }
    size_t same_pfn = 0;
    for (size_t i = 0; i < npages; i++)
        same_pfn += (ent[i] & PM_PRESENT) &&
                    (ent[i] & PM_PFRAME_MASK) == (before[i] & PM_PFRAME_MASK);
    size_t shared_at_fork = count(ent, npages, PM_PRESENT, PM_MMAP_EXCLUSIVE);
    printf("after fork(), child alive: %zu of %zu pages present with the same PFN, %zu "
           "shared with the child\n",
           same_pfn, npages, shared_at_fork);
    (void)!write(go[1], "g", 1);
    int status;
    if (waitpid(pid, &status, 0) != pid) {
        printf("waitpid: %s\n", ename(errno));
        return 1;
    }
    check("the child wrote and read back its whole copy (exit 0)",
          WIFEXITED(status) && WEXITSTATUS(status) == 0);
    check("the parent's data is unchanged by the child's writes", shared_intact());
    e = read_pagemap(shared, SHARED_SIZE, ent);
    if (e) {
        printf("/proc/self/pagemap: %s\n", ename(e));
        return 1;
    }
    printf("after the child exited: %zu of %zu pages present, %zu mapped exclusively\n",
           count(ent, npages, PM_PRESENT, 0), npages,
           count(ent, npages, PM_PRESENT | PM_MMAP_EXCLUSIVE, 0));

    /* 3. Write faults reuse each page in place only if nothing else holds a reference. */
    for (size_t i = 0; i < WORDS(SHARED_SIZE); i += WORDS(PG) / 2)
        ((volatile uint64_t *)shared)[i] = pattern(i);
    e = read_pagemap(shared, SHARED_SIZE, ent);
    if (e) {
        printf("/proc/self/pagemap: %s\n", ename(e));
        return 1;
    }
    same_pfn = 0;
    for (size_t i = 0; i < npages; i++)
        same_pfn += (ent[i] & PM_PRESENT) &&
                    (ent[i] & PM_PFRAME_MASK) == (before[i] & PM_PFRAME_MASK);
    printf("after the parent wrote every page: %zu of %zu pages reused in place (same PFN)\n",
           same_pfn, npages);
    check("all pins released (no page copied at fork)", shared_at_fork == npages);
    check("all references released (every write fault reused its page)", same_pfn == npages);
    return failed;
}
