/* epoll: epoll_create1/epoll_ctl/epoll_wait/epoll_pwait/epoll_pwait2 on pipes —
 * level-triggered readiness, EPOLLET (an edge reported once), EPOLLONESHOT and its
 * re-arm by EPOLL_CTL_MOD, DEL, maxevents, timeouts (0 and 20 ms), a thread blocked in
 * epoll_wait woken by another thread's write, the errnos (EBADF, EINVAL, EEXIST, ENOENT,
 * EPERM on a regular file, ELOOP, EFAULT), a closed file vanishing from the set, an
 * epoll fd inside ppoll and inside another epoll, a wait that outlives a close() of its
 * epoll fd, and epoll_pwait's temporary mask. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void msleep(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* One wait of at most 8 events, printed in order. */
static int show(const char *what, int ep, int timeout) {
    struct epoll_event ev[8];
    memset(ev, 0, sizeof ev);
    int n = epoll_wait(ep, ev, 8, timeout);
    printf("%s: %d", what, n);
    if (n < 0)
        printf(" %s", errname(errno));
    for (int i = 0; i < n; i++)
        printf(" [data %llu events %#x]", (unsigned long long)ev[i].data.u64, ev[i].events);
    printf("\n");
    return n;
}

static int add(int ep, int fd, uint32_t events, uint64_t data) {
    struct epoll_event e = {.events = events, .data.u64 = data};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

static void expect(const char *what, int r) {
    /* ELOOP is not in the shared errname.h. */
    const char *e = errno == ELOOP ? "ELOOP" : errname(errno);
    printf("%s: %d %s\n", what, r, r < 0 ? e : "");
}

static void level(void) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int p[2], q[2];
    pipe(p);
    pipe(q);
    printf("sizeof(struct epoll_event) = %zu, cloexec: %d\n", sizeof(struct epoll_event),
           (fcntl(ep, F_GETFD) & FD_CLOEXEC) != 0);
    add(ep, p[0], EPOLLIN, 1);
    add(ep, q[0], EPOLLIN, 2);
    add(ep, q[1], EPOLLOUT, 3);
    show("level: only the write end", ep, 0);
    write(p[1], "ab", 2);
    show("level: after a write", ep, 0);
    show("level: still readable", ep, 0);
    struct epoll_event one;
    int n = epoll_wait(ep, &one, 1, 0);
    printf("level: maxevents 1: %d data %llu\n", n, (unsigned long long)one.data.u64);
    char buf[4];
    read(p[0], buf, 2);
    show("level: drained", ep, 0);
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.u64 = 30};
    expect("MOD q[1]", epoll_ctl(ep, EPOLL_CTL_MOD, q[1], &e));
    show("level: after MOD", ep, 0);
    expect("DEL q[1]", epoll_ctl(ep, EPOLL_CTL_DEL, q[1], NULL));
    show("level: after DEL", ep, 0);
    close(p[1]);
    show("level: writer closed (HUP)", ep, 0);
    close(p[0]);
    close(q[0]);
    close(q[1]);
    close(ep);
}

static void edge(void) {
    int ep = epoll_create1(0);
    int p[2];
    pipe(p);
    add(ep, p[0], EPOLLIN | EPOLLET, 7);
    show("edge: empty", ep, 0);
    write(p[1], "x", 1);
    show("edge: after a write", ep, 0);
    show("edge: reported once", ep, 0);
    char c;
    read(p[0], &c, 1);
    write(p[1], "y", 1);
    show("edge: drained and written again", ep, 0);
    read(p[0], &c, 1);
    close(p[0]);
    close(p[1]);
    close(ep);
}

static void oneshot(void) {
    int ep = epoll_create1(0);
    int p[2];
    pipe(p);
    add(ep, p[0], EPOLLIN | EPOLLONESHOT, 9);
    write(p[1], "x", 1);
    show("oneshot: first", ep, 0);
    show("oneshot: disarmed", ep, 0);
    struct epoll_event e = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 10};
    expect("oneshot: MOD re-arms", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &e));
    show("oneshot: re-armed", ep, 0);
    show("oneshot: disarmed again", ep, 0);
    close(p[0]);
    close(p[1]);
    close(ep);
}

static volatile sig_atomic_t got;

static void on_sig(int s) { got = s; }

static int wake_fd;

static void *writer(void *arg) {
    msleep(30);
    write(wake_fd, "w", 1);
    return arg;
}

static int close_fd;

static void *closer(void *arg) {
    msleep(10);
    close(close_fd);
    msleep(20);
    write(wake_fd, "c", 1);
    return arg;
}

