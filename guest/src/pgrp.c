/* pgrp: process groups and sessions, kill and wait by process group, prctl, the
 * parent-death signal, child subreapers and __WNOTHREAD, as Linux answers them
 * (kernel/sys.c sys_setpgid/ksys_setsid/sys_getsid/prctl, kernel/signal.c
 * kill_something_info, kernel/exit.c do_wait/eligible_pid/forget_original_parent).
 *
 * Everything runs in a child that first makes itself a session leader (setsid), so that
 * kill(0, sig) reaches only processes this program made, whoever runs it. Ids are never
 * printed, only how they relate ("getpgid(child) == child"), so the reference is the same
 * under qemu-riscv64 (which passes these calls to the host) and dirtybit.
 *
 * `pgrp linux` (tests/pgrp.rs, not qemu: qemu-user cannot execve a riscv64 image without
 * binfmt_misc) adds what needs an execve or dirtybit's /proc: setpgid on a child that has
 * exec'd (EACCES), the name execve gives a task, /proc/<pid>/stat and comm. `pgrp
 * itimer`: ITIMER_VIRTUAL against ITIMER_PROF (relations only, see itimers()). `pgrp
 * alarm [ROUNDS]`: two threads fault pages with ITIMER_REAL armed at a 200 us period
 * (see alarm_faults()). `pgrp cputime [PERIOD_US [SIGPROFS]]`: two threads burn CPU
 * with ITIMER_PROF and ITIMER_VIRTUAL armed; the process's, the threads' and the children's CPU clocks and
 * getrusage() (relations only, see cputimes()). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"


#define SHOW(what, expr)                                                                 \
    do {                                                                                 \
        errno = 0;                                                                       \
        long r_ = (long)(expr);                                                          \
        printf("%s: %s\n", what, r_ < 0 ? errname(errno) : "ok");                        \
    } while (0)

static void check(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "yes" : "no");
}

/* A child that waits for its pipe to close (or a signal), then exits 0. */
static pid_t sleeper(int *wfd)
{
    int p[2];
    if (pipe(p) < 0)
        exit(90);
    pid_t c = fork();
    if (c == 0) {
        close(p[1]);
        char b;
        while (read(p[0], &b, 1) > 0)
            ;
        _exit(0);
    }
    close(p[0]);
    *wfd = p[1];
    return c;
}

