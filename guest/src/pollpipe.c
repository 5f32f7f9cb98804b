/* pollpipe: poll/ppoll/select/pselect6 on pipes (readiness, POLLNVAL, EBADF, timeouts
 * and the time left written back), pause() woken by a child's kill() and by another
 * thread's tgkill(), ppoll's temporary signal mask, SIGPIPE (handled, ignored, blocked,
 * default), and a read() blocked on a pipe that keeps its file across another thread's
 * close() of the descriptor. Ends by writing into a pipe without readers with SIGPIPE at
 * its default: status 141.
 *
 * With argument "flood": writes numbered lines to stdout until a write fails (for the
 * `| head -1` test: death by SIGPIPE, status 141).
 * With argument "stdin": a thread blocks in read() of stdin while the main thread
 * sleeps 200 ms, sums 1..50,000,000 and prints the sum; then the main thread waits for the reader, which
 * prints what it read. On more than one CPU the sum is printed before any input comes
 * (the blocked read holds up nobody else). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static volatile sig_atomic_t got;

static void on_sig(int s) { got = s; }

static void handle(int s, void (*h)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sigemptyset(&sa.sa_mask);
    sigaction(s, &sa, NULL);
}

static void msleep(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void poll_basics(void) {
    int p[2];
    pipe(p);
    struct pollfd f[4] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}, {-1, POLLIN, 0}, {40, POLLIN, 0}};
    int r = poll(f, 1, 20);
    printf("poll empty pipe, 20 ms: %d revents %#x\n", r, f[0].revents);
    r = poll(f, 4, 0);
    printf("poll 4 fds: %d revents %#x %#x %#x %#x\n", r, f[0].revents, f[1].revents,
           f[2].revents, f[3].revents);
    write(p[1], "x", 1);
    r = poll(f, 2, -1);
    printf("poll after a write: %d revents %#x %#x\n", r, f[0].revents, f[1].revents);
    struct timespec ts = {1, 0};
    r = syscall(SYS_ppoll, f, 1, &ts, NULL, 8);
    printf("ppoll ready at once: %d, time left >= 0.9 s: %s\n", r,
           ts.tv_sec == 0 && ts.tv_nsec >= 900000000L ? "yes" : (ts.tv_sec == 1 ? "yes" : "no"));
    char c;
    read(p[0], &c, 1);
    ts.tv_sec = 0;
    ts.tv_nsec = 30000000L;
    /* glibc's ppoll() passes a copy of the timeout: the kernel's write-back of the time
     * left is seen through the raw call. */
    r = syscall(SYS_ppoll, f, 1, &ts, NULL, 8);
    printf("ppoll timeout 30 ms: %d, time left %ld.%09ld\n", r, (long)ts.tv_sec, ts.tv_nsec);
    ts.tv_nsec = 1000000000L;
    r = ppoll(f, 1, &ts, NULL);
    printf("ppoll bad timespec: %d %s\n", r, r < 0 ? errname(errno) : "-");
    sigset_t m;
    sigemptyset(&m);
    r = syscall(SYS_ppoll, f, 1, NULL, &m, 4);
    printf("ppoll sigsetsize 4: %d %s\n", r, r < 0 ? errname(errno) : "-");
    volatile nfds_t huge = 1ul << 20;
    r = poll(f, huge, 0);
    printf("poll nfds > RLIMIT_NOFILE: %d %s\n", r, r < 0 ? errname(errno) : "-");
    struct pollfd *volatile bad = (struct pollfd *)8;
    r = poll(bad, 1, 0);
    printf("poll bad address: %d %s\n", r, r < 0 ? errname(errno) : "-");
    close(p[1]);
    r = poll(f, 1, 0);
    printf("poll, writer closed: %d revents %#x\n", r, f[0].revents);
    close(p[0]);
    pipe(p);
    close(p[0]);
    f[1].fd = p[1];
    r = poll(&f[1], 1, 0);
    printf("poll, reader closed: %d revents %#x\n", r, f[1].revents);
    close(p[1]);
}

