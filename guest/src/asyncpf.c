/*
 * asyncpf: a CPU-bound task beside a task that faults on swapped-out pages, for the
 * asynchronous page faults (run with --swap; see tests/swap.rs and `dirtybit bench
 * async-pf`).
 *
 *   asyncpf [PAGES [WORK]]
 *
 * The faulter maps PAGES pages (default 1024), fills them, pages them out
 * (MADV_PAGEOUT) and reads them back, one major fault per page; the CPU-bound thread
 * runs WORK rounds (default 20000000) of an integer hash meanwhile. Both start together.
 * stdout: what both computed (the same with async page faults on or off); stderr: when
 * each finished, in modelled cycles (rdcycle: the hart's, kernel work included) and host
 * nanoseconds since the start.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE 4096UL

static unsigned long pages = 1024, work = 20000000;
static pthread_barrier_t ready, start;
static uint64_t t0_cycles, t0_ns;

static uint64_t rdcycle(void)
{
    uint64_t c;
    __asm__ volatile("rdcycle %0" : "=r"(c));
    return c;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct result {
    uint64_t value, cycles, ns;
};

static void *cpu_task(void *arg)
{
    struct result *r = arg;
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&start);
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (unsigned long i = 0; i < work; i++)
        h = (h ^ i) * 0xff51afd7ed558ccdULL + (h >> 29);
    r->value = h;
    r->cycles = rdcycle() - t0_cycles;
    r->ns = now_ns() - t0_ns;
    return NULL;
}

static void *faulter(void *arg)
{
    struct result *r = arg;
    volatile uint64_t *m = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("asyncpf: mmap");
        exit(1);
    }
    madvise((void *)m, pages * PAGE, MADV_NOHUGEPAGE);
    for (unsigned long i = 0; i < pages; i++)
        m[i * PAGE / 8] = i * 0x100000001ULL;
    madvise((void *)m, pages * PAGE, MADV_PAGEOUT);
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&start);
    uint64_t sum = 0;
    for (unsigned long i = 0; i < pages; i++)
        sum += m[i * PAGE / 8] == i * 0x100000001ULL;
    r->value = sum;
    r->cycles = rdcycle() - t0_cycles;
    r->ns = now_ns() - t0_ns;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        pages = strtoul(argv[1], NULL, 0);
    if (argc > 2)
        work = strtoul(argv[2], NULL, 0);
    struct result cpu = {0}, fl = {0};
    pthread_t a, b;
    pthread_barrier_init(&ready, NULL, 3);
    pthread_barrier_init(&start, NULL, 3);
    pthread_create(&b, NULL, faulter, &fl);
    pthread_create(&a, NULL, cpu_task, &cpu);
    /* The clocks start once the pages are out: the swap-out is not the race. */
    pthread_barrier_wait(&ready);
    t0_cycles = rdcycle();
    t0_ns = now_ns();
    pthread_barrier_wait(&start);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("asyncpf: cpu task hash %016llx; faulter read back %llu of %lu pages intact\n",
           (unsigned long long)cpu.value, (unsigned long long)fl.value, pages);
    fprintf(stderr, "asyncpf: cpu task done at %llu cycles %llu ns; faulter at %llu cycles %llu ns\n",
            (unsigned long long)cpu.cycles, (unsigned long long)cpu.ns,
            (unsigned long long)fl.cycles, (unsigned long long)fl.ns);
    return fl.value != pages;
}
