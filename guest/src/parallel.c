/* parallel: an embarrassingly parallel CPU-bound workload, the SMP scaling benchmark.
 * argv[1] = number of threads T (default 4, at most 64), argv[2] = work units per thread
 * W (default 320: about 76 million instructions per thread, 305 million in all; about
 * 240 thousand per unit).
 *
 * Each thread works only on its own stack: a 64 KiB buffer of 64-bit words and a
 * 512-entry sort array. One work unit is
 *   1. xorshift64 over the whole buffer (buf[i] ^= next; 8192 words),
 *   2. FNV-1a 64 over an 8 KiB byte window of it chosen by the unit number,
 *   3. a heap sort of 512 32-bit keys gathered from the buffer with an odd stride, then
 *      a check that they are in order and a position-weighted sum of them,
 *   4. floating point over 1024 words: int-to-double conversion, fused multiply-add,
 *      division and square root (gcc contracts a * b + c into fmadd.d),
 * and every result feeds the next unit's xorshift state, so one wrong instruction
 * anywhere changes every later checksum. Between pthread_create and the end of the work
 * a thread makes no system call and writes nothing shared; it stores its result once, in
 * its own 64-byte-aligned slot. Main joins the threads in order and prints one line per
 * thread and a total: the output depends only on T and W, never on scheduling. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 64
#define BUF_WORDS 8192         /* 64 KiB of uint64_t */
#define FNV_WINDOW_BYTES 8192  /* bytes hashed by FNV-1a per unit */
#define SORT_KEYS 512
#define FP_WORDS 1024
#define DEFAULT_THREADS 4
#define DEFAULT_UNITS 320

/* One thread's result, alone in its cache line(s): no two threads write the same line. */
struct slot {
    uint64_t checksum;  /* integer state folded over all units */
    uint64_t fp_bits;   /* bit pattern of the floating-point accumulator */
    uint64_t sorted_ok; /* units whose sort came out in order */
} __attribute__((aligned(64)));

static struct slot slots[MAX_THREADS];
static long units_per_thread;

static inline uint64_t xorshift64(uint64_t x)
{
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

static inline uint64_t mix64(uint64_t z) /* splitmix64 finaliser */
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void sift_down(uint32_t *a, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && a[child + 1] > a[child])
            child++;
        if (a[root] >= a[child])
            return;
        uint32_t t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

static void heap_sort(uint32_t *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(a, i, n);
    for (size_t end = n; end-- > 1;) {
        uint32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end);
    }
}

static void *worker(void *arg)
{
    long id = (long)arg;
    uint64_t buf[BUF_WORDS];
    uint32_t keys[SORT_KEYS];
    uint64_t state = mix64(0x9e3779b97f4a7c15ULL * (uint64_t)(id + 1));
    uint64_t sum = 0, sorted_ok = 0;
    double facc = 1.0;

    for (size_t i = 0; i < BUF_WORDS; i++)
        buf[i] = mix64(state + i);

    for (long u = 0; u < units_per_thread; u++) {
        /* 1. xorshift over the whole buffer */
        uint64_t x = state | 1;
        for (size_t i = 0; i < BUF_WORDS; i++) {
            x = xorshift64(x);
            buf[i] ^= x;
        }

        /* 2. FNV-1a 64 over an 8 KiB window */
        const unsigned char *bytes = (const unsigned char *)buf;
        size_t start = ((size_t)u * 4096) % (sizeof buf - FNV_WINDOW_BYTES + 1);
        uint64_t h = 0xcbf29ce484222325ULL;
        for (size_t i = 0; i < FNV_WINDOW_BYTES; i++)
            h = (h ^ bytes[start + i]) * 0x100000001b3ULL;

        /* 3. heap sort of keys gathered with an odd stride, then check and fold */
        size_t stride = (size_t)(h % 61) * 2 + 1, pos = (size_t)(x % BUF_WORDS);
        for (size_t i = 0; i < SORT_KEYS; i++) {
            keys[i] = (uint32_t)(buf[pos] >> 16);
            pos = (pos + stride) % BUF_WORDS;
        }
        heap_sort(keys, SORT_KEYS);
        int in_order = 1;
        uint64_t weighted = 0;
        for (size_t i = 0; i < SORT_KEYS; i++) {
            if (i > 0 && keys[i - 1] > keys[i])
                in_order = 0;
            weighted += (uint64_t)keys[i] * (i + 1);
        }
        sorted_ok += (uint64_t)in_order;

        /* 4. floating point over the first FP_WORDS words of the buffer */
        double dot = 0.0, roots = 0.0;
        for (size_t i = 0; i + 1 < FP_WORDS; i += 2) {
            double a = (double)(buf[i] >> 11) * 0x1p-53;     /* [0, 1) */
            double b = (double)(buf[i + 1] >> 11) * 0x1p-52; /* [0, 2) */
            dot = a * b + dot;
            roots += __builtin_sqrt(a * b + 1.0) / (b + 0.5);
        }
        facc = facc * 0.5 + dot / (roots + 1.0);
        uint64_t fbits;
        memcpy(&fbits, &facc, sizeof fbits);

        sum = mix64(sum ^ h) + weighted + keys[SORT_KEYS / 2];
        state = mix64(x ^ h ^ fbits ^ weighted ^ (uint64_t)u);
    }

    uint64_t fbits;
    memcpy(&fbits, &facc, sizeof fbits);
    slots[id].checksum = mix64(sum ^ state);
    slots[id].fp_bits = fbits;
    slots[id].sorted_ok = sorted_ok;
    return NULL;
}

int main(int argc, char **argv)
{
    long nthreads = argc > 1 ? atol(argv[1]) : DEFAULT_THREADS;
    units_per_thread = argc > 2 ? atol(argv[2]) : DEFAULT_UNITS;
    if (nthreads < 1 || nthreads > MAX_THREADS || units_per_thread < 1) {
        printf("usage: parallel [threads 1..%d] [units per thread >= 1]\n", MAX_THREADS);
        return 2;
    }

    pthread_t tids[MAX_THREADS];
    for (long t = 0; t < nthreads; t++) {
        int err = pthread_create(&tids[t], NULL, worker, (void *)t);
        if (err != 0) {
            printf("pthread_create %ld: error %d\n", t, err);
            return 1;
        }
    }
    uint64_t total = 0xcbf29ce484222325ULL;
    for (long t = 0; t < nthreads; t++) {
        int err = pthread_join(tids[t], NULL);
        if (err != 0) {
            printf("pthread_join %ld: error %d\n", t, err);
            return 1;
        }
        const struct slot *s = &slots[t];
        printf("thread %ld: units %ld sorted %lu checksum %016lx fp %016lx\n", t, units_per_thread,
               (unsigned long)s->sorted_ok, (unsigned long)s->checksum, (unsigned long)s->fp_bits);
        total = mix64(total ^ s->checksum) ^ s->fp_bits;
    }
    printf("total: threads %ld units %ld checksum %016lx\n", nthreads, nthreads * units_per_thread,
           (unsigned long)total);
    return 0;
}