static void select_basics(void) {
    int p[2], q[2];
    pipe(p);
    pipe(q);
    fd_set rd, wr;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_SET(p[0], &rd);
    FD_SET(p[1], &wr);
    struct timeval tv = {0, 0};
    int r = select(p[1] + 1, &rd, &wr, NULL, &tv);
    printf("select: %d read %d write %d\n", r, FD_ISSET(p[0], &rd), FD_ISSET(p[1], &wr));
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    struct timespec ts = {0, 20000000L};
    r = syscall(SYS_pselect6, p[0] + 1, &rd, NULL, NULL, &ts, NULL);
    printf("pselect empty pipe, 20 ms: %d read %d, time left %ld.%09ld\n", r,
           FD_ISSET(p[0], &rd), (long)ts.tv_sec, ts.tv_nsec);
    write(p[1], "ab", 2);
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    FD_SET(q[0], &rd);
    r = select(q[0] + 1, &rd, NULL, NULL, NULL);
    printf("select two pipes, one with data: %d p %d q %d\n", r, FD_ISSET(p[0], &rd),
           FD_ISSET(q[0], &rd));
    int closed = q[0];
    close(q[0]);
    FD_ZERO(&rd);
    FD_SET(closed, &rd);
    r = select(closed + 1, &rd, NULL, NULL, NULL);
    printf("select on a closed fd: %d %s\n", r, r < 0 ? errname(errno) : "-");
    r = select(-1, NULL, NULL, NULL, NULL);
    printf("select n = -1: %d %s\n", r, r < 0 ? errname(errno) : "-");
    ts.tv_sec = 0;
    ts.tv_nsec = 10000000L;
    r = pselect(0, NULL, NULL, NULL, &ts, NULL);
    printf("pselect no fds, 10 ms: %d\n", r);
    close(p[0]);
    close(p[1]);
    close(q[1]);
}

/* A child wakes the parent's poll with data after sleeping. */
static void poll_woken_by_child(void) {
    int p[2];
    pipe(p);
    pid_t c = fork();
    if (c == 0) {
        msleep(30);
        write(p[1], "hi", 2);
        _exit(0);
    }
    struct pollfd f = {p[0], POLLIN, 0};
    int r = poll(&f, 1, 5000);
    printf("poll woken by a child's write: %d revents %#x\n", r, f.revents);
    waitpid(c, NULL, 0);
    close(p[0]);
    close(p[1]);
}

static pid_t main_tid;

static void *tgkill_main(void *arg) {
    (void)arg;
    msleep(30);
    syscall(SYS_tgkill, getpid(), main_tid, SIGUSR2);
    return NULL;
}

static void pause_cases(void) {
    handle(SIGUSR1, on_sig);
    handle(SIGUSR2, on_sig);
    /* SIGCHLD at its default does not end pause(). */
    pid_t c = fork();
    if (c == 0) {
        msleep(10);
        kill(getppid(), SIGUSR1);
        msleep(10);
        _exit(0);
    }
    got = 0;
    int r = pause();
    printf("pause woken by a child's kill: %d %s, handler saw %d\n", r, errname(errno), got);
    waitpid(c, NULL, 0);

    main_tid = gettid();
    pthread_t t;
    pthread_create(&t, NULL, tgkill_main, NULL);
    got = 0;
    r = pause();
    printf("pause woken by a thread's tgkill: %d %s, handler saw %d\n", r, errname(errno), got);
    pthread_join(t, NULL);

    /* ppoll's temporary mask lets a blocked SIGUSR1 in; the old mask comes back. */
    sigset_t block, none, now;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &block, NULL);
    c = fork();
    if (c == 0) {
        msleep(20);
        kill(getppid(), SIGUSR1);
        _exit(0);
    }
    got = 0;
    struct timespec ts = {5, 0};
    r = ppoll(NULL, 0, &ts, &none);
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("ppoll with a mask that lets SIGUSR1 in: %d %s, handler saw %d, blocked again %d\n", r,
           errname(errno), got, sigismember(&now, SIGUSR1));
    waitpid(c, NULL, 0);
    /* Pending before the call: EINTR at once. */
    kill(getpid(), SIGUSR1);
    got = 0;
    r = ppoll(NULL, 0, &ts, &none);
    printf("ppoll with SIGUSR1 already pending: %d %s, handler saw %d\n", r, errname(errno), got);
    sigprocmask(SIG_UNBLOCK, &block, NULL);
}

