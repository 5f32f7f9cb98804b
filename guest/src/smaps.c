/* smaps: /proc/<pid>/smaps and /proc/<pid>/smaps_rollup (fs/proc/task_mmu.c) for
 * mappings this program makes, touches, forks and dirties:
 *  - private anonymous memory: written pages are Rss, Anonymous, Private_Dirty and
 *    Referenced; pages only read map the shared zero page and count nowhere;
 *  - after fork: the pages are Shared_Dirty in both processes and each one's Pss is half;
 *    the child's write copies a page, which becomes Private_Dirty in the child and (its
 *    only mapper now) Private_Dirty in the parent too; after the child exits, everything
 *    is the parent's alone again;
 *  - three processes sharing three pages: Pss is Linux's fixed-point sum (4096 << 12) / 3
 *    per page, 4095 bytes in all: 3 kB, not 4;
 *  - shared anonymous memory and a memfd (shmem): not Anonymous; fork copies no PTE of
 *    the memfd mapping, and once the child has written the page it is Shared_Dirty in
 *    both;
 *  - a private file mapping: read pages are the page cache's, private, not Anonymous (at
 *    least the pages read: Linux's fault-around may map more); a written page is an
 *    anonymous COW copy;
 *  - a 2 MiB MADV_HUGEPAGE region written once: one PMD-mapped THP, AnonHugePages 2048 kB,
 *    THPeligible 1 (0 without MADV_HUGEPAGE);
 *  - mlock: VM_LOCKED ("lo"), Locked equal to the Pss, the pages populated;
 *  - mprotect splitting a VMA: three records whose Sizes add up;
 *  - VmFlags codes for each kind of mapping;
 *  - smaps_rollup: the [rollup] line, and Rss / Anonymous / Private_Dirty equal to the
 *    sums over the smaps records.
 *
 * qemu-user 7.2 cannot be the oracle: it passes /proc/self/smaps through to the host's file
 * of its own process. Guest addresses are host addresses there, so the records of the
 * mappings made here are the host kernel's — and a Linux 6.18 host printed the same
 * lines as dirtybit for everything but the THP region (qemu-user ignores MADV_HUGEPAGE)
 * and the rollup sums (qemu's own mappings change between the reads). That depends on
 * the host's kernel and THP settings, so the reference is recorded from dirtybit and
 * reviewed (expected-kernel/smaps.stdout). Prints facts and sizes, never addresses.
 * Exit status 0 when every check passed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096UL
#define HPAGE (2UL << 20)

static int failures;
static char buf[1 << 20];

static void check(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAIL");
    if (!ok)
        failures++;
}

/* The whole of a /proc file into buf (NUL-terminated); its length. */
static size_t slurp(const char *path)
{
    int fd = open(path, O_RDONLY);
    size_t len = 0;
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    for (;;) {
        /* Reads of an odd size: records are cut and carried on. */
        ssize_t n = read(fd, buf + len, len + 1000 < sizeof buf - 1 ? 1000 : sizeof buf - 1 - len);
        if (n <= 0)
            break;
        len += n;
    }
    close(fd);
    buf[len] = 0;
    return len;
}

/* The record of the VMA starting at addr in /proc/<pid>/smaps (pid 0: self), copied into
 * rec; 0 if there is none. */
static int record(int pid, const void *addr, char *rec, size_t cap)
{
    char path[64], key[32];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/smaps", pid);
    else
        snprintf(path, sizeof path, "/proc/self/smaps");
    slurp(path);
    snprintf(key, sizeof key, "%08lx-", (unsigned long)addr);
    char *p = buf;
    while (p && strncmp(p, key, strlen(key)) != 0) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p)
        return 0;
    char *end = strstr(p, "VmFlags:");
    if (!end)
        return 0;
    end = strchr(end, '\n');
    size_t n = end ? (size_t)(end - p + 1) : strlen(p);
    if (n >= cap)
        n = cap - 1;
    memcpy(rec, p, n);
    rec[n] = 0;
    return 1;
}

