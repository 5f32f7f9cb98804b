/* mte: arm64 Linux's memory-tagging user ABI on dirtybit's Zimt hart (guest/include/mte.h),
 * covering what tools/testing/selftests/arm64/mte/ checks: a tagged allocator over a
 * PROT_MTE mapping, a one-byte overflow caught in sync mode (SEGV_MTESERR, the exact
 * tagged si_addr, the store not performed) and in async mode (SEGV_MTEAERR, si_addr 0), a
 * use-after-free caught after the free retags, tags of fresh pages zero, kept in a forked
 * child and across its COW write (both sides), zero after MADV_DONTNEED, kept across a THP
 * split, PROT_MTE on a
 * root file system file's mapping refused (EINVAL) and allowed on a memfd (shmem, tags
 * shared between its mappings), mprotect keeping VM_MTE, prctl round trips and errnos
 * (per thread, inherited by fork and threads, reset by execve), the include mask honoured
 * by gentag, read() into tagged memory through a correctly tagged pointer (and EFAULT
 * through a mismatching one; the calling thread's mode decides, remote /proc/self/mem
 * writes are unchecked), tagged path arguments of the *at calls, mt in the VmFlags of /proc/self/smaps for VM_MTE VMAs.
 * Prints facts, never addresses. A dirtybit-only program: qemu-user has no Zimt. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../include/mte.h"

#define PAGE 4096UL
#define SYNC_ALL (PR_TAGGED_ADDR_ENABLE | PR_MTE_TCF_SYNC | (0xfffeUL << PR_MTE_TAG_SHIFT))

static int failures;

static void check(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "yes" : "NO");
    if (!ok)
        failures++;
}

static long get_ctrl(void)
{
    return prctl(PR_GET_TAGGED_ADDR_CTRL, 0, 0, 0, 0);
}

/* Whether the VmFlags line of the /proc/self/smaps record of the VMA holding addr lists
 * code (show_smap_vma_flags(): VM_MTE is "mt"); -1 without such a record. */
static int vma_flag(const void *addr, const char *code)
{
    static char sm[1 << 17];
    int fd = open("/proc/self/smaps", O_RDONLY);
    size_t len = 0;
    ssize_t n;
    while (fd >= 0 && len < sizeof sm - 1 && (n = read(fd, sm + len, sizeof sm - 1 - len)) > 0)
        len += n;
    if (fd >= 0)
        close(fd);
    sm[len] = 0;
    int inside = 0;
    for (char *line = sm; *line;) {
        char *nl = strchr(line, '\n');
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < (nl ? nl : line + strlen(line)))
            inside = lo <= (unsigned long)addr && (unsigned long)addr < hi;
        if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            char want[8];
            snprintf(want, sizeof want, " %s ", code);
            if (nl)
                *nl = 0;
            return strstr(line + 7, want) != NULL;
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    return -1;
}

static const char *err(long r)
{
    return r == -1 && errno == EINVAL ? "EINVAL" : r == -1 ? strerror(errno) : "success";
}

/* ---- a tagged bump allocator over one PROT_MTE mapping ---- */

static char *arena;
static size_t arena_used;

static void *tmalloc(size_t n)
{
    size_t len = (n + MTE_GRANULE - 1) & ~(size_t)(MTE_GRANULE - 1);
    /* A free granule between blocks keeps tag 0, so an overflow always mismatches. */
    char *p = mte_gentag(arena + arena_used);
    arena_used += len + MTE_GRANULE;
    mte_settag(p, len / MTE_GRANULE);
    return p;
}

static void tfree(void *p, size_t n)
{
    size_t len = (n + MTE_GRANULE - 1) & ~(size_t)(MTE_GRANULE - 1);
    /* Retag on free: the old pointer's tag no longer matches. */
    mte_settag(mte_addtag(p, 1), len / MTE_GRANULE);
}

/* ---- SIGSEGV catching ---- */

static sigjmp_buf jb;
static volatile int seen_code;
static volatile uintptr_t seen_addr;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    seen_code = si->si_code;
    seen_addr = (uintptr_t)si->si_addr;
    siglongjmp(jb, 1);
}