static void blocking(void) {
    int ep = epoll_create1(0);
    int p[2];
    pipe(p);
    add(ep, p[0], EPOLLIN, 5);
    long long t0 = now_ms();
    int n = show("timeout 20 ms", ep, 20);
    printf("timed out: %s\n", n == 0 && now_ms() - t0 >= 19 ? "yes" : "no");
    struct timespec ts = {0, 20000000};
    struct epoll_event ev;
    t0 = now_ms();
    n = syscall(SYS_epoll_pwait2, ep, &ev, 1, &ts, NULL, 8);
    printf("epoll_pwait2 20 ms: %d, timed out: %s\n", n,
           n == 0 && now_ms() - t0 >= 19 ? "yes" : "no");
    wake_fd = p[1];
    pthread_t t;
    pthread_create(&t, NULL, writer, NULL);
    show("blocked until another thread writes", ep, -1);
    pthread_join(t, NULL);
    char c;
    read(p[0], &c, 1);
    /* The waiter keeps the instance when another thread closes its descriptor. */
    close_fd = epoll_create1(0);
    add(close_fd, p[0], EPOLLIN, 6);
    pthread_create(&t, NULL, closer, NULL);
    show("epfd closed by another thread during the wait", close_fd, 2000);
    pthread_join(t, NULL);
    read(p[0], &c, 1);
    /* The temporary mask: SIGUSR1 pending and blocked outside, unblocked inside. */
    sigset_t block, none;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigemptyset(&none);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sigaction(SIGUSR1, &sa, NULL);
    sigprocmask(SIG_BLOCK, &block, NULL);
    raise(SIGUSR1);
    n = epoll_pwait(ep, &ev, 1, -1, &none);
    printf("epoll_pwait with SIGUSR1 let in: %d %s, handler ran: %d\n", n,
           n < 0 ? errname(errno) : "", got == SIGUSR1);
    n = epoll_pwait(ep, &ev, 1, 0, &block);
    printf("epoll_pwait with SIGUSR1 blocked: %d\n", n);
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    close(p[0]);
    close(p[1]);
    close(ep);
}

static void errors(void) {
    int ep = epoll_create1(0);
    int p[2];
    pipe(p);
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = 1};
    struct epoll_event ev[2];
    expect("epoll_create1(1)", epoll_create1(1));
    expect("ctl on a bad epfd", epoll_ctl(99, EPOLL_CTL_ADD, p[0], &e));
    expect("ctl of a bad fd", epoll_ctl(ep, EPOLL_CTL_ADD, 99, &e));
    expect("ctl on a pipe as epfd", epoll_ctl(p[1], EPOLL_CTL_ADD, p[0], &e));
    expect("ADD the epoll to itself", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &e));
    expect("ADD", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e));
    expect("ADD again", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e));
    expect("MOD unregistered", epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &e));
    expect("DEL unregistered", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], &e));
    expect("bad op", epoll_ctl(ep, 77, p[0], &e));
    expect("ADD with a bad event pointer", epoll_ctl(ep, EPOLL_CTL_ADD, p[1], (void *)8));
    e.events = EPOLLIN | EPOLLEXCLUSIVE;
    expect("MOD with EPOLLEXCLUSIVE", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &e));
    e.events = EPOLLIN;
    int f = open("/tmp/epoll-regular", O_CREAT | O_RDWR | O_TRUNC, 0600);
    expect("ADD a regular file", epoll_ctl(ep, EPOLL_CTL_ADD, f, &e));
    close(f);
    unlink("/tmp/epoll-regular");
    int outer = epoll_create1(0);
    expect("ADD an epoll to another", epoll_ctl(outer, EPOLL_CTL_ADD, ep, &e));
    expect("ADD it back (a loop)", epoll_ctl(ep, EPOLL_CTL_ADD, outer, &e));
    expect("wait on a bad fd", epoll_wait(99, ev, 1, 0));
    expect("wait on a pipe", epoll_wait(p[0], ev, 1, 0));
    expect("wait, maxevents 0", epoll_wait(ep, ev, 0, 0));
    /* Raw calls: glibc's fortified epoll_wait refuses these at compile time. */
    expect("wait, maxevents -1", syscall(SYS_epoll_pwait, ep, ev, -1, 0, NULL, 8));
    expect("wait, maxevents INT_MAX", syscall(SYS_epoll_pwait, ep, ev, 0x7fffffff, 0, NULL, 8));
    write(p[1], "x", 1);
    expect("wait, events at NULL", syscall(SYS_epoll_pwait, ep, NULL, 1, 0, NULL, 8));
    expect("pwait, sigsetsize 4", syscall(SYS_epoll_pwait, ep, ev, 1, 0, ev, 4));
    struct timespec bad = {0, 1000000000};
    expect("pwait2, tv_nsec 1e9", syscall(SYS_epoll_pwait2, ep, ev, 1, &bad, NULL, 8));
    /* The epoll fd in ppoll and in another epoll. */
    struct pollfd pf = {ep, POLLIN, 0};
    int r = poll(&pf, 1, 0);
    printf("ppoll on the epoll fd: %d revents %#x\n", r, pf.revents);
    show("outer epoll", outer, 0);
    char c;
    read(p[0], &c, 1);
    pf.revents = 0;
    r = poll(&pf, 1, 0);
    printf("ppoll on the drained epoll fd: %d revents %#x\n", r, pf.revents);
    /* A closed file leaves every set; a dup keeps it there. */
    int d = dup(p[1]);
    add(ep, p[1], EPOLLOUT, 11);
    close(p[1]);
    show("closed but dup'ed", ep, 0);
    close(d);
    show("last reference gone", ep, 0);
    expect("DEL of the closed fd", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], &e));
    close(p[0]);
    close(outer);
    close(ep);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    level();
    edge();
    oneshot();
    blocking();
    errors();
    printf("done\n");
    return 0;
}
