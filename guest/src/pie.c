/*
 * pie: a freestanding static-pie (ET_DYN, no PT_INTERP), as `-static-pie` links it: the
 * kernel picks the load bias (ELF_ET_DYN_BASE). Debian's cross glibc ships no rcrt1.o, so
 * this one brings its own _start and talks to the kernel directly. It prints its argv and
 * a few auxv facts that do not depend on the load address, then exits with status 3.
 */
#include <stddef.h>

static long sys3(long n, long a, long b, long c)
{
    register long a0 __asm__("a0") = a;
    register long a1 __asm__("a1") = b;
    register long a2 __asm__("a2") = c;
    register long a7 __asm__("a7") = n;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7) : "memory");
    return a0;
}

static size_t len(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static void put(const char *s) { sys3(64, 1, (long)s, (long)len(s)); }

static void put_num(unsigned long v)
{
    char buf[24];
    int i = 23;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i > 0);
    put(&buf[i]);
}

__attribute__((used)) void cmain(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    while (*envp)
        envp++;
    unsigned long *auxv = (unsigned long *)(envp + 1);
    put("static-pie: argc ");
    put_num((unsigned long)argc);
    put("\n");
    for (long i = 1; i < argc; i++) {
        put("  argv: ");
        put(argv[i]);
        put("\n");
    }
    /* The order of auxv entries differs between kernels (and qemu): look them up. */
    unsigned long pagesz = 0, phent = 0;
    for (; auxv[0]; auxv += 2) {
        if (auxv[0] == 6) /* AT_PAGESZ */
            pagesz = auxv[1];
        if (auxv[0] == 4) /* AT_PHENT */
            phent = auxv[1];
    }
    put("  AT_PAGESZ ");
    put_num(pagesz);
    put("\n  AT_PHENT ");
    put_num(phent);
    put("\n");
    sys3(94, 3, 0, 0); /* exit_group(3) */
}

__asm__(".globl _start\n_start:\n  mv a0, sp\n  andi sp, sp, -16\n  call cmain\n");
