/* waitq: sleepers on a pipe's wait queues, a write interrupted part-way, and wait4/waitid
 * with __WCLONE and __WALL (Linux fs/pipe.c pipe_write()/pipe_read(), kernel/exit.c
 * eligible_child(), kernel_wait4(), kernel_waitid()).
 *
 * 1. One write() of 256 KiB into a pipe (four times its capacity) while another thread
 *    drains it in 1000-byte reads: the writer sleeps on the full pipe and goes on until
 *    every byte is written (write returns 262144), the reader gets them all, in order;
 *    then the same with writev() of three pieces.
 * 2. poll() on an empty pipe, with no timeout, woken by another thread's write; then a
 *    read() blocked the same way.
 * 3. A 200 KiB write that fills the pipe and sleeps: the last reader closes (by another
 *    thread): the write returns the 65536 bytes written and SIGPIPE is sent (handled);
 *    the next write gets EPIPE and SIGPIPE again. A signal with a handler interrupting
 *    such a write: it returns the bytes written so far, not EINTR.
 * 4. Children cloned with exit signal SIGUSR2 ("clone" children) and forked ones:
 *    waited for with and without __WCLONE and __WALL, and the options' EINVAL checks.
 *
 * With argument "precise" (tests/waitq.rs, not qemu): only a read() blocked on an empty pipe
 * while this thread makes 2000 unrelated system calls and then writes one byte; the test
 * counts how often the read was issued (`--strace`): a sleeper on a wait queue runs again
 * only when its pipe wakes it. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

#define BIG (256 * 1024)

static int p[2];
static volatile sig_atomic_t sigpipes, sigusr1s, sigusr2s;
static pid_t writer_tid;

static void on_sig(int s)
{
    if (s == SIGPIPE)
        sigpipes++;
    else if (s == SIGUSR1)
        sigusr1s++;
    else if (s == SIGUSR2)
        sigusr2s++;
}

static void handle(int s)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(s, &sa, NULL);
}

static void msleep(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits until the pipe holds `n` bytes (FIONREAD). */
static void wait_full(int n)
{
    int have = 0;
    while (ioctl(p[0], FIONREAD, &have) == 0 && have < n)
        msleep(1);
}

static unsigned char pattern(long i) { return (unsigned char)(i * 7 + i / 4099); }

