/* guptest: /sys/kernel/debug/gup_test (Linux mm/gup_test.c, ABI mm/gup_test.h), driven
 * the way Linux's mm selftests drive it.
 *
 * 1. As tools/testing/selftests/mm/gup_test.c: every benchmark command (GUP_FAST_BENCHMARK,
 *    PIN_FAST_BENCHMARK, PIN_LONGTERM_BENCHMARK) over 128 MiB of written private anonymous
 *    memory, FOLL_WRITE, one page per call (the selftest's default) and 512; then
 *    GUP_BASIC_TEST, PIN_BASIC_TEST and DUMP_USER_PAGES_TEST (get and pin). Printed: the
 *    command, the pages, the size the kernel reports back, and whether it filled in the
 *    two times -- never the times, which are host microseconds.
 * 2. The modelled cycles per page of one PIN_FAST_BENCHMARK call (512 pages per call over
 *    the 128 MiB), read with rdcycle immediately around the ecall: dirtybit charges a
 *    system call's kernel work, priced by its cost model, to the hart's cycle counter when
 *    the call returns. Modelled cycles are deterministic, so the reference holds the
 *    number (it includes the trap entry/exit, a few cycles over 32768 pages). The only
 *    difference between Sv39 and Sv48 is one upper-level PTE load per 512-page call, far
 *    below one cycle per page. On Linux this line would show real cycles.
 * 3. Bad arguments and their errnos, as mm/gup_test.c returns them (an unknown command,
 *    a bad pointer, addr + size overflowing, a page array beyond INT_MAX bytes, the
 *    PIN_LONGTERM_TEST_* state checks); GUP errors inside the walk are not returned by
 *    Linux: the ioctl succeeds with a shorter size. The R/O PIN_BASIC_TEST of never-written
 *    memory pins the shared zero page, which is never counted as pinned: the kernel log
 *    (stderr) shows verify_dma_pinned()'s WARN, and the ioctl still succeeds.
 * 4. As tools/testing/selftests/mm/cow.c's "R/O GUP pin" tests: PIN_LONGTERM_TEST_START
 *    R/O (without and with PIN_LONGTERM_TEST_FLAG_USE_FAST), then write the memory through
 *    the page table, then PIN_LONGTERM_TEST_READ and compare: is the pin coherent with
 *    what the process maps? On an R/O-mapped exclusive anon page, the shared zero page, an
 *    anon page R/O-shared with a live child (fork), a previously shared anon page (the
 *    child exited), memfd and O_TMPFILE MAP_PRIVATE pages, a THP and the huge zero page.
 *    Linux 6.2+ (the modern generation) keeps every one coherent by unsharing first;
 *    older generations did not (no FAULT_FLAG_UNSHARE): run with --gup foll-cow or
 *    --gup dirtycow to see it. A case the kernel cannot set up (no memfd, no O_TMPFILE,
 *    no THP) says why it was skipped.
 *
 * No addresses, PFNs or times are printed. Exit status 0 unless the set-up itself fails. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

#include "gup_test_abi.h"

#define MB (1UL << 20)
#define BENCH_SIZE (128 * MB)
#define PMD_SIZE (2 * MB)
#define TIME_UNSET 0xdeadbeefdeadbeefULL

static long PG;
static int gup_fd = -1;

static const char *ename(int e)
{
    if (e == ENODEV)
        return "ENODEV";
    return errname(e);
}

/* ioctl returning 0 or the errno. */
static int xioctl(unsigned long cmd, void *arg)
{
    return ioctl(gup_fd, cmd, arg) ? errno : 0;
}

static const char *cmd_name(unsigned long cmd)
{
    switch (cmd) {
    case GUP_FAST_BENCHMARK: return "GUP_FAST_BENCHMARK";
    case PIN_FAST_BENCHMARK: return "PIN_FAST_BENCHMARK";
    case PIN_LONGTERM_BENCHMARK: return "PIN_LONGTERM_BENCHMARK";
    case GUP_BASIC_TEST: return "GUP_BASIC_TEST";
    case PIN_BASIC_TEST: return "PIN_BASIC_TEST";
    case DUMP_USER_PAGES_TEST: return "DUMP_USER_PAGES_TEST";
    }
    return "?";
}

