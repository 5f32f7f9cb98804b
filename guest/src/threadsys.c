/* The system calls under threads, called raw: clone's flag checks, futex semantics
 * (EAGAIN, timeouts, bitsets, requeue, errors), exit of one thread vs the group (leader
 * first, another thread's exit_group, a fatal signal in a thread), tkill/tgkill argument
 * checks, sched_getaffinity sizes, nanosleep letting other threads run. Every line is a
 * Linux fact: qemu-user (which passes futexes to the host kernel) is the oracle.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long futex(void *uaddr, int op, uint32_t val, const void *timeout_or_val2,
                  void *uaddr2, uint32_t val3) {
    return syscall(SYS_futex, uaddr, op, val, timeout_or_val2, uaddr2, val3);
}

static const char *err(long r) {
    if (r >= 0)
        return "ok";
    switch (errno) {
    case EINVAL: return "EINVAL";
    case EAGAIN: return "EAGAIN";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EFAULT: return "EFAULT";
    case ENOSYS: return "ENOSYS";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    default: return "other";
    }
}

static void msleep(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* ---- clone flag checks ---- */
static void clone_flags(void) {
    long r = syscall(SYS_clone, CLONE_THREAD | CLONE_VM | SIGCHLD, 0, 0, 0, 0);
    printf("clone THREAD without SIGHAND: %s\n", err(r));
    r = syscall(SYS_clone, CLONE_SIGHAND | SIGCHLD, 0, 0, 0, 0);
    printf("clone SIGHAND without VM: %s\n", err(r));
    r = syscall(SYS_clone, CLONE_THREAD | SIGCHLD, 0, 0, 0, 0);
    printf("clone THREAD alone: %s\n", err(r));
}

/* ---- futex semantics on one thread ---- */
static uint32_t word = 5;

static void futex_single(void) {
    printf("WAIT with a different value: %s\n",
           err(futex(&word, FUTEX_WAIT_PRIVATE, 6, NULL, NULL, 0)));
    struct timespec rel = {0, 20 * 1000000L};
    printf("WAIT 20ms relative: %s\n", err(futex(&word, FUTEX_WAIT_PRIVATE, 5, &rel, NULL, 0)));
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct timespec abs = {now.tv_sec, now.tv_nsec};
    abs.tv_nsec += 20 * 1000000L;
    if (abs.tv_nsec >= 1000000000L) {
        abs.tv_sec++;
        abs.tv_nsec -= 1000000000L;
    }
    printf("WAIT_BITSET to an absolute monotonic deadline: %s\n",
           err(futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 5, &abs, NULL, FUTEX_BITSET_MATCH_ANY)));
    clock_gettime(CLOCK_REALTIME, &now);
    printf("WAIT_BITSET|CLOCK_REALTIME, deadline passed: %s\n",
           err(futex(&word, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 5, &now, NULL,
                     FUTEX_BITSET_MATCH_ANY)));
    printf("WAIT|CLOCK_REALTIME: %s\n",
           err(futex(&word, FUTEX_WAIT | FUTEX_CLOCK_REALTIME, 5, &rel, NULL, 0)));
    struct timespec bad = {0, 1000000000L};
    printf("WAIT with tv_nsec = 1e9: %s\n",
           err(futex(&word, FUTEX_WAIT_PRIVATE, 5, &bad, NULL, 0)));
    printf("WAIT misaligned: %s\n",
           err(futex((char *)&word + 1, FUTEX_WAIT_PRIVATE, 5, &rel, NULL, 0)));
    printf("WAIT_BITSET with bitset 0: %s\n",
           err(futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 5, &rel, NULL, 0)));
    printf("WAKE_BITSET with bitset 0: %s\n",
           err(futex(&word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0)));
    printf("WAIT on an unmapped word: %s\n",
           err(futex((void *)4096, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0)));
    printf("WAKE with no waiters: %ld\n", futex(&word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0));
    printf("unknown op 99: %s\n",
           err(futex(&word, 99, 0, NULL, NULL, 0)));
}

/* ---- wake and requeue with sleeping threads ---- */
static uint32_t fa, fb, fbits;
static atomic_int queued, wakeups;

