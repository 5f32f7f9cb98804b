/* procmem: another process's memory, as debuggers reach it.
 *
 * /proc/self/mem and /proc/<pid>/mem (FOLL_FORCE through access_remote_vm):
 *  - a write into a PROT_READ MAP_PRIVATE anonymous page lands in this process's own COW
 *    copy: a forked child sharing the page still sees the old bytes, and the mapping stays
 *    read-only;
 *  - the same into a THP written and then made PROT_READ (the PMD young and dirty, so the
 *    COW "fault" changes nothing: Linux's mkdirty selftest case): the write lands, the
 *    mapping stays read-only;
 *  - a write into the program's own read-only text (gdb's breakpoint poke) works, and the
 *    patched code runs;
 *  - a write into a PROT_READ MAP_SHARED page fails with EIO; a read of an unmapped
 *    address fails with EIO; offsets are addresses, also above 2^63 (lseek);
 *  - a PROT_READ MAP_PRIVATE *file* mapping takes the write in the COW copy, never in the
 *    file; a PROT_READ MAP_SHARED file mapping refuses it (printed as the mmap error where
 *    file mappings are not supported);
 *  - the parent reads and writes a child's memory through /proc/<pid>/mem; a zombie's
 *    file reads 0 bytes; a reaped child's directory is gone.
 * process_vm_readv / process_vm_writev on a child: copies, partial transfers and errnos.
 * /proc/self/maps: permissions and names of mappings made here, the name column.
 * /proc/self/pagemap: present, exclusive and file bits, shared PFNs after fork, the zero
 * page, an address space released when a child exits (not when it is reaped), EINVAL for
 * unaligned reads.
 *
 * Prints facts, never addresses or PFNs. Exit status 0 when every check passed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

/* errname() plus the errnos only this program meets (errname.h is shared by the images
 * whose bytes are committed; extending it would rebuild them all). */
static const char *ename(int e)
{
    return e == ENODEV ? "ENODEV" : e == ENOTTY ? "ENOTTY" : errname(e);
}
#define errname ename

#define PM_PRESENT (1ULL << 63)
#define PM_FILE (1ULL << 61)
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_PFN ((1ULL << 55) - 1)

static long PG;
static int failures;
static int pagemap_fd = -1;

static void check(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAIL");
    if (!ok)
        failures++;
}

static pid_t xfork(void)
{
    fflush(stdout);
    pid_t p = fork();
    if (p < 0) {
        printf("fork: %s\n", errname(errno));
        exit(1);
    }
    return p;
}

static void xpipe(int fd[2])
{
    if (pipe(fd) != 0) {
        printf("pipe: %s\n", errname(errno));
        exit(1);
    }
}

static void *xmap(int prot, int flags)
{
    void *p = mmap(NULL, PG, prot, flags | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap: %s\n", errname(errno));
        exit(1);
    }
    return p;
}

static void send_byte(int fd)
{
    char c = 1;
    if (write(fd, &c, 1) != 1)
        _exit(3);
}

static void wait_byte(int fd)
{
    char c;
    if (read(fd, &c, 1) != 1)
        _exit(4);
}

static void reap(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("child did not exit cleanly\n");
        failures++;
    }
}

/* Result of a transfer as text: the count, or the errno name. */
static const char *res(long n)
{
    static char buf[4][32];
    static int k;
    char *b = buf[k++ % 4];
    if (n < 0)
        snprintf(b, 32, "-1 %s", errname(errno));
    else
        snprintf(b, 32, "%ld", n);
    return b;
}

static uint64_t pm(const void *addr)
{
    uint64_t e = 0;
    if (pread(pagemap_fd, &e, 8, (uintptr_t)addr / PG * 8) != 8) {
        printf("pagemap read: %s\n", errname(errno));
        failures++;
    }
    return e;
}

static void print_pm(const char *what, const void *addr)
{
    uint64_t e = pm(addr);
    printf("pagemap %s: present=%d file=%d exclusive=%d pfn=%s\n", what,
           !!(e & PM_PRESENT), !!(e & PM_FILE), !!(e & PM_EXCLUSIVE),
           (e & PM_PFN) ? "nonzero" : "zero");
}

/* ---- /proc/self/maps ---- */

static char maps_buf[1 << 16];

