/* shmemfile: the two file classes Linux's mm tells apart, shmem and a file system with
 * writeback, seen from user space.
 *
 * 1. statfs()/fstatfs() f_type (what tools/testing/selftests/mm/gup_longterm.c decides
 *    by): tmpfs for /tmp, /dev/shm, /dev and a memfd; ext4 for the root file system and
 *    its files. /proc/mounts in Linux's format. A rename from /tmp to / is EXDEV.
 * 2. Long-term writable pins (gup_test's PIN_LONGTERM_TEST_START with
 *    PIN_LONGTERM_TEST_FLAG_USE_WRITE, through GUP and through GUP-fast) of a MAP_SHARED
 *    mapping: allowed on shmem (a memfd, a /tmp file, a /dev/shm file,
 *    MAP_SHARED|MAP_ANONYMOUS), refused with EFAULT on a root file system file
 *    (writable_file_mapping_allowed(): its writeback needs dirty tracking); a MAP_PRIVATE
 *    mapping of that file and a read-only pin of its shared mapping are allowed.
 * 3. MAP_SHARED|MAP_ANONYMOUS across fork: one shmem object, shared without copying PTEs
 *    or faulting anything in (shmem_zero_setup(), vma_needs_copy()): /proc/self/smaps
 *    Rss of the 16-page mapping is what each side touched; writes are seen both ways.
 *
 * A kernel program: gup_test is dirtybit's (qemu-user has none), and under qemu-user
 * statfs and /proc/mounts are the host's. The reference is dirtybit's, reviewed against
 * Linux's rules. No addresses are printed. Exit status 0 unless the set-up fails. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"
#include "gup_test_abi.h"

#define TMPFS_MAGIC_ 0x01021994
#define EXT4_SUPER_MAGIC_ 0xef53
#define NPAGES 16

static long PG;
static int gup_fd = -1;

static const char *fs_name(long type)
{
    switch (type) {
    case TMPFS_MAGIC_:
        return "tmpfs";
    case EXT4_SUPER_MAGIC_:
        return "ext4";
    default:
        return "other";
    }
}

static void show_statfs(const char *path)
{
    struct statfs sf;
    if (statfs(path, &sf))
        printf("statfs(%s): %s\n", path, errname(errno));
    else
        printf("statfs(%s): %s\n", path, fs_name(sf.f_type));
}

static void show_fstatfs(const char *what, int fd)
{
    struct statfs sf;
    if (fstatfs(fd, &sf))
        printf("fstatfs(%s): %s\n", what, errname(errno));
    else
        printf("fstatfs(%s): %s\n", what, fs_name(sf.f_type));
}

/* A one-page file at path (or a memfd when path is NULL), its descriptor. */
static int one_page_file(const char *path)
{
    int fd = path ? open(path, O_RDWR | O_CREAT | O_TRUNC, 0600) : memfd_create("shmemfile", 0);
    if (fd < 0 || ftruncate(fd, PG)) {
        printf("set-up of %s failed: %s\n", path ? path : "memfd", errname(errno));
        exit(1);
    }
    return fd;
}

/* PIN_LONGTERM_TEST_START of the page at mem with flags, then STOP: "pinned" or the
 * errno. */
static const char *longterm_pin(void *mem, uint32_t flags)
{
    return gup_longterm_pin(gup_fd, mem, (uint64_t)PG, flags);
}

/* The four pins of one mapping, on one line. */
static void pins(const char *what, char *mem)
{
    mem[0] = 1; /* faulted in and dirty, so GUP-fast could take it */
    printf("%-28s R/W %s, R/W fast %s, R/O %s, R/O fast %s\n", what,
           longterm_pin(mem, PIN_LONGTERM_TEST_FLAG_USE_WRITE),
           longterm_pin(mem, PIN_LONGTERM_TEST_FLAG_USE_WRITE | PIN_LONGTERM_TEST_FLAG_USE_FAST),
           longterm_pin(mem, 0), longterm_pin(mem, PIN_LONGTERM_TEST_FLAG_USE_FAST));
}

