/* Futexes hammered from several threads and two processes, with Linux's answers as the
 * oracle: a pthread mutex and a condition variable (glibc: FUTEX_WAIT/FUTEX_WAKE and
 * FUTEX_WAIT_BITSET, private) under a bounded producer/consumer queue; a hand-rolled
 * lock on a raw private futex (Drepper's "mutex 2"); timed waits racing with wakes on
 * the same word; FUTEX_CMP_REQUEUE between two words and FUTEX_WAKE_BITSET against a
 * waiter's bitset, counted exactly (main first waits until the kernel has every waiter
 * queued: a requeue of a word onto itself counts its waiters and moves nobody); a shared
 * futex in a memfd page that a parent and a forked child map at different addresses and
 * pass a turn through (FUTEX_WAIT/FUTEX_WAKE without FUTEX_PRIVATE_FLAG: keyed by the
 * page, not the address); and the errors: EAGAIN, ETIMEDOUT (relative, absolute on
 * CLOCK_MONOTONIC and CLOCK_REALTIME), EINVAL, EFAULT, ENOSYS; and a wait ended by a handled
 * signal (EINTR, the waiter off the queue).
 *
 * argv[1]: the work per thread (default 2000). Every line printed is a count or a
 * verdict that does not depend on how the threads were scheduled; main prints them all.
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

#include "errname.h"

static long futex(void *uaddr, int op, uint32_t val, const void *timeout_or_val2,
                  void *uaddr2, uint32_t val3) {
    return syscall(SYS_futex, uaddr, op, val, timeout_or_val2, uaddr2, val3);
}

/* "-1 EAGAIN"-style result of a futex call for the output. */
static const char *res(long r, char *buf, size_t n) {
    if (r < 0)
        snprintf(buf, n, "-1 %s", errno == ETIMEDOUT ? "ETIMEDOUT" : errname(errno));
    else
        snprintf(buf, n, "%ld", r);
    return buf;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long iters = 2000;

/* ---- a pthread mutex and condvar: a bounded queue ---------------------------------- */

#define QCAP 4
#define NPROD 2
#define NCONS 2
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qnotfull = PTHREAD_COND_INITIALIZER;
static pthread_cond_t qnotempty = PTHREAD_COND_INITIALIZER;
static long queue[QCAP];
static int qhead, qlen, producers_left = NPROD;
static long consumed_sum[NCONS], consumed_n[NCONS];

static void *producer(void *arg) {
    long id = (long)arg;
    for (long i = 1; i <= iters; i++) {
        pthread_mutex_lock(&qlock);
        while (qlen == QCAP)
            pthread_cond_wait(&qnotfull, &qlock);
        queue[(qhead + qlen) % QCAP] = i * (id + 1);
        qlen++;
        pthread_cond_signal(&qnotempty);
        pthread_mutex_unlock(&qlock);
    }
    pthread_mutex_lock(&qlock);
    if (--producers_left == 0)
        pthread_cond_broadcast(&qnotempty);
    pthread_mutex_unlock(&qlock);
    return NULL;
}

static void *consumer(void *arg) {
    long id = (long)arg;
    for (;;) {
        pthread_mutex_lock(&qlock);
        while (qlen == 0 && producers_left > 0)
            pthread_cond_wait(&qnotempty, &qlock);
        if (qlen == 0) {
            pthread_mutex_unlock(&qlock);
            return NULL;
        }
        long v = queue[qhead];
        qhead = (qhead + 1) % QCAP;
        qlen--;
        pthread_cond_signal(&qnotfull);
        pthread_mutex_unlock(&qlock);
        consumed_sum[id] += v;
        consumed_n[id]++;
    }
}

static void test_condvar(void) {
    pthread_t p[NPROD], c[NCONS];
    for (long i = 0; i < NCONS; i++)
        pthread_create(&c[i], NULL, consumer, (void *)i);
    for (long i = 0; i < NPROD; i++)
        pthread_create(&p[i], NULL, producer, (void *)i);
    for (int i = 0; i < NPROD; i++)
        pthread_join(p[i], NULL);
    for (int i = 0; i < NCONS; i++)
        pthread_join(c[i], NULL);
    long n = 0, sum = 0, want = 0;
    for (int i = 0; i < NCONS; i++) {
        n += consumed_n[i];
        sum += consumed_sum[i];
    }
    for (long id = 0; id < NPROD; id++)
        want += (id + 1) * iters * (iters + 1) / 2;
    printf("condvar queue: %ld items consumed (want %ld), sum %s\n", n, NPROD * iters,
           sum == want ? "right" : "WRONG");
}

/* ---- a raw private futex lock (Drepper, "Futexes Are Tricky", mutex 2) --------------- */

#define NLOCKERS 4
static atomic_uint rawlock; /* 0 free, 1 locked, 2 locked with waiters */
static long rawcount;
static atomic_long raw_waits;

static void raw_lock(void) {
    unsigned c = 0;
    if (atomic_compare_exchange_strong(&rawlock, &c, 1))
        return;
    if (c != 2)
        c = atomic_exchange(&rawlock, 2);
    while (c != 0) {
        atomic_fetch_add(&raw_waits, 1);
        futex(&rawlock, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
        c = atomic_exchange(&rawlock, 2);
    }
}

static void raw_unlock(void) {
    if (atomic_fetch_sub(&rawlock, 1) != 1) {
        atomic_store(&rawlock, 0);
        futex(&rawlock, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
}

static void *locker(void *arg) {
    (void)arg;
    for (long i = 0; i < iters; i++) {
        raw_lock();
        long v = rawcount;
        /* Hold it a while, so that lockers on other harts find it taken and wait. */
        for (volatile int spin = 0; spin < 500; spin++)
            ;
        if (i % 64 == 0)
            sched_yield(); /* and now and then with the holder off its hart */
        rawcount = v + 1;
        raw_unlock();
    }
    return NULL;
}

static void test_raw_lock(void) {
    pthread_t t[NLOCKERS];
    for (long i = 0; i < NLOCKERS; i++)
        pthread_create(&t[i], NULL, locker, (void *)i);
    for (int i = 0; i < NLOCKERS; i++)
        pthread_join(t[i], NULL);
    printf("private futex lock: count %ld (want %ld), lock word %u\n", rawcount,
           NLOCKERS * iters, atomic_load(&rawlock));
    fprintf(stderr, "private futex lock: %ld waits\n", atomic_load(&raw_waits));
}

/* ---- timed waits racing with wakes --------------------------------------------------- */

static atomic_uint tword;
static atomic_int timed_done;
static long timed_ret[3]; /* 0, ETIMEDOUT, EAGAIN */
static long timed_other;

static void *timed_waiter(void *arg) {
    (void)arg;
    long n = iters / 20 + 1;
    for (long i = 0; i < n; i++) {
        struct timespec ts = {0, 200000}; /* 0.2 ms */
        long r = futex(&tword, FUTEX_WAIT_PRIVATE, atomic_load(&tword), &ts, NULL, 0);
        if (r == 0)
            timed_ret[0]++;
        else if (errno == ETIMEDOUT)
            timed_ret[1]++;
        else if (errno == EAGAIN)
            timed_ret[2]++;
        else
            timed_other++;
    }
    atomic_store(&timed_done, 1);
    return NULL;
}

static void test_timed(void) {
    pthread_t t;
    pthread_create(&t, NULL, timed_waiter, NULL);
    long wakes = 0;
    while (!atomic_load(&timed_done)) {
        /* The word flips between 0 and 2 under the waiter, which expects the value it
         * just read: a wait may sleep and be woken, time out, or find the word changed. */
        atomic_fetch_xor(&tword, 2);
        futex(&tword, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        if (++wakes % 16 == 0)
            sched_yield();
    }
    pthread_join(t, NULL);
    long n = iters / 20 + 1;
    printf("timed waits: %ld returned once each (woken, timed out or EAGAIN), %ld other\n",
           timed_ret[0] + timed_ret[1] + timed_ret[2] == n ? n : -1, timed_other);
    fprintf(stderr, "timed waits: %ld woken, %ld timed out, %ld EAGAIN; %ld wakes\n",
            timed_ret[0], timed_ret[1], timed_ret[2], wakes);
}

/* ---- requeue and bitsets, counted exactly ---------------------------------------------- */

#define NREQ 4
static atomic_uint wa, wb;
static atomic_int req_done;

static void *req_waiter(void *arg) {
    (void)arg;
    while (atomic_load(&wa) == 0)
        futex(&wa, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    atomic_fetch_add(&req_done, 1);
    return NULL;
}

/* How many wait on `w` now: a requeue of `w` onto itself wakes none and moves them in
 * place, and returns how many it "moved". */
static long queued_on(atomic_uint *w) {
    return futex(w, FUTEX_CMP_REQUEUE_PRIVATE, 0, (void *)(long)INT_MAX, w,
                 atomic_load(w));
}

static void wait_queued(atomic_uint *w, long n) {
    while (queued_on(w) != n)
        sleep_ms(1);
}

static void test_requeue(void) {
    char b1[48], b2[48], b3[48], b4[48];
    pthread_t t[NREQ];
    for (int i = 0; i < NREQ; i++)
        pthread_create(&t[i], NULL, req_waiter, NULL);
    wait_queued(&wa, NREQ);
    long bad = futex(&wa, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)(long)INT_MAX, &wb, 1);
    atomic_store(&wa, 1);
    /* One woken (it sees wa == 1 and leaves), the other three moved to wb. */
    long r = futex(&wa, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)(long)INT_MAX, &wb, 1);
    while (atomic_load(&req_done) < 1)
        sleep_ms(1);
    long left_a = futex(&wa, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    long on_b = queued_on(&wb);
    long woke_b = futex(&wb, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    for (int i = 0; i < NREQ; i++)
        pthread_join(t[i], NULL);
    printf("cmp_requeue: wrong value %s; woke 1 + moved 3 = %s; then on the first word %s, "
           "on the second %ld, woken there %s; %d threads out\n",
           res(bad, b1, sizeof b1), res(r, b2, sizeof b2), res(left_a, b3, sizeof b3),
           on_b, res(woke_b, b4, sizeof b4), atomic_load(&req_done));
}

static atomic_uint wbits;
static void *bit_waiter(void *arg) {
    (void)arg;
    while (atomic_load(&wbits) == 0)
        futex(&wbits, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, NULL, 0x2);
    return NULL;
}

static void test_bitset(void) {
    char b1[48], b2[48], b3[48];
    pthread_t t;
    pthread_create(&t, NULL, bit_waiter, NULL);
    wait_queued(&wbits, 1);
    long miss = futex(&wbits, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, NULL, 0x1);
    long zero = futex(&wbits, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, NULL, 0);
    atomic_store(&wbits, 1);
    long hit = futex(&wbits, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, NULL, 0x3);
    pthread_join(t, NULL);
    printf("wake_bitset: bit 0 wakes %s, no bits %s, bits 0-1 wake %s\n",
           res(miss, b1, sizeof b1), res(zero, b2, sizeof b2), res(hit, b3, sizeof b3));
}

/* ---- a signal ends a wait: EINTR, and the waiter is off the queue ---------------------- */

static atomic_uint wsig;
static atomic_int handled;
static long sig_ret, sig_errno;
static void on_usr1(int sig) {
    (void)sig;
    atomic_fetch_add(&handled, 1);
}

static void *sig_waiter(void *arg) {
    (void)arg;
    struct timespec long_ts = {30, 0};
    sig_ret = futex(&wsig, FUTEX_WAIT_PRIVATE, 0, arg ? &long_ts : NULL, NULL, 0);
    sig_errno = errno;
    return NULL;
}

static void test_eintr(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART: the wait returns EINTR */
    sigaction(SIGUSR1, &sa, NULL);
    for (long timed = 0; timed < 2; timed++) {
        char b[48];
        pthread_t t;
        pthread_create(&t, NULL, sig_waiter, (void *)timed);
        wait_queued(&wsig, 1);
        pthread_kill(t, SIGUSR1);
        pthread_join(t, NULL);
        errno = (int)sig_errno;
        printf("wait%s interrupted by a handled signal: %s, handler ran %d, left queued %ld\n",
               timed ? " with a 30 s timeout" : "", res(sig_ret, b, sizeof b),
               atomic_load(&handled), queued_on(&wsig));
    }
}

/* ---- a shared futex between two processes ------------------------------------------------ */

struct shared {
    atomic_uint turn; /* 0: parent's turn, 1: child's */
    atomic_uint count;
};

static void take_turns(struct shared *s, unsigned me, long rounds) {
    for (long i = 0; i < rounds; i++) {
        unsigned t;
        while ((t = atomic_load(&s->turn)) != me)
            futex(&s->turn, FUTEX_WAIT, t, NULL, NULL, 0);
        atomic_fetch_add(&s->count, 1);
        atomic_store(&s->turn, !me);
        futex(&s->turn, FUTEX_WAKE, 1, NULL, NULL, 0);
    }
}

static void test_shared(void) {
    long rounds = iters / 10 + 1;
    int fd = memfd_create("futexes", 0);
    if (fd < 0 || ftruncate(fd, 4096) != 0) {
        printf("shared futex: memfd: %s\n", errname(errno));
        return;
    }
    struct shared *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        /* The same page at another address: the futex is keyed by the page. */
        struct shared *c = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (c == MAP_FAILED || c == p)
            _exit(2);
        take_turns(c, 1, rounds);
        _exit(0);
    }
    take_turns(p, 0, rounds);
    int st = 0;
    waitpid(pid, &st, 0);
    printf("shared futex, two processes, two addresses: count %u (want %ld), child status "
           "%d\n",
           atomic_load(&p->count), 2 * rounds, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    munmap(p, 4096);
    close(fd);
}

/* ---- the errors ---------------------------------------------------------------------------- */

static void test_errors(void) {
    char b[48];
    static atomic_uint w = 5;
    struct timespec zero = {0, 0}, short_ts = {0, 2000000}, bad = {0, 1000000000};
    struct timespec now, abs_mono, abs_real;
    clock_gettime(CLOCK_MONOTONIC, &now);
    abs_mono = now; /* already past when the call runs */
    clock_gettime(CLOCK_REALTIME, &abs_real);
    abs_real.tv_nsec += 2000000;
    if (abs_real.tv_nsec >= 1000000000) {
        abs_real.tv_sec++;
        abs_real.tv_nsec -= 1000000000;
    }
    printf("wait, word differs: %s\n", res(futex(&w, FUTEX_WAIT_PRIVATE, 4, NULL, NULL, 0), b, sizeof b));
    printf("wait, zero timeout: %s\n", res(futex(&w, FUTEX_WAIT_PRIVATE, 5, &zero, NULL, 0), b, sizeof b));
    printf("wait, 2 ms timeout: %s\n",
           res(futex(&w, FUTEX_WAIT_PRIVATE, 5, &short_ts, NULL, 0), b, sizeof b));
    printf("wait_bitset, CLOCK_MONOTONIC deadline past: %s\n",
           res(futex(&w, FUTEX_WAIT_BITSET_PRIVATE, 5, &abs_mono, NULL, FUTEX_BITSET_MATCH_ANY),
               b, sizeof b));
    printf("wait_bitset, CLOCK_REALTIME deadline in 2 ms: %s\n",
           res(futex(&w, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 5, &abs_real, NULL,
                     FUTEX_BITSET_MATCH_ANY),
               b, sizeof b));
    printf("wait, bad timeout: %s\n", res(futex(&w, FUTEX_WAIT_PRIVATE, 5, &bad, NULL, 0), b, sizeof b));
    printf("wait_bitset, no bits: %s\n",
           res(futex(&w, FUTEX_WAIT_BITSET_PRIVATE, 5, NULL, NULL, 0), b, sizeof b));
    printf("wait, misaligned: %s\n",
           res(futex((char *)&w + 1, FUTEX_WAIT_PRIVATE, 5, NULL, NULL, 0), b, sizeof b));
    printf("wait, NULL: %s\n", res(futex(NULL, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0), b, sizeof b));
    printf("wake, NULL: %s\n", res(futex(NULL, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), b, sizeof b));
    printf("wake, nobody: %s\n", res(futex(&w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), b, sizeof b));
    printf("requeue, negative count: %s\n",
           res(futex(&w, FUTEX_REQUEUE_PRIVATE, 1, (void *)-1L, &w, 0), b, sizeof b));
    printf("unknown command 99: %s\n",
           res(futex(&w, 99 | FUTEX_PRIVATE_FLAG, 0, NULL, NULL, 0), b, sizeof b));
}

int main(int argc, char **argv) {
    if (argc > 1)
        iters = strtol(argv[1], NULL, 0);
    if (iters < 20)
        iters = 20;
    test_errors();
    test_requeue();
    test_bitset();
    test_eintr();
    test_condvar();
    test_raw_lock();
    test_timed();
    test_shared();
    return 0;
}