static void load_maps(const char *path)
{
    int fd = open(path, O_RDONLY);
    size_t n = 0;
    ssize_t r;
    if (fd < 0) {
        printf("open %s: %s\n", path, errname(errno));
        exit(1);
    }
    /* Small reads, as stdio would do them, across line boundaries. */
    while (n < sizeof maps_buf - 1 && (r = read(fd, maps_buf + n, 100)) > 0)
        n += r;
    maps_buf[n] = 0;
    close(fd);
}

/* The maps line covering addr: copies its permissions and name (from the name column). */
static int maps_find(const void *addr, char perms[5], char *name, size_t name_len, int *name_col)
{
    for (char *line = maps_buf; *line;) {
        char *eol = strchr(line, '\n');
        if (!eol)
            break;
        *eol = 0;
        unsigned long lo, hi;
        char p[5] = "";
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 && lo <= (uintptr_t)addr &&
            (uintptr_t)addr < hi) {
            memcpy(perms, p, 5);
            size_t len = strlen(line);
            /* The fields end at the inode number; the name, if any, after the padding. */
            char *s = line;
            for (int field = 0; field < 5 && s; field++)
                s = strchr(s + 1, ' ');
            while (s && *s == ' ')
                s++;
            *name_col = s && *s ? (int)(s - line) : -1;
            snprintf(name, name_len, "%s", s && *s ? s : "(none)");
            (void)len;
            *eol = '\n';
            return 1;
        }
        *eol = '\n';
        line = eol + 1;
    }
    return 0;
}

static void print_maps(const char *what, const void *addr)
{
    char perms[5], name[256];
    int col;
    if (maps_find(addr, perms, name, sizeof name, &col))
        printf("maps %s: %s %s\n", what, perms, name);
    else
        printf("maps %s: no line\n", what);
}

/* ---- sections ---- */

static void force_write_private_anon(void)
{
    printf("== FOLL_FORCE write into a PROT_READ MAP_PRIVATE page ==\n");
    char *p = xmap(PROT_READ | PROT_WRITE, MAP_PRIVATE);
    strcpy(p, "old data");
    mprotect(p, PG, PROT_READ);
    int go[2], done[2];
    xpipe(go);
    xpipe(done);
    pid_t pid = xfork();
    if (pid == 0) {
        /* An inherited pagemap descriptor still shows the parent (its mm was bound at
         * open): the child opens its own. */
        close(pagemap_fd);
        pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
        wait_byte(go[0]);
        printf("child sees: %s\n", p);
        uint64_t e = pm(p);
        if (write(done[1], &e, 8) != 8)
            _exit(3);
        _exit(0);
    }
    print_pm("shared after fork", p);
    int fd = open("/proc/self/mem", O_RDWR);
    check("open /proc/self/mem O_RDWR", fd >= 0);
    printf("pwrite: %s\n", res(pwrite(fd, "NEW DATA", 8, (uintptr_t)p)));
    printf("parent sees: %s\n", p);
    char back[9] = "";
    printf("pread: %s\n", res(pread(fd, back, 8, (uintptr_t)p)));
    printf("pread got: %s\n", back);
    send_byte(go[1]);
    uint64_t child_e;
    if (read(done[0], &child_e, 8) != 8)
        exit(1);
    uint64_t e = pm(p);
    printf("parent and child pfn differ: %s\n",
           (e & PM_PFN) != (child_e & PM_PFN) ? "yes" : "no");
    print_pm("parent after force write", p);
    reap(pid);
    load_maps("/proc/self/maps");
    print_maps("after force write", p);
    /* write() at the file offset, lseek to it first. */
    check("lseek SEEK_SET to the address", lseek(fd, (off_t)(uintptr_t)p, SEEK_SET) == (off_t)(uintptr_t)p);
    printf("write: %s\n", res(write(fd, "again", 5)));
    check("offset advanced by 5", lseek(fd, 0, SEEK_CUR) == (off_t)(uintptr_t)(p + 5));
    printf("parent sees: %s\n", p);
    close(fd);
    close(go[0]);
    close(go[1]);
    close(done[0]);
    close(done[1]);
}

static int __attribute__((noinline)) text_fn(void)
{
    return 1;
}