static const char *status_str(int st)
{
    static char buf[64];
    if (WIFEXITED(st))
        snprintf(buf, sizeof buf, "exit %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, sizeof buf, "signal %d", WTERMSIG(st));
    else
        snprintf(buf, sizeof buf, "other");
    return buf;
}

static volatile sig_atomic_t usr1_seen;
static void on_usr1(int sig)
{
    (void)sig;
    usr1_seen++;
}

static void sessions(void)
{
    pid_t me = getpid();
    check("setsid() returns the pid", setsid() == me);
    check("getsid(0) == pid", getsid(0) == me);
    check("getpgid(0) == pid", getpgid(0) == me);
    SHOW("setsid() again", setsid());
    SHOW("setpgid(0, 0) as session leader", setpgid(0, 0));
    SHOW("getpgid(-1)", getpgid(-1));
    SHOW("getsid(-1)", getsid(-1));
    SHOW("setpgid(0, -1)", setpgid(0, -1));
    SHOW("setpgid(-5, 0)", setpgid(-5, 0));
    SHOW("setpgid(no such pid, 0)", setpgid(0x3ffffff0, 0));
    SHOW("getpgid(no such pid)", getpgid(0x3ffffff0));

    int w1;
    pid_t a = sleeper(&w1);
    check("a child is in its parent's group", getpgid(a) == me);
    check("a child is in its parent's session", getsid(a) == me);
    SHOW("setpgid(child, child)", setpgid(a, a));
    check("getpgid(child) == child", getpgid(a) == a);
    SHOW("setpgid(child, own group)", setpgid(a, me));
    check("getpgid(child) == parent", getpgid(a) == me);
    SHOW("setpgid(child, no such group)", setpgid(a, 0x3ffffff0));
    SHOW("setpgid(self, child's pid: no group)", setpgid(0, a));
    SHOW("setpgid(init, 0)", setpgid(1, 0));

    /* A grandchild is not ours to move; a thread is not a group leader. */
    int p[2];
    pipe(p);
    pid_t b = fork();
    if (b == 0) {
        int w;
        pid_t g = sleeper(&w);
        write(p[1], &g, sizeof g);
        pause();
        _exit(0);
    }
    pid_t g;
    read(p[0], &g, sizeof g);
    SHOW("setpgid(grandchild, 0)", setpgid(g, 0));
    check("getpgid(grandchild) == parent's", getpgid(g) == me);
    kill(b, SIGKILL);
    waitpid(b, NULL, 0);

    /* A child that is a session leader (it called setsid) cannot be moved. */
    pipe(p);
    pid_t s = fork();
    if (s == 0) {
        setsid();
        write(p[1], "x", 1);
        pause();
        _exit(0);
    }
    char x;
    read(p[0], &x, 1);
    SHOW("setpgid(child in another session, 0)", setpgid(s, 0));
    SHOW("setpgid(child in another session, own group)", setpgid(s, me));
    kill(s, SIGKILL);
    waitpid(s, NULL, 0);
    close(w1);
    waitpid(a, NULL, 0);
}

static void kills(void)
{
    pid_t me = getpid();
    int wa, wb, wc;
    pid_t a = sleeper(&wa), b = sleeper(&wb), c = sleeper(&wc);
    signal(SIGUSR1, on_usr1);
    setpgid(c, c);
    usr1_seen = 0;
    SHOW("kill(0, SIGUSR1)", kill(0, SIGUSR1));
    check("the caller got it too", usr1_seen == 1);
    int st;
    waitpid(a, &st, 0);
    printf("group member a: %s\n", status_str(st));
    waitpid(b, &st, 0);
    printf("group member b: %s\n", status_str(st));
    SHOW("kill(-c, 0)", kill(-c, 0));
    SHOW("kill(-c, 99)", kill(-c, 99));
    SHOW("kill(-c, SIGTERM)", kill(-c, SIGTERM));
    waitpid(c, &st, 0);
    printf("other group c: %s\n", status_str(st));
    SHOW("kill(-c, 0) once it is gone", kill(-c, 0));
    SHOW("kill(-(no such group), SIGTERM)", kill(-0x3ffffff0, SIGTERM));
    SHOW("kill(-own group, 0)", kill(-me, 0));
    close(wa);
    close(wb);
    close(wc);
    signal(SIGUSR1, SIG_DFL);
}

static void waits(void)
{
    pid_t me = getpid();
    /* e1 and e2 in group e1, f in ours; all exit at once. */
    pid_t e1 = fork();
    if (e1 == 0) {
        setpgid(0, 0);
        usleep(20000);
        _exit(1);
    }
    setpgid(e1, e1);
    pid_t e2 = fork();
    if (e2 == 0) {
        usleep(20000);
        _exit(2);
    }
    setpgid(e2, e1);
    pid_t f = fork();
    if (f == 0)
        _exit(3);
    int st, sum = 0;
    pid_t r1 = waitpid(-e1, &st, 0);
    sum += WEXITSTATUS(st);
    pid_t r2 = waitpid(-e1, &st, 0);
    sum += WEXITSTATUS(st);
    check("waitpid(-pgid) twice reaps both members", ((r1 == e1 && r2 == e2) || (r1 == e2 && r2 == e1)) && sum == 3);
    SHOW("waitpid(-pgid) with the group reaped", waitpid(-e1, &st, 0));
    SHOW("waitpid(-(no such group))", waitpid(-0x3ffffff0, &st, 0));
    pid_t r = waitpid(0, &st, 0);
    check("waitpid(0) reaps the child in our group", r == f && WEXITSTATUS(st) == 3);
    SHOW("waitpid(0) with none left", waitpid(0, &st, 0));

    /* waitid(P_PGID, 0): the caller's group (Linux 5.4). */
    pid_t h = fork();
    if (h == 0)
        _exit(4);
    pid_t k = fork();
    if (k == 0) {
        setpgid(0, 0);
        _exit(5);
    }
    setpgid(k, k);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    SHOW("waitid(P_PGID, 0)", waitid(P_PGID, 0, &si, WEXITED));
    check("it found the child of our group", si.si_pid == h && si.si_status == 4);
    memset(&si, 0, sizeof si);
    SHOW("waitid(P_PGID, k)", waitid(P_PGID, k, &si, WEXITED));
    check("it found k", si.si_pid == k && si.si_status == 5);
    SHOW("waitid(P_PGID, -1)", waitid(P_PGID, -1, &si, WEXITED));
    (void)me;
}

static char name_buf[32];
static void *name_thread(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "thread-name", 0, 0, 0);
    prctl(PR_GET_NAME, name_buf, 0, 0, 0);
    return NULL;
}

