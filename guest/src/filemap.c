/* filemap: file mappings and the page cache.
 *
 * Works on a file in /tmp (removed at the end) and on memfds. Checks that
 *  - a MAP_SHARED store is seen by read() (after msync, and before it: one page cache),
 *    and a write() is seen by the mapping;
 *  - a MAP_PRIVATE store reaches neither the file nor another mapping, and
 *    MADV_DONTNEED on the private mapping brings the file's contents back;
 *  - two MAP_SHARED mappings of a memfd (sized with ftruncate) see each other;
 *  - an access beyond the end of the file gets SIGBUS (si_code printed), inside the last
 *    page it reads zeros, and ftruncate shrinking a mapped file turns pages into SIGBUS;
 *  - fallocate allocates and extends, FALLOC_FL_PUNCH_HOLE|KEEP_SIZE zeroes what is mapped,
 *    and the unsupported modes fail;
 *  - the open mode limits mappings: EACCES for PROT_WRITE|MAP_SHARED of an O_RDONLY fd,
 *    for mprotect(PROT_WRITE) on such a mapping, and for any mapping of an O_WRONLY fd;
 *  - a forked child's store to a shared mapping is seen by the parent and the file;
 *  - after munmap, read() still sees what was stored through the mapping;
 *  - msync, mmap and fsync argument errors.
 * Prints observed facts and errno names only (no addresses). Exit 0 when all checks
 * pass. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

#define PG 4096L

/* errname() plus the one errno only this program meets */
static const char *ename(int e)
{
    return e == ENODEV ? "ENODEV" : errname(e);
}

static int failures;

static void check(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAIL");
    if (!ok)
        failures++;
}

static void fact(const char *what, int yes)
{
    printf("%s: %s\n", what, yes ? "yes" : "no");
}

static void res(const char *what, long r)
{
    if (r < 0)
        printf("%s: %s\n", what, ename(errno));
    else
        printf("%s: OK\n", what);
}

static void *map_res(const char *what, void *p)
{
    if (p == MAP_FAILED)
        printf("%s: %s\n", what, ename(errno));
    else
        printf("%s: mapped\n", what);
    return p;
}

static char file_byte(int fd, off_t off)
{
    char c = '?';
    if (pread(fd, &c, 1, off) != 1)
        return '?';
    return c;
}

/* ---- SIGBUS catching ---- */
static sigjmp_buf bus_env;
static volatile sig_atomic_t bus_code;
static void *volatile bus_addr;

static void on_bus(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    bus_code = si->si_code;
    bus_addr = si->si_addr;
    siglongjmp(bus_env, 1);
}

/* Reads *p; prints the byte or the SIGBUS it got. */
static void probe(const char *what, volatile char *p)
{
    if (sigsetjmp(bus_env, 1) == 0) {
        char c = *p;
        printf("%s: read %d\n", what, c);
    } else {
        printf("%s: SIGBUS si_code %d at the faulting address: %s\n", what, (int)bus_code,
               bus_addr == (void *)p ? "yes" : "no");
    }
}

static void fill(int fd, int pages)
{
    char buf[PG];
    for (int i = 0; i < pages; i++) {
        memset(buf, 'A' + i, sizeof buf);
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
            failures++;
    }
}

