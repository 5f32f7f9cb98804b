/* gupfastrace [ROUNDS]: the lockless gup_fast() walk raced against munmap, mmap and fork.
 * The fast benchmarks of /sys/kernel/debug/gup_test (GUP_FAST_BENCHMARK,
 * PIN_FAST_BENCHMARK: Linux mm/gup_test.c over get_user_pages_fast() and
 * pin_user_pages_fast()) walk the page tables without the mmap lock (Linux: with interrupts
 * off; dirtybit: on the hart's host thread without the kernel lock) while other threads of
 * the same address space change them.
 *
 * Set-up: R, 64 pages of private anonymous memory at a 2 MiB-aligned address, alone in its
 * 2 MiB (the rest of the reservation is unmapped again), so that unmapping R empties its
 * page-table page and munmap frees it (free_pgtables()). Every page is written with the
 * pattern of round 0. Then four threads start together at a barrier:
 *
 * - T1 and T2, at least ROUNDS times each and on until T3 and T4 are done (a walk is much
 *   quicker than T3's round, so a fixed count would end long before T3 does; past ROUNDS
 *   they sleep 20 us a round to leave the harts to T3 and T4; how many rounds they run
 *   depends on the interleaving and is not printed): PIN_FAST_BENCHMARK with FOLL_WRITE and
 *   GUP_FAST_BENCHMARK (FOLL_WRITE every other round, T1 and T2 out of phase) over all of R,
 *   nr_pages_per_call 16 (T1) or 64 (T2). Each ioctl must return 0: gup_test succeeds even
 *   when the range is unmapped under it (it cuts `size` to what was walked, which depends on
 *   the interleaving and is not looked at). The pins are always FOLL_WRITE: a read-only pin
 *   of a page T3 has mapped but not yet written takes the shared zero page, which Linux
 *   (6.5+) does not pin, so gup_test's verify_dma_pinned() would WARN about it (as Linux
 *   does) on some interleavings only.
 * - T3, ROUNDS times: munmap(R) (zaps R and frees its page tables under the walkers),
 *   mmap(R, MAP_FIXED) again, checks that every fresh page reads as zeros (a stale TLB entry
 *   or a page table freed too early would show an old page), writes the round's pattern
 *   into every page (one word in every 512 bytes, from the round, the page and the word's
 *   index) and reads it back.
 * - T4, ROUNDS / 4 times: fork(); the child writes one page of R through read() from a
 *   pipe and checks it (exit 0), or finds R unmapped because T3 was between munmap and mmap
 *   at the fork (read() fails with EFAULT instead of the child dying: exit 2); the parent
 *   waits and every child must have exited 0 or 2. fork()'s copy_page_range() runs
 *   under the walkers (write_protect_seq: a pin taken during it must be given back).
 *
 * After the join, R must hold the pattern of T3's last round and zeros in between (the
 * walkers never change data and the children's writes stay in their copies). stdout is the
 * same for every interleaving, hart count and scheduler: only the round counts given by
 * argv and the checks are printed; what the race did on this run (walker rounds, ioctls
 * that found R unmapped, children that did) goes to stderr. Exit status 0 when every
 * check holds, 1 otherwise. */
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
#include <time.h>
#include <unistd.h>

#include "errname.h"

#include "gup_test_abi.h"

#define MB (1UL << 20)
#define PMD_SIZE (2 * MB)
#define NPAGES 64
#define DEFAULT_ROUNDS 300
#define FORKS_PER_ROUND 4 /* T4 forks once per this many rounds */

static long PG;
static size_t region_size;
static char *R;
static unsigned rounds = DEFAULT_ROUNDS;
static pthread_barrier_t start;

/* T3 writes one word in every STRIDE bytes of each page (the rest stays zero): enough to
 * tell every page and round apart while keeping T3's rounds about as long as the
 * walkers'. */
#define STRIDE 512

/* Word `i` of page `p` of R after T3's round `r` (round 0: main's initial write), where
 * `i` is a multiple of STRIDE / 8; every other word is 0. */
static inline uint64_t pattern(unsigned r, size_t p, size_t i)
{
    return ((uint64_t)(r + 1) << 48) ^ ((p + 1) * 0x9e3779b97f4a7c15ULL) ^ (i * 0x100000001ULL);
}

/* Writes round `r`'s pattern into every page of R. */
static void write_pattern(unsigned r)
{
    size_t words = (size_t)PG / sizeof(uint64_t);
    for (size_t p = 0; p < NPAGES; p++) {
        volatile uint64_t *w = (volatile uint64_t *)(R + p * PG);
        for (size_t i = 0; i < words; i += STRIDE / sizeof(uint64_t))
            w[i] = pattern(r, p, i);
    }
}