static void poke_text(void)
{
    printf("== breakpoint-style poke into read-only text ==\n");
    int (*volatile fn)(void) = text_fn;
    int fd = open("/proc/self/mem", O_RDWR);
    load_maps("/proc/self/maps");
    char perms[5], name[256];
    int col;
    maps_find((void *)(uintptr_t)fn, perms, name, sizeof name, &col);
    printf("text mapping: %s\n", perms);
#if defined(__riscv)
    uint16_t insn = 0;
    printf("read text: %s\n", res(pread(fd, &insn, 2, (uintptr_t)fn)));
    if (insn != 0x4505) { /* c.li a0,1 */
        printf("unexpected code in text_fn\n");
        failures++;
    } else {
        uint16_t patched = 0x4509; /* c.li a0,2 */
        printf("poke: %s\n", res(pwrite(fd, &patched, 2, (uintptr_t)fn)));
        printf("patched function returns %d\n", fn());
        printf("restore: %s\n", res(pwrite(fd, &insn, 2, (uintptr_t)fn)));
        printf("restored function returns %d\n", fn());
    }
#else
    unsigned char b;
    printf("read text: %s\n", res(pread(fd, &b, 1, (uintptr_t)fn)));
    printf("poke: %s\n", res(pwrite(fd, &b, 1, (uintptr_t)fn)));
#endif
    load_maps("/proc/self/maps");
    maps_find((void *)(uintptr_t)fn, perms, name, sizeof name, &col);
    printf("text mapping after poke: %s\n", perms);
    close(fd);
}

static void refused(void)
{
    printf("== what /proc/self/mem refuses ==\n");
    int fd = open("/proc/self/mem", O_RDWR);
    char *s = xmap(PROT_READ | PROT_WRITE, MAP_SHARED);
    strcpy(s, "shared");
    mprotect(s, PG, PROT_READ);
    printf("write into PROT_READ MAP_SHARED: %s\n", res(pwrite(fd, "X", 1, (uintptr_t)s)));
    char buf[8] = "";
    printf("read of it: %s (%s)\n", res(pread(fd, buf, 6, (uintptr_t)s)), buf);
    char *gone = xmap(PROT_READ, MAP_PRIVATE);
    munmap(gone, PG);
    printf("read of an unmapped address: %s\n", res(pread(fd, buf, 1, (uintptr_t)gone)));
    printf("write to an unmapped address: %s\n", res(pwrite(fd, buf, 1, (uintptr_t)gone)));
    /* Partly mapped: the bytes up to the hole. */
    char *two = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(two + PG, PG);
    char big[64];
    printf("read across the end of a mapping: %s\n", res(pread(fd, big, 64, (uintptr_t)(two + PG - 16))));
    /* PROT_NONE: FOLL_FORCE reads need VM_MAYREAD, which it has. */
    char *none = xmap(PROT_READ | PROT_WRITE, MAP_PRIVATE);
    strcpy(none, "hidden");
    mprotect(none, PG, PROT_NONE);
    memset(buf, 0, sizeof buf);
    printf("read of PROT_NONE: %s (%s)\n", res(pread(fd, buf, 6, (uintptr_t)none)), buf);
    /* Offsets are addresses: lseek takes any 64-bit value (FMODE_UNSIGNED_OFFSET). */
    off_t high = (off_t)0xffffffff80000000ULL;
    check("lseek to a kernel address", lseek(fd, high, SEEK_SET) == high);
    printf("read there: %s\n", res(read(fd, buf, 1)));
    printf("lseek SEEK_END: %s\n", res(lseek(fd, 0, SEEK_END)));
    printf("pread at a negative offset: %s\n", res(pread(fd, buf, 1, -4096)));
    close(fd);
    int ro = open("/proc/self/mem", O_RDONLY);
    printf("write on an O_RDONLY descriptor: %s\n", res(pwrite(ro, "X", 1, (uintptr_t)s)));
    close(ro);
}

