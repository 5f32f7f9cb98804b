/* segv: a store to a read-only mapping with no SIGSEGV handler installed.
 * The default action kills the process; a shell reports status 128 + SIGSEGV = 139.
 * Before the fault it prints (and flushes) what it is about to do and checks that the
 * page is readable, so a wrong fault on the load is told apart from the expected one.
 * The store must not take effect: nothing after it may print. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    unsigned char *p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap failed\n");
        return 1;
    }
    memset(p, 0x5a, pg);
    if (mprotect(p, pg, PROT_READ) != 0) {
        printf("mprotect failed\n");
        return 1;
    }
    printf("page made read-only, first byte reads %#x\n", p[0]);
    printf("storing to it now; expect death by SIGSEGV (status 139)\n");
    fflush(stdout);
    *(volatile unsigned char *)(p + 100) = 1;
    printf("ERROR: the store to a read-only page did not fault\n");
    return 3;
}