/* Whether every page of R holds round `r`'s pattern; with `all`, also that every other
 * word is still zero. */
static int holds_pattern(unsigned r, int all)
{
    size_t words = (size_t)PG / sizeof(uint64_t), step = all ? 1 : STRIDE / sizeof(uint64_t);
    for (size_t p = 0; p < NPAGES; p++) {
        const volatile uint64_t *w = (const volatile uint64_t *)(R + p * PG);
        for (size_t i = 0; i < words; i += step) {
            uint64_t want = i % (STRIDE / sizeof(uint64_t)) ? 0 : pattern(r, p, i);
            if (w[i] != want)
                return 0;
        }
    }
    return 1;
}

/* The first failure of any thread, printed by main. */
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static char failure[256];

static void fail(const char *what, int e)
{
    pthread_mutex_lock(&fail_lock);
    if (!failure[0])
        snprintf(failure, sizeof failure, "%s: %s", what, e ? errname(e) : "failed");
    pthread_mutex_unlock(&fail_lock);
}

/* ---- T1, T2: the lockless walkers ---- */
static unsigned long ioctl_ok[2], ioctl_failures, ioctl_cut[2];
/* Rounds each walker ran (at least `rounds`), and T3 and T4 finished (released by them). */
static unsigned long walker_rounds[2];
static int t3_done, t4_done;