static void file_mappings(void)
{
    printf("== FOLL_FORCE write into read-only file mappings ==\n");
    const char *path = "/tmp/procmem.dat";
    int wfd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    char page[4096];
    memset(page, 0, sizeof page);
    strcpy(page, "file data");
    if (wfd < 0 || write(wfd, page, sizeof page) != (ssize_t)sizeof page) {
        printf("create %s: %s\n", path, errname(errno));
        failures++;
        return;
    }
    close(wfd);
    int fd = open(path, O_RDONLY);
    int mem = open("/proc/self/mem", O_RDWR);
    char *priv = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
    if (priv == MAP_FAILED) {
        printf("mmap PROT_READ MAP_PRIVATE file: %s\n", errname(errno));
    } else {
        printf("write into the private file mapping: %s\n", res(pwrite(mem, "PATCHED!!", 9, (uintptr_t)priv)));
        printf("mapping reads: %s\n", priv);
        char back[16] = "";
        pread(fd, back, 9, 0);
        printf("file reads: %s\n", back);
        printf("write reached the file: %s\n", strcmp(back, "file data") ? "yes" : "no");
        munmap(priv, PG);
    }
    char *shr = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
    if (shr == MAP_FAILED) {
        printf("mmap PROT_READ MAP_SHARED file: %s\n", errname(errno));
    } else {
        printf("write into the shared file mapping: %s\n", res(pwrite(mem, "PATCHED!!", 9, (uintptr_t)shr)));
        char back[16] = "";
        pread(fd, back, 9, 0);
        printf("file reads: %s\n", back);
        munmap(shr, PG);
    }
    close(mem);
    close(fd);
    unlink(path);
}

static char child_buf[64];