static void *drain(void *arg)
{
    (void)arg;
    static unsigned char buf[1000];
    long got = 0, bad = 0;
    while (got < BIG) {
        ssize_t n = read(p[0], buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            bad += buf[i] != pattern(got + i);
        got += n;
    }
    return (void *)(got * 2 + (bad != 0));
}

static void big_write_drained(int vector)
{
    static unsigned char data[BIG];
    for (long i = 0; i < BIG; i++)
        data[i] = pattern(i);
    pipe(p);
    pthread_t t;
    pthread_create(&t, NULL, drain, NULL);
    struct iovec iov[3] = {{data, 1000}, {data + 1000, BIG / 2 - 1000}, {data + BIG / 2, BIG / 2}};
    ssize_t w = vector ? writev(p[1], iov, 3) : write(p[1], data, BIG);
    void *r;
    pthread_join(t, &r);
    long v = (long)r;
    printf("%s of %d bytes into a drained pipe: %zd; reader got %ld, in order: %s\n",
           vector ? "writev" : "write", BIG, w, v / 2, v % 2 ? "no" : "yes");
    close(p[0]);
    close(p[1]);
}

static void *late_writer(void *arg)
{
    msleep((int)(long)arg);
    write(p[1], "wake", 4);
    return NULL;
}

static void poll_and_read_woken(void)
{
    pipe(p);
    pthread_t t;
    pthread_create(&t, NULL, late_writer, (void *)20L);
    struct pollfd f = {p[0], POLLIN, 0};
    int r = poll(&f, 1, -1);
    printf("poll(-1) woken by another thread's write: %d revents %#x\n", r, f.revents);
    pthread_join(t, NULL);
    char buf[8] = {0};
    read(p[0], buf, sizeof buf);
    pthread_create(&t, NULL, late_writer, (void *)20L);
    ssize_t n = read(p[0], buf, sizeof buf);
    printf("read() woken by another thread's write: %zd \"%.*s\"\n", n, (int)n, buf);
    pthread_join(t, NULL);
    close(p[0]);
    close(p[1]);
}

static void *close_reader(void *arg)
{
    (void)arg;
    wait_full(65536);
    msleep(10);
    close(p[0]);
    return NULL;
}

static void *interrupt_writer(void *arg)
{
    (void)arg;
    wait_full(65536);
    msleep(10);
    syscall(SYS_tgkill, getpid(), writer_tid, SIGUSR1);
    return NULL;
}

static void partial_writes(void)
{
    static char data[200 * 1024];
    handle(SIGPIPE);
    handle(SIGUSR1);
    pipe(p);
    pthread_t t;
    pthread_create(&t, NULL, close_reader, NULL);
    errno = 0;
    ssize_t w = write(p[1], data, sizeof data);
    pthread_join(t, NULL);
    printf("200 KiB write, last reader closed part-way: %zd (%s), SIGPIPEs %d\n", w,
           errname(w < 0 ? errno : 0), (int)sigpipes);
    errno = 0;
    w = write(p[1], "x", 1);
    printf("next write: %zd %s, SIGPIPEs %d\n", w, errname(errno), (int)sigpipes);
    close(p[1]);

    pipe(p);
    writer_tid = (pid_t)syscall(SYS_gettid);
    pthread_create(&t, NULL, interrupt_writer, NULL);
    errno = 0;
    w = write(p[1], data, sizeof data);
    int e = errno;
    pthread_join(t, NULL);
    printf("200 KiB write interrupted by a handled signal part-way: %zd (%s), SIGUSR1s %d\n",
           w, errname(w < 0 ? e : 0), (int)sigusr1s);
    close(p[0]);
    close(p[1]);
}

/* A child with exit signal `sig` (clone without CLONE_VM: a fork that reports with `sig`)
 * that exits with `code`. */
static pid_t clone_child(int sig, int code)
{
    long r = syscall(SYS_clone, (long)sig, 0L, 0L, 0L, 0L);
    if (r == 0)
        _exit(code);
    return (pid_t)r;
}

static void show_wait(const char *what, pid_t want, pid_t got, int st)
{
    /* The caller made the call before (arguments are evaluated in no set order). */
    if (got < 0)
        printf("%s: -1 %s\n", what, errname(errno));
    else if (got == 0)
        printf("%s: 0\n", what);
    else
        printf("%s: %s, exited %d\n", what, got == want ? "the child" : "another pid",
               WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static void clone_children(void)
{
    handle(SIGUSR2);
    int st = 0;
    pid_t got;
    siginfo_t si;
    pid_t c = clone_child(SIGUSR2, 7);
    memset(&si, 0, sizeof si);
    int r = waitid(P_PID, c, &si, WEXITED | WNOWAIT | __WALL);
    printf("waitid(P_PID, WNOWAIT|__WALL) on a clone child: %d, pid %s, status %d\n", r,
           si.si_pid == c ? "the child" : "other", si.si_status);
    errno = 0;
    got = waitpid(-1, &st, WNOHANG);
    show_wait("wait4(-1, WNOHANG) with only a clone child", c, got, st);
    errno = 0;
    got = waitpid(c, &st, WNOHANG);
    show_wait("wait4(child, WNOHANG) without __WCLONE", c, got, st);
    pid_t f = fork();
    if (f == 0)
        _exit(3);
    errno = 0;
    got = waitpid(-1, &st, __WCLONE);
    show_wait("wait4(-1, __WCLONE)", c, got, st);
    errno = 0;
    got = waitpid(-1, &st, __WCLONE);
    show_wait("wait4(-1, __WCLONE) with only a SIGCHLD child", f, got, st);
    errno = 0;
    got = waitpid(-1, &st, 0);
    show_wait("wait4(-1, 0)", f, got, st);
    c = clone_child(SIGUSR2, 9);
    errno = 0;
    got = waitpid(-1, &st, __WALL);
    show_wait("wait4(-1, __WALL) on a clone child", c, got, st);
    c = clone_child(SIGUSR2, 5);
    memset(&si, 0, sizeof si);
    r = waitid(P_ALL, 0, &si, WEXITED | __WCLONE);
    printf("waitid(P_ALL, __WCLONE): %d, pid %s, signo %d, status %d\n", r,
           si.si_pid == c ? "the child" : "other", si.si_signo, si.si_status);
    f = fork();
    if (f == 0)
        _exit(4);
    r = waitid(P_ALL, 0, &si, WEXITED | __WCLONE | WNOHANG);
    printf("waitid(P_ALL, __WCLONE|WNOHANG) with only a SIGCHLD child: %d %s\n", r,
           errname(r < 0 ? errno : 0));
    got = waitpid(-1, &st, __WALL);
    show_wait("wait4(-1, __WALL) on a SIGCHLD child", f, got, st);
    printf("SIGUSR2 from the clone children: %s\n", sigusr2s == 3 ? "3" : "not 3");

    errno = 0;
    r = (int)syscall(SYS_wait4, -1, NULL, 0x10, NULL);
    printf("wait4 with option 0x10: %d %s\n", r, errname(errno));
    errno = 0;
    r = (int)syscall(SYS_wait4, -1, NULL, WEXITED, NULL);
    printf("wait4 with WEXITED: %d %s\n", r, errname(errno));
    errno = 0;
    r = (int)syscall(SYS_wait4, INT_MIN, NULL, 0, NULL);
    printf("wait4(INT_MIN): %d %s\n", r, errname(errno));
    errno = 0;
    r = (int)syscall(SYS_waitid, P_ALL, 0, &si, WNOHANG, NULL);
    printf("waitid without WEXITED|WSTOPPED|WCONTINUED: %d %s\n", r, errname(errno));
    errno = 0;
    r = (int)syscall(SYS_waitid, P_ALL, 0, &si, WEXITED | 0x10, NULL);
    printf("waitid with option 0x10: %d %s\n", r, errname(errno));
    errno = 0;
    r = (int)syscall(SYS_waitid, P_PID, 0, &si, WEXITED, NULL);
    printf("waitid(P_PID, 0): %d %s\n", r, errname(errno));
    errno = 0;
    r = (int)syscall(SYS_waitid, P_PID, -5, &si, WEXITED, NULL);
    printf("waitid(P_PID, -5): %d %s\n", r, errname(errno));
    errno = 0;
    r = (int)syscall(SYS_wait4, -1, NULL, __WALL, NULL);
    printf("wait4(-1, __WALL) with no children: %d %s\n", r, errname(errno));
}

static void *read_one(void *arg)
{
    (void)arg;
    char c = 0;
    return (void *)read(p[0], &c, 1);
}

/* The "precise" mode: see the header. */
static int precise(void)
{
    pipe(p);
    pthread_t t;
    pthread_create(&t, NULL, read_one, NULL);
    msleep(5);
    for (int i = 0; i < 2000; i++)
        getppid();
    write(p[1], "x", 1);
    void *r;
    pthread_join(t, &r);
    printf("precise: the blocked read returned %ld\n", (long)r);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && !strcmp(argv[1], "precise"))
        return precise();
    big_write_drained(0);
    big_write_drained(1);
    poll_and_read_woken();
    partial_writes();
    clone_children();
    return 0;
}