/* A 2 MiB-aligned private anonymous range of `size` bytes. */
static char *map_aligned(size_t size)
{
    char *raw = mmap(NULL, size + PMD_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    return (char *)(((uintptr_t)raw + PMD_SIZE - 1) & ~(uintptr_t)(PMD_SIZE - 1));
}

/* One gup_test command over [mem, mem + size); prints what the kernel reported. */
static void gup_cmd(unsigned long cmd, char *mem, size_t size, uint32_t per_call,
                    uint32_t gup_flags, uint32_t test_flags)
{
    struct gup_test g;
    memset(&g, 0, sizeof g);
    g.get_delta_usec = g.put_delta_usec = TIME_UNSET;
    g.addr = (uintptr_t)mem;
    g.size = size;
    g.nr_pages_per_call = per_call;
    g.gup_flags = gup_flags;
    g.test_flags = test_flags;
    int e = xioctl(cmd, &g);
    printf("%s: %zu pages, %u per call: %s", cmd_name(cmd), size / PG, per_call, ename(e));
    if (!e)
        printf(", size back %s, times reported: %s",
               g.size == size ? "unchanged" : "SHORTER",
               g.get_delta_usec != TIME_UNSET && g.put_delta_usec != TIME_UNSET ? "yes" : "no");
    printf("\n");
}

static inline uint64_t rdcycle(void)
{
    uint64_t c;
    asm volatile("rdcycle %0" : "=r"(c));
    return c;
}

/* PIN_FAST_BENCHMARK with rdcycle right around the ecall (no other instruction between). */
static void cycles_per_page(char *mem, size_t size)
{
    struct gup_test g;
    memset(&g, 0, sizeof g);
    g.addr = (uintptr_t)mem;
    g.size = size;
    g.nr_pages_per_call = 512;
    g.gup_flags = FOLL_WRITE;
    register long a0 asm("a0") = gup_fd;
    register long a1 asm("a1") = (long)PIN_FAST_BENCHMARK;
    register long a2 asm("a2") = (long)&g;
    register long a7 asm("a7") = SYS_ioctl;
    uint64_t c0, c1;
    asm volatile("rdcycle %1\n\tecall\n\trdcycle %2"
                 : "+r"(a0), "=&r"(c0), "=&r"(c1)
                 : "r"(a1), "r"(a2), "r"(a7)
                 : "memory");
    if (a0 != 0 || g.size != size) {
        printf("PIN_FAST_BENCHMARK for rdcycle: %s\n", ename((int)-a0));
        return;
    }
    printf("PIN_FAST_BENCHMARK, %zu pages, 512 per call: modelled cycles per page (rdcycle "
           "around the ecall): %llu\n",
           size / PG, (unsigned long long)((c1 - c0) / (size / PG)));
}

static void bad_arguments(char *mem)
{
    struct gup_test g;
    struct pin_longterm_test a;
    uint64_t dst;
    char buf[8];
    int e;

    printf("bad arguments:\n");
    memset(&g, 0, sizeof g);
    g.addr = (uintptr_t)mem;
    g.size = 4 * PG;
    g.nr_pages_per_call = 1;
    printf("  unknown command _IOWR('g', 10): %s\n",
           ename(xioctl(_IOWR('g', 10, struct gup_test), &g)));
    printf("  unknown command _IO('g', 0): %s\n", ename(xioctl(_IO('g', 0), &g)));
    printf("  GUP_FAST_BENCHMARK, argument pointer 16: %s\n",
           ename(xioctl(GUP_FAST_BENCHMARK, (void *)16)));
    g.addr = UINT64_MAX - PG;
    g.size = 2 * PG;
    printf("  PIN_BASIC_TEST, addr + size overflows: %s\n", ename(xioctl(PIN_BASIC_TEST, &g)));
    g.addr = (uintptr_t)mem;
    g.size = 1ULL << 40;
    printf("  PIN_BASIC_TEST, 1 TiB (page array > INT_MAX bytes): %s\n",
           ename(xioctl(PIN_BASIC_TEST, &g)));
    /* GUP refuses these; the ioctl succeeds with what was walked. */
    g.size = 4 * PG;
    g.gup_flags = FOLL_LONGTERM;
    e = xioctl(GUP_FAST_BENCHMARK, &g);
    printf("  GUP_FAST_BENCHMARK with FOLL_LONGTERM (not a pin): %s, size back %llu\n", ename(e),
           (unsigned long long)g.size);
    g.size = 4 * PG;
    g.gup_flags = 1u << 19; /* FOLL_PIN: internal */
    e = xioctl(PIN_BASIC_TEST, &g);
    printf("  PIN_BASIC_TEST with the internal FOLL_PIN: %s, size back %llu\n", ename(e),
           (unsigned long long)g.size);
    g.size = 4 * PG;
    g.gup_flags = FOLL_WRITE;
    g.nr_pages_per_call = 0;
    e = xioctl(GUP_FAST_BENCHMARK, &g);
    printf("  GUP_FAST_BENCHMARK, 0 pages per call: %s, size back %llu\n", ename(e),
           (unsigned long long)g.size);
    char *hole = mmap(NULL, 4 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(hole, 4 * PG);
    g.addr = (uintptr_t)hole;
    g.size = 4 * PG;
    g.nr_pages_per_call = 2;
    e = xioctl(PIN_BASIC_TEST, &g);
    printf("  PIN_BASIC_TEST on unmapped memory: %s, size back %llu\n", ename(e),
           (unsigned long long)g.size);
    /* Half mapped: the second 2-page call gets 1 page; the walk ends after that chunk. */
    char *half = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(half, 1, 8 * PG);
    munmap(half + 3 * PG, 5 * PG);
    g.addr = (uintptr_t)half;
    g.size = 8 * PG;
    e = xioctl(GUP_FAST_BENCHMARK, &g);
    printf("  GUP_FAST_BENCHMARK, 8 pages of which 3 mapped, 2 per call: %s, size back %llu "
           "pages\n",
           ename(e), (unsigned long long)(g.size / PG));
    munmap(half, 3 * PG);
    /* A R/O short-term pin of never-written memory pins the shared zero page. */
    char *fresh = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g.addr = (uintptr_t)fresh;
    g.size = 4 * PG;
    g.nr_pages_per_call = 4;
    g.gup_flags = 0;
    e = xioctl(PIN_BASIC_TEST, &g);
    printf("  PIN_BASIC_TEST R/O of never-written memory (zero page; the kernel WARNs on "
           "stderr): %s, size back %llu pages\n",
           ename(e), (unsigned long long)(g.size / PG));
    munmap(fresh, 4 * PG);

    /* The long-term pin test's state. */
    printf("  PIN_LONGTERM_TEST_READ before START: %s\n",
           ename(xioctl(PIN_LONGTERM_TEST_READ, &dst)));
    printf("  PIN_LONGTERM_TEST_STOP before START: %s\n",
           ename(xioctl(PIN_LONGTERM_TEST_STOP, NULL)));
    printf("  PIN_LONGTERM_TEST_START, argument pointer 16: %s\n",
           ename(xioctl(PIN_LONGTERM_TEST_START, (void *)16)));
    struct { const char *what; uint64_t addr, size; uint32_t flags; } bad[] = {
        { "unknown flag 4", (uintptr_t)mem, PG, 4 },
        { "unaligned address", (uintptr_t)mem + 8, PG, 0 },
        { "unaligned size", (uintptr_t)mem, PG + 1, 0 },
        { "size 0", (uintptr_t)mem, 0, 0 },
        { "size > LONG_MAX", (uintptr_t)mem, 1ULL << 63, 0 },
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&a, 0, sizeof a);
        a.addr = bad[i].addr;
        a.size = bad[i].size;
        a.flags = bad[i].flags;
        printf("  PIN_LONGTERM_TEST_START, %s: %s\n", bad[i].what,
               ename(xioctl(PIN_LONGTERM_TEST_START, &a)));
    }
    memset(&a, 0, sizeof a);
    a.addr = (uintptr_t)hole;
    a.size = 4 * PG;
    printf("  PIN_LONGTERM_TEST_START on unmapped memory: %s\n",
           ename(xioctl(PIN_LONGTERM_TEST_START, &a)));
    a.addr = (uintptr_t)mem;
    printf("  PIN_LONGTERM_TEST_START: %s\n", ename(xioctl(PIN_LONGTERM_TEST_START, &a)));
    printf("  PIN_LONGTERM_TEST_START again: %s\n", ename(xioctl(PIN_LONGTERM_TEST_START, &a)));
    printf("  PIN_LONGTERM_TEST_READ, argument pointer 16: %s\n",
           ename(xioctl(PIN_LONGTERM_TEST_READ, (void *)16)));
    dst = 16;
    printf("  PIN_LONGTERM_TEST_READ into address 16: %s\n",
           ename(xioctl(PIN_LONGTERM_TEST_READ, &dst)));
    printf("  PIN_LONGTERM_TEST_STOP: %s\n", ename(xioctl(PIN_LONGTERM_TEST_STOP, NULL)));
    printf("  PIN_LONGTERM_TEST_READ after STOP: %s\n",
           ename(xioctl(PIN_LONGTERM_TEST_READ, &dst)));
    /* A second open is a second test (here; Linux keeps one test system-wide). Closing a
     * descriptor with a test running unpins it (release). */
    int fd2 = open("/sys/kernel/debug/gup_test", O_RDWR);
    if (fd2 >= 0) {
        e = ioctl(fd2, PIN_LONGTERM_TEST_START, &a) ? errno : 0;
        printf("  PIN_LONGTERM_TEST_START on a second open, then close: %s\n", ename(e));
        close(fd2);
    }
    /* The file has no read, write or llseek. */
    printf("  read: %s\n", ename(read(gup_fd, buf, sizeof buf) < 0 ? errno : 0));
    printf("  write: %s\n", ename(write(gup_fd, buf, sizeof buf) < 0 ? errno : 0));
    printf("  lseek: %s\n", ename(lseek(gup_fd, 0, SEEK_SET) < 0 ? errno : 0));
}

/* ---- cow.c: R/O long-term pins ---- */

enum ro_pin_test { RO_PIN_TEST, RO_PIN_TEST_SHARED, RO_PIN_TEST_PREVIOUSLY_SHARED,
                   RO_PIN_TEST_RO_EXCLUSIVE };

/* do_test_ro_pin(): pin [mem, mem + size) R/O long-term, write it through the page
 * table, read it back through the pin, and say whether the pin saw the write. */
static void ro_pin(const char *desc, char *mem, size_t size, enum ro_pin_test test, int fast)
{
    int child_ready[2], parent_ready[2];
    struct pin_longterm_test args;
    char *tmp = malloc(size);
    char c;
    pid_t pid = -1;
    int e;

    printf("  %s, %s: ", desc, fast ? "GUP-fast" : "GUP");
    if (!tmp || pipe(child_ready) || pipe(parent_ready)) {
        printf("set-up failed\n");
        exit(1);
    }
    switch (test) {
    case RO_PIN_TEST:
        break;
    case RO_PIN_TEST_SHARED:
    case RO_PIN_TEST_PREVIOUSLY_SHARED:
        fflush(stdout);
        pid = fork();
        if (pid < 0) {
            printf("fork: %s\n", ename(errno));
            exit(1);
        }
        if (pid == 0) {
            (void)!write(child_ready[1], "0", 1);
            while (read(parent_ready[0], &c, 1) != 1)
                ;
            _exit(0);
        }
        while (read(child_ready[0], &c, 1) != 1)
            ;
        if (test == RO_PIN_TEST_PREVIOUSLY_SHARED) {
            (void)!write(parent_ready[1], "0", 1);
            waitpid(pid, NULL, 0);
            pid = -1;
        }
        break;
    case RO_PIN_TEST_RO_EXCLUSIVE:
        /* Map the page R/O in the page table (cow.c also clears soft-dirty, which
         * dirtybit does not have, so mprotect() may map it writable again). */
        if (mprotect(mem, size, PROT_READ) || mprotect(mem, size, PROT_READ | PROT_WRITE)) {
            printf("mprotect: %s\n", ename(errno));
            exit(1);
        }
        break;
    }
    memset(&args, 0, sizeof args);
    args.addr = (uintptr_t)mem;
    args.size = size;
    args.flags = fast ? PIN_LONGTERM_TEST_FLAG_USE_FAST : 0;
    e = xioctl(PIN_LONGTERM_TEST_START, &args);
    if (e) {
        printf("START %s\n", ename(e));
    } else {
        memset(mem, 0xff, size);
        uint64_t dst = (uintptr_t)tmp;
        e = xioctl(PIN_LONGTERM_TEST_READ, &dst);
        if (e)
            printf("READ %s\n", ename(e));
        else
            printf("pin sees the write: %s\n", memcmp(mem, tmp, size) ? "NO" : "yes");
        e = xioctl(PIN_LONGTERM_TEST_STOP, NULL);
        if (e)
            printf("  STOP %s\n", ename(e));
    }
    if (pid > 0) {
        (void)!write(parent_ready[1], "0", 1);
        waitpid(pid, NULL, 0);
    }
    close(child_ready[0]);
    close(child_ready[1]);
    close(parent_ready[0]);
    close(parent_ready[1]);
    free(tmp);
}

static void with_base_page(const char *desc, enum ro_pin_test test, int fast)
{
    char *mem = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        printf("  %s: mmap %s\n", desc, ename(errno));
        exit(1);
    }
    memset(mem, 1, PG);
    ro_pin(desc, mem, PG, test, fast);
    munmap(mem, PG);
}