static void prctls(void)
{
    char name[32];
    memset(name, 'x', sizeof name);
    SHOW("PR_SET_NAME long", prctl(PR_SET_NAME, "pgrp-worker-name-too-long", 0, 0, 0));
    SHOW("PR_GET_NAME", prctl(PR_GET_NAME, name, 0, 0, 0));
    printf("name: \"%s\" byte 15 is NUL: %s, byte 16 untouched: %s\n", name,
           name[15] == 0 ? "yes" : "no", name[16] == 'x' ? "yes" : "no");
    pthread_t t;
    pthread_create(&t, NULL, name_thread, NULL);
    pthread_join(t, NULL);
    prctl(PR_GET_NAME, name, 0, 0, 0);
    printf("thread's name: \"%s\", ours still: \"%s\"\n", name_buf, name);
    SHOW("PR_SET_NAME short", prctl(PR_SET_NAME, "pg", 0, 0, 0));
    prctl(PR_GET_NAME, name, 0, 0, 0);
    printf("name: \"%s\"\n", name);
    int p[2];
    pipe(p);
    if (fork() == 0) {
        char n[16];
        int sig = -1;
        prctl(PR_GET_NAME, n, 0, 0, 0);
        prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0);
        dprintf(p[1], "child's name: \"%s\", pdeathsig %d, no_new_privs %d\n", n, sig,
                prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
        _exit(0);
    }
    wait(NULL);
    SHOW("PR_SET_PDEATHSIG SIGUSR2", prctl(PR_SET_PDEATHSIG, SIGUSR2, 0, 0, 0));
    int sig = 0;
    SHOW("PR_GET_PDEATHSIG", prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0));
    printf("pdeathsig: %d\n", sig);
    SHOW("PR_SET_PDEATHSIG 65", prctl(PR_SET_PDEATHSIG, 65, 0, 0, 0));
    SHOW("PR_SET_PDEATHSIG 0", prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0));
    printf("PR_GET_DUMPABLE: %d\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    SHOW("PR_SET_DUMPABLE 2", prctl(PR_SET_DUMPABLE, 2, 0, 0, 0));
    SHOW("PR_SET_DUMPABLE 0", prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
    printf("PR_GET_DUMPABLE: %d\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    printf("PR_GET_NO_NEW_PRIVS: %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    SHOW("PR_GET_NO_NEW_PRIVS 1", prctl(PR_GET_NO_NEW_PRIVS, 1, 0, 0, 0));
    SHOW("PR_SET_NO_NEW_PRIVS 2", prctl(PR_SET_NO_NEW_PRIVS, 2, 0, 0, 0));
    SHOW("PR_SET_NO_NEW_PRIVS 1 with arg3", prctl(PR_SET_NO_NEW_PRIVS, 1, 1, 0, 0));
    SHOW("PR_SET_NO_NEW_PRIVS 1", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    printf("PR_GET_NO_NEW_PRIVS: %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    SHOW("prctl(12345)", prctl(12345, 0, 0, 0, 0));
    SHOW("prctl(-1)", prctl(-1, 0, 0, 0, 0));
    char buf[200] = {0};
    read(p[0], buf, sizeof buf - 1);
    fputs(buf, stdout);
}

static volatile sig_atomic_t death_seen;
static void on_death(int sig)
{
    death_seen = sig;
}

/* The parent-death signal: the child of a child that exits gets it, and is re-parented
 * to us (a child subreaper) rather than to init. */
static void pdeath(void)
{
    pid_t me = getpid();
    int sub = -1;
    SHOW("PR_SET_CHILD_SUBREAPER", prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
    prctl(PR_GET_CHILD_SUBREAPER, &sub, 0, 0, 0);
    printf("PR_GET_CHILD_SUBREAPER: %d\n", sub);
    int ready[2], report[2];
    pipe(ready);
    pipe(report);
    pid_t mid = fork();
    if (mid == 0) {
        pid_t q = fork();
        if (q == 0) {
            signal(SIGUSR2, on_death);
            prctl(PR_SET_PDEATHSIG, SIGUSR2, 0, 0, 0);
            write(ready[1], "r", 1);
            while (!death_seen)
                usleep(1000);
            dprintf(report[1], "orphan: got signal %d, new parent is the subreaper: %s\n",
                    death_seen, getppid() == me ? "yes" : "no");
            _exit(7);
        }
        char c;
        read(ready[0], &c, 1);
        _exit(6);
    }
    int st;
    waitpid(mid, &st, 0);
    printf("middle child: %s\n", status_str(st));
    char buf[200] = {0};
    read(report[0], buf, sizeof buf - 1);
    fputs(buf, stdout);
    pid_t r = wait(&st);
    printf("the subreaper reaps the orphan: %s (%s)\n", r > 0 ? "yes" : "no", status_str(st));
}

static pid_t thread_child[2];
static int to_main[2], to_thread[2];
static void *forker(void *arg)
{
    (void)arg;
    char c;
    for (int i = 0; i < 2; i++) {
        thread_child[i] = fork();
        if (thread_child[i] == 0)
            _exit(8 + i);
        write(to_main[1], "f", 1);
        read(to_thread[0], &c, 1);
    }
    return NULL;
}

/* __WNOTHREAD: a thread's own children only; a thread's children go to another thread of
 * its process when it exits. */
static void nothread(void)
{
    pthread_t t;
    char c;
    int st;
    pipe(to_main);
    pipe(to_thread);
    pthread_create(&t, NULL, forker, NULL);
    read(to_main[0], &c, 1);
    usleep(20000);
    SHOW("waitpid(-1, __WNOTHREAD), a live thread's child only",
         waitpid(-1, &st, __WNOTHREAD));
    SHOW("waitpid(child, __WNOTHREAD)", waitpid(thread_child[0], &st, __WNOTHREAD));
    pid_t r = waitpid(-1, &st, 0);
    check("waitpid(-1) reaps another thread's child", r == thread_child[0] && WEXITSTATUS(st) == 8);
    write(to_thread[1], "g", 1);
    read(to_main[0], &c, 1);
    write(to_thread[1], "g", 1);
    pthread_join(t, NULL);
    /* pthread_join() returns once the thread's tid word is cleared (mm_release()), which
     * Linux does before exit_notify() hands its children over: poll for up to 2 s. */
    for (int i = 0; i < 200; i++) {
        r = waitpid(-1, &st, WNOHANG | __WNOTHREAD);
        if (r != 0 && !(r < 0 && errno == ECHILD))
            break;
        usleep(10000);
    }
    check("waitpid(-1, __WNOTHREAD) reaps the child of a thread that exited",
          r == thread_child[1] && WEXITSTATUS(st) == 9);
    pid_t own = fork();
    if (own == 0)
        _exit(10);
    r = waitpid(own, &st, __WNOTHREAD);
    check("waitpid(own child, __WNOTHREAD) reaps it", r == own && WEXITSTATUS(st) == 10);
}

/* dirtybit only: what needs an execve (qemu-user cannot run one) or /proc/<pid>/stat. */
static void linux_only(void)
{
    pid_t me = getpid();
    int p[2];
    pipe(p);
    pid_t c = fork();
    if (c == 0) {
        close(p[1]);
        dup2(p[0], 0);
        execl("/proc/self/exe", "renamed", "sleeper", (char *)NULL);
        _exit(99);
    }
    close(p[0]);
    usleep(50000);
    SHOW("setpgid(child that has exec'd, 0)", setpgid(c, 0));
    SHOW("setpgid(child that has exec'd, own group)", setpgid(c, me));
    char path[64], buf[512] = {0};
    snprintf(path, sizeof path, "/proc/%d/comm", c);
    FILE *f = fopen(path, "r");
    if (f) {
        fgets(buf, sizeof buf, f);
        fclose(f);
    }
    printf("comm after exec: %s", buf);
    snprintf(path, sizeof path, "/proc/%d/stat", c);
    f = fopen(path, "r");
    memset(buf, 0, sizeof buf);
    if (f) {
        fgets(buf, sizeof buf, f);
        fclose(f);
    }
    int pid, ppid, pgrp, session, tty, tpgid;
    char comm[64], state;
    int n = sscanf(buf, "%d %63s %c %d %d %d %d %d", &pid, comm, &state, &ppid, &pgrp, &session,
                   &tty, &tpgid);
    printf("stat: fields %d, comm %s, ppid ok %s, pgrp ok %s, session ok %s, tty %d, tpgid %d\n",
           n, comm, ppid == me ? "yes" : "no", pgrp == me ? "yes" : "no",
           session == me ? "yes" : "no", tty, tpgid);
    close(p[1]);
    int st;
    waitpid(c, &st, 0);
    printf("exec'd child: %s\n", status_str(st));
}

/* F_GETPIPE_SZ/F_SETPIPE_SZ (fs/pipe.c pipe_set_size(), round_pipe_size()): a power-of-two
 * number of pages, at least one; EBUSY when the data does not fit; EINVAL above 2 GiB. */
static void pipesz(void)
{
    int p[2];
    pipe2(p, O_NONBLOCK);
    printf("F_GETPIPE_SZ: %d\n", fcntl(p[1], F_GETPIPE_SZ));
    printf("F_SETPIPE_SZ 0: %d\n", fcntl(p[1], F_SETPIPE_SZ, 0));
    printf("F_SETPIPE_SZ 4097: %d\n", fcntl(p[1], F_SETPIPE_SZ, 4097));
    printf("F_SETPIPE_SZ 40000 on the read end: %d\n", fcntl(p[0], F_SETPIPE_SZ, 40000));
    printf("F_GETPIPE_SZ on the write end: %d\n", fcntl(p[1], F_GETPIPE_SZ));
    static char buf[300000];
    long n = write(p[1], buf, sizeof buf);
    printf("a 300000-byte write fills it: %ld, then %s\n", n,
           write(p[1], buf, 1) < 0 ? errname(errno) : "ok");
    SHOW("F_SETPIPE_SZ 8192 with 16 pages in it", fcntl(p[1], F_SETPIPE_SZ, 8192));
    SHOW("F_SETPIPE_SZ 2^31 + 1", fcntl(p[1], F_SETPIPE_SZ, (1u << 31) + 1));
    SHOW("F_SETPIPE_SZ -1", fcntl(p[1], F_SETPIPE_SZ, -1));
    printf("F_GETPIPE_SZ after the refusals: %d\n", fcntl(p[1], F_GETPIPE_SZ));
    printf("F_SETPIPE_SZ 1 MiB: %d\n", fcntl(p[1], F_SETPIPE_SZ, 1 << 20));
    n = write(p[1], buf, sizeof buf);
    printf("then %ld more bytes fit\n", n);
    SHOW("F_GETPIPE_SZ on a closed descriptor", fcntl(0x3ff, F_GETPIPE_SZ));
    close(p[0]);
    close(p[1]);
}

/* dirtybit only (`pgrp pipes`, a small --mem): pipe buffers are guest frames. Pipes of
 * 1 MiB each are filled until a write fails: with RAM used up it returns a short count,
 * then ENOMEM (pipe_write(): alloc_page() failing). Reading one pipe frees its frames,
 * and a write succeeds again. (Linux would rather run its OOM killer for an order-0
 * page than fail it; this kernel's pipe_write() takes the failure path.) */
static __attribute__((noinline)) void touch_stack(void)
{
    volatile char pad[256 << 10];
    for (size_t i = 0; i < sizeof pad; i += 4096)
        pad[i] = 1;
}

static void pipes_beyond_ram(void)
{
    touch_stack();
    static char buf[1 << 20];
    int fds[64][2], n = 0, err = 0, shorts = 0;
    long total = 0;
    /* Touched first, as is the stack: later reads and calls must not need frames the
     * pipes took (a page fault finding none would call the OOM killer, which would
     * choose us). */
    memset(buf, 1, sizeof buf);
    for (; n < 64 && !err; n++) {
        if (pipe2(fds[n], O_NONBLOCK) < 0 || fcntl(fds[n][1], F_SETPIPE_SZ, 1 << 20) < 0)
            break;
        long w = write(fds[n][1], buf, sizeof buf);
        if (w < 0)
            err = errno;
        else {
            total += w;
            if (w < (long)sizeof buf) {
                shorts++;
                if (write(fds[n][1], buf, 4096) < 0)
                    err = errno;
            }
        }
    }
    fprintf(stderr, "pipes: %d, %ld MiB written\n", n, total >> 20);
    printf("filling pipes beyond RAM: a short write, then %s\n", errname(err));
    check("more than 4 MiB went into pipes first", total > (4 << 20));
    check("a short write came first", shorts == 1);
    char *rb = buf;
    long r, got = 0;
    while ((r = read(fds[0][0], rb, sizeof buf)) > 0)
        got += r;
    long w = write(fds[n - 1][1], buf, 4096);
    check("with one pipe read, a write goes in again", got > 0 && w == 4096);
    for (int i = 0; i < n; i++) {
        close(fds[i][0]);
        close(fds[i][1]);
    }
}

static volatile sig_atomic_t vt_ticks, prof_ticks;
static void on_vt(int sig)
{
    (void)sig;
    vt_ticks++;
}
static void on_prof(int sig)
{
    (void)sig;
    prof_ticks++;
}

/* ITIMER_VIRTUAL counts user time only, ITIMER_PROF user and system time
 * (kernel/time/itimer.c, posix_cpu_timers): a process busy in read() of /dev/zero (16 KiB
 * a call: the kernel's time) gets SIGPROF ticks and few SIGVTALRM ones; busy in user mode
 * it gets both about equally. Prints relations; the counts go to stderr. */
static void itimers(void)
{
    signal(SIGVTALRM, on_vt);
    signal(SIGPROF, on_prof);
    struct itimerval tv = {{0, 1000}, {0, 1000}};
    vt_ticks = prof_ticks = 0;
    setitimer(ITIMER_VIRTUAL, &tv, NULL);
    setitimer(ITIMER_PROF, &tv, NULL);
    long calls = 0;
    static char zeros[16384];
    int zfd = open("/dev/zero", O_RDONLY);
    while (prof_ticks < 40) {
        read(zfd, zeros, sizeof zeros);
        calls++;
    }
    close(zfd);
    int vt = vt_ticks, prof = prof_ticks;
    fprintf(stderr, "syscall spin: %ld calls, SIGVTALRM %d, SIGPROF %d\n", calls, vt, prof);
    check("busy in system calls: SIGVTALRM fewer than half the SIGPROF ticks", 2 * vt < prof);
    vt_ticks = prof_ticks = 0;
    volatile unsigned long x = 1;
    while (vt_ticks < 40)
        for (int i = 0; i < 1000; i++)
            x = x * 6364136223846793005ul + 1442695040888963407ul;
    vt = vt_ticks;
    prof = prof_ticks;
    fprintf(stderr, "user spin: SIGVTALRM %d, SIGPROF %d\n", vt, prof);
    check("busy in user mode: SIGPROF and SIGVTALRM ticks within a quarter of each other",
          4 * prof >= 3 * vt && 4 * prof <= 5 * vt);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_VIRTUAL, &off, NULL);
    setitimer(ITIMER_PROF, &off, NULL);
}

static volatile sig_atomic_t alrm_ticks;
static void on_alrm(int sig)
{
    (void)sig;
    alrm_ticks++;
}

#define ALARM_PAGES 256
#define ALARM_PAGE 4096

/* One faulting thread of alarm_faults(): ROUNDS times, writes a word into each of 256
 * fresh anonymous pages (a fault per page), reads them back and zaps them
 * (MADV_DONTNEED). Returns how many words were wrong. */
static void *alarm_worker(void *arg)
{
    long rounds = (long)arg, bad = 0;
    size_t len = (size_t)ALARM_PAGES * ALARM_PAGE;
    char *r = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED)
        return (void *)-1L;
    for (long k = 0; k < rounds; k++) {
        for (long i = 0; i < ALARM_PAGES; i++) {
            volatile long *w = (volatile long *)(r + i * ALARM_PAGE);
            if (*w != 0)
                bad++;
            *w = k * ALARM_PAGES + i + 1;
        }
        for (long i = 0; i < ALARM_PAGES; i++)
            if (*(volatile long *)(r + i * ALARM_PAGE) != k * ALARM_PAGES + i + 1)
                bad++;
        if (madvise(r, len, MADV_DONTNEED) != 0)
            bad++;
    }
    munmap(r, len);
    return (void *)bad;
}

/* ITIMER_REAL keeps counting while the process faults (kernel/time/itimer.c: the
 * hrtimer signal->real_timer, it_real_fn): two threads each fault ROUNDS x 256 pages
 * with the timer armed at a 200 us period, SIGALRM counted by a handler; then the
 * process pause()s until 3 more SIGALRMs came, and disarms. Prints relations; the
 * counts go to stderr. tests/pgrp.rs checks in the run report that the faults stayed
 * off dirtybit's kernel lock with the alarm armed. */
static void alarm_faults(long rounds)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alrm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval tv = {{0, 200}, {0, 200}};
    alrm_ticks = 0;
    setitimer(ITIMER_REAL, &tv, NULL);
    pthread_t t[2];
    long bad = 0;
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, alarm_worker, (void *)rounds);
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    int during = alrm_ticks;
    while (alrm_ticks < during + 3)
        pause();
    struct itimerval left, off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, &left);
    fprintf(stderr, "alarm: %ld rounds x 2 threads x %d pages, SIGALRM %d while faulting\n",
            rounds, ALARM_PAGES, during);
    check("faults with ITIMER_REAL armed: every page held its word", bad == 0);
    check("SIGALRM kept coming: pause() woken 3 times", alrm_ticks >= during + 3);
    check("the old setting had the 200 us period", left.it_interval.tv_sec == 0 &&
                                                       left.it_interval.tv_usec == 200);
    getitimer(ITIMER_REAL, &left);
    check("disarmed", left.it_value.tv_sec == 0 && left.it_value.tv_usec == 0);
}

