/* Fair scheduling and interval timers. A sleeper must wake near its deadline however busy
 * the other threads are: 2 ms usleep()s, each timed with CLOCK_MONOTONIC, while N threads
 * loop mmap/munmap, then getpid (threads living in system calls); fork/exit/wait loops
 * while N threads spin in user mode. Then setitimer/getitimer/alarm as Linux defines them
 * (riscv64 has no alarm call: glibc's alarm() is setitimer(ITIMER_REAL)): alarm(1) +
 * pause() runs the SIGALRM handler, a periodic ITIMER_REAL, ITIMER_PROF and
 * ITIMER_VIRTUAL on CPU time, the argument checks (EINVAL, EFAULT), SIGALRM's default
 * action, no inheritance across fork.
 *
 * stdout holds only facts that do not depend on timing beyond generous bounds (qemu-user
 * is the oracle); the measured figures go to stderr ("max oversleep N us"), where the
 * tests read them for the deterministic scheduler's modelled-time bound.
 *
 *   starve [THREADS] [SLEEPS] [FORKS]   (defaults 8, 5, 50)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What a busy thread does until told to stop. */
enum busy { MMAP_MUNMAP, GETPID, SPIN };

static atomic_int stop;
static atomic_long work_done;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *busy(void *arg) {
    enum busy kind = (enum busy)(intptr_t)arg;
    volatile uint64_t x = 1;
    while (!atomic_load(&stop)) {
        switch (kind) {
        case MMAP_MUNMAP: {
            void *p = mmap(0, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p != MAP_FAILED) {
                *(volatile char *)p = 1;
                munmap(p, 65536);
            }
            break;
        }
        case GETPID:
            syscall(SYS_getpid);
            break;
        case SPIN:
            for (int i = 0; i < 1000; i++)
                x = x * 6364136223846793005u + 1;
            break;
        }
        atomic_fetch_add(&work_done, 1);
    }
    return 0;
}

static pthread_t threads[64];

static void start(int n, enum busy kind) {
    atomic_store(&stop, 0);
    atomic_store(&work_done, 0);
    for (int i = 0; i < n; i++)
        pthread_create(&threads[i], 0, busy, (void *)(intptr_t)kind);
    /* Every thread has started working. */
    while (atomic_load(&work_done) < n)
        sched_yield();
}

static void finish(int n) {
    atomic_store(&stop, 1);
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], 0);
}

/* usleep(2000) `sleeps` times while `n` threads do `kind`; the worst oversleep. */
static void sleeper(const char *what, int n, enum busy kind, int sleeps) {
    start(n, kind);
    uint64_t worst = 0;
    for (int i = 0; i < sleeps; i++) {
        uint64_t t0 = now_ns();
        usleep(2000);
        uint64_t slept = now_ns() - t0;
        uint64_t over = slept > 2000000 ? slept - 2000000 : 0;
        if (over > worst)
            worst = over;
    }
    finish(n);
    fprintf(stderr, "starve: %s: max oversleep %llu us\n", what, (unsigned long long)(worst / 1000));
    printf("usleep(2000) x%d with %d threads looping %s: oversleep < 500 ms: %s\n", sleeps, n,
           what, worst < 500000000u ? "yes" : "no");
}

/* `forks` fork/_exit/waitpid rounds while `n` threads spin. */
static void forker(int n, int forks) {
    start(n, SPIN);
    uint64_t t0 = now_ns();
    int ok = 0;
    for (int i = 0; i < forks; i++) {
        pid_t p = fork();
        if (p == 0)
            _exit(i & 0x7f);
        int st;
        if (p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == (i & 0x7f))
            ok++;
    }
    uint64_t took = now_ns() - t0;
    finish(n);
    fprintf(stderr, "starve: %d fork/exit/wait rounds with %d spinning threads: %llu us\n", forks,
            n, (unsigned long long)(took / 1000));
    printf("%d fork/exit/wait rounds with %d spinning threads: %d ok, under 20 s: %s\n", forks, n,
           ok, took < 20000000000u ? "yes" : "no");
}