static void with_zeropage(int fast)
{
    char *mem = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        printf("  zero page: mmap %s\n", ename(errno));
        exit(1);
    }
    /* Read to map the shared zero page. */
    volatile char r = *(volatile char *)mem;
    (void)r;
    ro_pin("shared zero page", mem, PG, RO_PIN_TEST, fast);
    munmap(mem, PG);
}

/* A file page in a MAP_PRIVATE mapping (cow.c run_with_memfd / run_with_tmpfile). */
static void with_file(const char *desc, int fd, const char *how, int fast)
{
    if (fd < 0) {
        printf("  %s, %s: skipped (%s: %s)\n", desc, fast ? "GUP-fast" : "GUP", how,
               ename(errno));
        return;
    }
    if (ftruncate(fd, PG)) {
        printf("  %s, %s: skipped (ftruncate: %s)\n", desc, fast ? "GUP-fast" : "GUP",
               ename(errno));
        close(fd);
        return;
    }
    char *mem = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (mem == MAP_FAILED) {
        printf("  %s, %s: skipped (mmap MAP_PRIVATE: %s)\n", desc, fast ? "GUP-fast" : "GUP",
               ename(errno));
        close(fd);
        return;
    }
    /* Read to map the page-cache page R/O. */
    volatile char r = *(volatile char *)mem;
    (void)r;
    ro_pin(desc, mem, PG, RO_PIN_TEST, fast);
    munmap(mem, PG);
    close(fd);
}

