/* hugetlb: the 2 MiB hugetlb pool and its mappings, seen from user space as Linux's
 * Documentation/admin-guide/mm/hugetlbpage.rst describes them.
 *
 * 1. The pool: /sys/kernel/mm/hugepages/hugepages-2048kB/{nr,free,resv,surplus,
 *    nr_overcommit}_hugepages, /proc/sys/vm/nr_hugepages and the HugePages_* lines of
 *    /proc/meminfo; a write to nr_hugepages grows it from free memory.
 * 2. MAP_HUGETLB private: the length rounded up to 2 MiB and the address aligned, one
 *    reservation per huge page at mmap (HugePages_Rsvd), a zeroed page at first touch,
 *    contiguous frames in /proc/self/pagemap, smaps KernelPageSize 2048 kB and
 *    Private_Hugetlb, maps "/anon_hugepage (deleted)".
 * 3. Reservations: ENOMEM when the pool cannot cover a mapping; MAP_NORESERVE maps and a
 *    touch without a free page is SIGBUS.
 * 4. munmap/mprotect/madvise inside a huge page: EINVAL; MADV_DONTNEED of whole pages
 *    frees them (the data is gone: zeros again).
 * 5. fork: a private page is copied on write (2 MiB, from the pool); a shared one
 *    (MAP_SHARED|MAP_HUGETLB) is one page for both.
 * 6. memfd_create(MFD_HUGETLB): fstatfs HUGETLBFS_MAGIC, ftruncate in huge pages only,
 *    fallocate, two shared mappings of one page, a private mapping copying on write.
 * 7. Pins through /sys/kernel/debug/gup_test: long-term R/W and R/O pins, GUP and GUP-fast,
 *    of private and memfd hugetlb pages; PIN_BASIC_TEST over 2 MiB.
 * 8. Every counter back where it was after the munmaps and closes; the pool freed.
 *
 * A kernel program: qemu-user has no hugetlb pool, no gup_test and the host's /proc. The
 * reference is dirtybit's, reviewed against Linux's rules. No addresses are printed. Exit
 * status 0 unless the set-up fails. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"
#include "gup_test_abi.h"
#include "hugetlb_common.h"

#define HPS (2UL << 20)
#define HUGETLBFS_MAGIC_ 0x958458f6
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#define MAP_HUGE_2MB_ (21 << MAP_HUGE_SHIFT)
#define MAP_HUGE_1GB_ (30 << MAP_HUGE_SHIFT)
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 4U
#endif
#define SYSFS "/sys/kernel/mm/hugepages/hugepages-2048kB/"

static long PG;

/* nr/free/resv/surplus from sysfs, on one line. */
static void pool(const char *when)
{
    printf("%-34s total %ld free %ld resv %ld surplus %ld\n", when,
           read_num(SYSFS "nr_hugepages"), read_num(SYSFS "free_hugepages"),
           read_num(SYSFS "resv_hugepages"), read_num(SYSFS "surplus_hugepages"));
}

/* The HugePages_* and Hugepagesize lines of /proc/meminfo. */
static void meminfo(void)
{
    char line[256];
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) {
        printf("/proc/meminfo: %s\n", errname(errno));
        return;
    }
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "HugePages_", 10) || !strncmp(line, "Hugepagesize:", 13) ||
            !strncmp(line, "Hugetlb:", 8))
            printf("  meminfo %s", line);
    fclose(f);
}

/* /proc/self/status's HugetlbPages in kB (hugetlb_report_usage()), -1 if missing. */
static long status_hugetlb_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "HugetlbPages:", 13))
            kb = strtol(line + 13, NULL, 10);
    fclose(f);
    return kb;
}

/* Whether the whole huge page at p reads zero. */
static int all_zero(const char *p)
{
    const uint64_t *w = (const uint64_t *)p;
    for (size_t i = 0; i < HPS / 8; i++)
        if (w[i])
            return 0;
    return 1;
}

static void touch(void *p)
{
    *(volatile char *)p = 1;
}

static void cow_child(void *p)
{
    char *c = p;
    long before = read_num(SYSFS "free_hugepages");
    c[PG] = 'C';
    printf("  child wrote 'C': sees '%c', pool gave it a copy: %s\n", c[PG],
           read_num(SYSFS "free_hugepages") == before - 1 ? "yes" : "no");
    printf("  child's copy kept the rest: '%c'\n", c[HPS - 1]);
}

static void shared_child(void *p)
{
    char *c = p;
    printf("  child reads '%c'\n", c[8]);
    c[8] = 'c';
}

