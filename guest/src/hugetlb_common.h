/* Helpers of the hugetlb guests (hugetlb.c, hugetlb1g.c): sysfs numbers, pagemap, the
 * smaps lines of one VMA, a child process whose end is reported, and the four long-term
 * pins of gup_test. */
#ifndef HUGETLB_COMMON_H
#define HUGETLB_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"
#include "gup_test_abi.h"

/* /sys/kernel/debug/gup_test, once opened. */
static int gup_fd = -1;

static void *map(size_t len, int flags, int fd)
{
    return mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
}

/* PIN_LONGTERM_TEST R/W and R/O, with GUP and GUP-fast, of size bytes at mem. */
static void pins(const char *what, char *mem, uint64_t size)
{
    mem[0] = 1;
    printf("%-22s R/W %s, R/W fast %s, R/O %s, R/O fast %s\n", what,
           gup_longterm_pin(gup_fd, mem, size, PIN_LONGTERM_TEST_FLAG_USE_WRITE),
           gup_longterm_pin(gup_fd, mem, size,
                            PIN_LONGTERM_TEST_FLAG_USE_WRITE | PIN_LONGTERM_TEST_FLAG_USE_FAST),
           gup_longterm_pin(gup_fd, mem, size, 0),
           gup_longterm_pin(gup_fd, mem, size, PIN_LONGTERM_TEST_FLAG_USE_FAST));
}

/* The number in a sysfs or procfs file, -1 if it cannot be read. */
static long read_num(const char *path)
{
    char buf[64];
    long v = -1;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 0) {
        buf[n] = 0;
        sscanf(buf, "%ld", &v);
    }
    return v;
}

/* Writes s to path: "OK" or the errno's name. */
static const char *write_str(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return errname(errno);
    ssize_t n = write(fd, s, strlen(s));
    int e = errno;
    close(fd);
    return n == (ssize_t)strlen(s) ? "OK" : errname(e);
}

/* The /proc/self/pagemap entry of the page at addr (0 if it cannot be read). */
static uint64_t pagemap(const void *addr)
{
    uint64_t e = 0;
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd < 0)
        return 0;
    if (pread(fd, &e, sizeof e, (off_t)((uintptr_t)addr / sysconf(_SC_PAGESIZE) * 8)) !=
        sizeof e)
        e = 0;
    close(fd);
    return e;
}

/* Lines of the smaps record (and the maps line) of the VMA at addr that start with one of
 * the given prefixes. */
static void smaps(const char *what, void *addr)
{
    char want[32], line[512];
    int in = 0;
    snprintf(want, sizeof want, "%08lx-", (unsigned long)(uintptr_t)addr);
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (!in) {
            if ((in = !strncmp(line, want, strlen(want)))) {
                char *name = strchr(line, '/');
                printf("  %s maps name: %s", what, name ? name : "\n");
            }
            continue;
        }
        if (!strncmp(line, "Size:", 5) || !strncmp(line, "KernelPageSize:", 15) ||
            !strncmp(line, "MMUPageSize:", 12) || !strncmp(line, "Rss:", 4) ||
            !strncmp(line, "Shared_Hugetlb:", 15) || !strncmp(line, "Private_Hugetlb:", 16))
            printf("  %s %s", what, line);
        if (!strncmp(line, "VmFlags:", 8))
            break;
    }
    fclose(f);
}

/* Runs fn in a child and reports how it ended. */
static void in_child(const char *what, void (*fn)(void *), void *arg)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        fn(arg);
        fflush(stdout);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st))
        printf("%s: child killed by %s\n", what, WTERMSIG(st) == SIGBUS ? "SIGBUS" : "a signal");
    else
        printf("%s: child exited %d\n", what, WEXITSTATUS(st));
}

#endif
