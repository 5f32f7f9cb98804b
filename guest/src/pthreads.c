/* POSIX threads on one address space: glibc's pthread_create (clone with CLONE_VM |
 * CLONE_THREAD | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID), futex-based
 * mutexes, condition variables and joins, thread-local storage, C11 atomics,
 * pthread_once, pthread_exit, a detached thread, tgkill to one thread, and a SIGSEGV
 * raised in a thread and caught by its handler. The output never depends on how the
 * threads are scheduled: threads only record results, main prints them after joining.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NTHREADS 8
#define ITERS 2000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static atomic_long acounter;
static __thread long tls_value = 7;
static __thread char tls_name[16];

static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_int once_runs;
static void once_init(void) { atomic_fetch_add(&once_runs, 1); }

static pid_t main_pid;
static atomic_int tids_distinct = 1;
static pid_t seen_tids[NTHREADS];

struct result {
    long tls_after;
    int pid_same;
    char name[16];
};

static void *worker(void *arg) {
    long id = (long)arg;
    pthread_once(&once, once_init);
    tls_value += id * 100; /* each thread starts from the initial image value 7 */
    snprintf(tls_name, sizeof tls_name, "worker-%ld", id);
    for (int i = 0; i < ITERS; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
        atomic_fetch_add(&acounter, 1);
        if (i % 500 == 0)
            sched_yield();
    }
    seen_tids[id] = (pid_t)syscall(SYS_gettid);
    struct result *r = malloc(sizeof *r);
    r->tls_after = tls_value;
    r->pid_same = getpid() == main_pid;
    strcpy(r->name, tls_name);
    if (id == 3)
        pthread_exit(r); /* same as returning r */
    return r;
}

/* A baton passed round a ring of threads with one condition variable. */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ring_cond = PTHREAD_COND_INITIALIZER;
static int ring_turn;
static int ring_order[4 * 3];
static int ring_pos;

static void *ring(void *arg) {
    int me = (int)(long)arg;
    for (int round = 0; round < 3; round++) {
        pthread_mutex_lock(&ring_lock);
        while (ring_turn != me)
            pthread_cond_wait(&ring_cond, &ring_lock);
        ring_order[ring_pos++] = me;
        ring_turn = (me + 1) % 4;
        pthread_cond_broadcast(&ring_cond);
        pthread_mutex_unlock(&ring_lock);
    }
    return NULL;
}

/* A detached thread that reports through a condition variable. */
static pthread_mutex_t det_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t det_cond = PTHREAD_COND_INITIALIZER;
static int det_done;
static long det_value;

static void *detached(void *arg) {
    pthread_mutex_lock(&det_lock);
    det_value = (long)arg * 3;
    det_done = 1;
    pthread_cond_signal(&det_cond);
    pthread_mutex_unlock(&det_lock);
    return NULL;
}

/* A fault in a thread goes to that thread's handler. */
static __thread sigjmp_buf segv_env;
static __thread volatile int segv_caught;
static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    segv_caught = sig == SIGSEGV && si->si_addr == (void *)16;
    siglongjmp(segv_env, 1);
}

static volatile int *volatile bad_pointer = (volatile int *)16;

static void *faulter(void *arg) {
    (void)arg;
    if (sigsetjmp(segv_env, 1) == 0) {
        *bad_pointer = 1;
        return (void *)0L;
    }
    return (void *)(long)(segv_caught ? 42 : 1);
}

/* tgkill to one thread: only that thread runs the handler. */
static __thread volatile sig_atomic_t got_usr1;
static atomic_int usr1_handled_by_target;
static pthread_mutex_t usr_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t usr_cond = PTHREAD_COND_INITIALIZER;
static int usr_ready, usr_sent;
static pid_t usr_tid;

static void on_usr1(int sig) { got_usr1 = sig; }

