/* hugetlb1g: the 1 GiB (gigantic) hugetlb pool and its mappings, seen from user space as
 * Linux's Documentation/admin-guide/mm/hugetlbpage.rst describes them, on a machine with
 * 4 GiB of RAM and one 1 GiB page reserved at boot (dirtybit run --mem 4G --hugepages 1G:1,
 * Linux's hugepagesz=1G hugepages=1).
 *
 * 1. The pools: /sys/kernel/mm/hugepages/ holds hugepages-2048kB and hugepages-1048576kB;
 *    writing nr_hugepages grows the 1 GiB pool at run time (alloc_contig_pages()) only as
 *    far as whole, aligned, free gigabytes go (3 of 4: the kernel's own frames sit in the
 *    lowest); nr_overcommit_hugepages is EINVAL (no surplus gigantic pages); /proc/meminfo
 *    shows the default (2 MiB) pool's HugePages_* and Hugepagesize, and every pool's memory
 *    in Hugetlb.
 * 2. MAP_HUGETLB|MAP_HUGE_1GB private: the length rounded up to 1 GiB and the address
 *    aligned, one reservation at mmap, a zeroed page at first touch (a page written and
 *    freed before reads zero again), contiguous frames in /proc/self/pagemap from a 1 GiB
 *    aligned frame, smaps KernelPageSize/MMUPageSize 1048576 kB and Private_Hugetlb.
 * 3. Reservations: ENOMEM when the pool cannot cover a mapping.
 * 4. munmap/mprotect/madvise at a 2 MiB boundary inside the 1 GiB page: EINVAL.
 * 5. fork: a private page is copied on write (1 GiB, from the pool); a shared one
 *    (MAP_SHARED|MAP_HUGETLB|MAP_HUGE_1GB) is one page for both.
 * 6. memfd_create(MFD_HUGETLB|MFD_HUGE_1GB): fstatfs f_bsize 1048576 kB, ftruncate in
 *    1 GiB units only, two shared mappings of one page.
 * 7. Pins through /sys/kernel/debug/gup_test on the 1 GiB leaves: long-term R/W and R/O
 *    pins, GUP and GUP-fast, PIN_BASIC_TEST and GUP_BASIC_TEST.
 * 8. Shrinking the pool under an in-use page makes it surplus; everything back at the end.
 *
 * The interpreter runs about 10^8 instructions a second: the program touches one byte per
 * 64 KiB, never the whole gigabyte. A kernel program (qemu-user has no hugetlb pool); the
 * reference is dirtybit's, reviewed against Linux's rules. No addresses are printed. */
#define _GNU_SOURCE
#include <dirent.h>
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

#define GPS (1UL << 30)
#define MPS (2UL << 20)
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#define MAP_HUGE_1GB_ (30 << MAP_HUGE_SHIFT)
#define MFD_HUGE_1GB_ (30U << 26)
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 4U
#endif
#define HUGEPAGES "/sys/kernel/mm/hugepages/"
#define SYSFS HUGEPAGES "hugepages-1048576kB/"
#define PFN_MASK ((1ULL << 55) - 1)

static long PG;

/* The 1 GiB pool's nr/free/resv/surplus, on one line. */
static void pool(const char *when)
{
    printf("%-34s total %ld free %ld resv %ld surplus %ld\n", when,
           read_num(SYSFS "nr_hugepages"), read_num(SYSFS "free_hugepages"),
           read_num(SYSFS "resv_hugepages"), read_num(SYSFS "surplus_hugepages"));
}

/* A /proc/meminfo line's value (kB, or pages for HugePages_*), -1 if missing. */
static long meminfo_val(const char *label)
{
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, label, strlen(label)))
            v = strtol(line + strlen(label), NULL, 10);
    fclose(f);
    return v;
}

static void meminfo(void)
{
    printf("  meminfo HugePages_Total %ld, Hugepagesize %ld kB, Hugetlb %ld kB\n",
           meminfo_val("HugePages_Total:"), meminfo_val("Hugepagesize:"),
           meminfo_val("Hugetlb:"));
}

/* Where the program looks in a gigabyte: one byte every 64 KiB (16384 places). Every 4 KiB
 * would be 262144 host pages faulted in per gigabyte; this keeps a run's host memory near
 * what the kernel itself touches (the COW copy), and still covers every 2 MiB. */
#define STRIDE (64UL << 10)

/* Whether the huge page at p reads zero where stamp() writes. */
static int sampled_zero(const char *p)
{
    for (size_t off = 0; off < GPS; off += STRIDE)
        if (*(const volatile char *)(p + off + 8))
            return 0;
    return 1;
}

