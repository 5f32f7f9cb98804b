/*
 * swap: anonymous memory through the swap area (run with --swap; see tests/swap.rs).
 *
 *   MADV_PAGEOUT writes private anonymous pages to swap: /proc/self/pagemap then shows
 *   PM_SWAP for each, smaps "Swap:", status "VmSwap:", meminfo SwapFree and vmstat
 *   pswpout account them; reading them back is a major fault per page (vmstat pswpin,
 *   pgmajfault) and gives the data back intact.
 *   PageAnonExclusive survives swap: a page written, paged out and read back is written
 *   again without a copy (its PFN stays), while after fork the two sides share the slot,
 *   and each gets its own copy of the data (COW).
 *   A swapped range survives mprotect, mremap (moved), fork (the child reads it), and
 *   MADV_DONTNEED / munmap give the slots back. A page pinned through gup_test is never
 *   paged out; a thread storing into pages another thread pages out loses no store.
 *   Without swap (argument "noswap") MADV_PAGEOUT leaves everything present.
 */
#define _GNU_SOURCE
#include <errno.h>
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

#include "gup_test_abi.h"

#define PAGE 4096UL
#define NPAGES 64UL
#define PM_PFN_MASK ((1ULL << 55) - 1)
#define PM_MMAP_EXCLUSIVE (1ULL << 56)
#define PM_SWAP (1ULL << 62)
#define PM_PRESENT (1ULL << 63)

static int pagemap_fd;

static uint64_t pagemap(const void *addr)
{
    uint64_t e = 0;
    off_t off = (off_t)((uintptr_t)addr / PAGE * 8);
    if (pread(pagemap_fd, &e, sizeof(e), off) != (ssize_t)sizeof(e)) {
        perror("swap: pread pagemap");
        exit(1);
    }
    return e;
}

/* How many of the n pages at p are swapped out / present. */
static void count(const char *p, unsigned long n, unsigned long *swapped, unsigned long *present)
{
    *swapped = *present = 0;
    for (unsigned long i = 0; i < n; i++) {
        uint64_t e = pagemap(p + i * PAGE);
        *swapped += !!(e & PM_SWAP);
        *present += !!(e & PM_PRESENT);
    }
}

