/* strsearch: substring search over generated text (argv[1] KiB, default 2048).
 * The text comes from a small word list chosen by a PRNG, so patterns recur. For each
 * pattern: naive search, Boyer-Moore-Horspool, and libc memmem/strstr must find the same
 * occurrences (count and a checksum of positions). Exit 1 if any method disagrees. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t st = 0x6a09e667f3bcc909ULL;
static uint32_t rnd(void)
{
    st = st * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(st >> 33);
}

struct hits { size_t count; uint64_t sum; size_t first, last; };

static void add(struct hits *h, size_t pos)
{
    if (h->count == 0)
        h->first = pos;
    h->last = pos;
    h->count++;
    h->sum = h->sum * 1000003 + pos;
}

static struct hits naive(const char *t, size_t n, const char *p, size_t m)
{
    struct hits h = { 0 };
    for (size_t i = 0; i + m <= n; i++) {
        size_t j = 0;
        while (j < m && t[i + j] == p[j])
            j++;
        if (j == m)
            add(&h, i);
    }
    return h;
}

static struct hits horspool(const char *t, size_t n, const char *p, size_t m)
{
    struct hits h = { 0 };
    size_t shift[256];
    for (int c = 0; c < 256; c++)
        shift[c] = m;
    for (size_t j = 0; j + 1 < m; j++)
        shift[(unsigned char)p[j]] = m - 1 - j;
    size_t i = 0;
    while (i + m <= n) {
        unsigned char last = (unsigned char)t[i + m - 1];
        if (last == (unsigned char)p[m - 1] && memcmp(t + i, p, m - 1) == 0)
            add(&h, i);
        i += shift[last];
    }
    return h;
}

static struct hits libc_memmem(const char *t, size_t n, const char *p, size_t m)
{
    struct hits h = { 0 };
    const char *s = t;
    while ((s = memmem(s, n - (size_t)(s - t), p, m)) != NULL) {
        add(&h, (size_t)(s - t));
        s++;
    }
    return h;
}

static struct hits libc_strstr(const char *t, const char *p)
{
    struct hits h = { 0 };
    const char *s = t;
    while ((s = strstr(s, p)) != NULL) {
        add(&h, (size_t)(s - t));
        s++;
    }
    return h;
}

static int same(struct hits a, struct hits b)
{
    return a.count == b.count && a.sum == b.sum && (a.count == 0 || (a.first == b.first && a.last == b.last));
}

int main(int argc, char **argv)
{
    size_t kib = argc > 1 ? strtoul(argv[1], NULL, 0) : 2048;
    static const char *words[] = { "the", "page", "table", "walker", "sets", "dirty", "bit", "on", "store",
                                   "a", "pin", "holds", "folio", "tlb", "flush", "fault", "copy", "write",
                                   "aaaa", "abab", "ababab", "mm", "gup", "fast", "path", "\n" };
    size_t nw = sizeof words / sizeof words[0];
    size_t n = kib << 10;
    char *t = malloc(n + 1);
    size_t len = 0;
    while (len < n) {
        const char *w = words[rnd() % nw];
        size_t wl = strlen(w);
        if (len + wl + 1 > n)
            break;
        memcpy(t + len, w, wl);
        len += wl;
        t[len++] = (rnd() % 5) ? ' ' : '_';
    }
    t[len] = 0;
    printf("text %zu bytes\n", len);
    static const char *pats[] = { "a", "the page", "dirty bit", "ababab", "aaaa aaaa", "pin holds folio",
                                  "gup_fast path", "tlb flush", "walker sets dirty bit on store",
                                  "zzz", "\n", " a ", "abab abab abab", "fault copy write" };
    int ok = 1;
    for (size_t k = 0; k < sizeof pats / sizeof pats[0]; k++) {
        const char *p = pats[k];
        size_t m = strlen(p);
        struct hits a = naive(t, len, p, m), b = horspool(t, len, p, m), c = libc_memmem(t, len, p, m),
                    d = libc_strstr(t, p);
        int agree = same(a, b) && same(a, c) && same(a, d);
        ok &= agree;
        printf("pattern %2zu len %2zu: count %7zu first %7zu last %7zu poshash %016lx %s\n", k, m, a.count,
               a.count ? a.first : 0, a.count ? a.last : 0, (unsigned long)a.sum, agree ? "agree" : "DISAGREE");
    }
    return ok ? 0 : 1;
}