int main(void)
{
    PG = sysconf(_SC_PAGESIZE);

    /* 1. The pool. */
    pool("boot:");
    printf("write nr_hugepages 6: %s\n", write_str(SYSFS "nr_hugepages", "6\n"));
    pool("after the write:");
    printf("/proc/sys/vm/nr_hugepages: %ld\n", read_num("/proc/sys/vm/nr_hugepages"));
    printf("write free_hugepages: %s\n", write_str(SYSFS "free_hugepages", "1"));
    printf("write nr_hugepages junk: %s\n", write_str(SYSFS "nr_hugepages", "x"));
    printf("write /proc/sys/vm/nr_hugepages 4: %s\n",
           write_str("/proc/sys/vm/nr_hugepages", "4"));
    meminfo();

    /* 2. Private MAP_HUGETLB. */
    char *p = map(HPS + 1, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1);
    if (p == MAP_FAILED) {
        printf("mmap MAP_HUGETLB: %s\n", errname(errno));
        return 1;
    }
    printf("private: 2 MiB aligned %s\n", (uintptr_t)p % HPS ? "no" : "yes");
    pool("private mapped (2 pages):");
    printf("private: first touch reads zeros: %s\n", all_zero(p) ? "yes" : "no");
    memset(p, 'P', HPS);
    pool("private first page touched:");
    uint64_t e0 = pagemap(p), e1 = pagemap(p + PG), e511 = pagemap(p + HPS - PG);
    printf("pagemap: present %d, exclusive %d, frames contiguous %s, one 2 MiB frame %s\n",
           (int)(e0 >> 63), (int)((e0 >> 56) & 1),
           ((e1 & ((1ULL << 55) - 1)) == (e0 & ((1ULL << 55) - 1)) + 1) ? "yes" : "no",
           ((e0 & ((1ULL << 55) - 1)) % 512 == 0 &&
            (e511 & ((1ULL << 55) - 1)) == (e0 & ((1ULL << 55) - 1)) + 511) ? "yes" : "no");
    smaps("private", p);
    printf("status HugetlbPages: %ld kB\n", status_hugetlb_kb());

    /* 3. Reservations. */
    void *big = map(4 * HPS, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1);
    printf("mmap 4 pages with 3 unreserved: %s\n", big == MAP_FAILED ? errname(errno) : "mapped");
    void *r = map(2 * HPS, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB_, -1);
    printf("mmap 2 pages, MAP_HUGE_2MB: %s\n", r == MAP_FAILED ? errname(errno) : "mapped");
    void *g = map(HPS, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB_, -1);
    printf("mmap MAP_HUGE_1GB: %s\n", g == MAP_FAILED ? errname(errno) : "mapped");
    pool("all reserved:");
    void *nr = map(HPS, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_NORESERVE, -1);
    printf("mmap MAP_NORESERVE: %s\n", nr == MAP_FAILED ? errname(errno) : "mapped");
    if (nr != MAP_FAILED)
        in_child("touch MAP_NORESERVE with no free page", touch, nr);
    munmap(r, 2 * HPS);
    pool("2-page mapping unmapped:");
    if (nr != MAP_FAILED) {
        in_child("touch MAP_NORESERVE with free pages", touch, nr);
        munmap(nr, HPS);
    }

    /* 4. Boundaries inside a huge page. */
    printf("munmap first 4 KiB: %s\n", munmap(p, PG) ? errname(errno) : "OK");
    printf("munmap from +4 KiB: %s\n", munmap(p + PG, HPS) ? errname(errno) : "OK");
    printf("mprotect first 4 KiB: %s\n", mprotect(p, PG, PROT_READ) ? errname(errno) : "OK");
    printf("madvise DONTNEED from +4 KiB: %s\n",
           madvise(p + PG, PG, MADV_DONTNEED) ? errname(errno) : "OK");
    printf("data intact: %s\n", p[PG] == 'P' && p[HPS - 1] == 'P' ? "yes" : "no");
    printf("madvise DONTNEED whole page: %s\n",
           madvise(p + HPS, HPS, MADV_DONTNEED) ? errname(errno) : "OK");
    p[HPS] = 'Q';
    pool("second private page touched:");
    printf("madvise DONTNEED both pages: %s\n",
           madvise(p, 2 * HPS, MADV_DONTNEED) ? errname(errno) : "OK");
    pool("both zapped:");
    printf("zapped page reads zeros: %s\n", all_zero(p) ? "yes" : "no");
    memset(p, 'P', HPS);

    /* 5. fork. */
    in_child("private COW", cow_child, p);
    printf("  parent still sees '%c'\n", p[PG]);
    pool("child gone, its copy freed:");
    char *s = map(HPS, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1);
    if (s == MAP_FAILED) {
        printf("mmap MAP_SHARED|MAP_HUGETLB: %s\n", errname(errno));
        return 1;
    }
    s[8] = 'p';
    in_child("shared", shared_child, s);
    printf("  parent reads '%c'\n", s[8]);
    smaps("shared", s);

    /* 6. memfd_create(MFD_HUGETLB). */
    int mfd = memfd_create("hugetlb", MFD_HUGETLB);
    if (mfd < 0) {
        printf("memfd_create(MFD_HUGETLB): %s\n", errname(errno));
        return 1;
    }
    struct statfs sf;
    printf("memfd: fstatfs %s, f_bsize %ld kB\n",
           fstatfs(mfd, &sf) ? errname(errno)
           : sf.f_type == HUGETLBFS_MAGIC_ ? "hugetlbfs" : "other",
           (long)sf.f_bsize / 1024);
    printf("memfd: ftruncate 2 MiB + 4 KiB: %s\n", ftruncate(mfd, HPS + PG) ? errname(errno) : "OK");
    printf("memfd: ftruncate 2 MiB: %s\n", ftruncate(mfd, HPS) ? errname(errno) : "OK");
    printf("memfd: fallocate: %s\n", fallocate(mfd, 0, 0, HPS) ? errname(errno) : "OK");
    pool("memfd page allocated:");
    char *m1 = map(HPS, MAP_SHARED, mfd), *m2 = map(HPS, MAP_SHARED, mfd);
    char *mp = map(HPS, MAP_PRIVATE, mfd);
    if (m1 == MAP_FAILED || m2 == MAP_FAILED || mp == MAP_FAILED) {
        printf("memfd: mmap %s\n", errname(errno));
        return 1;
    }
    m1[100] = 'm';
    printf("memfd: second shared mapping reads '%c', private reads '%c'\n", m2[100], mp[100]);
    mp[100] = 'x';
    printf("memfd: after a private write, shared reads '%c', private '%c'\n", m1[100], mp[100]);
    smaps("memfd", m1);
    pool("memfd mapped 3 times:");
    char *m3 = map(2 * HPS, MAP_SHARED, mfd);
    printf("memfd: 2-page mapping with no page left to reserve: %s\n",
           m3 == MAP_FAILED ? errname(errno) : "mapped");

    /* 7. Pins. */
    gup_fd = open("/sys/kernel/debug/gup_test", O_RDWR);
    if (gup_fd < 0) {
        printf("gup_test: %s\n", errname(errno));
        return 1;
    }
    pins("private hugetlb", p, HPS);
    pins("shared hugetlb", s, HPS);
    pins("memfd MAP_SHARED", m1, HPS);
    pins("memfd MAP_PRIVATE", mp, HPS);
    struct gup_test gt = {
        .addr = (uint64_t)(uintptr_t)p,
        .size = HPS,
        .nr_pages_per_call = 512,
        .gup_flags = FOLL_WRITE,
    };
    printf("PIN_BASIC_TEST 2 MiB: %s\n", ioctl(gup_fd, PIN_BASIC_TEST, &gt) ? errname(errno) : "OK");
    printf("GUP_FAST_BENCHMARK 2 MiB: %s\n",
           ioctl(gup_fd, GUP_FAST_BENCHMARK, &gt) ? errname(errno) : "OK");
    close(gup_fd);

    /* 8. Everything back. */
    munmap(m1, HPS);
    munmap(m2, HPS);
    munmap(mp, HPS);
    pool("memfd unmapped, still open:");
    m3 = map(2 * HPS, MAP_SHARED, mfd);
    printf("memfd: 2-page writable mapping: %s\n", m3 == MAP_FAILED ? errname(errno) : "mapped");
    if (m3 != MAP_FAILED) {
        pool("  its second page reserved:");
        long before = read_num(SYSFS "free_hugepages");
        in_child("  the size grew to 4 MiB: touch page 2", touch, m3 + HPS);
        printf("  the child's page stays in the file: %s\n",
               read_num(SYSFS "free_hugepages") == before - 1 ? "yes" : "no");
        munmap(m3, 2 * HPS);
    }
    close(mfd);
    munmap(s, HPS);
    munmap(p, 2 * HPS);
    pool("all unmapped and closed:");
    printf("write nr_hugepages 0: %s\n", write_str(SYSFS "nr_hugepages", "0"));
    pool("pool freed:");
    meminfo();
    return 0;
}