/* Writes c at offset 8 of every STRIDE bytes. */
static void stamp(char *p, char c)
{
    for (size_t off = 0; off < GPS; off += STRIDE)
        p[off + 8] = c;
}

/* Whether p holds c wherever stamp() put it. */
static int stamped(const char *p, char c)
{
    for (size_t off = 0; off < GPS; off += STRIDE)
        if (p[off + 8] != c)
            return 0;
    return 1;
}

static void cow_child(void *p)
{
    char *c = p;
    long before = read_num(SYSFS "free_hugepages");
    c[3 * STRIDE + 16] = 'C';
    printf("  child wrote 'C': sees '%c', pool gave it a 1 GiB copy: %s\n", c[3 * STRIDE + 16],
           read_num(SYSFS "free_hugepages") == before - 1 ? "yes" : "no");
    printf("  child's copy kept the rest: %s\n", stamped(c, 'P') ? "yes" : "no");
}

static void shared_child(void *p)
{
    char *c = p;
    printf("  child reads '%c' at +512 MiB\n", c[GPS / 2]);
    c[GPS / 2] = 'c';
}

static void list_pools(void)
{
    char names[4][256];
    int n = 0;
    DIR *d = opendir(HUGEPAGES);
    if (!d) {
        printf("%s: %s\n", HUGEPAGES, errname(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) && n < 4)
        if (e->d_name[0] != '.')
            snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    closedir(d);
    /* readdir order is the file system's: sort the (at most four) names. */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char t[256];
                memcpy(t, names[i], sizeof t);
                memcpy(names[i], names[j], sizeof t);
                memcpy(names[j], t, sizeof t);
            }
    printf("pools:");
    for (int i = 0; i < n; i++)
        printf(" %s", names[i]);
    printf("\n");
}