static int burn_profs;
static atomic_int burners_started;

/* One burning thread of cputimes(): user-mode arithmetic until burn_profs SIGPROFs and
 * half as many SIGVTALRMs came, then its own CPU clock (CLOCK_THREAD_CPUTIME_ID), in
 * ns. It says it has started once its clock is positive: it burnt a little and read it
 * (a read brings a running thread's clock up to date), so that the main thread's read
 * of it is positive on any host, however late the host ran it. */
static void *burner(void *arg)
{
    long long *own = arg;
    volatile unsigned long x = 1;
    struct timespec t0 = {0, 0};
    while (t0.tv_sec == 0 && t0.tv_nsec == 0) {
        for (int i = 0; i < 1000; i++)
            x = x * 6364136223846793005ul + 1442695040888963407ul;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    }
    atomic_fetch_add(&burners_started, 1);
    while (prof_ticks < burn_profs || vt_ticks < burn_profs / 2)
        for (int i = 0; i < 1000; i++)
            x = x * 6364136223846793005ul + 1442695040888963407ul;
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    *own = t.tv_sec * 1000000000ll + t.tv_nsec;
    return NULL;
}

static long long clock_ns(clockid_t c)
{
    struct timespec t;
    if (clock_gettime(c, &t) != 0)
        return -1;
    return t.tv_sec * 1000000000ll + t.tv_nsec;
}