/* The value of "name" in a "name value" or "name: value kB" file. */
static long field(const char *path, const char *name)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    char line[256];
    long v = -1;
    size_t n = strlen(name);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, name, n) == 0 && (line[n] == ' ' || line[n] == ':')) {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* smaps "Swap:" of the VMA containing addr, in kB. */
static long smaps_swap(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) {
        perror("smaps");
        exit(1);
    }
    char line[256];
    int in = 0;
    long v = -1;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = lo <= (uintptr_t)addr && (uintptr_t)addr < hi;
            continue;
        }
        if (in && strncmp(line, "Swap:", 5) == 0) {
            v = strtol(line + 5, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

static void fill(char *p, unsigned long n, unsigned seed)
{
    for (unsigned long i = 0; i < n; i++)
        for (unsigned long j = 0; j < PAGE; j += 512)
            p[i * PAGE + j] = (char)(seed + i * 7 + j / 512);
}

static unsigned long bad(const char *p, unsigned long n, unsigned seed)
{
    unsigned long b = 0;
    for (unsigned long i = 0; i < n; i++)
        for (unsigned long j = 0; j < PAGE; j += 512)
            b += p[i * PAGE + j] != (char)(seed + i * 7 + j / 512);
    return b;
}

static char *map(unsigned long n)
{
    char *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("swap: mmap");
        exit(1);
    }
    /* Base pages only: THPs are split by MADV_PAGEOUT, which is checked separately. */
    madvise(p, n * PAGE, MADV_NOHUGEPAGE);
    return p;
}

static void pageout(char *p, unsigned long n)
{
    if (madvise(p, n * PAGE, MADV_PAGEOUT) != 0) {
        perror("swap: madvise(MADV_PAGEOUT)");
        exit(1);
    }
}

/* A thread storing while another pages the same pages out: no store may be lost. */
#define RACE_PAGES 8
#define RACE_ROUNDS 2000
static volatile uint64_t *race_mem;
static volatile int race_done;

static void *race_writer(void *arg)
{
    (void)arg;
    for (int r = 0; r < RACE_ROUNDS; r++)
        for (int i = 0; i < RACE_PAGES; i++)
            race_mem[i * PAGE / 8] += 1;
    race_done = 1;
    return NULL;
}

static void race(void)
{
    race_mem = (volatile uint64_t *)map(RACE_PAGES);
    pthread_t t;
    pthread_create(&t, NULL, race_writer, NULL);
    unsigned long outs = 0;
    while (!race_done) {
        madvise((void *)race_mem, RACE_PAGES * PAGE, MADV_PAGEOUT);
        outs++;
    }
    pthread_join(t, NULL);
    unsigned long lost = 0;
    for (int i = 0; i < RACE_PAGES; i++)
        lost += RACE_ROUNDS - race_mem[i * PAGE / 8];
    printf("stores racing MADV_PAGEOUT: %lu lost\n", lost);
    (void)outs;
}

int main(int argc, char **argv)
{
    int noswap = argc > 1 && strcmp(argv[1], "noswap") == 0;
    unsigned long sw, pr;
    setvbuf(stdout, NULL, _IONBF, 0);
    pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
    if (pagemap_fd < 0) {
        perror("swap: open pagemap");
        return 1;
    }

    char *a = map(NPAGES);
    fill(a, NPAGES, 1);
    count(a, NPAGES, &sw, &pr);
    printf("written: %lu present, %lu swapped\n", pr, sw);
    long free0 = field("/proc/meminfo", "SwapFree");
    long out0 = field("/proc/vmstat", "pswpout");
    long in0 = field("/proc/vmstat", "pswpin");
    long maj0 = field("/proc/vmstat", "pgmajfault");
    pageout(a, NPAGES);
    count(a, NPAGES, &sw, &pr);
    printf("MADV_PAGEOUT: %lu present, %lu swapped\n", pr, sw);
    if (noswap) {
        printf("no swap: SwapTotal %ld kB, data %s\n", field("/proc/meminfo", "SwapTotal"),
               bad(a, NPAGES, 1) ? "BAD" : "intact");
        return 0;
    }
    printf("smaps Swap: %ld kB, status VmSwap: %ld kB\n", smaps_swap(a),
           field("/proc/self/status", "VmSwap"));
    printf("SwapFree dropped by %ld kB, pswpout +%ld\n",
           free0 - field("/proc/meminfo", "SwapFree"), field("/proc/vmstat", "pswpout") - out0);
    unsigned long b = bad(a, NPAGES, 1);
    count(a, NPAGES, &sw, &pr);
    printf("read back: %lu bad, %lu present, %lu swapped; pswpin +%ld, pgmajfault +%ld\n", b, pr,
           sw, field("/proc/vmstat", "pswpin") - in0, field("/proc/vmstat", "pgmajfault") - maj0);
    printf("SwapFree back: %s\n", field("/proc/meminfo", "SwapFree") == free0 ? "yes" : "NO");

    /* PageAnonExclusive survives swap: the write after swap-in reuses the page. */
    uint64_t before = pagemap(a) & PM_PFN_MASK;
    pageout(a, 1);
    (void)*(volatile char *)a;
    uint64_t e = pagemap(a);
    uint64_t pfn_in = e & PM_PFN_MASK;
    a[1] = 42;
    uint64_t after = pagemap(a) & PM_PFN_MASK;
    printf("exclusive after swap-in: %s; write reused the page: %s\n",
           (e & PM_MMAP_EXCLUSIVE) ? "yes" : "no", pfn_in == after ? "yes" : "NO (copied)");
    (void)before;

    /* fork shares the slot: each side reads the data; writes are private (COW). */
    fill(a, NPAGES, 2);
    pageout(a, NPAGES);
    pid_t pid = fork();
    if (pid == 0) {
        unsigned long cb = bad(a, NPAGES, 2);
        fill(a, NPAGES, 3);
        _exit(cb == 0 && bad(a, NPAGES, 3) == 0 ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("fork: child read and wrote its copy: %s; parent still reads its own: %s\n",
           WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "ok" : "BAD",
           bad(a, NPAGES, 2) ? "BAD" : "ok");
    e = pagemap(a);
    printf("parent page after the child exited: exclusive %s\n",
           (e & PM_MMAP_EXCLUSIVE) ? "yes" : "no");

    /* mprotect and mremap keep swapped pages. */
    pageout(a, NPAGES);
    mprotect(a, NPAGES * PAGE, PROT_READ);
    char *m = mremap(a, NPAGES * PAGE, 2 * NPAGES * PAGE, MREMAP_MAYMOVE);
    if (m == MAP_FAILED) {
        perror("swap: mremap");
        return 1;
    }
    count(m, NPAGES, &sw, &pr);
    printf("mprotect + mremap: %lu swapped; data %s\n", sw, bad(m, NPAGES, 2) ? "BAD" : "intact");

    /* MADV_DONTNEED and munmap give the slots back. */
    free0 = field("/proc/meminfo", "SwapFree");
    mprotect(m, NPAGES * PAGE, PROT_READ | PROT_WRITE);
    pageout(m, NPAGES);
    madvise(m, NPAGES / 2 * PAGE, MADV_DONTNEED);
    munmap(m + NPAGES / 2 * PAGE, NPAGES / 2 * PAGE);
    printf("DONTNEED + munmap: SwapFree back: %s; zero after DONTNEED: %s\n",
           field("/proc/meminfo", "SwapFree") == free0 ? "yes" : "NO",
           m[0] == 0 && m[PAGE * 3 + 512] == 0 ? "yes" : "NO");

    /* A pinned page is never paged out. */
    char *p = map(4);
    fill(p, 4, 5);
    int gup = open("/sys/kernel/debug/gup_test", O_RDWR);
    if (gup < 0) {
        perror("swap: open gup_test");
        return 1;
    }
    struct pin_longterm_test pl = {.addr = (uintptr_t)p, .size = 2 * PAGE, .flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE};
    if (ioctl(gup, PIN_LONGTERM_TEST_START, &pl) != 0) {
        perror("swap: PIN_LONGTERM_TEST_START");
        return 1;
    }
    pageout(p, 4);
    count(p, 2, &sw, &pr);
    unsigned long sw2, pr2;
    count(p + 2 * PAGE, 2, &sw2, &pr2);
    printf("pinned: %lu of 2 pinned pages swapped, %lu of 2 unpinned\n", sw, sw2);
    ioctl(gup, PIN_LONGTERM_TEST_STOP);
    close(gup);
    printf("pinned range data %s\n", bad(p, 4, 5) ? "BAD" : "intact");

    /* A THP is split and swapped whole. */
    char *t = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *h = (char *)(((uintptr_t)t + (2 << 20) - 1) & ~((2UL << 20) - 1));
    madvise(h, 2 << 20, MADV_HUGEPAGE);
    fill(h, 512, 6);
    pageout(h, 512);
    count(h, 512, &sw, &pr);
    printf("THP: %lu of 512 swapped; data %s\n", sw, bad(h, 512, 6) ? "BAD" : "intact");
    race();
    /* Exit with pages out: exit_mmap() gives their slots back (the swap-slot audit). */
    pageout(h, 512);
    return 0;
}
