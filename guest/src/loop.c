/* loop: the MIPS benchmark. A tight register-only integer loop (xorshift64 step, a
 * data-dependent branch, an accumulate) written in inline asm so that every iteration is
 * exactly 11 instructions on either side of the branch, with no memory access.
 * Iterations: argv[1] if given, else 45,000,000 (~495M instructions).
 * Prints the iteration count, the instruction count of the loop and the final values. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 45000000ULL;
    if (n == 0) {
        printf("iterations must be > 0\n");
        return 2;
    }
    uint64_t x = 0x2545f4914f6cdd1dULL, acc = 0, cnt = n, t0, t1, last_even = 0;
    asm volatile(
        ".option push\n\t.option norelax\n"
        "1:\tslli %[t0], %[x], 13\n\t"
        "xor %[x], %[x], %[t0]\n\t"
        "srli %[t0], %[x], 7\n\t"
        "xor %[x], %[x], %[t0]\n\t"
        "slli %[t0], %[x], 17\n\t"
        "xor %[x], %[x], %[t0]\n\t"
        "andi %[t1], %[x], 1\n\t"
        "bnez %[t1], 2f\n\t"
        "xor %[acc], %[acc], %[cnt]\n\t" /* even: mix in the counter */
        "addi %[cnt], %[cnt], -1\n\t"
        "bnez %[cnt], 1b\n\t"
        "li %[le], 1\n\t"
        "j 3f\n"
        "2:\tadd %[acc], %[acc], %[x]\n\t" /* odd: accumulate */
        "addi %[cnt], %[cnt], -1\n\t"
        "bnez %[cnt], 1b\n"
        "3:\n\t.option pop"
        : [x] "+r"(x), [acc] "+r"(acc), [cnt] "+r"(cnt), [t0] "=&r"(t0), [t1] "=&r"(t1), [le] "+r"(last_even));
    printf("iterations %lu\n", (unsigned long)n);
    printf("loop instructions %lu (11 per iteration, +2 if the last one took the even path: %s)\n",
           (unsigned long)(11 * n + 2 * last_even), last_even ? "yes" : "no");
    printf("x %016lx acc %016lx\n", (unsigned long)x, (unsigned long)acc);
    return 0;
}
