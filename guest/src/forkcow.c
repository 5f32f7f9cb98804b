/* forkcow: fork(2) and copy-on-write isolation, and the wait family.
 *
 * For each kind of memory -- a private anonymous page written before fork, a private
 * anonymous page only read before fork (so it maps the zero page), a malloc'd heap buffer,
 * a stack variable, an initialised .data global, a .bss global, 64 pages of a 1 MiB
 * buffer, and a MAP_SHARED|MAP_ANONYMOUS page -- the parent writes after fork while the
 * child waits on a pipe, then the child reads (it must see the pre-fork values, except in
 * the shared page), writes its own values, prints what it sees and exits; the parent waits
 * and prints what it sees (its own values, except the shared page, which shows the child's
 * write). So a write is checked to be invisible in both directions.
 *
 * Also: a child that touches nothing and exits, after which the parent writes its (no
 * longer shared) pages; a read-only private page (the child's write is a protection fault,
 * not a COW break: SIGSEGV; after mprotect RW it is a COW break); MADV_DONTNEED in the
 * child; a grandchild; 8 concurrent children each changing its copy of one array and
 * reporting through its exit status, reaped by pid and by "any child"; exit statuses
 * (WEXITSTATUS of 0, 42, 300), deaths by SIGSEGV and abort() (WIFSIGNALED/WTERMSIG);
 * waitid(P_PID) with WNOHANG and WNOWAIT; ECHILD with no children.
 *
 * Children print before the parent (the parent waits first); stdio is flushed before every
 * fork. No pids or addresses are printed. Exit status 0 when all checks passed, else 1. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

static long PG;
static int failures;

long data_global = 1111;   /* .data */
long bss_global;           /* .bss */
/* An unmapped address, through a volatile so the compiler cannot see it. */
static volatile uintptr_t unmapped_addr = 16;

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

static void *xmap(int flags)
{
    void *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap: %s\n", errname(errno));
        exit(1);
    }
    return p;
}

/* Describes a wait status without numbers that depend on the machine. */
static void print_status(const char *who, int st)
{
    if (WIFEXITED(st))
        printf("%s: exited with status %d\n", who, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("%s: killed by signal %d (%s)\n", who, WTERMSIG(st),
               WTERMSIG(st) == SIGSEGV ? "SIGSEGV" : WTERMSIG(st) == SIGABRT ? "SIGABRT" : "other");
    else
        printf("%s: other wait status\n", who);
}

static int reap(pid_t pid)
{
    int st = 0;
    pid_t r = waitpid(pid, &st, 0);
    if (r != pid) {
        printf("waitpid: returned %s\n", r < 0 ? errname(errno) : "another pid");
        failures++;
    }
    return st;
}

static uint64_t sum64(const unsigned char *p, size_t n)
{
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++)
        h = h * 31 + p[i];
    return h;
}

/* The main isolation test: every kind of memory, writes in both directions. */
static void isolation(void)
{
    printf("== isolation: parent writes, then child writes ==\n");
    unsigned char *written = xmap(MAP_PRIVATE);
    unsigned char *zero = xmap(MAP_PRIVATE);
    unsigned char *shared = xmap(MAP_SHARED);
    unsigned char *heap = malloc(1000);
    size_t bign = 1 << 20;
    unsigned char *big = malloc(bign);
    volatile long stackvar = 7;
    if (!heap || !big) {
        printf("malloc failed\n");
        exit(1);
    }
    memset(written, 'W', PG);
    memset(heap, 'H', 1000);
    memset(big, 0x11, bign);
    shared[0] = 'S';
    data_global = 1111;
    bss_global = 0;
    volatile unsigned char z = zero[123]; /* read only: the zero page is mapped */
    (void)z;
    uint64_t big_before = sum64(big, bign);

    int go[2];
    if (pipe(go) != 0) {
        printf("pipe: %s\n", errname(errno));
        exit(1);
    }
    pid_t pid = xfork();
    if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1) /* wait until the parent has written */
            _exit(2);
        printf("child sees after parent's writes: private=%c zero=%d heap=%c stack=%ld data=%ld bss=%ld "
               "shared=%c big-unchanged=%s\n",
               written[5], zero[123], heap[999], (long)stackvar, data_global, bss_global, shared[0],
               sum64(big, bign) == big_before ? "yes" : "no");
        written[5] = 'c';
        zero[123] = 'c';
        heap[999] = 'c';
        stackvar = 200;
        data_global = 2222;
        bss_global = 3333;
        shared[0] = 'c';
        for (size_t i = 0; i < bign; i += 4 * PG) /* 64 of the 256 pages */
            big[i + 7] = 0x22;
        printf("child sees its own writes:        private=%c zero=%c heap=%c stack=%ld data=%ld bss=%ld "
               "shared=%c big-changed=%s\n",
               written[5], zero[123], heap[999], (long)stackvar, data_global, bss_global, shared[0],
               sum64(big, bign) != big_before ? "yes" : "no");
        fflush(stdout);
        _exit(0);
    }
    close(go[0]);
    written[5] = 'p';
    zero[123] = 'p';
    heap[999] = 'p';
    stackvar = 100;
    data_global = 4444;
    bss_global = 5555;
    shared[0] = 'p';
    if (write(go[1], "g", 1) != 1)
        failures++;
    close(go[1]);
    print_status("child", reap(pid));
    printf("parent sees after child's writes: private=%c zero=%c heap=%c stack=%ld data=%ld bss=%ld "
           "shared=%c big-unchanged=%s\n",
           written[5], zero[123], heap[999], (long)stackvar, data_global, bss_global, shared[0],
           sum64(big, bign) == big_before ? "yes" : "no");
    check("parent kept its private writes", written[5] == 'p' && zero[123] == 'p' && heap[999] == 'p' &&
                                                stackvar == 100 && data_global == 4444 && bss_global == 5555);
    check("shared page shows the child's write", shared[0] == 'c');
    check("untouched bytes of the private pages unchanged",
          written[4] == 'W' && written[6] == 'W' && zero[122] == 0 && heap[0] == 'H');
    munmap(written, PG);
    munmap(zero, PG);
    munmap(shared, PG);
    free(heap);
    free(big);
}

