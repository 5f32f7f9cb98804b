/*
 * swapstress: more anonymous memory than the machine has, kept through swap (run with
 * a small --mem and a --swap larger than the difference; see tests/swap.rs).
 *
 *   swapstress MIB [THREADS]
 *
 * Each of THREADS threads (default 1) maps its share of MIB MiB of private anonymous
 * memory, writes a pattern of its own into every page (one word per 512 bytes), then
 * reads every word back twice; a long-term pin (gup_test) holds 16 pages of the first
 * thread's memory the whole time: at the end its bytes are checked, and a store through
 * the mapping must be what the pin reads (the pinned frames were never swapped out).
 * Prints how many words were wrong (0: nothing was lost through swap).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gup_test_abi.h"

#define PAGE 4096UL
#define STEP 512UL

struct worker {
    unsigned id;
    size_t bytes;
    uint64_t *mem;
    unsigned long bad;
};

static uint64_t word(unsigned id, size_t off, unsigned pass)
{
    return ((uint64_t)id << 56) ^ (off * 0x9e3779b97f4a7c15ULL) ^ pass;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    for (size_t off = 0; off < w->bytes; off += STEP)
        w->mem[off / 8] = word(w->id, off, 0);
    for (unsigned pass = 0; pass < 2; pass++)
        for (size_t off = 0; off < w->bytes; off += STEP)
            w->bad += w->mem[off / 8] != word(w->id, off, 0);
    return NULL;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 96;
    unsigned threads = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 1;
    if (threads < 1 || threads > 16) {
        fprintf(stderr, "swapstress: 1 to 16 threads\n");
        return 2;
    }
    struct worker w[16];
    pthread_t t[16];
    size_t share = (mib << 20) / threads & ~(PAGE - 1);
    for (unsigned i = 0; i < threads; i++) {
        void *p = mmap(NULL, share, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            perror("swapstress: mmap");
            return 1;
        }
        madvise(p, share, MADV_NOHUGEPAGE);
        w[i] = (struct worker){.id = i, .bytes = share, .mem = p};
    }
    /* A long-term pin on 16 pages of the first share, filled first. */
    unsigned char *pinned = (unsigned char *)w[0].mem;
    for (size_t i = 0; i < 16 * PAGE; i++)
        pinned[i] = (unsigned char)(i * 7);
    int gup = open("/sys/kernel/debug/gup_test", O_RDWR);
    struct pin_longterm_test pl = {.addr = (uintptr_t)pinned, .size = 16 * PAGE, .flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE};
    int have_pin = gup >= 0 && ioctl(gup, PIN_LONGTERM_TEST_START, &pl) == 0;
    /* The workers skip the pinned pages' contents: start their pattern after them. */
    w[0].mem += 16 * PAGE / 8;
    w[0].bytes -= 16 * PAGE;
    for (unsigned i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, run, &w[i]);
    unsigned long bad = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        bad += w[i].bad;
    }
    unsigned long pin_bad = 0;
    for (size_t i = 0; i < 16 * PAGE; i++)
        pin_bad += pinned[i] != (unsigned char)(i * 7);
    if (have_pin) {
        /* The pinned frames must still be the ones mapped: a store through the mapping
         * is what the pin reads back (a page swapped out under its pin would have come
         * back in another frame). */
        for (size_t i = 0; i < 16 * PAGE; i++)
            pinned[i] = (unsigned char)(i * 13);
        static unsigned char back[16 * PAGE];
        uint64_t to = (uintptr_t)back;
        if (ioctl(gup, PIN_LONGTERM_TEST_READ, &to) != 0) {
            perror("swapstress: PIN_LONGTERM_TEST_READ");
            return 1;
        }
        for (size_t i = 0; i < 16 * PAGE; i++)
            pin_bad += back[i] != (unsigned char)(i * 13);
        ioctl(gup, PIN_LONGTERM_TEST_STOP);
    }
    printf("swapstress: %zu MiB in %u thread(s): %lu bad words; pinned pages %s (pin %s)\n", mib,
           threads, bad, pin_bad ? "CHANGED" : "intact", have_pin ? "held" : "not taken");
    return bad || pin_bad;
}