static volatile sig_atomic_t alarms, profs, vtalrms;

static void on_signal(int sig) {
    if (sig == SIGALRM)
        alarms++;
    else if (sig == SIGPROF)
        profs++;
    else if (sig == SIGVTALRM)
        vtalrms++;
}

static const char *err(long r) {
    if (r >= 0)
        return "ok";
    switch (errno) {
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EINTR: return "EINTR";
    default: return "other";
    }
}

static long raw_setitimer(long which, const void *v, void *old) {
    return syscall(SYS_setitimer, which, v, old);
}

static void timers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGALRM, &sa, 0);
    sigaction(SIGPROF, &sa, 0);
    sigaction(SIGVTALRM, &sa, 0);

    /* alarm(1) + pause(): the handler runs, pause returns EINTR. */
    unsigned prev = alarm(1);
    uint64_t t0 = now_ns();
    long r = pause();
    uint64_t took = now_ns() - t0;
    printf("alarm(1): returned %u; pause: %ld %s; SIGALRM handler ran %d time(s); "
           "after >= 1 s: %s\n",
           prev, r, err(r), (int)alarms, took >= 999000000u ? "yes" : "no");

    /* alarm() returns the seconds left of the previous one (rounded), alarm(0) cancels. */
    alarm(5);
    prev = alarm(0);
    struct itimerval v;
    getitimer(ITIMER_REAL, &v);
    printf("alarm(5) then alarm(0): returned %u; ITIMER_REAL now %ld.%06ld\n", prev,
           (long)v.it_value.tv_sec, (long)v.it_value.tv_usec);

    /* getitimer reports what is left and the period. */
    struct itimerval set = {{0, 250000}, {3, 0}};
    setitimer(ITIMER_REAL, &set, 0);
    getitimer(ITIMER_REAL, &v);
    printf("setitimer(ITIMER_REAL, 3 s every 0.25 s): getitimer left in (2 s, 3 s]: %s, "
           "interval %ld.%06ld\n",
           v.it_value.tv_sec * 1000000L + v.it_value.tv_usec > 2000000L &&
                   v.it_value.tv_sec * 1000000L + v.it_value.tv_usec <= 3000000L
               ? "yes"
               : "no",
           (long)v.it_interval.tv_sec, (long)v.it_interval.tv_usec);
    /* The old value comes back from setitimer too; a zero value disarms. */
    struct itimerval zero = {{0, 0}, {0, 0}}, old;
    setitimer(ITIMER_REAL, &zero, &old);
    getitimer(ITIMER_REAL, &v);
    printf("disarm: old interval %ld.%06ld, now %ld.%06ld/%ld.%06ld\n",
           (long)old.it_interval.tv_sec, (long)old.it_interval.tv_usec, (long)v.it_value.tv_sec,
           (long)v.it_value.tv_usec, (long)v.it_interval.tv_sec, (long)v.it_interval.tv_usec);

    /* Centuries saturate at KTIME_MAX (about 292 years): armed, never due. */
    struct itimerval far = {{0, 0}, {0x7fffffffffffffffL, 999999}};
    r = setitimer(ITIMER_REAL, &far, 0);
    getitimer(ITIMER_REAL, &v);
    printf("setitimer(ITIMER_REAL, LONG_MAX s): %s; left > 9e9 s: %s\n", err(r),
           v.it_value.tv_sec > 9000000000L ? "yes" : "no");
    setitimer(ITIMER_REAL, &zero, 0);

    /* A periodic ITIMER_REAL: three SIGALRMs, 10 ms apart. SIGALRM stays blocked but
     * in sigsuspend(), so a fourth period that ends before the disarm (a loaded host)
     * leaves a pending signal, discarded by SIG_IGN, instead of a fourth handler run. */
    alarms = 0;
    sigset_t alrm, unblocked;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    sigprocmask(SIG_BLOCK, &alrm, &unblocked);
    sigdelset(&unblocked, SIGALRM);
    struct itimerval periodic = {{0, 10000}, {0, 10000}};
    setitimer(ITIMER_REAL, &periodic, 0);
    while (alarms < 3)
        sigsuspend(&unblocked);
    setitimer(ITIMER_REAL, &zero, 0);
    int periodic_alarms = alarms;
    signal(SIGALRM, SIG_IGN);
    sigprocmask(SIG_UNBLOCK, &alrm, 0);
    sigaction(SIGALRM, &sa, 0);
    printf("periodic ITIMER_REAL 10 ms: %d SIGALRMs\n", periodic_alarms);

    /* CPU-time timers: SIGPROF / SIGVTALRM after 20 ms of this process's CPU time. */
    struct itimerval cpu = {{0, 0}, {0, 20000}};
    volatile uint64_t x = 1;
    setitimer(ITIMER_PROF, &cpu, 0);
    t0 = now_ns();
    while (!profs && now_ns() - t0 < 20000000000u)
        x = x * 3 + 1;
    printf("ITIMER_PROF 20 ms: SIGPROF %d\n", (int)profs);
    setitimer(ITIMER_VIRTUAL, &cpu, 0);
    t0 = now_ns();
    while (!vtalrms && now_ns() - t0 < 20000000000u)
        x = x * 3 + 1;
    printf("ITIMER_VIRTUAL 20 ms: SIGVTALRM %d\n", (int)vtalrms);

    /* Argument checks (do_setitimer, get_itimerval's timeval_valid). */
    struct itimerval bad_usec = {{0, 0}, {0, 1000000}};
    struct itimerval neg_usec = {{0, -1}, {1, 0}};
    struct itimerval neg_sec = {{0, 0}, {-1, 0}};
    printf("setitimer which=3: %s; tv_usec=1000000: %s; interval tv_usec=-1: %s; "
           "tv_sec=-1: %s\n",
           err(raw_setitimer(3, &zero, 0)), err(raw_setitimer(ITIMER_REAL, &bad_usec, 0)),
           err(raw_setitimer(ITIMER_REAL, &neg_usec, 0)),
           err(raw_setitimer(ITIMER_REAL, &neg_sec, 0)));
    printf("setitimer bad value: %s; bad ovalue: %s; getitimer which=-1: %s; bad value: %s\n",
           err(raw_setitimer(ITIMER_REAL, (void *)8, 0)),
           err(raw_setitimer(ITIMER_REAL, &zero, (void *)8)),
           err(syscall(SYS_getitimer, -1L, &v)), err(syscall(SYS_getitimer, 0L, (void *)8)));

    /* Not inherited across fork; SIGALRM's default action kills. */
    alarm(100);
    pid_t p = fork();
    if (p == 0) {
        struct itimerval c;
        getitimer(ITIMER_REAL, &c);
        if (c.it_value.tv_sec != 0 || c.it_value.tv_usec != 0)
            _exit(1);
        signal(SIGALRM, SIG_DFL);
        alarm(1);
        for (;;)
            pause();
    }
    int st = 0;
    waitpid(p, &st, 0);
    alarm(0);
    printf("fork: child has no alarm and dies of its own SIGALRM: %s\n",
           WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? "yes" : "no");
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 8;
    int sleeps = argc > 2 ? atoi(argv[2]) : 5;
    int forks = argc > 3 ? atoi(argv[3]) : 50;
    if (n < 1 || n > 64)
        n = 8;
    setvbuf(stdout, 0, _IOLBF, 0);
    sleeper("mmap/munmap", n, MMAP_MUNMAP, sleeps);
    sleeper("getpid", n, GETPID, sleeps);
    forker(n / 2 > 0 ? n / 2 : 1, forks);
    timers();
    return 0;
}