static void *thread_main(void *arg)
{
    long *out = arg;
    out[0] = get_ctrl();
    out[1] = prctl(PR_SET_TAGGED_ADDR_CTRL, 0, 0, 0, 0);
    out[2] = get_ctrl();
    return NULL;
}

/* A thread that turns checks off (keeping the tagged-address ABI) and read()s into buf. */
static void *nocheck_thread(void *arg)
{
    long r = prctl(PR_SET_TAGGED_ADDR_CTRL, PR_TAGGED_ADDR_ENABLE | PR_MTE_TCF_NONE | (0xfffeUL << PR_MTE_TAG_SHIFT), 0, 0, 0);
    int p[2];
    if (r != 0 || pipe(p) != 0)
        return (void *)-2L;
    write(p[1], "t", 1);
    r = read(p[0], arg, 1);
    close(p[0]);
    close(p[1]);
    return (void *)r;
}

/* `mte bench tagged|untagged PASSES`: PASSES read-modify-write sweeps over a 64 KiB heap
 * of 16-byte blocks, tagged with sync checks (each block its own tag) or untagged with
 * tagging off, for `--stats` to compare. Prints a checksum. */
static int bench(int tagged, long passes)
{
    size_t len = 64 * 1024;
    int prot = PROT_READ | PROT_WRITE | (tagged ? PROT_MTE : 0);
    char *heap = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (heap == MAP_FAILED)
        return 2;
    unsigned long *blocks[4096];
    if (tagged)
        mte_enable(PR_MTE_TCF_SYNC, 0xfffe);
    for (size_t i = 0; i < len / 16; i++) {
        char *p = heap + 16 * i;
        if (tagged) {
            p = mte_gentag(p);
            mte_settag(p, 1);
        }
        blocks[i] = (unsigned long *)p;
        blocks[i][0] = i;
        blocks[i][1] = ~i;
    }
    unsigned long sum = 0;
    for (long k = 0; k < passes; k++)
        for (size_t i = 0; i < len / 16; i++) {
            unsigned long *b = blocks[i];
            sum += b[0] ^ b[1];
            b[0] += k;
        }
    printf("bench %s: checksum %#lx\n", tagged ? "tagged" : "untagged", sum);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exec") == 0) {
        printf("after execve: ctrl %#lx\n", get_ctrl());
        return 0;
    }
    if (argc > 3 && strcmp(argv[1], "bench") == 0)
        return bench(strcmp(argv[2], "tagged") == 0, atol(argv[3]));
    setvbuf(stdout, NULL, _IONBF, 0);
    check("AT_HWCAP2 has MTE (bit 18)", (getauxval(AT_HWCAP2) & MTE_HWCAP2) != 0);

    /* prctl round trips and errnos. */
    printf("initial ctrl: %#lx\n", get_ctrl());
    long r = prctl(PR_SET_TAGGED_ADDR_CTRL, 1UL << 20, 0, 0, 0);
    printf("unknown bit: %s\n", err(r));
    r = prctl(PR_SET_TAGGED_ADDR_CTRL, PR_TAGGED_ADDR_ENABLE, 1, 0, 0);
    printf("arg3 non-zero: %s\n", err(r));
    r = prctl(PR_SET_TAGGED_ADDR_CTRL, PR_TAGGED_ADDR_ENABLE | (17UL << PR_PMLEN_SHIFT), 0, 0, 0);
    printf("PMLEN 17: %s\n", err(r));
    r = prctl(PR_GET_TAGGED_ADDR_CTRL, 1, 0, 0, 0);
    printf("get with arg2: %s\n", err(r));
    r = prctl(PR_SET_TAGGED_ADDR_CTRL, PR_TAGGED_ADDR_ENABLE | (5UL << PR_PMLEN_SHIFT), 0, 0, 0);
    printf("PMLEN 5 gives: %s, ctrl %#lx\n", err(r), get_ctrl());
    r = prctl(PR_SET_TAGGED_ADDR_CTRL, PR_TAGGED_ADDR_ENABLE | PR_MTE_TCF_MASK, 0, 0, 0);
    printf("sync|async gives: %s, ctrl %#lx\n", err(r), get_ctrl());
    r = mte_enable(PR_MTE_TCF_SYNC, 0xfffe);
    printf("enable sync, mask 0xfffe: %s, ctrl %#lx\n", err(r), get_ctrl());
    check("ctrl reads back with PMLEN 16", get_ctrl() == (long)(SYNC_ALL | (16UL << PR_PMLEN_SHIFT)));

    struct sigaction sa = {0};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);

    /* PROT_MTE where it is allowed and where it is not. */
    arena = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE | PROT_MTE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check("PROT_MTE anonymous private mapping", arena != MAP_FAILED);
    char *shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE | PROT_MTE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    check("PROT_MTE anonymous shared mapping", shared != MAP_FAILED);
    check("smaps: VmFlags of both list mt (VM_MTE)", vma_flag(arena, "mt") == 1 && vma_flag(shared, "mt") == 1);
    /* Not under /tmp: a tmpfs file is shmem's, which arm64 lets be tagged. */
    int fd = open("/mte-file", O_RDWR | O_CREAT | O_TRUNC, 0600);
    char page[PAGE] = {0};
    if (fd < 0 || write(fd, page, PAGE) != (ssize_t)PAGE)
        return 2;
    void *fm = mmap(NULL, PAGE, PROT_READ | PROT_MTE, MAP_PRIVATE, fd, 0);
    printf("PROT_MTE file MAP_PRIVATE: %s\n", fm == MAP_FAILED && errno == EINVAL ? "EINVAL" : "mapped");
    fm = mmap(NULL, PAGE, PROT_READ | PROT_MTE, MAP_SHARED, fd, 0);
    printf("PROT_MTE file MAP_SHARED: %s\n", fm == MAP_FAILED && errno == EINVAL ? "EINVAL" : "mapped");
    fm = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    r = mprotect(fm, PAGE, PROT_READ | PROT_MTE);
    printf("mprotect PROT_MTE on a file mapping: %s\n", err(r));
    check("smaps: no mt in the file mapping's VmFlags", vma_flag(fm, "mt") == 0);
    close(fd);
    unlink("/mte-file");

    /* A memfd is shmem's: PROT_MTE is allowed on it (arm64's shmem_file()), and a tag set
     * through one mapping of its page is the tag seen through another. */
    int mfd = memfd_create("mte", 0);
    if (mfd < 0 || ftruncate(mfd, PAGE) != 0)
        return 2;
    char *m1 = mmap(NULL, PAGE, PROT_READ | PROT_WRITE | PROT_MTE, MAP_SHARED, mfd, 0);
    char *m2 = mmap(NULL, PAGE, PROT_READ | PROT_WRITE | PROT_MTE, MAP_SHARED, mfd, 0);
    check("PROT_MTE memfd MAP_SHARED", m1 != MAP_FAILED && m2 != MAP_FAILED);
    if (m1 != MAP_FAILED && m2 != MAP_FAILED) {
        char *t = mte_addtag(m1 + 2 * MTE_GRANULE, 5);
        mte_settag(t, 1);
        t[3] = 42;
        check("memfd: a tag set through one mapping is seen through the other",
              mte_loadtag(m2 + 2 * MTE_GRANULE) == 5 && mte_loadtag(m2) == 0 &&
                  ((char *)mte_addtag(m2 + 2 * MTE_GRANULE, 5))[3] == 42);
        munmap(m1, PAGE);
        munmap(m2, PAGE);
    }
    close(mfd);

    /* Fresh pages: tags zero, on a read (the tagged zero page) and after a write. */
    int zero = 1;
    for (unsigned g = 0; g < PAGE / MTE_GRANULE; g++)
        zero &= mte_loadtag(arena + 15 * PAGE + g * MTE_GRANULE) == 0;
    zero &= arena[15 * PAGE] == 0;
    arena[15 * PAGE + 100] = 1;
    for (unsigned g = 0; g < PAGE / MTE_GRANULE; g++)
        zero &= mte_loadtag(arena + 15 * PAGE + g * MTE_GRANULE) == 0;
    check("fresh page tags zero (read, then written)", zero);

    /* The include mask honoured by gentag. */
    mte_enable(PR_MTE_TCF_SYNC, (1u << 3) | (1u << 5));
    unsigned seen = 0, outside = 0;
    for (int i = 0; i < 200; i++) {
        unsigned t = mte_ptrtag(mte_gentag(arena));
        seen |= 1u << t;
        outside += !(t == 3 || t == 5);
    }
    check("gentag with include mask {3,5}: only 3 and 5, both seen", outside == 0 && seen == 0x28);
    mte_enable(PR_MTE_TCF_SYNC, 0);
    check("gentag with an empty include mask gives tag 0", mte_ptrtag(mte_gentag(arena)) == 0);
    mte_enable(PR_MTE_TCF_SYNC, 0xfffe);

    /* The allocator; a one-byte overflow in sync mode. */
    char *a = tmalloc(32);
    check("tmalloc gives a non-zero tag", mte_ptrtag(a) != 0);
    memset(a, 'x', 32);
    check("tags of the block are the pointer's", mte_loadtag(a) == mte_ptrtag(a) &&
                                                  mte_loadtag(a + 16) == mte_ptrtag(a));
    seen_code = 0;
    if (sigsetjmp(jb, 1) == 0) {
        a[32] = 'y';
        printf("sync overflow: not caught\n");
        failures++;
    } else {
        printf("sync overflow: SIGSEGV si_code %d\n", seen_code);
        check("si_addr is the tagged address of the overflowing byte", seen_addr == (uintptr_t)(a + 32));
        /* The granule after the block has tag 0: an untagged pointer reaches it. */
        char *after = (char *)((uintptr_t)(a + 32) & ~(0xfUL << MTE_TAG_SHIFT));
        check("the store was not performed", *after == 0);
    }

    /* Use after free: the free retagged the block. */
    char *b = tmalloc(48);
    strcpy(b, "live");
    tfree(b, 48);
    seen_code = 0;
    if (sigsetjmp(jb, 1) == 0) {
        volatile char c = b[0];
        (void)c;
        printf("use after free: not caught\n");
        failures++;
    } else {
        printf("use after free: SIGSEGV si_code %d\n", seen_code);
    }

    /* Async mode: the store is performed, the fault arrives at the next kernel entry. */
    mte_enable(PR_MTE_TCF_ASYNC, 0xfffe);
    char *c = tmalloc(16);
    seen_code = 0;
    seen_addr = 1;
    if (sigsetjmp(jb, 1) == 0) {
        c[16] = 'z';
        getpid();
        printf("async overflow: not reported\n");
        failures++;
    } else {
        printf("async overflow: SIGSEGV si_code %d, si_addr %#lx\n", seen_code, (unsigned long)seen_addr);
        char *after = (char *)((uintptr_t)(c + 16) & ~(0xfUL << MTE_TAG_SHIFT));
        check("the async store was performed", *after == 'z');
    }
    mte_enable(PR_MTE_TCF_SYNC, 0xfffe);

    /* read() into tagged memory through a correctly tagged pointer. */
    int pfd[2];
    pipe(pfd);
    write(pfd[1], "tagged read", 11);
    char *rb = tmalloc(32);
    memset(rb, 0, 32);
    r = read(pfd[0], rb, 11);
    check("read() into tagged memory through its tagged pointer", r == 11 && memcmp(rb, "tagged read", 11) == 0);
    /* pread()/pwrite() and readv() take tagged pointers too (tagged-address-abi.rst). */
    int tfd = memfd_create("mte-io", 0);
    ssize_t pw = pwrite(tfd, rb, 11, 100);
    memset(rb, 0, 32);
    ssize_t pr = pread(tfd, rb, 11, 100);
    struct iovec iov = {rb + 16, 6};
    lseek(tfd, 100, SEEK_SET);
    ssize_t rv = readv(tfd, &iov, 1);
    check("pwrite/pread/readv through tagged pointers",
          pw == 11 && pr == 11 && rv == 6 && memcmp(rb, "tagged read", 11) == 0 &&
              memcmp(rb + 16, "tagged", 6) == 0);
    close(tfd);
    write(pfd[1], "x", 1);
    r = read(pfd[0], mte_addtag(rb, 1), 1);
    printf("read() through a mismatching pointer: %s\n", r == -1 && errno == EFAULT ? "EFAULT" : r == 1 ? "read" : strerror(errno));
    close(pfd[0]);
    close(pfd[1]);

    /* mprotect without PROT_MTE keeps VM_MTE: tags survive and are still checked. */
    char *m = arena + 8 * PAGE;
    char *mt = mte_addtag(m, 6);
    mte_settag(mt, 4);
    r = mprotect(arena + 8 * PAGE, PAGE, PROT_READ | PROT_WRITE);
    check("mprotect without PROT_MTE keeps the tags", r == 0 && mte_loadtag(m) == mte_ptrtag(mt));
    check("and mt in smaps' VmFlags", vma_flag(m, "mt") == 1);
    seen_code = 0;
    if (sigsetjmp(jb, 1) == 0) {
        m[0] = 1;
        printf("mprotect: untagged store not caught\n");
        failures++;
    } else {
        check("and the checks", seen_code == SEGV_MTESERR);
    }

    /* fork: the child sees the tags and its mode; a COW write on each side keeps them. */
    char *f = arena + 10 * PAGE;
    char *ft = mte_addtag(f, 7);
    mte_settag(ft, PAGE / MTE_GRANULE);
    strcpy(ft, "parent data");
    pid_t pid = fork();
    if (pid == 0) {
        int ok = get_ctrl() == (long)(SYNC_ALL | (16UL << PR_PMLEN_SHIFT));
        ok &= mte_loadtag(f) == 7 && mte_loadtag(f + PAGE - 16) == 7;
        ok &= strcmp(ft, "parent data") == 0;
        strcpy(ft, "child data"); /* COW break in the child */
        ok &= mte_loadtag(f) == 7 && mte_loadtag(f + PAGE - 16) == 7;
        seen_code = 0;
        if (sigsetjmp(jb, 1) == 0)
            f[0] = 0;
        ok &= seen_code == SEGV_MTESERR;
        _exit(ok ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    check("child: mode inherited, tags kept across its COW write, checks on", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    strcpy(ft, "parent again");
    check("parent: tags and data kept after the child's write and its own",
          mte_loadtag(f) == 7 && mte_loadtag(f + PAGE - 16) == 7 && strcmp(ft, "parent again") == 0);

    /* Tags on a shared anonymous mapping are seen by a child, and its settag by us. */
    char *st7 = mte_addtag(shared, 7);
    mte_settag(st7, 1);
    pid = fork();
    if (pid == 0) {
        int ok = mte_loadtag(shared) == 7;
        mte_settag(mte_addtag(shared, 2), 1);
        _exit(ok ? 0 : 1);
    }
    waitpid(pid, &st, 0);
    check("shared mapping: tags shared both ways", WIFEXITED(st) && WEXITSTATUS(st) == 0 && mte_loadtag(shared) == 2);

    /* MADV_DONTNEED: a new page, tags zero. */
    char *d = arena + 12 * PAGE;
    char *dt = mte_addtag(d, 9);
    mte_settag(dt, PAGE / MTE_GRANULE);
    dt[0] = 'q';
    madvise(d, PAGE, MADV_DONTNEED);
    check("tags zero after MADV_DONTNEED", mte_loadtag(d) == 0 && mte_loadtag(d + PAGE - 16) == 0 && d[0] == 0);

    /* A 2 MiB folio mapped by one PMD (MADV_HUGEPAGE), tagged, then split by an
     * mprotect of one page: every page keeps its tags, untouched ones stay zero. */
    size_t H = 2UL << 20;
    char *raw = mmap(NULL, 2 * H, PROT_READ | PROT_WRITE | PROT_MTE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *h = (char *)(((uintptr_t)raw + H - 1) & ~(uintptr_t)(H - 1));
    madvise(h, H, MADV_HUGEPAGE);
    h[0] = 1;
    int huge_zero = 1;
    for (unsigned pg = 0; pg < H / PAGE; pg += 37)
        huge_zero &= mte_loadtag(h + pg * PAGE) == 0 && mte_loadtag(h + pg * PAGE + PAGE - 16) == 0;
    mte_settag(mte_addtag(h + 5 * PAGE, 3), PAGE / MTE_GRANULE);
    mte_settag(mte_addtag(h + 300 * PAGE, 4), PAGE / MTE_GRANULE);
    r = mprotect(h + 100 * PAGE, PAGE, PROT_READ | PROT_MTE);
    int kept = r == 0 && mte_loadtag(h + 5 * PAGE) == 3 && mte_loadtag(h + 5 * PAGE + PAGE - 16) == 3 &&
               mte_loadtag(h + 300 * PAGE) == 4 && mte_loadtag(h + 7 * PAGE) == 0;
    check("huge page: tags zero when first mapped, kept across its split", huge_zero && kept);
    munmap(raw, 2 * H);

    /* Per thread: a new thread copies the mode; its change leaves ours alone. */
    long out[3];
    pthread_t th;
    pthread_create(&th, NULL, thread_main, out);
    pthread_join(th, NULL);
    check("thread inherits the ctrl", out[0] == get_ctrl());
    check("thread sets 0 for itself only", out[1] == 0 && out[2] == 0 &&
                                           get_ctrl() == (long)(SYNC_ALL | (16UL << PR_PMLEN_SHIFT)));

    /* Kernel accesses to user memory follow the calling thread's mode (arm64 checks them
     * under the thread's SCTLR_EL1.TCF0; memory-tagging-extension.rst: only in sync mode):
     * a thread with checks off reads into a mismatching buffer, and its prctl does not
     * turn this thread's checks off. */
    char *ub = tmalloc(16);
    void *tr;
    pthread_create(&th, NULL, nocheck_thread, mte_addtag(ub, 1));
    pthread_join(th, &tr);
    check("a thread with checks off: read() through a mismatching pointer reads", (long)tr == 1);
    int up[2];
    pipe(up);
    write(up[1], "u", 1);
    r = read(up[0], mte_addtag(ub, 1), 1);
    printf("read() through a mismatching pointer after that thread's prctl: %s\n",
           r == -1 && errno == EFAULT ? "EFAULT" : r == 1 ? "read" : strerror(errno));
    close(up[0]);
    close(up[1]);
    /* Remote accesses go through GUP with untagged addresses: never checked. */
    int memfd = open("/proc/self/mem", O_RDWR);
    char *ubu = (char *)((uintptr_t)ub & ~(0xfUL << MTE_TAG_SHIFT));
    check("/proc/self/mem writes a tagged granule without a check",
          memfd >= 0 && pwrite(memfd, "R", 1, (off_t)(uintptr_t)ubu) == 1 && ub[0] == 'R');
    close(memfd);

    /* Path arguments are user pointers too (tagged-address-abi.rst): each call below takes
     * its path from a tagged block whose string ends a granule before memory of another
     * tag, which must not be read. */
    char *path = tmalloc(16), *dir = tmalloc(16), *lnk = tmalloc(16), *lbuf = tmalloc(16);
    strcpy(path, "/tmp/mte-path");
    strcpy(dir, "/tmp/mte-dir");
    strcpy(lnk, "/tmp/mte-lnk");
    struct stat stb;
    int pf = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    printf("tagged path: openat %s", pf >= 0 ? "ok" : strerror(errno));
    close(pf);
    printf(", newfstatat %s", stat(path, &stb) == 0 ? "ok" : strerror(errno));
    printf(", faccessat %s", access(path, R_OK) == 0 ? "ok" : strerror(errno));
    printf(", truncate %s", truncate(path, 10) == 0 ? "ok" : strerror(errno));
    printf(", mkdirat %s", mkdir(dir, 0700) == 0 ? "ok" : strerror(errno));
    printf(", chdir %s", chdir(dir) == 0 && chdir("/") == 0 ? "ok" : strerror(errno));
    printf(", rmdir %s", rmdir(dir) == 0 ? "ok" : strerror(errno));
    printf(", symlinkat %s", symlink(path, lnk) == 0 ? "ok" : strerror(errno));
    ssize_t ln = readlink(lnk, lbuf, 16);
    printf(", readlinkat %s", ln == 13 && memcmp(lbuf, "/tmp/mte-path", 13) == 0 ? "ok" : strerror(errno));
    printf(", unlinkat %s", unlink(lnk) == 0 && unlink(path) == 0 ? "ok" : strerror(errno));
    printf("\n");

    /* execve resets it. */
    pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "mte", "exec", (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &st, 0);

    printf("mte: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