static void *waiter_a(void *arg) {
    (void)arg;
    atomic_fetch_add(&queued, 1);
    while (__atomic_load_n(&fa, __ATOMIC_SEQ_CST) == 0 && __atomic_load_n(&fb, __ATOMIC_SEQ_CST) == 0)
        futex(&fa, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    atomic_fetch_add(&wakeups, 1);
    return NULL;
}

static void *waiter_bits(void *arg) {
    (void)arg;
    atomic_fetch_add(&queued, 1);
    while (__atomic_load_n(&fbits, __ATOMIC_SEQ_CST) == 0)
        futex(&fbits, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, NULL, 0x2);
    return NULL;
}

static void futex_threads(void) {
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, waiter_a, NULL);
    while (atomic_load(&queued) < 3)
        sched_yield();
    msleep(200); /* let them reach the kernel (generous: qemu-user under a loaded CI) */
    printf("CMP_REQUEUE with a stale value: %s\n",
           err(futex(&fa, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)(long)INT_MAX, &fb, 1)));
    printf("CMP_REQUEUE negative count: %s\n",
           err(futex(&fa, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)(long)-1, &fb, 0)));
    __atomic_store_n(&fb, 1, __ATOMIC_SEQ_CST); /* the woken ones leave their loops */
    printf("CMP_REQUEUE wake 1, move 1: %ld\n",
           futex(&fa, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1L, &fb, 0));
    printf("WAKE the one left on a: %ld\n", futex(&fa, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0));
    printf("WAKE the one moved to b: %ld\n", futex(&fb, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0));
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    printf("waiters that woke: %d\n", atomic_load(&wakeups));

    atomic_store(&queued, 0);
    pthread_t bt;
    pthread_create(&bt, NULL, waiter_bits, NULL);
    while (atomic_load(&queued) < 1)
        sched_yield();
    msleep(200);
    printf("WAKE_BITSET 0x1 (waiter waits on 0x2): %ld\n",
           futex(&fbits, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, NULL, 0x1));
    __atomic_store_n(&fbits, 1, __ATOMIC_SEQ_CST);
    printf("WAKE_BITSET 0x3: %ld\n",
           futex(&fbits, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, NULL, 0x3));
    pthread_join(bt, NULL);
}

/* ---- shared futexes: keyed by the page, not the address ---- */
static uint32_t *shared_a;
static atomic_int shared_queued;

static void *shared_waiter(void *arg) {
    (void)arg;
    atomic_fetch_add(&shared_queued, 1);
    while (__atomic_load_n(shared_a, __ATOMIC_SEQ_CST) == 0)
        futex(shared_a, FUTEX_WAIT, 0, NULL, NULL, 0);
    return NULL;
}

