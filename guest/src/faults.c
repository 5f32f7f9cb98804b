/* faults: the page-fault scaling workload of `dirtybit bench faults`.
 *
 * usage: faults MODE N ROUNDS [MODE N ROUNDS ...]   (each triple runs in turn)
 *   procs P ROUNDS    P processes (fork), each looping ROUNDS times:
 *                     mmap 256 anonymous private pages, write one word into each page
 *                     (one write fault per page: do_anonymous_page), check every word,
 *                     munmap (zap + free_pgtables).
 *   threads T ROUNDS  T threads of one process, each with its own 256-page anonymous
 *                     region, each looping ROUNDS times: write one word into each page,
 *                     check every word, madvise(MADV_DONTNEED) the region (zap: the next
 *                     round faults every page in again).
 *   procs-read, threads-read   the same, but each page is read before it is written: the
 *                     read fault maps the shared zero page and the write copies it
 *                     (do_wp_page -> wp_page_copy), which in a multi-threaded process
 *                     shoots the old translation down on the other CPUs (ptep_clear_flush):
 *                     two faults and an IPI round trip per page.
 * The write is an atomic exchange (amoswap.d, one store access: one write fault), whose old
 * value must be zero (a fresh anonymous mapping and a zapped private anonymous page are
 * zero-filled); the -read modes check the read instead. After writing all 256 pages a
 * worker reads every word back: a page lost, shared between workers or left stale shows as
 * an error.
 * The value a worker writes depends only on (worker, round, page), so each mode prints one
 * line of counts and a checksum that do not depend on how the workers interleave:
 *   procs: 2 workers x 3 rounds x 256 pages: 1536 pages written, 0 errors, checksum 0x...
 * Exit status 0 when every check passed, 1 otherwise (or on a failed call, with a message
 * on stderr), 2 on bad arguments. Pages are 4 KiB. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE_SIZE 4096UL
#define REGION_PAGES 256UL
#define REGION_BYTES (REGION_PAGES * PAGE_SIZE)
#define MAX_WORKERS 64
#define MAX_ROUNDS 1000000L

/* One worker's result, alone in its cache line. */
struct result {
    uint64_t checksum; /* sum of the words read back */
    uint64_t pages;    /* pages written */
    uint64_t errors;   /* non-zero page before the write, wrong word after */
    uint64_t done;     /* 1 when the worker finished */
} __attribute__((aligned(64)));

static inline uint64_t mix64(uint64_t z) /* splitmix64 finaliser */
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The word worker w writes in page i of round r, never zero. */
static inline uint64_t value(uint64_t w, uint64_t r, uint64_t i)
{
    return mix64((w << 48) ^ (r << 16) ^ i) | 1;
}

/* Where in page i the word goes: a different cache line of each page. */
static inline uint64_t *slot_of(unsigned char *region, uint64_t i)
{
    return (uint64_t *)(region + i * PAGE_SIZE + (i % (PAGE_SIZE / 64)) * 64);
}

/* Read each page before writing it (the -read modes). */
static int read_first;

/* One round over a mapped region: write (checking the page was zero), read back. */
static void touch_round(unsigned char *region, uint64_t w, uint64_t r, struct result *res)
{
    for (uint64_t i = 0; i < REGION_PAGES; i++) {
        uint64_t *p = slot_of(region, i);
        if (read_first) {
            if (*(volatile uint64_t *)p != 0)
                res->errors++;
            *(volatile uint64_t *)p = value(w, r, i);
        } else if (__atomic_exchange_n(p, value(w, r, i), __ATOMIC_RELAXED) != 0) {
            res->errors++;
        }
        res->pages++;
    }
    for (uint64_t i = 0; i < REGION_PAGES; i++) {
        uint64_t got = *(volatile uint64_t *)slot_of(region, i);
        if (got != value(w, r, i))
            res->errors++;
        res->checksum += got;
    }
}

static unsigned char *map_region(void)
{
    void *p = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) {
        perror("faults: mmap");
        return NULL;
    }
    return p;
}

/* procs: the child's loop. Returns its exit status. */
static int proc_worker(uint64_t w, long rounds, struct result *res)
{
    for (long r = 0; r < rounds; r++) {
        unsigned char *region = map_region();
        if (!region)
            return 1;
        touch_round(region, w, (uint64_t)r, res);
        if (munmap(region, REGION_BYTES) != 0) {
            perror("faults: munmap");
            return 1;
        }
    }
    res->done = 1;
    return 0;
}