static void *walker(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg;
    uint32_t per_call = t == 0 ? 16 : 64;
    int fd = open("/sys/kernel/debug/gup_test", O_RDWR);
    pthread_barrier_wait(&start);
    if (fd < 0) {
        fail("open /sys/kernel/debug/gup_test", errno);
        __atomic_fetch_add(&ioctl_failures, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    for (unsigned r = 0; r < rounds || !__atomic_load_n(&t3_done, __ATOMIC_ACQUIRE) ||
                         !__atomic_load_n(&t4_done, __ATOMIC_ACQUIRE);
         r++) {
        walker_rounds[t]++;
        /* Past the rounds asked, leave the hart to T3 and T4 a moment each round: on fewer
         * harts than threads they would otherwise wait for whole time slices of walking. */
        if (r >= rounds)
            nanosleep(&(struct timespec){ .tv_nsec = 20000 }, NULL);
        for (unsigned c = 0; c < 2; c++) {
            struct gup_test g;
            memset(&g, 0, sizeof g);
            g.addr = (uintptr_t)R;
            g.size = region_size;
            g.nr_pages_per_call = per_call;
            g.gup_flags = (c == 0 || ((r + t) & 1)) ? FOLL_WRITE : 0;
            if (ioctl(fd, c == 0 ? PIN_FAST_BENCHMARK : GUP_FAST_BENCHMARK, &g)) {
                fail(c == 0 ? "PIN_FAST_BENCHMARK" : "GUP_FAST_BENCHMARK", errno);
                __atomic_fetch_add(&ioctl_failures, 1, __ATOMIC_RELAXED);
            } else {
                ioctl_ok[t]++;
                ioctl_cut[t] += g.size != region_size;
            }
        }
    }
    close(fd);
    return NULL;
}

/* ---- T3: munmap, mmap again, write ---- */
static unsigned long remap_rounds, fresh_not_zero, readback_bad;

static void remap_loop(void)
{
    size_t words = (size_t)PG / sizeof(uint64_t);
    for (unsigned r = 1; r <= rounds; r++) {
        if (munmap(R, region_size)) {
            fail("munmap(R)", errno);
            return;
        }
        char *m = mmap(R, region_size, PROT_READ | PROT_WRITE,
                       MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != R) {
            fail("mmap(R, MAP_FIXED)", m == MAP_FAILED ? errno : 0);
            return;
        }
        for (size_t p = 0; p < NPAGES; p++) {
            const volatile uint64_t *w = (const volatile uint64_t *)(R + p * PG);
            for (size_t i = 0; i < words; i += STRIDE / sizeof(uint64_t))
                fresh_not_zero += w[i] != 0;
        }
        write_pattern(r);
        readback_bad += !holds_pattern(r, 0);
        remap_rounds++;
    }
}

static void *remapper(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    remap_loop();
    __atomic_store_n(&t3_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* ---- T4: fork under the walkers ---- */
static unsigned long forks_done, children_ok, children_efault;

/* The child: writes page `p` of R by read() from a pipe and checks it. Exit status 0 if
 * it wrote and read back its bytes, 2 if read() failed with EFAULT (R was unmapped when
 * the parent forked), else 1. */
static void child(size_t p)
{
    int fds[2];
    char *buf = mmap(NULL, (size_t)PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (buf == MAP_FAILED || pipe(fds))
        _exit(1);
    memset(buf, 0xc5, (size_t)PG);
    if (write(fds[1], buf, (size_t)PG) != PG)
        _exit(1);
    ssize_t n = read(fds[0], R + p * PG, (size_t)PG);
    if (n < 0)
        _exit(errno == EFAULT ? 2 : 1);
    if (n != PG || memcmp(R + p * PG, buf, (size_t)PG) != 0)
        _exit(1);
    _exit(0);
}

static void fork_loop(void)
{
    for (unsigned r = 0; r < rounds / FORKS_PER_ROUND; r++) {
        pid_t pid = fork();
        if (pid < 0) {
            fail("fork", errno);
            return;
        }
        if (pid == 0)
            child(r % NPAGES);
        int status;
        if (waitpid(pid, &status, 0) != pid) {
            fail("waitpid", errno);
            return;
        }
        forks_done++;
        children_ok += WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 2);
        children_efault += WIFEXITED(status) && WEXITSTATUS(status) == 2;
    }
}

static void *forker(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    fork_loop();
    __atomic_store_n(&t4_done, 1, __ATOMIC_RELEASE);
    return NULL;
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
    region_size = NPAGES * (size_t)PG;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1)
        rounds = (unsigned)strtoul(argv[1], NULL, 0);

    /* R alone in a 2 MiB-aligned 2 MiB: reserve 4 MiB, keep the aligned 64 pages. */
    char *raw = mmap(NULL, 2 * PMD_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (raw == MAP_FAILED) {
        printf("mmap: %s\n", errname(errno));
        return 1;
    }
    R = (char *)(((uintptr_t)raw + PMD_SIZE - 1) & ~(uintptr_t)(PMD_SIZE - 1));
    if ((R > raw && munmap(raw, (size_t)(R - raw))) ||
        munmap(R + region_size, (size_t)(raw + 2 * PMD_SIZE - (R + region_size)))) {
        printf("munmap around R: %s\n", errname(errno));
        return 1;
    }
    write_pattern(0);

    printf("R: %d pages at a 2 MiB-aligned address, alone in its 2 MiB\n", NPAGES);
    printf("T1, T2: at least %u rounds each (and until T3 and T4 are done) of "
           "PIN_FAST_BENCHMARK + GUP_FAST_BENCHMARK over R (16 and 64 pages per call)\n",
           rounds);
    printf("T3: %u rounds of munmap(R), mmap(R, MAP_FIXED), check zeros, write, read back\n",
           rounds);
    printf("T4: %u forks, each child writing one page of R\n", rounds / FORKS_PER_ROUND);

    pthread_t tid[4];
    void *(*fn[4])(void *) = { walker, walker, remapper, forker };
    if (pthread_barrier_init(&start, NULL, 4)) {
        printf("pthread_barrier_init failed\n");
        return 1;
    }
    for (unsigned t = 0; t < 4; t++) {
        if (pthread_create(&tid[t], NULL, fn[t], (void *)(uintptr_t)t)) {
            printf("pthread_create failed\n");
            return 1;
        }
    }
    for (unsigned t = 0; t < 4; t++)
        pthread_join(tid[t], NULL);
    if (failure[0]) {
        printf("FAILED: %s\n", failure);
        failed = 1;
    }

    printf("ioctl failures: %lu\n", ioctl_failures);
    failed |= ioctl_failures != 0;
    check("T1 and T2 each ran at least the rounds asked, every ioctl returning 0",
          walker_rounds[0] >= rounds && walker_rounds[1] >= rounds &&
              ioctl_ok[0] == 2 * walker_rounds[0] && ioctl_ok[1] == 2 * walker_rounds[1]);
    printf("T3 rounds done: %lu\n", remap_rounds);
    failed |= remap_rounds != rounds;
    check("fresh mappings read as zeros", fresh_not_zero == 0);
    check("each round's writes read back", readback_bad == 0);
    printf("T4 forks done: %lu\n", forks_done);
    failed |= forks_done != rounds / FORKS_PER_ROUND;
    check("children wrote their page or found R unmapped (exit 0 or 2)",
          children_ok == forks_done);
    check("region intact", holds_pattern(rounds, 1));
    /* What depends on the interleaving goes to stderr, which no reference compares. */
    fprintf(stderr, "gupfastrace: rounds T1 %lu, T2 %lu; ioctls that found R (partly) "
                    "unmapped: T1 %lu, T2 %lu; children that found R unmapped: %lu\n",
            walker_rounds[0], walker_rounds[1], ioctl_cut[0], ioctl_cut[1], children_efault);
    return failed;
}
