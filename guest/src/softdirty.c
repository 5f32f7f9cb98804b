/* softdirty: /proc/self/clear_refs, soft-dirty tracking, the THP sysfs files driving the
 * THP policy, MADV_COLLAPSE and MADV_POPULATE_(READ|WRITE), as Linux 6.18 on riscv with
 * Svrsw60t59b (soft-dirty in PTE bit 59) behaves (Documentation/admin-guide/mm/
 * soft-dirty.rst, transhuge.rst, fs/proc/task_mmu.c, mm/khugepaged.c, mm/madvise.c):
 *  - clear_refs 1: Referenced in smaps drops to 0; accesses after it set the A bits again
 *    (the hardware walker, after clear_refs' TLB flush): Referenced counts what was
 *    touched; 2 (anonymous only) and 3 (file only); 0, 6 and junk are EINVAL; 5 is
 *    accepted; reading the file is EINVAL;
 *  - soft-dirty: a new mapping is soft-dirty everywhere (VM_SOFTDIRTY, "sd" in VmFlags);
 *    clear_refs 4 clears pagemap bit 55 and "sd"; a write sets the bit again on the same
 *    frame (the write-protect fault reuses the exclusive page), a read does not; fork,
 *    mprotect and an mremap move keep it (the move sets it); a new mapping made after is
 *    soft-dirty; a THP's PMD loses and regains it whole, without a split; a shared file
 *    page is write-protected too (write-notify), through mprotect, until written;
 *  - /sys/kernel/mm/transparent_hugepage: every file's text, EINVAL for junk; "never",
 *    "always" and "madvise" in enabled change AnonHugePages of a fresh mapping;
 *    use_zero_page 0 makes a read fault allocate a THP;
 *  - MADV_COLLAPSE: a block of 4 KiB pages becomes one THP (AnonHugePages 2048 kB) with
 *    the same contents, under enabled=never too; EINVAL for an empty block, a block only
 *    read, MADV_NOHUGEPAGE memory;
 *  - MADV_POPULATE_READ/WRITE: pages present afterwards (soft-dirty after WRITE, not
 *    after READ); ENOMEM for a hole, EINVAL for an access the VMA forbids (READ of a
 *    PROT_WRITE-only mapping included) or a bad address, EFAULT past the end of a file.
 *
 * qemu-user cannot be the oracle: it passes /proc and /sys to the host's files of its own
 * process. The reference is recorded from dirtybit and reviewed against Linux's rules
 * (expected-kernel/softdirty.stdout). Prints facts, never addresses; exit status 0 when
 * every check passed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define PG 4096UL
#define HPAGE (2UL << 20)
#define PM_SOFT_DIRTY (1ULL << 55)
#define PM_PRESENT (1ULL << 63)
#define PM_PFN ((1ULL << 55) - 1)
#define THP "/sys/kernel/mm/transparent_hugepage/"

static int failures;
static char buf[1 << 20];

static void check(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAIL");
    if (!ok)
        failures++;
}

/* write(2) of s to path: "OK" or the errno's name. */
static const char *put(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return errname(errno);
    ssize_t n = write(fd, s, strlen(s));
    int e = n < 0 ? errno : 0;
    close(fd);
    if (!e && n != (ssize_t)strlen(s))
        return "SHORT";
    return errname(e);
}

static void clear_refs(const char *v)
{
    const char *r = put("/proc/self/clear_refs", v);
    if (strcmp(r, "OK") != 0) {
        printf("clear_refs %s: %s\n", v, r);
        failures++;
    }
}

/* The text of a small file, without its trailing newline. */
static const char *text(const char *path)
{
    static char t[256];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return errname(errno);
    ssize_t n = read(fd, t, sizeof t - 1);
    close(fd);
    if (n < 0)
        return errname(errno);
    while (n > 0 && t[n - 1] == '\n')
        n--;
    t[n] = 0;
    return t;
}

static uint64_t pagemap(const void *addr)
{
    uint64_t e = 0;
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd < 0 || pread(fd, &e, 8, (uintptr_t)addr / PG * 8) != 8) {
        perror("pagemap");
        exit(1);
    }
    close(fd);
    return e;
}