/* The number after "name:" in a record (kB, or THPeligible's 0/1); -1 if absent. */
static long field(const char *rec, const char *name)
{
    char key[40];
    snprintf(key, sizeof key, "\n%s:", name);
    const char *p = strstr(rec, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* The codes after "VmFlags: ", without the trailing space. */
static void vmflags(const char *rec, char *out, size_t cap)
{
    const char *p = strstr(rec, "VmFlags: ");
    size_t n = 0;
    if (p) {
        p += 9;
        while (p[n] && p[n] != '\n' && n < cap - 1)
            n++;
        while (n && p[n - 1] == ' ')
            n--;
        memcpy(out, p, n);
    }
    out[n] = 0;
}

/* Prints the fields a test can predict for the VMA at addr of pid (0: self). */
static void show(const char *what, int pid, const void *addr)
{
    static char rec[8192];
    char flags[256];
    if (!record(pid, addr, rec, sizeof rec)) {
        printf("%s: no record\n", what);
        failures++;
        return;
    }
    vmflags(rec, flags, sizeof flags);
    printf("%s: Size %ld Rss %ld Pss %ld Shared_Clean %ld Shared_Dirty %ld Private_Clean %ld "
           "Private_Dirty %ld Referenced %ld Anonymous %ld AnonHugePages %ld Swap %ld "
           "Locked %ld THPeligible %ld VmFlags [%s]\n",
           what, field(rec, "Size"), field(rec, "Rss"), field(rec, "Pss"),
           field(rec, "Shared_Clean"), field(rec, "Shared_Dirty"), field(rec, "Private_Clean"),
           field(rec, "Private_Dirty"), field(rec, "Referenced"), field(rec, "Anonymous"),
           field(rec, "AnonHugePages"), field(rec, "Swap"), field(rec, "Locked"),
           field(rec, "THPeligible"), flags);
}

static void sync_write(int fd)
{
    char c = 'x';
    if (write(fd, &c, 1) != 1)
        exit(2);
}

static void sync_read(int fd)
{
    char c;
    if (read(fd, &c, 1) != 1)
        exit(2);
}

static void anon_and_fork(void)
{
    char *a = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *shm = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int mfd = memfd_create("smaps", 0);
    if (mfd < 0 || ftruncate(mfd, 2 * PG))
        exit(1);
    char *mem = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    if (a == MAP_FAILED || shm == MAP_FAILED || mem == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    a[0] = a[PG] = a[2 * PG] = 1;
    volatile char r = a[3 * PG]; /* the zero page */
    (void)r;
    shm[0] = 2;
    mem[0] = 4;
    show("anon, 3 written + 1 read", 0, a);
    show("shared anon, 1 written", 0, shm);
    show("memfd, 1 written", 0, mem);

    int to_parent[2], to_child[2];
    if (pipe(to_parent) || pipe(to_child))
        exit(1);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        show("child: anon after fork", 0, a);
        /* Linux's fork copies no PTE of a shared file mapping (vma_needs_copy()); the
         * child's write faults the page-cache page in. */
        mem[0] = 5;
        show("child: memfd after its write", 0, mem);
        a[0] = 3; /* COW: the child's own copy */
        show("child: anon after its write to page 0", 0, a);
        fflush(stdout);
        sync_write(to_parent[1]);
        sync_read(to_child[0]);
        _exit(0);
    }
    sync_read(to_parent[0]);
    show("parent: anon while the child lives", 0, a);
    show("parent: the child's anon through /proc/<pid>/smaps", pid, a);
    show("parent: memfd while the child lives", 0, mem);
    sync_write(to_child[1]);
    int st;
    waitpid(pid, &st, 0);
    show("parent: anon after the child exited", 0, a);

    /* Three processes, three dirty pages: Pss 3 kB (Linux's PSS_SHIFT rounding). */
    fflush(stdout);
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            sync_read(to_child[0]);
            _exit(0);
        }
    }
    show("three mappers", 0, a);
    sync_write(to_child[1]);
    sync_write(to_child[1]);
    for (int i = 0; i < 2; i++)
        waitpid(kids[i], &st, 0);
    munmap(a, 4 * PG);
    munmap(shm, 2 * PG);
    munmap(mem, 2 * PG);
    close(mfd);
}