struct thread_arg {
    uint64_t w;
    long rounds;
    struct result *res;
};

static void *thread_worker(void *argp)
{
    struct thread_arg *a = argp;
    unsigned char *region = map_region();
    if (!region)
        return NULL;
    for (long r = 0; r < a->rounds; r++) {
        touch_round(region, a->w, (uint64_t)r, a->res);
        if (madvise(region, REGION_BYTES, MADV_DONTNEED) != 0) {
            perror("faults: madvise(MADV_DONTNEED)");
            return NULL;
        }
    }
    munmap(region, REGION_BYTES);
    a->res->done = 1;
    return NULL;
}

static int run_procs(long n, long rounds, struct result *results)
{
    pid_t pids[MAX_WORKERS];
    for (long w = 0; w < n; w++) {
        pids[w] = fork();
        if (pids[w] < 0) {
            perror("faults: fork");
            return 1;
        }
        if (pids[w] == 0)
            _exit(proc_worker((uint64_t)w, rounds, &results[w]));
    }
    int failed = 0;
    for (long w = 0; w < n; w++) {
        int status;
        if (waitpid(pids[w], &status, 0) != pids[w]) {
            perror("faults: waitpid");
            return 1;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "faults: worker %ld ended with status %#x\n", w, status);
            failed = 1;
        }
    }
    return failed;
}

static int run_threads(long n, long rounds, struct result *results)
{
    pthread_t tids[MAX_WORKERS];
    struct thread_arg args[MAX_WORKERS];
    for (long w = 0; w < n; w++) {
        args[w] = (struct thread_arg){ (uint64_t)w, rounds, &results[w] };
        int e = pthread_create(&tids[w], NULL, thread_worker, &args[w]);
        if (e != 0) {
            fprintf(stderr, "faults: pthread_create: %s\n", strerror(e));
            return 1;
        }
    }
    for (long w = 0; w < n; w++)
        pthread_join(tids[w], NULL);
    return 0;
}

static long parse(const char *s, long max)
{
    char *end;
    long v = strtol(s, &end, 10);
    return (*s && !*end && v >= 1 && v <= max) ? v : -1;
}

int main(int argc, char **argv)
{
    if (argc < 4 || (argc - 1) % 3 != 0) {
        fprintf(stderr, "usage: faults MODE N ROUNDS [MODE N ROUNDS ...], MODE one of procs, "
                        "threads, procs-read, threads-read\n");
        return 2;
    }
    /* Shared between the processes of procs mode; the threads use it as ordinary memory. */
    struct result *results = mmap(NULL, sizeof(struct result) * MAX_WORKERS,
                                  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (results == MAP_FAILED) {
        perror("faults: mmap(MAP_SHARED)");
        return 1;
    }
    int status = 0;
    for (int a = 1; a + 2 < argc; a += 3) {
        const char *mode = argv[a];
        int procs = strcmp(mode, "procs") == 0 || strcmp(mode, "procs-read") == 0;
        int threads = strcmp(mode, "threads") == 0 || strcmp(mode, "threads-read") == 0;
        read_first = strstr(mode, "-read") != NULL;
        long n = parse(argv[a + 1], MAX_WORKERS);
        long rounds = parse(argv[a + 2], MAX_ROUNDS);
        if ((!procs && !threads) || n < 0 || rounds < 0) {
            fprintf(stderr, "faults: bad arguments %s %s %s (N 1-%d, ROUNDS 1-%ld)\n", mode,
                    argv[a + 1], argv[a + 2], MAX_WORKERS, MAX_ROUNDS);
            return 2;
        }
        memset(results, 0, sizeof(struct result) * MAX_WORKERS);
        if (procs ? run_procs(n, rounds, results) : run_threads(n, rounds, results))
            status = 1;
        uint64_t checksum = 0, pages = 0, errors = 0, done = 0;
        for (long w = 0; w < n; w++) {
            checksum += results[w].checksum;
            pages += results[w].pages;
            errors += results[w].errors;
            done += results[w].done;
        }
        if (errors != 0 || done != (uint64_t)n)
            status = 1;
        printf("%s: %ld workers x %ld rounds x %lu pages: %llu pages written, %llu errors, "
               "%llu workers done, checksum %#018llx\n",
               mode, n, rounds, REGION_PAGES, (unsigned long long)pages,
               (unsigned long long)errors, (unsigned long long)done,
               (unsigned long long)checksum);
    }
    return status;
}