static void futex_shared(void) {
    int fd = memfd_create("futex", 0);
    ftruncate(fd, 4096);
    shared_a = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    uint32_t *b = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    pthread_t t;
    pthread_create(&t, NULL, shared_waiter, NULL);
    while (atomic_load(&shared_queued) < 1)
        sched_yield();
    msleep(200);
    printf("two mappings of one page at different addresses: %s\n",
           shared_a != b ? "yes" : "no");
    printf("private WAKE through the other mapping: %ld\n",
           futex(b, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
    __atomic_store_n(b, 1, __ATOMIC_SEQ_CST);
    printf("shared WAKE through the other mapping: %ld\n", futex(b, FUTEX_WAKE, 1, NULL, NULL, 0));
    pthread_join(t, NULL);

    /* Across fork: a MAP_SHARED anonymous word. */
    uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        msleep(200);
        __atomic_store_n(w, 1, __ATOMIC_SEQ_CST);
        syscall(SYS_exit_group, (int)futex(w, FUTEX_WAKE, 1, NULL, NULL, 0));
    }
    while (__atomic_load_n(w, __ATOMIC_SEQ_CST) == 0)
        futex(w, FUTEX_WAIT, 0, NULL, NULL, 0);
    int st;
    waitpid(c, &st, 0);
    printf("shared futex across fork: the child's WAKE woke %d\n", WEXITSTATUS(st));
}

/* ---- exit of threads and of the group ---- */
static void *raw_exit(void *arg) {
    (void)arg;
    syscall(SYS_exit, 0); /* ends this thread only; CLONE_CHILD_CLEARTID wakes the joiner */
    return NULL;
}

static uint32_t never;
static void *block_forever(void *arg) {
    (void)arg;
    for (;;)
        futex(&never, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    return NULL;
}

static void *group_exit_9(void *arg) {
    (void)arg;
    msleep(10);
    syscall(SYS_exit_group, 9);
    return NULL;
}

static pid_t child_pid_seen;
static void *outlive_leader(void *arg) {
    (void)arg;
    msleep(30);
    char line[80];
    int n = snprintf(line, sizeof line, "thread after the leader exited: getpid same: %s\n",
                     getpid() == child_pid_seen ? "yes" : "no");
    write(1, line, n);
    syscall(SYS_exit_group, 5);
    return NULL;
}

static void *last_thread_exit_6(void *arg) {
    (void)arg;
    msleep(30);
    syscall(SYS_exit, 6); /* the last thread, with exit(), not exit_group() */
    return NULL;
}

static volatile int *volatile null_ptr;
static void *crash(void *arg) {
    (void)arg;
    msleep(10);
    *null_ptr = 1;
    return NULL;
}

static void report(const char *what, int status) {
    if (WIFEXITED(status))
        printf("%s: exited %d\n", what, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        printf("%s: killed by signal %d\n", what, WTERMSIG(status));
    else
        printf("%s: status %#x\n", what, status);
}

static void exits(void) {
    pthread_t t;
    pthread_create(&t, NULL, raw_exit, NULL);
    printf("join of a thread that called exit(): %d\n", pthread_join(t, NULL));

    fflush(stdout);
    int st;
    pid_t c = fork();
    if (c == 0) {
        pthread_create(&t, NULL, block_forever, NULL);
        syscall(SYS_exit_group, 7);
    }
    waitpid(c, &st, 0);
    report("main's exit_group with a blocked thread", st);

    c = fork();
    if (c == 0) {
        pthread_create(&t, NULL, group_exit_9, NULL);
        block_forever(NULL);
    }
    waitpid(c, &st, 0);
    report("another thread's exit_group", st);

    c = fork();
    if (c == 0) {
        child_pid_seen = getpid();
        pthread_create(&t, NULL, outlive_leader, NULL);
        syscall(SYS_exit, 0); /* the leader alone */
    }
    printf("leader exited, group still running: %s\n",
           waitpid(c, &st, WNOHANG) == 0 ? "yes" : "no");
    waitpid(c, &st, 0);
    report("group after the leader exited first", st);

    c = fork();
    if (c == 0) {
        pthread_create(&t, NULL, last_thread_exit_6, NULL);
        syscall(SYS_exit, 4);
    }
    waitpid(c, &st, 0);
    report("leader exit(4), then the last thread exit(6)", st);

    c = fork();
    if (c == 0) {
        pthread_create(&t, NULL, crash, NULL);
        block_forever(NULL);
    }
    waitpid(c, &st, 0);
    report("fault in a thread", st);
}

/* ---- execve from a thread that is not the leader (de_thread) ---- */
static char self_exe[4096];
static char pid_arg[32];

static void *exec_from_thread(void *arg) {
    (void)arg;
    char *argv[] = {"threadsys", "after-exec", pid_arg, NULL};
    execve(self_exe, argv, environ);
    _exit(100);
}

static int after_exec(const char *pid_before) {
    char line[120];
    int n = snprintf(line, sizeof line, "after execve from a thread: pid kept: %s, tid == pid: %s\n",
                     atoi(pid_before) == getpid() ? "yes" : "no",
                     syscall(SYS_gettid) == getpid() ? "yes" : "no");
    write(1, line, n);
    return 3;
}

static void exec_in_thread(void) {
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n <= 0) {
        printf("readlink /proc/self/exe failed\n");
        return;
    }
    self_exe[n] = 0;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        snprintf(pid_arg, sizeof pid_arg, "%d", getpid());
        pthread_t t1, t2;
        pthread_create(&t1, NULL, block_forever, NULL);
        pthread_create(&t2, NULL, exec_from_thread, NULL);
        block_forever(NULL);
    }
    int st;
    waitpid(c, &st, 0);
    report("execve from a thread, the others blocked", st);
}

/* ---- signals, affinity, sleeping ---- */
static atomic_int slept;
static void *sleeper(void *arg) {
    (void)arg;
    msleep(20);
    atomic_store(&slept, 1);
    return NULL;
}

static atomic_int nap_tid;
static void on_usr2(int sig) { (void)sig; }
static void *napper(void *arg) {
    long *out = arg;
    atomic_store(&nap_tid, (int)syscall(SYS_gettid));
    struct timespec req = {0, 200 * 1000000L}, rem = {-1, -1};
    long r = syscall(SYS_nanosleep, &req, &rem);
    out[0] = r == -1 && errno == EINTR;
    out[1] = rem.tv_sec == 0 && rem.tv_nsec > 0 && rem.tv_nsec < 200 * 1000000L;
    return NULL;
}

static void interrupted_sleep(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr2;
    sigaction(SIGUSR2, &sa, NULL);
    long out[2] = {0, 0};
    pthread_t t;
    pthread_create(&t, NULL, napper, out);
    while (atomic_load(&nap_tid) == 0)
        sched_yield();
    msleep(30);
    syscall(SYS_tgkill, getpid(), atomic_load(&nap_tid), SIGUSR2);
    pthread_join(t, NULL);
    printf("nanosleep interrupted by a handler: EINTR %s, time left stored %s\n",
           out[0] ? "yes" : "no", out[1] ? "yes" : "no");
}

static void misc(void) {
    printf("tkill tid 0: %s\n", err(syscall(SYS_tkill, 0, SIGUSR1)));
    printf("tgkill tgid -1: %s\n", err(syscall(SYS_tgkill, -1, getpid(), SIGUSR1)));
    printf("tgkill sig 0 to self: %s\n", err(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 0)));
    unsigned long mask[2] = {0, 0};
    printf("sched_getaffinity len 4: %s\n", err(syscall(SYS_sched_getaffinity, 0, 4, mask)));
    printf("sched_getaffinity len 12: %s\n", err(syscall(SYS_sched_getaffinity, 0, 12, mask)));
    printf("sched_getaffinity cpu 0 set: %s\n",
           syscall(SYS_sched_getaffinity, 0, sizeof mask, mask) > 0 && (mask[0] & 1) ? "yes" : "no");
    pthread_t t;
    pthread_create(&t, NULL, sleeper, NULL);
    long spins = 0;
    while (!atomic_load(&slept)) {
        sched_yield();
        spins++;
    }
    pthread_join(t, NULL);
    printf("main ran while a thread slept: %s\n", spins > 0 ? "yes" : "no");
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "after-exec") == 0)
        return after_exec(argv[2]);
    clone_flags();
    futex_single();
    futex_threads();
    futex_shared();
    exits();
    exec_in_thread();
    misc();
    interrupted_sleep();
    return 0;
}