static void remote(void)
{
    printf("== another process: /proc/<pid>/mem and process_vm_readv/writev ==\n");
    int go[2], back[2];
    xpipe(go);
    xpipe(back);
    char *child_ro = xmap(PROT_READ | PROT_WRITE, MAP_PRIVATE);
    strcpy(child_ro, "read-only in the child");
    mprotect(child_ro, PG, PROT_READ);
    char *hole = xmap(PROT_READ, MAP_PRIVATE);
    munmap(hole, PG);
    pid_t pid = xfork();
    if (pid == 0) {
        strcpy(child_buf, "child secret");
        send_byte(back[1]);
        wait_byte(go[0]); /* the parent reads and writes */
        printf("child sees: %s\n", child_buf);
        printf("child's read-only page: %s\n", child_ro);
        send_byte(back[1]);
        wait_byte(go[0]);
        _exit(0);
    }
    wait_byte(back[0]);
    char path[64], buf[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
    int fd = open(path, O_RDWR);
    check("open /proc/<pid>/mem", fd >= 0);
    memset(buf, 0, sizeof buf);
    printf("pread child: %s (%s)\n", res(pread(fd, buf, 12, (uintptr_t)child_buf)), buf);
    printf("parent's own copy: (%s)\n", child_buf);
    printf("pwrite child: %s\n", res(pwrite(fd, "written via mem", 16, (uintptr_t)child_buf)));
    printf("pwrite child's read-only page: %s\n", res(pwrite(fd, "FORCED", 6, (uintptr_t)child_ro)));

    struct iovec l = {buf, 15}, r = {child_buf, 15};
    memset(buf, 0, sizeof buf);
    printf("process_vm_readv: %s (%s)\n", res(process_vm_readv(pid, &l, 1, &r, 1, 0)), buf);
    strcpy(buf, "via writev!");
    struct iovec l2 = {buf, 12}, r2 = {child_buf + 16, 12};
    printf("process_vm_writev: %s\n", res(process_vm_writev(pid, &l2, 1, &r2, 1, 0)));
    /* Two remote pieces into one local buffer, and scatter into two local pieces. */
    char a[8] = "", b[8] = "";
    struct iovec ls[2] = {{a, 6}, {b, 6}};
    struct iovec rs[2] = {{child_buf, 6}, {child_buf + 16, 6}};
    printf("process_vm_readv 2x2: %s (%s|%s)\n", res(process_vm_readv(pid, ls, 2, rs, 2, 0)), a, b);
    /* Errors. */
    printf("flags != 0: %s\n", res(process_vm_readv(pid, &l, 1, &r, 1, 1)));
    printf("no such pid: %s\n", res(process_vm_readv(999999, &l, 1, &r, 1, 0)));
    struct iovec rh = {hole, 8};
    printf("unmapped remote: %s\n", res(process_vm_readv(pid, &l, 1, &rh, 1, 0)));
    struct iovec rp[2] = {{child_buf, 8}, {hole, 8}};
    struct iovec lp = {buf, 16};
    printf("partial (8 mapped, then unmapped): %s\n", res(process_vm_readv(pid, &lp, 1, rp, 2, 0)));
    struct iovec ro = {child_ro, 6};
    printf("writev into a read-only remote page (no FOLL_FORCE): %s\n", res(process_vm_writev(pid, &l, 1, &ro, 1, 0)));
    struct iovec lbad = {hole, 8};
    printf("unmapped local buffer: %s\n", res(process_vm_readv(pid, &lbad, 1, &r, 1, 0)));
    struct iovec lzero = {buf, 0};
    printf("zero-length local, bad pid: %s\n", res(process_vm_readv(999999, &lzero, 1, &r, 1, 0)));
    printf("too many iovecs: %s\n", res(process_vm_readv(pid, &l, 1025, &r, 1, 0)));
    send_byte(go[1]);
    wait_byte(back[0]);

    /* maps of another process. */
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    load_maps(path);
    print_maps("child's read-only page", child_ro);

    send_byte(go[1]);
    /* The child exits: a zombie until reaped, without an address space. */
    siginfo_t si;
    waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
    memset(buf, 0, sizeof buf);
    printf("zombie, open descriptor: pread %s\n", res(pread(fd, buf, 8, (uintptr_t)child_buf)));
    int zfd = open(path, O_RDONLY);
    snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
    int zm = open(path, O_RDONLY);
    printf("zombie, new descriptor: open %s\n", zm >= 0 ? "ok" : errname(errno));
    if (zm >= 0)
        printf("zombie, new descriptor: pread %s\n", res(pread(zm, buf, 8, (uintptr_t)child_buf)));
    printf("zombie maps: read %s\n", res(read(zfd, buf, sizeof buf)));
    close(zm);
    close(zfd);
    reap(pid);
    printf("reaped, open descriptor: pread %s\n", res(pread(fd, buf, 8, (uintptr_t)child_buf)));
    printf("reaped, open: %s\n", res(open(path, O_RDONLY)));
    close(fd);
}

static void maps(void)
{
    printf("== /proc/self/maps ==\n");
    char *rw = xmap(PROT_READ | PROT_WRITE, MAP_PRIVATE);
    char *ro = xmap(PROT_READ, MAP_PRIVATE);
    char *rx = xmap(PROT_READ | PROT_EXEC, MAP_PRIVATE);
    char *sh = xmap(PROT_READ | PROT_WRITE, MAP_SHARED);
    char *none = xmap(PROT_NONE, MAP_PRIVATE);
    char *heap = sbrk(PG);
    volatile int on_stack = 0;
    load_maps("/proc/self/maps");
    print_maps("anon rw", rw);
    print_maps("anon r", ro);
    print_maps("anon rx", rx);
    print_maps("anon shared", sh);
    print_maps("anon none", none);
    print_maps("sbrk", heap);
    print_maps("stack", (void *)&on_stack);
    char perms[5], name[256];
    int col;
    maps_find((void *)&on_stack, perms, name, sizeof name, &col);
    printf("name column: %d\n", col);
    /* The whole line of a nameless mapping, after the address range. */
    for (char *line = maps_buf; *line;) {
        char *eol = strchr(line, '\n');
        unsigned long lo;
        if (!eol)
            break;
        if (sscanf(line, "%lx-", &lo) == 1 && lo == (uintptr_t)rw)
            printf("anon rw line: \"%.*s\"\n", (int)(eol - strchr(line, ' ') - 1), strchr(line, ' ') + 1);
        line = eol + 1;
    }
    /* Splitting a mapping with mprotect shows as two lines. */
    char *two = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(two + PG, PG, PROT_READ);
    load_maps("/proc/self/maps");
    print_maps("split low", two);
    print_maps("split high", two + PG);
    munmap(two, 2 * PG);
    munmap(rw, PG);
    munmap(ro, PG);
    munmap(rx, PG);
    munmap(sh, PG);
    munmap(none, PG);
    sbrk(-PG);
    int fd = open("/proc/self/maps", O_RDONLY);
    printf("write to maps: %s\n", res(write(fd, "x", 1)));
    close(fd);
    fd = open("/proc/self/maps", O_RDWR);
    printf("write to maps (O_RDWR): %s\n", res(write(fd, "x", 1)));
    close(fd);
}

static void pagemap(void)
{
    printf("== /proc/self/pagemap ==\n");
    char *a = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    print_pm("untouched", a);
    volatile char c = a[0];
    (void)c;
    c = a[2 * PG];
    print_pm("read (zero page)", a);
    printf("two zero-page reads, same pfn: %s\n", (pm(a) & PM_PFN) == (pm(a + 2 * PG) & PM_PFN) ? "yes" : "no");
    a[PG] = 'x';
    print_pm("written", a + PG);
    char *sh = xmap(PROT_READ | PROT_WRITE, MAP_SHARED);
    sh[0] = 's';
    print_pm("shared anon", sh);
    print_pm("unmapped", (char *)4096);

    int done[2], go[2];
    xpipe(done);
    xpipe(go);
    pid_t pid = xfork();
    if (pid == 0) {
        /* A page only the child has: the inherited descriptor (bound to the parent's
         * address space at open) does not see it, the child's own does. */
        char *mine = xmap(PROT_READ | PROT_WRITE, MAP_PRIVATE);
        mine[0] = 1;
        int inherited_sees = !!(pm(mine) & PM_PRESENT);
        close(pagemap_fd);
        pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
        printf("child: inherited pagemap descriptor sees the child's page: %s, own descriptor: %s\n",
               inherited_sees ? "yes" : "no", (pm(mine) & PM_PRESENT) ? "yes" : "no");
        uint64_t e = pm(a + PG);
        fflush(stdout);
        if (write(done[1], &e, 8) != 8)
            _exit(3);
        wait_byte(go[0]);
        _exit(0);
    }
    uint64_t child_e;
    if (read(done[0], &child_e, 8) != 8)
        exit(1);
    uint64_t e = pm(a + PG);
    print_pm("written, shared with a child", a + PG);
    printf("child: present=%d exclusive=%d\n", !!(child_e & PM_PRESENT), !!(child_e & PM_EXCLUSIVE));
    printf("same pfn: %s\n", (e & PM_PFN) == (child_e & PM_PFN) ? "yes" : "no");
    send_byte(go[1]);
    siginfo_t si;
    waitid(P_PID, pid, &si, WEXITED | WNOWAIT); /* a zombie now, not reaped */
    print_pm("after the child exited, before reaping", a + PG);
    reap(pid);

    /* Reads: several entries at once, alignment rules. */
    uint64_t three[3];
    printf("read 3 entries: %s\n", res(pread(pagemap_fd, three, 24, (uintptr_t)a / PG * 8)));
    printf("entries present: %d %d %d\n", !!(three[0] & PM_PRESENT), !!(three[1] & PM_PRESENT),
           !!(three[2] & PM_PRESENT));
    printf("unaligned offset: %s\n", res(pread(pagemap_fd, three, 8, (uintptr_t)a / PG * 8 + 4)));
    printf("unaligned count: %s\n", res(pread(pagemap_fd, three, 12, (uintptr_t)a / PG * 8)));
    printf("zero count: %s\n", res(pread(pagemap_fd, three, 0, (uintptr_t)a / PG * 8)));
    off_t end = lseek(pagemap_fd, 0, SEEK_END);
    printf("lseek SEEK_END: %s\n", end < 0 ? errname(errno) : "ok");
    munmap(a, 3 * PG);
    print_pm("after munmap", a);
    munmap(sh, PG);
}

static void force_write_read_only_thp(void)
{
    printf("== FOLL_FORCE write into a THP made PROT_READ ==\n");
    size_t huge = 2UL << 20;
    char *m = mmap(NULL, 2 * huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        printf("mmap: %s\n", errname(errno));
        return;
    }
    char *p = (char *)(((uintptr_t)m + huge - 1) & ~(uintptr_t)(huge - 1));
    madvise(p, huge, MADV_HUGEPAGE);
    memset(p, 'a', huge);
    mprotect(p, huge, PROT_READ);
    int fd = open("/proc/self/mem", O_RDWR);
    check("open /proc/self/mem O_RDWR", fd >= 0);
    printf("pwrite: %s\n", res(pwrite(fd, "X", 1, (uintptr_t)p + PG)));
    printf("reads back: %c, its neighbour: %c\n", p[PG], p[PG + 1]);
    load_maps("/proc/self/maps");
    print_maps("after force write into the THP", p);
    close(fd);
    munmap(m, 2 * huge);
}

int main(void)
{
    PG = sysconf(_SC_PAGESIZE);
    pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
    if (pagemap_fd < 0) {
        printf("open /proc/self/pagemap: %s\n", errname(errno));
        return 1;
    }
    force_write_private_anon();
    force_write_read_only_thp();
    poke_text();
    refused();
    file_mappings();
    remote();
    maps();
    pagemap();
    printf("thread-self: %s\n", access("/proc/thread-self/mem", F_OK) == 0 ? "yes" : errname(errno));
    printf("%s\n", failures ? "FAILURES" : "all checks passed");
    return failures ? 1 : 0;
}
