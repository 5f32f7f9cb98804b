/* vmsplice: user pages spliced into a pipe by reference, and CVE-2020-29374.
 *
 * vmsplice(2) into a pipe does not copy: each page is taken with get_user_pages_fast()
 * (a read-only FOLL_GET reference) and the pipe buffer points at it; the reader copies
 * out of the page when it reads. So a write to the page after vmsplice() and before
 * read() is what the reader gets -- for the splicer's own writes, as documented.
 *
 * CVE-2020-29374: a parent writes 'A' into a private page and forks; the child splices
 * the (shared) page into a pipe and then drops its mapping (munmap, or exit); the parent
 * writes 'B' into its page; the pipe is read. The child was only ever given 'A'. Kernels
 * up to 5.8 reused a page mapped once on the parent's write fault (reuse_swap_page()),
 * so the parent's 'B' went into the page the pipe still references: the reader sees it
 * (the leak; run with --gup dirtycow or foll-cow). Since 5.9 (wp_can_reuse_anon_folio())
 * the pipe's reference keeps the refcount above 1 and the parent gets a copy.
 *
 * Also: a plain round trip, pipe capacity in buffers (16) with SPLICE_F_NONBLOCK,
 * vmsplice out of a pipe, the zero page, errno cases, and a pipe closed with spliced
 * pages unread (the kernel's page audit at exit must balance).
 *
 * Prints facts, never addresses. Exit status 0 when every check passed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
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

static long PG;
static int failures;

static void check(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAIL");
    if (!ok)
        failures++;
}

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

static void xpipe(int fd[2])
{
    if (pipe(fd) != 0) {
        printf("pipe: %s\n", errname(errno));
        exit(1);
    }
}

static char *xmap(int prot)
{
    char *p = mmap(NULL, PG, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap: %s\n", errname(errno));
        exit(1);
    }
    return p;
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

static void round_trip(void)
{
    printf("== vmsplice into a pipe, read back ==\n");
    int fds[2];
    xpipe(fds);
    char *p = xmap(PROT_READ | PROT_WRITE);
    strcpy(p, "hello vmsplice");
    struct iovec iov = {p, 15};
    printf("vmsplice: %s\n", res(vmsplice(fds[1], &iov, 1, 0)));
    char buf[32] = "";
    printf("read: %s (%s)\n", res(read(fds[0], buf, sizeof buf)), buf);
    /* The pipe reads the page itself: a write after vmsplice, before read, shows. */
    strcpy(p, "first version");
    printf("vmsplice: %s\n", res(vmsplice(fds[1], &iov, 1, 0)));
    strcpy(p, "later version");
    memset(buf, 0, sizeof buf);
    printf("read: %s (%s)\n", res(read(fds[0], buf, 15)), buf);
    /* Two segments, one of them spanning a page boundary: one buffer per page piece. */
    char *two = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(two, 'x', 2 * PG);
    memcpy(two + PG - 3, "ABCDEF", 6);
    struct iovec v2[2] = {{two + PG - 3, 6}, {p, 5}};
    printf("vmsplice 2 segments: %s\n", res(vmsplice(fds[1], v2, 2, SPLICE_F_GIFT)));
    memset(buf, 0, sizeof buf);
    printf("read: %s (%s)\n", res(read(fds[0], buf, sizeof buf)), buf);
    /* An untouched page maps the zero page: the pipe reads zeros. */
    char *z = xmap(PROT_READ);
    struct iovec vz = {z, 8};
    printf("vmsplice of an untouched page: %s\n", res(vmsplice(fds[1], &vz, 1, 0)));
    memset(buf, 'q', sizeof buf);
    int n = read(fds[0], buf, 8);
    int zeros = 1;
    for (int i = 0; i < 8; i++)
        zeros &= buf[i] == 0;
    printf("read %d bytes, all zero: %s\n", n, zeros ? "yes" : "no");
    /* Out of a pipe into user memory: a copy. */
    write(fds[1], "copied out", 10);
    memset(buf, 0, sizeof buf);
    struct iovec out[2] = {{buf, 6}, {buf + 10, 10}};
    printf("vmsplice from the read end: %s (%s|%s)\n", res(vmsplice(fds[0], out, 2, 0)), buf, buf + 10);
    printf("vmsplice from an empty pipe, SPLICE_F_NONBLOCK: %s\n",
           res(vmsplice(fds[0], out, 1, SPLICE_F_NONBLOCK)));
    munmap(two, 2 * PG);
    munmap(z, PG);
    close(fds[0]);
    close(fds[1]);
    munmap(p, PG);
}

