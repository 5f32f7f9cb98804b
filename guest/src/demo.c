/*
 * demo: the image `cargo run --release` runs. It touches memory in patterns that make the
 * MMU work — a read sweep (every page maps the shared zero page, A set by the walker), a
 * write sweep (every page faults in a fresh frame, then the walker sets D), a strided
 * sweep that defeats a small TLB, and an mprotect that write-protects half of it — and
 * prints what it did. dirtybit's --stats then shows the TLB misses, page walks, PTE loads,
 * A/D updates and page faults those patterns caused.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096UL
#define PAGES 2048UL /* 8 MiB */

static uint64_t checksum(const volatile uint8_t *p, size_t pages, size_t stride_pages)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < pages; i += stride_pages)
        sum = sum * 31 + p[i * PAGE + (i % 64) * 8];
    return sum;
}

int main(void)
{
    size_t len = PAGES * PAGE;
    volatile uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    printf("dirtybit demo: %lu pages (%lu KiB) of anonymous memory\n", PAGES, len / 1024);

    uint64_t r = checksum(p, PAGES, 1);
    printf("1. read sweep:     every page reads as zero (shared zero page), checksum %llu\n",
           (unsigned long long)r);

    for (size_t i = 0; i < PAGES; i++)
        p[i * PAGE + (i % 64) * 8] = (uint8_t)(i * 7 + 1);
    printf("2. write sweep:    one store per page (a fresh frame each, D set by the walker)\n");

    uint64_t s1 = checksum(p, PAGES, 1);
    uint64_t s2 = checksum(p, PAGES, 17);
    printf("3. re-read:        checksum %llu; strided (17 pages) checksum %llu\n",
           (unsigned long long)s1, (unsigned long long)s2);

    if (mprotect((void *)p, len / 2, PROT_READ) != 0) {
        perror("mprotect");
        return 1;
    }
    uint64_t s3 = checksum(p, PAGES / 2, 1);
    printf("4. mprotect(R):    first half read-only, still reads checksum %llu\n",
           (unsigned long long)s3);

    if (munmap((void *)p, len) != 0) {
        perror("munmap");
        return 1;
    }
    printf("5. munmap:         all %lu pages returned\n", PAGES);
    printf("run with --stats, --tlb 1x1, --ad svade or --paging sv48 to see the hardware side\n");
    return 0;
}
