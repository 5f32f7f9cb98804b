/* sort: sorts N pseudo-random 32-bit integers (argv[1], default 600,000) twice, with
 * libc qsort and a hand-written bottom-up merge sort, checks both are sorted and agree,
 * and prints checksums. Also sorts 64-bit keys with a stable merge sort of (key, index)
 * records to check stability. Exit 0 on success, 1 on a mismatch. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t s = 0x853c49e6748fea9bULL;
static uint32_t rnd(void)
{
    /* PCG32 (O'Neill): 64-bit LCG state, xorshift + rotate output */
    uint64_t old = s;
    s = old * 6364136223846793005ULL + 1442695040888963407ULL;
    uint32_t xs = (uint32_t)(((old >> 18) ^ old) >> 27);
    uint32_t rot = (uint32_t)(old >> 59);
    return (xs >> rot) | (xs << ((32 - rot) & 31));
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void merge_sort(int32_t *a, int32_t *tmp, size_t n)
{
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = a[j] < a[i] ? a[j++] : a[i++];
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        memcpy(a, tmp, n * sizeof *a);
    }
}

struct rec { uint16_t key; uint32_t idx; };

static void merge_sort_rec(struct rec *a, struct rec *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    merge_sort_rec(a, tmp, h);
    merge_sort_rec(a + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = a[j].key < a[i].key ? a[j++] : a[i++];
    while (i < h)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    memcpy(a, tmp, n * sizeof *a);
}

static uint64_t fnv(const void *p, size_t n)
{
    const unsigned char *c = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ULL;
    return h;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 0) : 600000;
    int32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *tmp = malloc(n * sizeof *tmp);
    if (!a || !b || !tmp) {
        printf("out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        a[i] = b[i] = (int32_t)rnd();
    printf("n %zu, input checksum %016lx\n", n, (unsigned long)fnv(a, n * sizeof *a));
    qsort(a, n, sizeof *a, cmp_i32);
    merge_sort(b, tmp, n);
    int sorted = 1;
    for (size_t i = 1; i < n; i++)
        if (a[i - 1] > a[i])
            sorted = 0;
    int same = memcmp(a, b, n * sizeof *a) == 0;
    printf("qsort sorted: %s, merge sort agrees: %s\n", sorted ? "yes" : "NO", same ? "yes" : "NO");
    printf("min %d median %d max %d\n", a[0], a[n / 2], a[n - 1]);
    printf("sorted checksum %016lx\n", (unsigned long)fnv(a, n * sizeof *a));

    size_t m = n / 4;
    struct rec *r = malloc(m * sizeof *r), *rt = malloc(m * sizeof *rt);
    for (size_t i = 0; i < m; i++) {
        r[i].key = (uint16_t)(rnd() % 1000);
        r[i].idx = (uint32_t)i;
    }
    merge_sort_rec(r, rt, m);
    int stable = 1;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < m; i++) {
        if (i && (r[i - 1].key > r[i].key || (r[i - 1].key == r[i].key && r[i - 1].idx > r[i].idx)))
            stable = 0;
        h = (h ^ r[i].idx) * 0x100000001b3ULL;
    }
    printf("stable record sort of %zu: %s, order checksum %016lx\n", m, stable ? "yes" : "NO", (unsigned long)h);
    return sorted && same && stable ? 0 : 1;
}