static void pin_file(const char *what, int fd, int flags)
{
    char *mem = mmap(NULL, PG, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (mem == MAP_FAILED) {
        printf("%s: mmap %s\n", what, errname(errno));
        return;
    }
    pins(what, mem);
    munmap(mem, PG);
}

/* Rss (kB) of the VMA starting at addr, from /proc/self/smaps; -1 if not found. */
static long smaps_rss(void *addr)
{
    char want[32], line[512];
    long rss = -1;
    int in = 0;
    snprintf(want, sizeof want, "%08lx-", (unsigned long)(uintptr_t)addr);
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (!in) {
            in = strncmp(line, want, strlen(want)) == 0;
            continue;
        }
        if (sscanf(line, "Rss: %ld kB", &rss) == 1)
            break;
    }
    fclose(f);
    return rss;
}

int main(void)
{
    PG = sysconf(_SC_PAGESIZE);

    /* 1. File systems. */
    int rootfd = one_page_file("/shmemfile-data");
    int tmpfd = one_page_file("/tmp/shmemfile-data");
    int shmfd = one_page_file("/dev/shm/shmemfile-data");
    int memfd = one_page_file(NULL);
    show_statfs("/");
    show_statfs("/tmp");
    show_statfs("/dev/shm");
    show_statfs("/dev");
    show_statfs("/shmemfile-data");
    show_statfs("/tmp/shmemfile-data");
    show_fstatfs("memfd", memfd);
    show_fstatfs("root file", rootfd);
    show_fstatfs("/dev/shm file", shmfd);
    printf("rename /tmp -> /: %s\n",
           rename("/tmp/shmemfile-data", "/shmemfile-moved") ? errname(errno) : "renamed");
    printf("/proc/mounts:\n");
    FILE *m = fopen("/proc/mounts", "r");
    char line[256];
    while (m && fgets(line, sizeof line, m))
        printf("  %s", line);
    if (m)
        fclose(m);

    /* 2. Long-term pins by file class. */
    gup_fd = open("/sys/kernel/debug/gup_test", O_RDWR);
    if (gup_fd < 0) {
        printf("gup_test: %s\n", errname(errno));
        return 1;
    }
    pin_file("memfd MAP_SHARED", memfd, MAP_SHARED);
    pin_file("/tmp file MAP_SHARED", tmpfd, MAP_SHARED);
    pin_file("/dev/shm file MAP_SHARED", shmfd, MAP_SHARED);
    pin_file("root file MAP_SHARED", rootfd, MAP_SHARED);
    pin_file("root file MAP_PRIVATE", rootfd, MAP_PRIVATE);
    pin_file("MAP_SHARED|MAP_ANONYMOUS", -1, MAP_SHARED | MAP_ANONYMOUS);

    /* 3. Shared anonymous memory across fork. */
    char *sh = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 1;
    sh[0] = 'p';
    printf("shared anon: parent wrote page 0, Rss %ld kB\n", smaps_rss(sh));
    int ready[2], done[2];
    if (pipe(ready) || pipe(done))
        return 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        printf("child after fork: Rss %ld kB (no PTE copied)\n", smaps_rss(sh));
        printf("child reads page 0: %c, Rss %ld kB\n", sh[0], smaps_rss(sh));
        sh[5 * PG] = 'c';
        fflush(stdout);
        write(ready[1], "x", 1);
        read(done[0], &c, 1);
        printf("child reads page 6: %c\n", sh[6 * PG]);
        fflush(stdout);
        _exit(0);
    }
    char c;
    read(ready[0], &c, 1);
    printf("parent after fork: Rss %ld kB (nothing faulted in)\n", smaps_rss(sh));
    printf("parent reads page 5: %c, Rss %ld kB\n", sh[5 * PG], smaps_rss(sh));
    sh[6 * PG] = 'P';
    fflush(stdout);
    write(done[1], "x", 1);
    int status;
    waitpid(pid, &status, 0);
    printf("child exit status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);

    close(rootfd);
    close(tmpfd);
    close(shmfd);
    close(memfd);
    unlink("/shmemfile-data");
    unlink("/tmp/shmemfile-data");
    unlink("/dev/shm/shmemfile-data");
    return 0;
}