static void file_mapping(void)
{
    const char *path = "/tmp/smaps-data";
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    static char page[PG];
    for (int i = 0; i < 4; i++) {
        memset(page, 'a' + i, sizeof page);
        if (write(fd, page, sizeof page) != (ssize_t)sizeof page)
            exit(1);
    }
    char *f = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (f == MAP_FAILED) {
        perror("mmap file");
        exit(1);
    }
    volatile char r = f[0] + f[PG];
    (void)r;
    static char rec[8192];
    record(0, f, rec, sizeof rec);
    /* Linux maps more than the faulting page of a cached file (fault-around, up to
     * fault_around_bytes = 64 KiB): only a lower bound of Rss is predictable. */
    printf("private file, 2 read: Size %ld Rss>=8 %s Anonymous %ld all private %s "
           "THPeligible %ld\n",
           field(rec, "Size"), field(rec, "Rss") >= 8 ? "yes" : "no", field(rec, "Anonymous"),
           field(rec, "Private_Clean") + field(rec, "Private_Dirty") == field(rec, "Rss")
               ? "yes"
               : "no",
           field(rec, "THPeligible"));
    f[2 * PG] = 'z';
    record(0, f, rec, sizeof rec);
    char flags[256];
    vmflags(rec, flags, sizeof flags);
    printf("private file, +1 written: Rss>=12 %s Anonymous %ld Private_Dirty>=4 %s "
           "VmFlags [%s]\n",
           field(rec, "Rss") >= 12 ? "yes" : "no", field(rec, "Anonymous"),
           field(rec, "Private_Dirty") >= 4 ? "yes" : "no", flags);
    munmap(f, 4 * PG);
    close(fd);
    unlink(path);
}

static void thp(void)
{
    char *raw = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *h = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
    /* Cut the region to exactly the aligned 2 MiB: one VMA. */
    if (h > raw)
        munmap(raw, h - raw);
    munmap(h + HPAGE, raw + 2 * HPAGE - (h + HPAGE));
    show("2 MiB anon, no MADV_HUGEPAGE, untouched", 0, h);
    if (madvise(h, HPAGE, MADV_HUGEPAGE)) {
        perror("madvise");
        exit(1);
    }
    h[100] = 1;
    show("2 MiB MADV_HUGEPAGE, one write", 0, h);
    munmap(h, HPAGE);
}

static void mlock_and_split(void)
{
    char *m = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mlock(m, 3 * PG)) {
        perror("mlock");
        exit(1);
    }
    show("mlocked 3 pages", 0, m);
    munlock(m, 3 * PG);
    munmap(m, 3 * PG);

    char *s = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    s[0] = s[PG] = s[2 * PG] = 1;
    mprotect(s + PG, PG, PROT_READ);
    show("split: first", 0, s);
    show("split: middle (PROT_READ)", 0, s + PG);
    show("split: last", 0, s + 2 * PG);
    munmap(s, 3 * PG);
}

/* Sums of a field over every record of /proc/self/smaps. */
static long sum_smaps(const char *name)
{
    char key[40];
    long sum = 0;
    slurp("/proc/self/smaps");
    snprintf(key, sizeof key, "\n%s:", name);
    for (const char *p = buf; (p = strstr(p, key)); p += strlen(key))
        sum += strtol(p + strlen(key), NULL, 10);
    return sum;
}

static void rollup(void)
{
    char *a = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(a, 1, 8 * PG);
    /* Nothing below allocates or touches new pages between the reads. */
    long rss = sum_smaps("Rss"), anon = sum_smaps("Anonymous"),
         dirty = sum_smaps("Private_Dirty");
    static char rec[8192];
    slurp("/proc/self/smaps_rollup");
    char *nl = strchr(buf, '\n');
    int header = nl && nl - buf > 8 && strncmp(nl - 8, "[rollup]", 8) == 0 && strstr(buf, "---p 00000000 00:00 0");
    snprintf(rec, sizeof rec, "\n%s", nl ? nl + 1 : "");
    check("smaps_rollup: the [rollup] line", header);
    check("smaps_rollup: Rss is the sum over smaps", field(rec, "Rss") == rss);
    check("smaps_rollup: Anonymous is the sum over smaps", field(rec, "Anonymous") == anon);
    check("smaps_rollup: Private_Dirty is the sum over smaps",
          field(rec, "Private_Dirty") == dirty);
    long pss = field(rec, "Pss"), parts = field(rec, "Pss_Anon") + field(rec, "Pss_File") +
                                             field(rec, "Pss_Shmem");
    check("smaps_rollup: Pss_Anon + Pss_File + Pss_Shmem within 2 kB of Pss",
          parts <= pss && pss - parts <= 2);
    check("smaps_rollup: Swap 0", field(rec, "Swap") == 0);
    munmap(a, 8 * PG);
}

int main(void)
{
    anon_and_fork();
    file_mapping();
    thp();
    mlock_and_split();
    rollup();
    printf("smaps: %s\n", failures ? "FAILED" : "all checks passed");
    return failures != 0;
}