static int sd(const void *addr)
{
    return (pagemap(addr) & PM_SOFT_DIRTY) != 0;
}

/* The smaps record of the VMA starting at addr, in buf (NUL-terminated); NULL if none. */
static char *record(const void *addr)
{
    int fd = open("/proc/self/smaps", O_RDONLY);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += n;
    close(fd);
    buf[len] = 0;
    char key[32];
    snprintf(key, sizeof key, "%08lx-", (unsigned long)(uintptr_t)addr);
    char *p = buf;
    while (p && strncmp(p, key, strlen(key)) != 0) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p)
        return NULL;
    char *end = strstr(p, "VmFlags:");
    if (end && (end = strchr(end, '\n')))
        end[1] = 0;
    return p;
}

/* smaps field name (kB) of the VMA at addr; -1 if absent. */
static long field(const void *addr, const char *name)
{
    char *rec = record(addr), key[40];
    if (!rec)
        return -1;
    snprintf(key, sizeof key, "\n%s:", name);
    char *p = strstr(rec, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* Whether the VmFlags of the VMA at addr hold code. */
static int has_flag(const void *addr, const char *code)
{
    char *rec = record(addr);
    char *p = rec ? strstr(rec, "VmFlags:") : NULL;
    char key[8];
    snprintf(key, sizeof key, " %s ", code);
    return p && strstr(p, key) != NULL;
}

static const char *yes(int b)
{
    return b ? "yes" : "no";
}

/* A 2 MiB-aligned anonymous region of len bytes (mapped with slack, trimmed). */
static char *aligned(size_t len)
{
    char *m = mmap(NULL, len + HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    char *a = (char *)(((uintptr_t)m + HPAGE - 1) & ~(HPAGE - 1));
    if (a > m)
        munmap(m, a - m);
    munmap(a + len, m + HPAGE - a);
    return a;
}

static void section_clear_refs(void)
{
    printf("== clear_refs\n");
    volatile char *a = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < 4; i++)
        a[i * PG] = 1;
    printf("4 pages written: Referenced %ld kB\n", field((void *)a, "Referenced"));
    clear_refs("1");
    printf("after clear_refs 1: Referenced %ld kB\n", field((void *)a, "Referenced"));
    (void)a[0];
    a[PG] = 2;
    printf("one page read, one written: Referenced %ld kB\n", field((void *)a, "Referenced"));
    clear_refs("3");
    printf("after clear_refs 3 (file only): Referenced %ld kB\n", field((void *)a, "Referenced"));
    clear_refs("2");
    printf("after clear_refs 2 (anonymous only): Referenced %ld kB\n", field((void *)a, "Referenced"));
    (void)a[3 * PG];
    printf("one page read: Referenced %ld kB\n", field((void *)a, "Referenced"));
    const char *bad[] = {"0", "6", "-1", "abc", "4x", ""};
    for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++)
        printf("write \"%s\": %s\n", bad[i], put("/proc/self/clear_refs", bad[i]));
    printf("write \"5\": %s\n", put("/proc/self/clear_refs", "5"));
    printf("write \" 4\\n\": %s\n", put("/proc/self/clear_refs", " 4\n"));
    int fd = open("/proc/self/clear_refs", O_RDONLY);
    char c;
    printf("read: %s\n", fd < 0 ? errname(errno) : read(fd, &c, 1) < 0 ? errname(errno) : "data");
    if (fd >= 0)
        close(fd);
    munmap((void *)a, 4 * PG);
}

static void section_soft_dirty(void)
{
    printf("== soft-dirty\n");
    volatile char *a = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("new mapping: untouched page soft-dirty %s, VmFlags sd %s\n", yes(sd((void *)a)),
           yes(has_flag((void *)a, "sd")));
    a[0] = 1;
    a[PG] = 1;
    (void)a[2 * PG];
    uint64_t frame = pagemap((void *)a) & PM_PFN;
    clear_refs("4");
    printf("after clear_refs 4: soft-dirty %s %s %s %s, VmFlags sd %s\n", yes(sd((void *)a)),
           yes(sd((void *)(a + PG))), yes(sd((void *)(a + 2 * PG))), yes(sd((void *)(a + 3 * PG))),
           yes(has_flag((void *)a, "sd")));
    a[0] = 2;
    (void)a[PG];
    (void)a[3 * PG];
    printf("page 0 written, 1 and 3 read: soft-dirty %s %s %s %s\n", yes(sd((void *)a)),
           yes(sd((void *)(a + PG))), yes(sd((void *)(a + 2 * PG))), yes(sd((void *)(a + 3 * PG))));
    check("the write reused the frame (no copy)", (pagemap((void *)a) & PM_PFN) == frame && a[0] == 2);
    pid_t pid = fork();
    if (pid == 0) {
        int ok = sd((void *)a) && !sd((void *)(a + PG));
        _exit(ok ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    check("fork: the child sees the same bits", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    check("fork: the parent keeps them", sd((void *)a) && !sd((void *)(a + PG)));
    mprotect((void *)a, 4 * PG, PROT_READ);
    mprotect((void *)a, 4 * PG, PROT_READ | PROT_WRITE);
    check("mprotect keeps them", sd((void *)a) && !sd((void *)(a + PG)));
    a[PG] = 3;
    printf("page 1 written after fork: soft-dirty %s\n", yes(sd((void *)(a + PG))));
    clear_refs("4");
    char *dst = mmap(NULL, 4 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    volatile char *m = mremap((void *)a, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    printf("mremap moved: page 0 soft-dirty %s, page 1 %s, data kept %s\n", yes(sd((void *)m)),
           yes(sd((void *)(m + PG))), yes(m[0] == 2 && m[PG] == 3));
    char *fresh = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mapping made after clear_refs 4: soft-dirty %s, VmFlags sd %s\n", yes(sd(fresh)),
           yes(has_flag(fresh, "sd")));
    munmap(fresh, PG);
    munmap((void *)m, 4 * PG);

    /* A shared file mapping: write-protected too while it tracks (write-notify). */
    int fd = open("/tmp/softdirty-shared", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, PG) != 0) {
        perror("shared file");
        exit(1);
    }
    volatile char *f = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    f[0] = 1;
    printf("shared file page written: soft-dirty %s", yes(sd((void *)f)));
    clear_refs("4");
    printf(", after clear_refs 4 %s", yes(sd((void *)f)));
    mprotect((void *)f, PG, PROT_READ);
    mprotect((void *)f, PG, PROT_READ | PROT_WRITE);
    printf(", after mprotect RO then RW %s", yes(sd((void *)f)));
    (void)f[0];
    printf(", after a read %s", yes(sd((void *)f)));
    f[0] = 2;
    printf(", after a write %s\n", yes(sd((void *)f)));
    munmap((void *)f, PG);
    close(fd);
    unlink("/tmp/softdirty-shared");

    /* A PMD-mapped THP. */
    char *h = aligned(HPAGE);
    madvise(h, HPAGE, MADV_HUGEPAGE);
    h[0] = 1;
    printf("THP: AnonHugePages %ld kB\n", field(h, "AnonHugePages"));
    clear_refs("4");
    printf("THP after clear_refs 4: soft-dirty %s %s\n", yes(sd(h)), yes(sd(h + HPAGE / 2)));
    h[HPAGE / 2] = 1;
    printf("THP written in its middle: soft-dirty %s %s, AnonHugePages %ld kB\n", yes(sd(h)),
           yes(sd(h + HPAGE / 2)), field(h, "AnonHugePages"));
    munmap(h, HPAGE);
}

static void show_thp_files(void)
{
    const char *files[] = {"enabled", "defrag", "use_zero_page", "hpage_pmd_size", "shmem_enabled",
                           "hugepages-2048kB/enabled", "hugepages-2048kB/shmem_enabled",
                           "khugepaged/defrag", "khugepaged/max_ptes_none", "khugepaged/max_ptes_swap",
                           "khugepaged/max_ptes_shared", "khugepaged/pages_to_scan",
                           "khugepaged/scan_sleep_millisecs", "khugepaged/alloc_sleep_millisecs",
                           "khugepaged/pages_collapsed", "khugepaged/full_scans"};
    char path[128];
    for (unsigned i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, THP "%s", files[i]);
        printf("%s: %s\n", files[i], text(path));
    }
}

/* AnonHugePages of a fresh 2 MiB-aligned region written once, with or without
 * MADV_HUGEPAGE. */
static long fresh_thp(int advise, int write)
{
    char *h = aligned(HPAGE);
    if (advise)
        madvise(h, HPAGE, MADV_HUGEPAGE);
    if (write)
        h[0] = 1;
    else
        (void)*(volatile char *)h;
    long kb = field(h, "AnonHugePages");
    munmap(h, HPAGE);
    return kb;
}

static void section_thp_sysfs(void)
{
    printf("== THP sysfs\n");
    show_thp_files();
    const char *junk[] = {"Always", "always now", "", "inherit"};
    for (unsigned i = 0; i < sizeof junk / sizeof *junk; i++)
        printf("enabled <- \"%s\": %s\n", junk[i], put(THP "enabled", junk[i]));
    printf("use_zero_page <- 2: %s\n", put(THP "use_zero_page", "2"));
    printf("khugepaged/max_ptes_none <- 512: %s\n", put(THP "khugepaged/max_ptes_none", "512"));
    printf("hpage_pmd_size <- 4096: %s\n", put(THP "hpage_pmd_size", "4096"));
    printf("defrag <- defer+madvise: %s, now %s\n", put(THP "defrag", "defer+madvise\n"), text(THP "defrag"));
    put(THP "defrag", "madvise");
    printf("enabled <- never: %s, now %s\n", put(THP "enabled", "never\n"), text(THP "enabled"));
    printf("never: AnonHugePages with MADV_HUGEPAGE %ld kB, without %ld kB\n", fresh_thp(1, 1), fresh_thp(0, 1));
    printf("enabled <- always: %s, now %s\n", put(THP "enabled", "always"), text(THP "enabled"));
    printf("always: AnonHugePages with MADV_HUGEPAGE %ld kB, without %ld kB\n", fresh_thp(1, 1), fresh_thp(0, 1));
    printf("enabled <- madvise: %s, now %s\n", put(THP "enabled", "madvise"), text(THP "enabled"));
    printf("madvise: AnonHugePages with MADV_HUGEPAGE %ld kB, without %ld kB\n", fresh_thp(1, 1), fresh_thp(0, 1));
    printf("hugepages-2048kB/enabled <- never: %s\n", put(THP "hugepages-2048kB/enabled", "never"));
    printf("PMD size never: AnonHugePages with MADV_HUGEPAGE %ld kB\n", fresh_thp(1, 1));
    put(THP "hugepages-2048kB/enabled", "inherit");
    printf("read fault, use_zero_page 1: AnonHugePages %ld kB\n", fresh_thp(1, 0));
    printf("use_zero_page <- 0: %s\n", put(THP "use_zero_page", "0"));
    printf("read fault, use_zero_page 0: AnonHugePages %ld kB\n", fresh_thp(1, 0));
    put(THP "use_zero_page", "1");
}

static void section_collapse(void)
{
    printf("== MADV_COLLAPSE\n");
    put(THP "enabled", "never");
    char *h = aligned(2 * HPAGE);
    for (unsigned long i = 0; i < HPAGE / PG; i += 3)
        h[i * PG + i % 7] = (char)(i * 13 + 1);
    printf("written with 4 KiB pages: AnonHugePages %ld kB\n", field(h, "AnonHugePages"));
    printf("MADV_COLLAPSE (enabled=never): %s\n", errname(madvise(h, HPAGE, MADV_COLLAPSE) ? errno : 0));
    printf("AnonHugePages %ld kB\n", field(h, "AnonHugePages"));
    int same = 1;
    for (unsigned long i = 0; i < HPAGE / PG; i++)
        for (unsigned long off = 0; off < PG; off += 1021)
            same &= h[i * PG + off] ==
                    (char)(i % 3 == 0 && off == i % 7 ? (char)(i * 13 + 1) : 0);
    for (unsigned long i = 0; i < HPAGE / PG; i += 3)
        same &= h[i * PG + i % 7] == (char)(i * 13 + 1);
    check("contents kept", same);
    printf("again: %s\n", errname(madvise(h, HPAGE, MADV_COLLAPSE) ? errno : 0));
    printf("an empty block: %s\n", errname(madvise(h + HPAGE, HPAGE, MADV_COLLAPSE) ? errno : 0));
    (void)*(volatile char *)(h + HPAGE);
    printf("a block only read: %s\n", errname(madvise(h + HPAGE, HPAGE, MADV_COLLAPSE) ? errno : 0));
    madvise(h + HPAGE, HPAGE, MADV_NOHUGEPAGE);
    h[HPAGE] = 1;
    printf("MADV_NOHUGEPAGE: %s\n", errname(madvise(h + HPAGE, HPAGE, MADV_COLLAPSE) ? errno : 0));
    printf("unaligned start: %s\n", errname(madvise(h + 1, HPAGE, MADV_COLLAPSE) ? errno : 0));
    munmap(h, 2 * HPAGE);
    put(THP "enabled", "madvise");
}

static void section_populate(void)
{
    printf("== MADV_POPULATE\n");
    char *a = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("READ: %s, present %s, exclusive %s\n", errname(madvise(a, 2 * PG, MADV_POPULATE_READ) ? errno : 0),
           yes((pagemap(a) & PM_PRESENT) != 0), yes((pagemap(a) >> 56 & 1) != 0));
    printf("WRITE: %s, present %s, exclusive %s, Rss %ld kB\n",
           errname(madvise(a, 2 * PG, MADV_POPULATE_WRITE) ? errno : 0), yes((pagemap(a) & PM_PRESENT) != 0),
           yes((pagemap(a) >> 56 & 1) != 0), field(a, "Rss"));
    munmap(a + 5 * PG, PG);
    printf("over a hole: %s, page before it present %s\n",
           errname(madvise(a + 4 * PG, 3 * PG, MADV_POPULATE_WRITE) ? errno : 0),
           yes((pagemap(a + 4 * PG) & PM_PRESENT) != 0));
    mprotect(a, PG, PROT_READ);
    printf("WRITE on PROT_READ: %s\n", errname(madvise(a, PG, MADV_POPULATE_WRITE) ? errno : 0));
    mprotect(a, PG, PROT_NONE);
    printf("READ on PROT_NONE: %s\n", errname(madvise(a, PG, MADV_POPULATE_READ) ? errno : 0));
    printf("unaligned: %s\n", errname(madvise(a + 1, PG, MADV_POPULATE_READ) ? errno : 0));
    munmap(a, 8 * PG);
    char *w = mmap(NULL, 2 * PG, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("PROT_WRITE only: READ %s, WRITE %s\n", errname(madvise(w, 2 * PG, MADV_POPULATE_READ) ? errno : 0),
           errname(madvise(w, 2 * PG, MADV_POPULATE_WRITE) ? errno : 0));
    munmap(w, 2 * PG);
    char *s = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    clear_refs("4");
    madvise(s, 2 * PG, MADV_POPULATE_READ);
    printf("after clear_refs 4: POPULATE_READ soft-dirty %s", yes(sd(s)));
    madvise(s, 2 * PG, MADV_POPULATE_WRITE);
    printf(", POPULATE_WRITE soft-dirty %s %s\n", yes(sd(s)), yes(sd(s + PG)));
    munmap(s, 2 * PG);
    int fd = open("/tmp/softdirty-file", O_RDWR | O_CREAT | O_TRUNC, 0600);
    char page[PG] = {1};
    if (fd < 0 || write(fd, page, PG) != (ssize_t)PG) {
        perror("file");
        exit(1);
    }
    char *f = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("file page: %s; past the end of the file: %s\n",
           errname(madvise(f, PG, MADV_POPULATE_READ) ? errno : 0),
           errname(madvise(f + PG, PG, MADV_POPULATE_READ) ? errno : 0));
    munmap(f, 2 * PG);
    close(fd);
    unlink("/tmp/softdirty-file");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    section_clear_refs();
    section_soft_dirty();
    section_thp_sysfs();
    section_collapse();
    section_populate();
    printf("failures: %d\n", failures);
    return failures ? 1 : 0;
}