static void *usr_target(void *arg) {
    (void)arg;
    pthread_mutex_lock(&usr_lock);
    usr_tid = (pid_t)syscall(SYS_gettid);
    usr_ready = 1;
    pthread_cond_broadcast(&usr_cond);
    while (!usr_sent)
        pthread_cond_wait(&usr_cond, &usr_lock);
    pthread_mutex_unlock(&usr_lock);
    /* The signal was queued on this thread before usr_sent was set. */
    if (got_usr1 == SIGUSR1)
        atomic_fetch_add(&usr1_handled_by_target, 1);
    return NULL;
}

int main(void) {
    main_pid = getpid();
    printf("main: gettid == getpid: %s\n", syscall(SYS_gettid) == main_pid ? "yes" : "no");
    tls_value = 1000; /* main's copy only */

    pthread_t th[NTHREADS];
    for (long i = 0; i < NTHREADS; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)i) != 0) {
            printf("pthread_create failed\n");
            return 1;
        }
    for (int i = 0; i < NTHREADS; i++) {
        void *ret;
        int e = pthread_join(th[i], &ret);
        struct result *r = ret;
        printf("join %d: err %d tls %ld name %s same pid %s\n", i, e, r->tls_after, r->name,
               r->pid_same ? "yes" : "no");
        free(r);
    }
    for (int i = 0; i < NTHREADS; i++)
        for (int j = 0; j < i; j++)
            if (seen_tids[i] == seen_tids[j] || seen_tids[i] == main_pid)
                tids_distinct = 0;
    printf("tids distinct from each other and from the pid: %s\n",
           tids_distinct ? "yes" : "no");
    printf("counter %ld (expected %d), atomic %ld\n", counter, NTHREADS * ITERS,
           atomic_load(&acounter));
    printf("pthread_once ran %d time(s)\n", atomic_load(&once_runs));
    printf("main tls after threads: %ld\n", tls_value);

    pthread_t rt[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&rt[i], NULL, ring, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(rt[i], NULL);
    printf("ring order:");
    for (int i = 0; i < ring_pos; i++)
        printf(" %d", ring_order[i]);
    printf("\n");

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t dt;
    pthread_create(&dt, &attr, detached, (void *)14L);
    pthread_mutex_lock(&det_lock);
    while (!det_done)
        pthread_cond_wait(&det_cond, &det_lock);
    pthread_mutex_unlock(&det_lock);
    printf("detached thread reported %ld\n", det_value);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    pthread_t ft;
    void *fret;
    pthread_create(&ft, NULL, faulter, NULL);
    pthread_join(ft, &fret);
    printf("SIGSEGV in a thread handled there: %ld\n", (long)fret);

    signal(SIGUSR1, on_usr1);
    pthread_t ut;
    pthread_create(&ut, NULL, usr_target, NULL);
    pthread_mutex_lock(&usr_lock);
    while (!usr_ready)
        pthread_cond_wait(&usr_cond, &usr_lock);
    int e = (int)syscall(SYS_tgkill, main_pid, usr_tid, SIGUSR1);
    usr_sent = 1;
    pthread_cond_broadcast(&usr_cond);
    pthread_mutex_unlock(&usr_lock);
    pthread_join(ut, NULL);
    printf("tgkill: %d; handled by the target thread: %d; main saw it: %s\n", e,
           atomic_load(&usr1_handled_by_target), got_usr1 ? "yes" : "no");
    printf("tgkill to a wrong tgid: %s\n",
           syscall(SYS_tgkill, main_pid + 100000, usr_tid, SIGUSR1) == -1 ? "ESRCH-like error"
                                                                         : "delivered");

    cpu_set_t set;
    CPU_ZERO(&set);
    long n = syscall(SYS_sched_getaffinity, 0, sizeof set, &set);
    printf("sched_getaffinity: returned a size > 0: %s, cpu0 set: %s\n", n > 0 ? "yes" : "no",
           CPU_ISSET(0, &set) ? "yes" : "no");
    return 0;
}