int main(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/dirtybit-filemap.%d", (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        printf("open: %s\n", errname(errno));
        return 1;
    }
    fill(fd, 2);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, NULL);

    /* ---- MAP_SHARED: one page cache for mappings and read/write ---- */
    char *sh = map_res("mmap shared rw", mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    if (sh == MAP_FAILED)
        return 1;
    check("shared mapping shows the file", sh[0] == 'A' && sh[PG] == 'B');
    sh[10] = 'x';
    check("shared store seen by read() before msync", file_byte(fd, 10) == 'x');
    res("msync MS_SYNC", msync(sh, 2 * PG, MS_SYNC));
    check("shared store seen by read() after msync", file_byte(fd, 10) == 'x');
    pwrite(fd, "W", 1, PG + 20);
    check("pwrite() seen by the shared mapping", sh[PG + 20] == 'W');
    sh[11] = 'y';
    res("msync MS_ASYNC", msync(sh, PG, MS_ASYNC));
    res("fsync", fsync(fd));
    res("fdatasync", fdatasync(fd));
    check("store seen after fsync", file_byte(fd, 11) == 'y');

    /* ---- MAP_PRIVATE: copy on write ---- */
    char *pr = map_res("mmap private rw", mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
    if (pr == MAP_FAILED)
        return 1;
    check("private mapping shows shared stores", pr[10] == 'x');
    pr[30] = 'p';
    fact("private store reached the file", file_byte(fd, 30) == 'p');
    fact("private store visible in the shared mapping", sh[30] == 'p');
    check("private mapping keeps its store", pr[30] == 'p');
    res("msync private", msync(pr, 2 * PG, MS_SYNC));
    fact("private store reached the file after msync", file_byte(fd, 30) == 'p');
    res("madvise MADV_DONTNEED private", madvise(pr, 2 * PG, MADV_DONTNEED));
    check("private mapping shows the file again", pr[30] == 'A');
    sh[31] = 'z';
    check("untouched private page follows the file", pr[31] == 'z');

    /* ---- memfd: two shared mappings ---- */
    int mfd = memfd_create("filemap", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    res("memfd_create", mfd);
    struct stat st;
    fstat(mfd, &st);
    printf("memfd: size %ld regular %s\n", (long)st.st_size, S_ISREG(st.st_mode) ? "yes" : "no");
    res("ftruncate memfd 2 pages", ftruncate(mfd, 2 * PG));
    char *m1 = map_res("memfd map 1", mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0));
    char *m2 = map_res("memfd map 2", mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0));
    if (m1 == MAP_FAILED || m2 == MAP_FAILED)
        return 1;
    check("memfd reads zeros", m1[0] == 0 && m2[PG + 5] == 0);
    m1[100] = 42;
    m2[PG + 7] = 43;
    check("mapping 2 sees mapping 1", m2[100] == 42);
    check("mapping 1 sees mapping 2", m1[PG + 7] == 43);
    check("read() sees both", file_byte(mfd, 100) == 42 && file_byte(mfd, PG + 7) == 43);

    /* ---- fallocate on the memfd ---- */
    res("fallocate 3 pages", fallocate(mfd, 0, 0, 3 * PG));
    fstat(mfd, &st);
    printf("size after fallocate: %ld\n", (long)st.st_size);
    res("fallocate KEEP_SIZE 5 pages", fallocate(mfd, FALLOC_FL_KEEP_SIZE, 0, 5 * PG));
    fstat(mfd, &st);
    printf("size after KEEP_SIZE: %ld\n", (long)st.st_size);
    memset(m1, 'F', 2 * PG);
    res("fallocate PUNCH_HOLE|KEEP_SIZE", fallocate(mfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, PG));
    check("hole reads zeros in the mapping", m2[100] == 0 && m2[PG] == 0 && m2[PG + 99] == 0);
    check("around the hole is kept", m2[99] == 'F' && m2[PG + 100] == 'F');
    check("hole reads zeros with read()", file_byte(mfd, PG + 50) == 0);
    fstat(mfd, &st);
    printf("size after PUNCH_HOLE: %ld\n", (long)st.st_size);
    res("fallocate PUNCH_HOLE without KEEP_SIZE", fallocate(mfd, FALLOC_FL_PUNCH_HOLE, 0, PG));
    res("fallocate len 0", fallocate(mfd, 0, 0, 0));
    res("fallocate COLLAPSE_RANGE", fallocate(mfd, FALLOC_FL_COLLAPSE_RANGE, 0, PG));

    /* ---- beyond the end of the file ---- */
    res("ftruncate file to 1 page + 100", ftruncate(fd, PG + 100));
    char *b = map_res("mmap 3 pages of it", mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    if (b == MAP_FAILED)
        return 1;
    probe("byte 99 of the last page", b + PG + 99);
    probe("byte 200 of the last page (beyond EOF)", b + PG + 200);
    probe("page after EOF", b + 2 * PG);
    res("ftruncate file to 100", ftruncate(fd, 100));
    probe("page 1 after shrinking", sh + PG);
    probe("byte 50 after shrinking", sh + 50);
    probe("byte 150 after shrinking", sh + 150);
    res("ftruncate file back to 2 pages", ftruncate(fd, 2 * PG));
    probe("page 1 after growing", sh + PG);
    probe("byte 150 after growing", sh + 150);
    munmap(b, 3 * PG);

    /* ---- open modes ---- */
    int ro = open(path, O_RDONLY);
    int wo = open(path, O_WRONLY);
    map_res("shared PROT_WRITE of O_RDONLY", mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0));
    char *r = map_res("shared PROT_READ of O_RDONLY", mmap(NULL, PG, PROT_READ, MAP_SHARED, ro, 0));
    res("mprotect PROT_WRITE on it", mprotect(r, PG, PROT_READ | PROT_WRITE));
    char *rp = map_res("private PROT_WRITE of O_RDONLY", mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0));
    if (rp != MAP_FAILED) {
        rp[0] = 'q';
        check("private copy of an O_RDONLY file is writable", rp[0] == 'q' && file_byte(fd, 0) == 'A');
    }
    map_res("private PROT_READ of O_WRONLY", mmap(NULL, PG, PROT_READ, MAP_PRIVATE, wo, 0));
    map_res("MAP_SHARED_VALIDATE with an unknown flag", mmap(NULL, PG, PROT_READ, MAP_SHARED_VALIDATE | 0x80000, ro, 0));
    map_res("no MAP_TYPE", mmap(NULL, PG, PROT_READ, 0, ro, 0));
    map_res("bad fd", mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 999, 0));
    int pfd[2];
    pipe(pfd);
    map_res("pipe", mmap(NULL, PG, PROT_READ, MAP_PRIVATE, pfd[0], 0));
    int zfd = open("/dev/zero", O_RDWR);
    char *z = map_res("/dev/zero private", mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, zfd, 0));
    if (z != MAP_FAILED) {
        z[5] = 1;
        check("/dev/zero mapping is zero-filled memory", z[0] == 0 && z[5] == 1);
    }

    /* ---- fork ---- */
    sh[50] = 'P';
    pid_t pid = fork();
    if (pid == 0) {
        sh[50] = 'c';
        pr[60] = 'C';
        _exit(sh[50] == 'c' ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    printf("child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    check("parent sees the child's shared store", sh[50] == 'c');
    check("file has the child's shared store", file_byte(fd, 50) == 'c');
    check("parent does not see the child's private store", pr[60] != 'C');

    /* ---- munmap, then read ---- */
    sh[70] = 'm';
    res("munmap shared", munmap(sh, 2 * PG));
    check("read() after munmap sees the store", file_byte(fd, 70) == 'm');
    res("msync on the unmapped range", msync(sh, PG, MS_SYNC));
    res("msync unaligned", msync(m1 + 1, PG, MS_SYNC));
    res("msync bad flags", msync(m1, PG, 8));
    res("msync MS_SYNC|MS_ASYNC", msync(m1, PG, MS_SYNC | MS_ASYNC));
    res("msync MS_INVALIDATE", msync(m1, PG, MS_SYNC | MS_INVALIDATE));
    res("fsync of a pipe", fsync(pfd[0]));

    munmap(pr, 2 * PG);
    munmap(m1, 2 * PG);
    munmap(m2, 2 * PG);
    close(mfd);
    close(fd);
    close(ro);
    close(wo);
    unlink(path);
    printf("failures: %d\n", failures);
    return failures != 0;
}
