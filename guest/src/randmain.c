/* randmain: harness for the generated random-instruction programs (src/rand_<seed>.S).
 * Fills the scratch buffer from the seed, runs rand_body, then prints one hash per
 * checkpoint (registers x1..x29, f0..f31 and fcsr every 250 instructions, so a divergence
 * can be located), the final registers in full, and a hash of the scratch memory.
 * sp, x30 and x31 hold addresses inside the body and are not part of the state. */
#include <stdint.h>
#include <stdio.h>

extern void rand_body(void);
extern const uint64_t rand_seed, rand_count, rand_checkpoints, rand_xinit[32], rand_finit[32];
extern unsigned char rand_scratch[8192];
extern uint64_t rand_trace[][66];

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ULL;
    return h;
}

int main(void)
{
    uint64_t x = rand_seed * 0x9e3779b97f4a7c15ULL + 1;
    for (unsigned i = 0; i < sizeof rand_scratch; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rand_scratch[i] = (unsigned char)(x >> 32);
    }
    printf("rand seed %lu: %lu instructions, %lu checkpoints\n", (unsigned long)rand_seed,
           (unsigned long)rand_count, (unsigned long)rand_checkpoints);
    printf("initial state %016lx\n", (unsigned long)fnv(fnv(0xcbf29ce484222325ULL, rand_xinit, 256), rand_finit, 256));
    rand_body();
    for (uint64_t k = 0; k < rand_checkpoints; k++)
        printf("checkpoint %3lu: %016lx\n", (unsigned long)k,
               (unsigned long)fnv(0xcbf29ce484222325ULL, rand_trace[k], 65 * 8));
    const uint64_t *f = rand_trace[rand_checkpoints - 1];
    for (int i = 1; i < 30; i++)
        if (i != 2)
            printf("x%-2d %016lx\n", i, (unsigned long)f[i]);
    for (int i = 0; i < 32; i++)
        printf("f%-2d %016lx\n", i, (unsigned long)f[32 + i]);
    printf("fcsr %02lx\n", (unsigned long)f[64]);
    printf("scratch %016lx\n", (unsigned long)fnv(0xcbf29ce484222325ULL, rand_scratch, sizeof rand_scratch));
    return 0;
}