static long long tv_ns(struct timeval tv)
{
    return tv.tv_sec * 1000000000ll + tv.tv_usec * 1000ll;
}

/* The CPU time of a process is its threads' (kernel/sched/cputime.c
 * thread_group_cputime(), posix-cpu-timers.c): two threads burn CPU in user mode with
 * ITIMER_PROF and ITIMER_VIRTUAL armed at a 2 ms period (argv[2] us), counted by
 * handlers, until 40 SIGPROFs (argv[3]) and half as many SIGVTALRMs came; the main
 * thread reads a burner's clock on the way (pthread_getcpuclockid()) and joins them;
 * they report their own clocks. CLOCK_PROCESS_CPUTIME_ID is at least each thread's,
 * and about their sum (the main thread burns nothing); getrusage(RUSAGE_SELF) agrees; RUSAGE_THREAD of the
 * main thread is small; a child that burns 20 ms shows in RUSAGE_CHILDREN once reaped.
 * Prints relations; the times and counts go to stderr. */
static void cputimes(long period_us, int profs)
{
    signal(SIGVTALRM, on_vt);
    signal(SIGPROF, on_prof);
    struct itimerval tv = {{period_us / 1000000, period_us % 1000000},
                           {period_us / 1000000, period_us % 1000000}};
    vt_ticks = prof_ticks = 0;
    burn_profs = profs;
    atomic_store(&burners_started, 0);
    long long own[2] = {0, 0};
    setitimer(ITIMER_PROF, &tv, NULL);
    setitimer(ITIMER_VIRTUAL, &tv, NULL);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, burner, &own[i]);
    clockid_t c0;
    int cid = pthread_getcpuclockid(t[0], &c0);
    while (atomic_load(&burners_started) < 2)
        sched_yield();
    /* The signals go to whichever thread runs (check_process_timers() sends them to the
     * group through the current task): the burners count them and stop, the main
     * thread sleeps once, reads a burner's clock, and waits for them. */
    struct timespec ms = {0, 5000000};
    nanosleep(&ms, NULL);
    long long other = cid == 0 ? clock_ns(c0) : -1;
    long long proc_then = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    struct itimerval left, off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, &left);
    setitimer(ITIMER_VIRTUAL, &off, NULL);
    int prof = prof_ticks, vt = vt_ticks;
    long long mine = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    long long proc = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    struct rusage self, thread;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_THREAD, &thread);
    long long proc_after = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    long long mine_after = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    long long ru_self = tv_ns(self.ru_utime) + tv_ns(self.ru_stime);
    long long ru_thread = tv_ns(thread.ru_utime) + tv_ns(thread.ru_stime);
    long long sum = own[0] + own[1];
    fprintf(stderr,
            "cputime: SIGPROF %d, SIGVTALRM %d, threads %lld + %lld ns, main %lld, process "
            "%lld, rusage self %lld (user %lld), thread %lld; a burner's clock %lld when the "
            "process's was %lld\n",
            prof, vt, own[0], own[1], mine, proc, ru_self, tv_ns(self.ru_utime), ru_thread,
            other, proc_then);
    check("ITIMER_PROF and ITIMER_VIRTUAL kept coming: 40 SIGPROF, 20 SIGVTALRM",
          prof >= profs && vt >= profs / 2);
    check("ITIMER_PROF still armed with its 2 ms period",
          left.it_interval.tv_sec * 1000000 + left.it_interval.tv_usec == period_us);
    check("a burner's clock, read by the main thread: positive, below the process's",
          cid == 0 && other > 0 && other <= proc_then);
    check("each burner burnt at least 20 ms", own[0] >= 20000000 && own[1] >= 20000000);
    check("the process clock is at least each thread's", proc >= own[0] && proc >= own[1]);
    check("the process clock is at least the threads' sum", proc >= sum + mine);
    check("the process clock is about the threads' sum (within a quarter)",
          4 * (proc - sum) <= sum);
    check("getrusage(RUSAGE_SELF): between the threads' sum and the process clock after it",
          ru_self + 1000 >= sum && ru_self <= proc_after);
    check("getrusage(RUSAGE_SELF): mostly user time", 2 * tv_ns(self.ru_utime) >= ru_self);
    check("getrusage(RUSAGE_THREAD) of the main thread: its own, well below the process's",
          ru_thread <= mine_after && 4 * ru_thread < ru_self);
    pid_t c = fork();
    if (c == 0) {
        volatile unsigned long x = 1;
        while (clock_ns(CLOCK_PROCESS_CPUTIME_ID) < 20000000)
            for (int i = 0; i < 1000; i++)
                x = x * 6364136223846793005ul + 1442695040888963407ul;
        _exit(0);
    }
    struct rusage before, after;
    getrusage(RUSAGE_CHILDREN, &before);
    int st;
    waitpid(c, &st, 0);
    getrusage(RUSAGE_CHILDREN, &after);
    long long children = tv_ns(after.ru_utime) + tv_ns(after.ru_stime);
    fprintf(stderr, "cputime: child reaped, RUSAGE_CHILDREN %lld ns\n", children);
    check("RUSAGE_CHILDREN: nothing before the reap, the child's 20 ms after",
          tv_ns(before.ru_utime) + tv_ns(before.ru_stime) == 0 && children >= 19999000);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "sleeper") == 0) {
        char b;
        while (read(0, &b, 1) > 0)
            ;
        return 0;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    setvbuf(stderr, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "pipes") == 0) {
        pipes_beyond_ram();
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "itimer") == 0) {
        itimers();
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "cputime") == 0) {
        cputimes(argc > 2 ? atol(argv[2]) : 2000, argc > 3 ? atoi(argv[3]) : 40);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "alarm") == 0) {
        alarm_faults(argc > 2 ? atol(argv[2]) : 200);
        return 0;
    }
    int linux_mode = argc > 1 && strcmp(argv[1], "linux") == 0;
    pid_t s = fork();
    if (s == 0) {
        sessions();
        kills();
        waits();
        prctls();
        pdeath();
        nothread();
        pipesz();
        if (linux_mode)
            linux_only();
        _exit(0);
    }
    int st;
    waitpid(s, &st, 0);
    printf("session child: %s\n", status_str(st));
    return 0;
}