static void with_memfd(int fast)
{
    int fd = (int)syscall(SYS_memfd_create, "guptest", 0);
    with_file("memfd MAP_PRIVATE", fd, "memfd_create", fast);
}

static void with_tmpfile(int fast)
{
    int fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
    with_file("tmpfile MAP_PRIVATE", fd, "open O_TMPFILE", fast);
}

/* Whether the page at `addr` is present, from /proc/self/pagemap (bit 63), or -errno. */
static int page_present(const void *addr)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd < 0)
        return -errno;
    uint64_t ent;
    off_t off = (off_t)((uintptr_t)addr / PG * sizeof ent);
    ssize_t n = pread(fd, &ent, sizeof ent, off);
    int e = errno;
    close(fd);
    if (n != (ssize_t)sizeof ent)
        return n < 0 ? -e : -EIO;
    return (int)(ent >> 63);
}

/* cow.c do_run_with_thp(THP_RUN_PMD) and run_with_huge_zeropage(): a 2 MiB-aligned
 * MADV_HUGEPAGE range, touched once; a THP is there if its last subpage is present. */
static void with_thp(int huge_zero, int fast)
{
    const char *desc = huge_zero ? "huge zero page" : "THP";
    char *mem = map_aligned(PMD_SIZE);
    if (!mem) {
        printf("  %s: mmap %s\n", desc, ename(errno));
        exit(1);
    }
    if (madvise(mem, PMD_SIZE, MADV_HUGEPAGE)) {
        printf("  %s, %s: skipped (MADV_HUGEPAGE: %s)\n", desc, fast ? "GUP-fast" : "GUP",
               ename(errno));
        return;
    }
    if (huge_zero) {
        volatile char r = *(volatile char *)mem;
        (void)r;
    } else {
        mem[0] = 1;
    }
    int present = page_present(mem + PMD_SIZE - PG);
    if (present < 0) {
        printf("  %s, %s: skipped (cannot check for a THP: /proc/self/pagemap: %s)\n", desc,
               fast ? "GUP-fast" : "GUP", ename(-present));
    } else if (!present) {
        printf("  %s, %s: skipped (did not get a THP populated)\n", desc,
               fast ? "GUP-fast" : "GUP");
    } else {
        if (!huge_zero)
            memset(mem, 1, PMD_SIZE);
        ro_pin(desc, mem, PMD_SIZE, RO_PIN_TEST, fast);
    }
    munmap(mem, PMD_SIZE);
}