static void sigpipe_cases(void) {
    int p[2];
    char b[4] = "abc";
    pipe(p);
    close(p[0]);
    handle(SIGPIPE, on_sig);
    got = 0;
    int r = write(p[1], b, 3);
    printf("write, no reader, handler: %d %s, handler saw %d\n", r, errname(errno), got);
    signal(SIGPIPE, SIG_IGN);
    r = write(p[1], b, 3);
    printf("write, no reader, SIGPIPE ignored: %d %s\n", r, errname(errno));
    signal(SIGPIPE, SIG_DFL);
    sigset_t s, pend;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    sigprocmask(SIG_BLOCK, &s, NULL);
    r = write(p[1], b, 3);
    sigpending(&pend);
    printf("write, no reader, SIGPIPE blocked: %d %s, pending %d\n", r, errname(errno),
           sigismember(&pend, SIGPIPE));
    signal(SIGPIPE, SIG_IGN); /* discards the pending one */
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    signal(SIGPIPE, SIG_DFL);
    close(p[1]);
    /* A child at the default dies of it. */
    pipe(p);
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        /* Until the pipe is full and then, once the parent has closed its read end too,
         * EPIPE: the first one kills. */
        for (;;)
            write(p[1], b, 3);
    }
    close(p[0]);
    close(p[1]);
    int st;
    waitpid(c, &st, 0);
    printf("child writing to a pipe without readers: signaled %d sig %d\n", WIFSIGNALED(st),
           WIFSIGNALED(st) ? WTERMSIG(st) : -1);
}

static int rfd;
static char got_byte;

static void *blocked_reader(void *arg) {
    (void)arg;
    got_byte = 0;
    long r = read(rfd, &got_byte, 1);
    return (void *)r;
}

static void read_across_close(void) {
    int p[2];
    for (int round = 0; round < 2; round++) {
        pipe(p);
        rfd = p[0];
        pthread_t t;
        pthread_create(&t, NULL, blocked_reader, NULL);
        msleep(50);
        close(p[0]);
        msleep(10);
        void *ret;
        if (round == 0) {
            int w = write(p[1], "z", 1);
            printf("write after close of the read fd, read still blocked: %d\n", w);
            pthread_join(t, &ret);
            printf("blocked read across close: %ld byte %c\n", (long)ret, got_byte ? got_byte : '-');
            close(p[1]);
        } else {
            close(p[1]);
            pthread_join(t, &ret);
            printf("blocked read across close, writer gone: %ld\n", (long)ret);
        }
    }
}

static char stdin_line[64];

static void *stdin_reader(void *arg) {
    (void)arg;
    ssize_t n = read(0, stdin_line, sizeof stdin_line - 1);
    if (n < 0)
        n = 0;
    stdin_line[n] = 0;
    return NULL;
}

static int stdin_case(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    pthread_t t;
    pthread_create(&t, NULL, stdin_reader, NULL);
    msleep(200); /* the reader is in its read() by now */
    unsigned long sum = 0;
    for (unsigned long i = 1; i <= 50000000UL; i++)
        sum += i;
    printf("sum %lu\n", sum);
    pthread_join(t, NULL);
    printf("read: %s", stdin_line);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "stdin") == 0)
        return stdin_case();
    if (argc > 1 && strcmp(argv[1], "flood") == 0) {
        for (long i = 0;; i++) {
            if (printf("line %ld\n", i) < 0)
                return 3;
        }
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    poll_basics();
    select_basics();
    poll_woken_by_child();
    pause_cases();
    sigpipe_cases();
    read_across_close();
    int p[2];
    pipe(p);
    close(p[0]);
    printf("last: writing into a pipe without readers\n");
    write(p[1], "x", 1);
    printf("still alive (wrong)\n");
    return 0;
}