int main(void)
{
    PG = sysconf(_SC_PAGESIZE);

    /* 1. The pools. */
    list_pools();
    pool("boot (hugepages=1):");
    long free_kb = meminfo_val("MemFree:");
    printf("write nr_hugepages 8: %s\n", write_str(SYSFS "nr_hugepages", "8\n"));
    pool("after the write (3 whole GiB):");
    printf("MemFree fell by %ld GiB\n", (free_kb - meminfo_val("MemFree:")) >> 20);
    printf("write nr_overcommit_hugepages 1: %s\n",
           write_str(SYSFS "nr_overcommit_hugepages", "1"));
    printf("2 MiB pool: total %ld\n", read_num(HUGEPAGES "hugepages-2048kB/nr_hugepages"));
    meminfo();

    /* 2. Private MAP_HUGETLB|MAP_HUGE_1GB; first a page written and freed. */
    char *p = map(PG, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB_, -1);
    if (p == MAP_FAILED) {
        printf("mmap MAP_HUGE_1GB: %s\n", errname(errno));
        return 1;
    }
    stamp(p, 'D');
    munmap(p, GPS);
    p = map(PG, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB_, -1);
    if (p == MAP_FAILED) {
        printf("mmap MAP_HUGE_1GB: %s\n", errname(errno));
        return 1;
    }
    printf("private: 1 GiB aligned %s\n", (uintptr_t)p % GPS ? "no" : "yes");
    pool("private mapped:");
    printf("private: first touch reads zeros: %s\n", sampled_zero(p) ? "yes" : "no");
    stamp(p, 'P');
    pool("private touched:");
    printf("private: reads back what it wrote: %s\n", stamped(p, 'P') ? "yes" : "no");
    uint64_t e0 = pagemap(p), e1 = pagemap(p + PG), elast = pagemap(p + GPS - PG);
    uint64_t f0 = e0 & PFN_MASK;
    printf("pagemap: present %d, exclusive %d, frame 1 GiB aligned %s, contiguous %s\n",
           (int)(e0 >> 63), (int)((e0 >> 56) & 1), f0 % (GPS / PG) ? "no" : "yes",
           (e1 & PFN_MASK) == f0 + 1 && (elast & PFN_MASK) == f0 + GPS / PG - 1 ? "yes" : "no");
    smaps("private", p);

    /* 3. Reservations. */
    void *big = map(2 * GPS, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB_, -1);
    printf("mmap 2 GiB with 2 free pages: %s\n", big == MAP_FAILED ? errname(errno) : "mapped");
    if (big != MAP_FAILED)
        munmap(big, 2 * GPS);
    void *three = map(3 * GPS, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB_, -1);
    printf("mmap 3 GiB with 2 free pages: %s\n", three == MAP_FAILED ? errname(errno) : "mapped");
    pool("after both:");

    /* 4. Boundaries inside the 1 GiB page, on a 2 MiB boundary. */
    printf("munmap first 2 MiB: %s\n", munmap(p, MPS) ? errname(errno) : "OK");
    printf("mprotect from +2 MiB: %s\n",
           mprotect(p + MPS, GPS - MPS, PROT_READ) ? errname(errno) : "OK");
    printf("madvise DONTNEED from +2 MiB: %s\n",
           madvise(p + MPS, MPS, MADV_DONTNEED) ? errname(errno) : "OK");
    printf("data intact: %s\n", p[MPS + 8] == 'P' ? "yes" : "no");

    /* 5. fork. */
    in_child("private COW", cow_child, p);
    printf("  parent still sees '%c', not the child's write: %s\n", p[3 * STRIDE + 8],
           p[3 * STRIDE + 16] == 0 ? "yes" : "no");
    pool("child gone, its copy freed:");
    char *s = map(GPS, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB_, -1);
    if (s == MAP_FAILED) {
        printf("mmap MAP_SHARED|MAP_HUGETLB|MAP_HUGE_1GB: %s\n", errname(errno));
        return 1;
    }
    s[GPS / 2] = 'p';
    in_child("shared", shared_child, s);
    printf("  parent reads '%c'\n", s[GPS / 2]);
    smaps("shared", s);

    /* 6. memfd_create(MFD_HUGETLB|MFD_HUGE_1GB). */
    int mfd = memfd_create("huge1g", MFD_HUGETLB | MFD_HUGE_1GB_);
    if (mfd < 0) {
        printf("memfd_create(MFD_HUGETLB|MFD_HUGE_1GB): %s\n", errname(errno));
        return 1;
    }
    struct statfs sf;
    printf("memfd: fstatfs %s, f_bsize %ld kB\n",
           fstatfs(mfd, &sf) ? errname(errno)
           : sf.f_type == 0x958458f6 ? "hugetlbfs" : "other",
           (long)sf.f_bsize / 1024);
    printf("memfd: ftruncate 2 MiB: %s\n", ftruncate(mfd, MPS) ? errname(errno) : "OK");
    printf("memfd: ftruncate 1 GiB: %s\n", ftruncate(mfd, GPS) ? errname(errno) : "OK");
    char *m1 = map(GPS, MAP_SHARED, mfd), *m2 = map(GPS, MAP_SHARED, mfd);
    if (m1 == MAP_FAILED || m2 == MAP_FAILED) {
        printf("memfd: mmap %s\n", errname(errno));
        return 1;
    }
    m1[GPS - 1] = 'm';
    printf("memfd: second shared mapping reads '%c'\n", m2[GPS - 1]);
    smaps("memfd", m1);
    pool("memfd mapped twice:");

    /* 7. Pins on the 1 GiB leaves (4 MiB from +510 MiB, across a 2 MiB boundary). */
    gup_fd = open("/sys/kernel/debug/gup_test", O_RDWR);
    if (gup_fd < 0) {
        printf("gup_test: %s\n", errname(errno));
        return 1;
    }
    pins("private 1 GiB", p + 255 * MPS, 4 * MPS);
    pins("shared 1 GiB", s + 255 * MPS, 4 * MPS);
    pins("memfd MAP_SHARED", m1 + 255 * MPS, 4 * MPS);
    struct gup_test gt = {
        .addr = (uint64_t)(uintptr_t)(p + 255 * MPS),
        .size = 4 * MPS,
        .nr_pages_per_call = 512,
        .gup_flags = FOLL_WRITE,
    };
    printf("PIN_BASIC_TEST 4 MiB: %s\n", ioctl(gup_fd, PIN_BASIC_TEST, &gt) ? errname(errno) : "OK");
    printf("GUP_BASIC_TEST 4 MiB: %s\n", ioctl(gup_fd, GUP_BASIC_TEST, &gt) ? errname(errno) : "OK");
    printf("PIN_FAST_BENCHMARK 4 MiB: %s\n",
           ioctl(gup_fd, PIN_FAST_BENCHMARK, &gt) ? errname(errno) : "OK");
    printf("GUP_FAST_BENCHMARK 4 MiB: %s\n",
           ioctl(gup_fd, GUP_FAST_BENCHMARK, &gt) ? errname(errno) : "OK");
    close(gup_fd);

    /* 8. Shrinking under in-use pages, and everything back. */
    printf("write nr_hugepages 0: %s\n", write_str(SYSFS "nr_hugepages", "0"));
    pool("in-use pages made surplus:");
    munmap(m1, GPS);
    munmap(m2, GPS);
    close(mfd);
    pool("memfd closed:");
    munmap(s, GPS);
    munmap(p, GPS);
    pool("all unmapped:");
    printf("MemFree back: %s\n", meminfo_val("MemFree:") >= free_kb ? "yes" : "no");
    meminfo();
    return 0;
}