int main(void)
{
    PG = sysconf(_SC_PAGESIZE);
    setvbuf(stdout, NULL, _IOLBF, 0);

    gup_fd = open("/sys/kernel/debug/gup_test", O_RDWR);
    printf("open /sys/kernel/debug/gup_test O_RDWR: %s\n", ename(gup_fd < 0 ? errno : 0));
    if (gup_fd < 0)
        return 1;

    /* The selftest's set-up: map, then fault every page in from user space. */
    char *mem = map_aligned(BENCH_SIZE);
    if (!mem) {
        printf("mmap 128 MiB: %s\n", ename(errno));
        return 1;
    }
    for (size_t off = 0; off < BENCH_SIZE; off += PG)
        mem[off] = 0;

    unsigned long bench[] = { GUP_FAST_BENCHMARK, PIN_FAST_BENCHMARK, PIN_LONGTERM_BENCHMARK };
    for (unsigned i = 0; i < 3; i++) {
        gup_cmd(bench[i], mem, BENCH_SIZE, 1, FOLL_WRITE, 0);
        gup_cmd(bench[i], mem, BENCH_SIZE, 512, FOLL_WRITE, 0);
    }
    gup_cmd(GUP_BASIC_TEST, mem, BENCH_SIZE, 1, FOLL_WRITE, 0);
    gup_cmd(PIN_BASIC_TEST, mem, BENCH_SIZE, 1, FOLL_WRITE, 0);
    gup_cmd(GUP_BASIC_TEST, mem, BENCH_SIZE, 16, 0, 0);
    gup_cmd(PIN_BASIC_TEST, mem, BENCH_SIZE, 16, 0, 0);

    /* DUMP_USER_PAGES_TEST as `gup_test -c [-p] 0 2 99`: pages 1 and 3 (1-based) are
     * dumped to the kernel log; page 100 of 4 is out of range and zeroed. */
    for (int pin = 0; pin < 2; pin++) {
        struct gup_test g;
        memset(&g, 0, sizeof g);
        g.addr = (uintptr_t)mem;
        g.size = 4 * PG;
        g.nr_pages_per_call = 1;
        g.gup_flags = FOLL_WRITE;
        g.test_flags = pin ? GUP_TEST_FLAG_DUMP_PAGES_USE_PIN : 0;
        g.which_pages[0] = 1;
        g.which_pages[1] = 3;
        g.which_pages[2] = 100;
        int e = xioctl(DUMP_USER_PAGES_TEST, &g);
        printf("DUMP_USER_PAGES_TEST (%s), pages 1 3 100 of 4: %s, which_pages back:",
               pin ? "pin" : "get", ename(e));
        for (int i = 0; i < GUP_TEST_MAX_PAGES_TO_DUMP; i++)
            printf(" %u", g.which_pages[i]);
        printf("\n");
    }

    cycles_per_page(mem, BENCH_SIZE);
    munmap(mem, BENCH_SIZE);

    char *small = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(small, 2, 4 * PG);
    bad_arguments(small);
    munmap(small, 4 * PG);

    printf("R/O long-term pins (cow.c): PIN_LONGTERM_TEST_START R/O, write through the page "
           "table, PIN_LONGTERM_TEST_READ:\n");
    for (int fast = 0; fast < 2; fast++) {
        with_base_page("R/O-mapped exclusive anon page", RO_PIN_TEST_RO_EXCLUSIVE, fast);
        with_zeropage(fast);
        with_base_page("anon page R/O-shared with a live child", RO_PIN_TEST_SHARED, fast);
        with_base_page("previously shared anon page (child exited)",
                       RO_PIN_TEST_PREVIOUSLY_SHARED, fast);
        with_memfd(fast);
        with_tmpfile(fast);
        with_thp(0, fast);
        with_thp(1, fast);
    }
    close(gup_fd);
    return 0;
}