static void capacity(void)
{
    printf("== capacity: 16 buffers ==\n");
    int fds[2];
    xpipe(fds);
    char *p = xmap(PROT_READ | PROT_WRITE);
    strcpy(p, "0123456789abcdefghij");
    struct iovec v[20];
    for (int i = 0; i < 20; i++) {
        v[i].iov_base = p + i;
        v[i].iov_len = 1;
    }
    printf("vmsplice 20 one-byte segments: %s\n", res(vmsplice(fds[1], v, 20, 0)));
    printf("full pipe, SPLICE_F_NONBLOCK: %s\n", res(vmsplice(fds[1], v, 1, SPLICE_F_NONBLOCK)));
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    printf("full pipe, write with O_NONBLOCK: %s\n", res(write(fds[1], "x", 1)));
    char buf[32] = "";
    printf("read: %s (%s)\n", res(read(fds[0], buf, sizeof buf)), buf);
    /* Close with spliced pages unread: the pipe drops its page references. */
    printf("vmsplice again: %s\n", res(vmsplice(fds[1], v, 4, 0)));
    close(fds[0]);
    printf("vmsplice without readers: %s\n", res(vmsplice(fds[1], v, 1, 0)));
    close(fds[1]);
    munmap(p, PG);
}

static void errors(void)
{
    printf("== errors ==\n");
    int fds[2];
    xpipe(fds);
    char *p = xmap(PROT_READ | PROT_WRITE);
    char *gone = xmap(PROT_READ | PROT_WRITE);
    munmap(gone, PG);
    struct iovec iov = {p, 8}, bad = {gone, 8};
    printf("unmapped address: %s\n", res(vmsplice(fds[1], &bad, 1, 0)));
    struct iovec half[2] = {{p, 8}, {gone, 8}};
    printf("mapped, then unmapped: %s\n", res(vmsplice(fds[1], half, 2, 0)));
    printf("unknown flag: %s\n", res(vmsplice(fds[1], &iov, 1, 0x10)));
    printf("bad descriptor: %s\n", res(vmsplice(99, &iov, 1, 0)));
    int devnull = open("/dev/null", O_WRONLY);
    printf("not a pipe: %s\n", res(vmsplice(devnull, &iov, 1, 0)));
    close(devnull);
    printf("no segments: %s\n", res(vmsplice(fds[1], &iov, 0, 0)));
    printf("iovec array unmapped: %s\n", res(vmsplice(fds[1], (struct iovec *)gone, 1, 0)));
    printf("too many segments: %s\n", res(vmsplice(fds[1], &iov, 1025, 0)));
    close(fds[0]);
    close(fds[1]);
    munmap(p, PG);
}

/* The CVE: the child only ever had 'A'. What does the pipe hold after the parent writes? */
static void cve(int child_exits)
{
    printf("== CVE-2020-29374: child splices a shared page, then %s ==\n",
           child_exits ? "exits" : "unmaps it");
    int fds[2], sync[2], go[2];
    xpipe(fds);
    xpipe(sync);
    xpipe(go);
    char *p = xmap(PROT_READ | PROT_WRITE);
    memset(p, 'A', PG);
    pid_t pid = xfork();
    if (pid == 0) {
        struct iovec iov = {p, 16};
        ssize_t n = vmsplice(fds[1], &iov, 1, 0);
        if (!child_exits)
            munmap(p, PG);
        char c = n == 16 ? 1 : 0;
        write(sync[1], &c, 1);
        if (!child_exits) {
            /* Stay alive (mapping gone) until the parent has read the pipe. */
            read(go[0], &c, 1);
        }
        _exit(0);
    }
    char c = 0;
    read(sync[0], &c, 1);
    check("child spliced 16 bytes", c == 1);
    if (child_exits) {
        siginfo_t si;
        waitid(P_PID, pid, &si, WEXITED | WNOWAIT); /* exited, not reaped yet */
    }
    memset(p, 'B', PG); /* the parent's write, after the splice */
    char buf[17] = "";
    printf("pipe read: %s\n", res(read(fds[0], buf, 16)));
    printf("pipe holds: %s\n", buf);
    if (buf[0] == 'A')
        printf("the pipe has the data the child was given\n");
    else if (buf[0] == 'B')
        printf("the pipe has the parent's later write: leaked to the child\n");
    printf("parent sees its write: %s\n", p[0] == 'B' ? "yes" : "no");
    if (!child_exits)
        write(go[1], &c, 1);
    waitpid(pid, NULL, 0);
    close(fds[0]);
    close(fds[1]);
    close(sync[0]);
    close(sync[1]);
    close(go[0]);
    close(go[1]);
    munmap(p, PG);
}

int main(void)
{
    PG = sysconf(_SC_PAGESIZE);
    signal(SIGPIPE, SIG_IGN);
    round_trip();
    capacity();
    errors();
    cve(0);
    cve(1);
    printf("%s\n", failures ? "FAILURES" : "all checks passed");
    return failures ? 1 : 0;
}