/* The shared page the other way: the child writes first, the parent reads after. */
static void shared_both_ways(void)
{
    printf("== MAP_SHARED|MAP_ANONYMOUS both ways ==\n");
    volatile int *sh = xmap(MAP_SHARED);
    sh[0] = 1;
    sh[1] = 0;
    int go[2], back[2];
    if (pipe(go) != 0 || pipe(back) != 0)
        exit(1);
    pid_t pid = xfork();
    if (pid == 0) {
        char c;
        close(go[1]);
        close(back[0]);
        sh[1] = 10; /* child writes first */
        if (write(back[1], "w", 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(2);
        printf("child sees parent's shared write: %d\n", sh[0]);
        fflush(stdout);
        _exit(sh[0] == 20 ? 0 : 1);
    }
    close(go[0]);
    close(back[1]);
    char c;
    if (read(back[0], &c, 1) != 1) /* the child has written */
        failures++;
    int first = sh[1];
    sh[0] = 20;
    if (write(go[1], "g", 1) != 1)
        failures++;
    close(go[1]);
    close(back[0]);
    int st = reap(pid);
    print_status("child", st);
    printf("parent saw the child's shared write: %d\n", first);
    check("shared page is shared both ways", WIFEXITED(st) && WEXITSTATUS(st) == 0 && first == 10);
    munmap((void *)sh, PG);
}

/* The child exits without touching anything; then the parent writes every page it had. */
static void untouched_child(void)
{
    printf("== child touches nothing ==\n");
    size_t n = 16 * PG;
    unsigned char *buf = malloc(n);
    unsigned char *anon = xmap(MAP_PRIVATE);
    if (!buf)
        exit(1);
    memset(buf, 0x33, n);
    memset(anon, 0x44, PG);
    long on_stack[64];
    for (int i = 0; i < 64; i++)
        on_stack[i] = i;
    pid_t pid = xfork();
    if (pid == 0)
        _exit(9);
    print_status("untouched child", reap(pid));
    memset(buf, 0x55, n);
    memset(anon, 0x66, PG);
    for (int i = 0; i < 64; i++)
        on_stack[i] = -i;
    data_global = 77;
    bss_global = 88;
    long s = 0;
    for (int i = 0; i < 64; i++)
        s += on_stack[i];
    check("parent writes after the child exited", buf[0] == 0x55 && buf[n - 1] == 0x55 &&
                                                      anon[PG - 1] == 0x66 && s == -2016 &&
                                                      data_global == 77 && bss_global == 88);
    /* And with the child still alive (blocked on a pipe) while the parent writes. */
    int go[2];
    if (pipe(go) != 0)
        exit(1);
    memset(anon, 0x10, PG);
    pid = xfork();
    if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 0) /* EOF when the parent closes its end */
            _exit(2);
        _exit(anon[0] == 0x10 && anon[PG - 1] == 0x10 ? 0 : 1);
    }
    close(go[0]);
    memset(anon, 0x20, PG);
    close(go[1]);
    int st = reap(pid);
    print_status("reading child", st);
    check("child still saw the pre-fork page", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    check("parent sees its write", anon[0] == 0x20);
    free(buf);
    munmap(anon, PG);
}

/* A read-only private page: the child's write is a protection fault, not a COW break. */
static void readonly_and_dontneed(void)
{
    printf("== read-only private page, MADV_DONTNEED ==\n");
    unsigned char *ro = xmap(MAP_PRIVATE);
    memset(ro, 0x5a, PG);
    if (mprotect(ro, PG, PROT_READ) != 0)
        exit(1);
    pid_t pid = xfork();
    if (pid == 0) {
        ro[10] = 1; /* SIGSEGV: the page is read-only in the child as well */
        _exit(0);
    }
    print_status("child writing a read-only page", reap(pid));

    pid = xfork();
    if (pid == 0) {
        if (mprotect(ro, PG, PROT_READ | PROT_WRITE) != 0)
            _exit(2);
        ro[10] = 1;
        _exit(ro[10] == 1 && ro[11] == 0x5a ? 0 : 1);
    }
    int st = reap(pid);
    print_status("child after mprotect(RW)", st);
    check("child's write after mprotect is private", WIFEXITED(st) && WEXITSTATUS(st) == 0 && ro[10] == 0x5a);
    munmap(ro, PG);

    unsigned char *a = xmap(MAP_PRIVATE);
    memset(a, 0x77, PG);
    pid = xfork();
    if (pid == 0) {
        if (madvise(a, PG, MADV_DONTNEED) != 0)
            _exit(2);
        _exit(a[0] == 0 && a[PG - 1] == 0 ? 0 : 1);
    }
    st = reap(pid);
    print_status("child MADV_DONTNEED", st);
    check("child read zeros after MADV_DONTNEED, parent keeps its data",
          WIFEXITED(st) && WEXITSTATUS(st) == 0 && a[0] == 0x77 && a[PG - 1] == 0x77);
    munmap(a, PG);
}

static void nested(void)
{
    printf("== nested fork ==\n");
    unsigned char *p = xmap(MAP_PRIVATE);
    unsigned char *sh = xmap(MAP_SHARED);
    p[0] = 'A';
    pid_t pid = xfork();
    if (pid == 0) {
        p[0] = 'B';
        pid_t me = getpid();
        pid_t g = xfork();
        if (g == 0) {
            printf("grandchild sees %c (child's value); getppid is the child: %s\n", p[0],
                   getppid() == me ? "yes" : "no");
            p[0] = 'C';
            sh[0] = 'G';
            printf("grandchild wrote %c\n", p[0]);
            fflush(stdout);
            _exit(5);
        }
        print_status("grandchild", reap(g));
        printf("child sees %c; shared page from grandchild: %c\n", p[0], sh[0]);
        fflush(stdout);
        _exit(6);
    }
    print_status("child", reap(pid));
    printf("parent sees %c; shared page from grandchild: %c\n", p[0], sh[0]);
    check("nested values", p[0] == 'A' && sh[0] == 'G');
    munmap(p, PG);
    munmap(sh, PG);
}

/* Eight children at once, each changing its own copy of the array; the exit status
 * carries the sum the child computed. Half are reaped by pid, half with wait(). */
static void many(void)
{
    printf("== 8 concurrent children ==\n");
    enum { N = 8, LEN = 4096 };
    static int arr[LEN]; /* .bss, 4 pages */
    for (int i = 0; i < LEN; i++)
        arr[i] = i;
    pid_t pids[N];
    int status[N];
    for (int k = 0; k < N; k++) {
        pids[k] = xfork();
        if (pids[k] == 0) {
            for (int i = 0; i < LEN; i++)
                arr[i] = arr[i] * (k + 1) + k;
            long s = 0;
            for (int i = 0; i < LEN; i++)
                s += arr[i];
            _exit((int)(s % 251));
        }
    }
    for (int k = 0; k < N / 2; k++)
        status[k] = reap(pids[k]);
    for (int n = N / 2; n < N; n++) {
        int st;
        pid_t r = wait(&st);
        int k;
        for (k = N / 2; k < N && pids[k] != r; k++)
            ;
        if (k == N) {
            printf("wait returned an unknown pid (%s)\n", r < 0 ? errname(errno) : "pid");
            failures++;
            continue;
        }
        status[k] = st;
    }
    int all_ok = 1;
    for (int k = 0; k < N; k++) {
        long s = 0;
        for (int i = 0; i < LEN; i++)
            s += (long)i * (k + 1) + k;
        char who[32];
        snprintf(who, sizeof who, "child %d", k);
        print_status(who, status[k]);
        all_ok &= WIFEXITED(status[k]) && WEXITSTATUS(status[k]) == s % 251;
    }
    long s = 0;
    for (int i = 0; i < LEN; i++)
        s += arr[i];
    check("each child computed on its own copy", all_ok);
    check("parent's array unchanged", s == (long)LEN * (LEN - 1) / 2);
}

static void statuses(void)
{
    printf("== exit statuses and the wait family ==\n");
    static const int codes[] = {0, 42, 300};
    for (unsigned i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        pid_t pid = xfork();
        if (pid == 0)
            _exit(codes[i]);
        int st = reap(pid);
        printf("_exit(%d): ", codes[i]);
        print_status("child", st);
    }
    pid_t pid = xfork();
    if (pid == 0) {
        exit(3); /* through atexit/stdio: flushes nothing (already flushed) */
    }
    print_status("exit(3)", reap(pid));

    pid = xfork();
    if (pid == 0) {
        *(volatile int *)unmapped_addr = 1; /* SIGSEGV, default action */
        _exit(0);
    }
    print_status("store to address 16", reap(pid));

    pid = xfork();
    if (pid == 0) {
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_CORE, &rl);
        abort();
    }
    print_status("abort()", reap(pid));

    /* waitid(P_PID): WNOHANG while the child runs, then WNOWAIT, then the real reap. */
    int go[2];
    if (pipe(go) != 0)
        exit(1);
    pid = xfork();
    if (pid == 0) {
        char c;
        close(go[1]);
        ssize_t r = read(go[0], &c, 1);
        _exit(r == 0 ? 17 : 2);
    }
    close(go[0]);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = waitid(P_PID, pid, &si, WEXITED | WNOHANG);
    printf("waitid WNOHANG on a running child: %s, si_pid %s\n", errname(r ? errno : 0),
           si.si_pid == 0 ? "0" : "set");
    close(go[1]);
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
    printf("waitid WNOWAIT: %s, si_signo %s, si_code %s, si_status %d, si_pid matches %s\n",
           errname(r ? errno : 0), si.si_signo == SIGCHLD ? "SIGCHLD" : "other",
           si.si_code == CLD_EXITED ? "CLD_EXITED" : "other", si.si_status, si.si_pid == pid ? "yes" : "no");
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, pid, &si, WEXITED);
    printf("waitid again: %s, si_code %s, si_status %d\n", errname(r ? errno : 0),
           si.si_code == CLD_EXITED ? "CLD_EXITED" : "other", si.si_status);
    r = waitid(P_PID, pid, &si, WEXITED);
    printf("waitid after the reap: %s\n", errname(r ? errno : 0));

    /* waitid P_ALL for a child killed by a signal. */
    pid = xfork();
    if (pid == 0) {
        *(volatile int *)unmapped_addr = 1;
        _exit(0);
    }
    memset(&si, 0, sizeof si);
    r = waitid(P_ALL, 0, &si, WEXITED);
    printf("waitid P_ALL: %s, si_code %s, si_status %d, si_pid matches %s\n", errname(r ? errno : 0),
           si.si_code == CLD_KILLED ? "CLD_KILLED" : si.si_code == CLD_DUMPED ? "CLD_DUMPED" : "other",
           si.si_status, si.si_pid == pid ? "yes" : "no");

    /* wait4 with rusage (not printed: only that it returned the pid). */
    pid = xfork();
    if (pid == 0)
        _exit(1);
    struct rusage ru;
    int st;
    printf("wait4 returned the child: %s\n", wait4(pid, &st, 0, &ru) == pid ? "yes" : "no");
    print_status("wait4", st);

    errno = 0;
    printf("wait() with no children: %s\n", wait(NULL) < 0 ? errname(errno) : "returned a pid");
    printf("waitpid(-1, WNOHANG) with no children: %s\n",
           waitpid(-1, NULL, WNOHANG) < 0 ? errname(errno) : "returned");
    printf("waitpid(self): %s\n", waitpid(getpid(), NULL, 0) < 0 ? errname(errno) : "returned");
    printf("waitid(P_ALL) with no children: %s\n",
           waitid(P_ALL, 0, &si, WEXITED) < 0 ? errname(errno) : "returned");
    printf("waitpid with bad options: %s\n", waitpid(-1, NULL, 0x100) < 0 ? errname(errno) : "returned");
}

int main(void)
{
    PG = sysconf(_SC_PAGESIZE);
    pid_t self = getpid();
    pid_t pid = xfork();
    if (pid == 0) {
        printf("child: fork returned 0, getppid is the parent: %s, own pid differs: %s\n",
               getppid() == self ? "yes" : "no", getpid() != self ? "yes" : "no");
        fflush(stdout);
        _exit(0);
    }
    print_status("first child", reap(pid));
    printf("parent: fork returned a positive pid: %s\n", pid > 0 ? "yes" : "no");

    isolation();
    shared_both_ways();
    untouched_child();
    readonly_and_dontneed();
    nested();
    many();
    statuses();
    printf("forkcow: %s\n", failures ? "FAILURES" : "all checks passed");
    return failures ? 1 : 0;
}
