/* syscalls2: the common Linux system calls beyond the basics, as Linux answers them —
 * the uid/gid family and getgroups (kernel/sys.c, kernel/groups.c), capget/capset
 * (kernel/capability.c), personality, times, getcpu, the sched_* calls and
 * getpriority/setpriority (kernel/sched/syscalls.c), fchdir, statfs/fstatfs
 * (fs/statfs.c), fadvise64, readahead, close_range (fs/file.c), flock (fs/locks.c,
 * with a blocked waiter), mincore (mm/mincore.c), mlock2/mlockall/munlockall
 * (mm/mlock.c).
 *
 * qemu-riscv64 passes these calls to the host kernel, so only facts that do not depend
 * on the host or on who runs the program are printed: relations between ids ("getresuid
 * matches getuid/geteuid"), never the ids; "cpu < nprocs", never the cpu; calls any
 * user may make (setuid to one's own uid, raising one's own nice value). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

/* `what: ok` or `what: ERRNO` for a call returning < 0 with errno. */
#define SHOW(what, expr)                                                                 \
    do {                                                                                 \
        errno = 0;                                                                       \
        long r_ = (long)(expr);                                                          \
        printf("%s: %s\n", what, r_ < 0 ? errname(errno) : "ok");                        \
    } while (0)

static void check(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "yes" : "no");
}

#define TMPFS_MAGIC_ 0x01021994
#define PROC_SUPER_MAGIC_ 0x9fa0
#define PIPEFS_MAGIC_ 0x50495045

struct cap_header {
    uint32_t version;
    int pid;
};
struct cap_data {
    uint32_t effective, permitted, inheritable;
};

static void ids(void)
{
    unsigned r, e, s;
    SHOW("getresuid", syscall(SYS_getresuid, &r, &e, &s));
    check("getresuid matches getuid/geteuid", r == getuid() && e == geteuid());
    SHOW("getresgid", syscall(SYS_getresgid, &r, &e, &s));
    check("getresgid matches getgid/getegid", r == getgid() && e == getegid());
    SHOW("setresuid(-1,-1,-1)", syscall(SYS_setresuid, -1, -1, -1));
    SHOW("setuid(getuid())", syscall(SYS_setuid, getuid()));
    SHOW("setuid(-1)", syscall(SYS_setuid, -1));
    SHOW("setreuid(-1,-1)", syscall(SYS_setreuid, -1, -1));
    SHOW("setresgid(-1,-1,-1)", syscall(SYS_setresgid, -1, -1, -1));
    SHOW("setgid(getgid())", syscall(SYS_setgid, getgid()));
    SHOW("setgid(-1)", syscall(SYS_setgid, -1));
    SHOW("setregid(-1,-1)", syscall(SYS_setregid, -1, -1));
    check("setfsuid(-1) is the euid", syscall(SYS_setfsuid, -1) == (long)geteuid());
    check("setfsgid(-1) is the egid", syscall(SYS_setfsgid, -1) == (long)getegid());
    long n = syscall(SYS_getgroups, 0, NULL);
    gid_t g[256];
    check("getgroups(0) counts", n >= 0 && n <= 256);
    check("getgroups(n, list) == n", syscall(SYS_getgroups, n, g) == n);
    if (n > 0)
        SHOW("getgroups(n - 1, list)", syscall(SYS_getgroups, n - 1, g));
    else
        printf("getgroups(n - 1, list): EINVAL\n");
    SHOW("getgroups(-1, list)", syscall(SYS_getgroups, -1, g));
}

static void caps(void)
{
    struct cap_header h = { 0x20080522, 0 };
    struct cap_data d[2];
    SHOW("capget v3", syscall(SYS_capget, &h, d));
    check("effective within permitted",
          (d[0].effective & ~d[0].permitted) == 0 && (d[1].effective & ~d[1].permitted) == 0);
    h.version = 0x12345678;
    SHOW("capget bad version", syscall(SYS_capget, &h, d));
    check("capget wrote version 3", h.version == 0x20080522);
    h.version = 0x12345678;
    SHOW("capget bad version, NULL data", syscall(SYS_capget, &h, NULL));
    h = (struct cap_header){ 0x20080522, -1 };
    SHOW("capget pid -1", syscall(SYS_capget, &h, d));
    h = (struct cap_header){ 0x19980330, 0 };
    SHOW("capget v1", syscall(SYS_capget, &h, d));
    h = (struct cap_header){ 0x20080522, 0 };
    syscall(SYS_capget, &h, d);
    SHOW("capset to the same sets", syscall(SYS_capset, &h, d));
    h.pid = getpid() + 1;
    SHOW("capset of another pid", syscall(SYS_capset, &h, d));
    h.pid = 0;
    struct cap_data more[2];
    memcpy(more, d, sizeof more);
    more[0].effective |= ~d[0].permitted & 1; /* CAP_CHOWN effective without permitted */
    more[0].permitted = d[0].permitted;
    if (d[0].permitted & 1) {
        more[0].permitted &= ~1u;
        more[0].effective |= 1;
    }
    SHOW("capset effective beyond permitted", syscall(SYS_capset, &h, more));
}

static void misc(void)
{
    long p = syscall(SYS_personality, 0xffffffffUL);
    check("personality domain is PER_LINUX", p >= 0 && (p & 0xff) == 0);
    check("personality(p) returns p", syscall(SYS_personality, p) == p);
    struct tms t;
    clock_t c = times(&t);
    check("times", c != (clock_t)-1 && t.tms_utime >= 0 && t.tms_stime >= 0 &&
                       t.tms_cutime == 0 && t.tms_cstime == 0);
    SHOW("times(NULL)", times(NULL));
    unsigned cpu = 99999, node = 99999;
    SHOW("getcpu", syscall(SYS_getcpu, &cpu, &node, NULL));
    cpu_set_t mask;
    CPU_ZERO(&mask);
    syscall(SYS_sched_getaffinity, 0, sizeof mask, &mask);
    check("getcpu: cpu in the affinity mask", cpu < CPU_SETSIZE && CPU_ISSET(cpu, &mask));
    check("getcpu: node 0 or more", node != 99999);
    SHOW("getcpu(NULL, NULL)", syscall(SYS_getcpu, NULL, NULL, NULL));
}

static void sched(void)
{
    struct sched_param sp = { 0 };
    printf("sched_getscheduler(0): %ld\n", syscall(SYS_sched_getscheduler, 0));
    SHOW("sched_getscheduler(-1)", syscall(SYS_sched_getscheduler, -1));
    SHOW("sched_getscheduler(no such pid)", syscall(SYS_sched_getscheduler, 0x3ffffff));
    printf("priority max/min FIFO: %ld %ld\n", syscall(SYS_sched_get_priority_max, SCHED_FIFO),
           syscall(SYS_sched_get_priority_min, SCHED_FIFO));
    printf("priority max/min RR: %ld %ld\n", syscall(SYS_sched_get_priority_max, SCHED_RR),
           syscall(SYS_sched_get_priority_min, SCHED_RR));
    printf("priority max/min OTHER: %ld %ld\n", syscall(SYS_sched_get_priority_max, SCHED_OTHER),
           syscall(SYS_sched_get_priority_min, SCHED_OTHER));
    printf("priority max/min BATCH IDLE: %ld %ld\n", syscall(SYS_sched_get_priority_max, SCHED_BATCH),
           syscall(SYS_sched_get_priority_min, SCHED_IDLE));
    SHOW("sched_get_priority_max(42)", syscall(SYS_sched_get_priority_max, 42));
    sp.sched_priority = 7;
    SHOW("sched_getparam(0)", syscall(SYS_sched_getparam, 0, &sp));
    printf("sched_priority: %d\n", sp.sched_priority);
    SHOW("sched_getparam(0, NULL)", syscall(SYS_sched_getparam, 0, NULL));
    SHOW("sched_setscheduler(0, OTHER, 0)", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &sp));
    SHOW("sched_setscheduler(0, BATCH, 0)", syscall(SYS_sched_setscheduler, 0, SCHED_BATCH, &sp));
    printf("sched_getscheduler(0) after BATCH: %ld\n", syscall(SYS_sched_getscheduler, 0));
    SHOW("sched_setparam(0, 0)", syscall(SYS_sched_setparam, 0, &sp));
    SHOW("sched_setscheduler(0, OTHER, 0)", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &sp));
    SHOW("sched_setscheduler(0, FIFO, 0)", syscall(SYS_sched_setscheduler, 0, SCHED_FIFO, &sp));
    sp.sched_priority = 100;
    SHOW("sched_setscheduler(0, RR, 100)", syscall(SYS_sched_setscheduler, 0, SCHED_RR, &sp));
    sp.sched_priority = 3;
    SHOW("sched_setscheduler(0, OTHER, 3)", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &sp));
    SHOW("sched_setscheduler(0, 42, 0)", syscall(SYS_sched_setscheduler, 0, 42, &sp));
    SHOW("sched_setscheduler(-1, OTHER)", syscall(SYS_sched_setscheduler, -1, SCHED_OTHER, &sp));
    SHOW("sched_setscheduler(0, OTHER, NULL)", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, NULL));
    struct timespec ts;
    SHOW("sched_rr_get_interval(0)", syscall(SYS_sched_rr_get_interval, 0, &ts));
    SHOW("sched_rr_get_interval(-1)", syscall(SYS_sched_rr_get_interval, -1, &ts));

    cpu_set_t all, one, got;
    CPU_ZERO(&all);
    SHOW("sched_getaffinity", syscall(SYS_sched_getaffinity, 0, sizeof all, &all));
    int first = 0;
    while (first < CPU_SETSIZE - 1 && !CPU_ISSET(first, &all))
        first++;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    SHOW("sched_setaffinity(first allowed cpu)", syscall(SYS_sched_setaffinity, 0, sizeof one, &one));
    CPU_ZERO(&got);
    syscall(SYS_sched_getaffinity, 0, sizeof got, &got);
    check("affinity is that cpu alone", CPU_COUNT(&got) == 1 && CPU_ISSET(first, &got));
    SHOW("sched_getaffinity(len 4)", syscall(SYS_sched_getaffinity, 0, 4, &got));
    SHOW("sched_getaffinity(len 12)", syscall(SYS_sched_getaffinity, 0, 12, &got));
    CPU_ZERO(&one);
    CPU_SET(1000, &one);
    SHOW("sched_setaffinity(cpu 1000 alone)", syscall(SYS_sched_setaffinity, 0, sizeof one, &one));
    SHOW("sched_setaffinity(restore)", syscall(SYS_sched_setaffinity, 0, sizeof all, &all));
    CPU_ZERO(&got);
    syscall(SYS_sched_getaffinity, 0, sizeof got, &got);
    check("affinity restored", CPU_EQUAL(&got, &all));

    errno = 0;
    long prio = syscall(SYS_getpriority, PRIO_PROCESS, 0);
    check("getpriority(PRIO_PROCESS, 0) in 1..40", prio >= 1 && prio <= 40);
    int nice = 20 - (int)prio;
    if (nice < 19) {
        SHOW("setpriority(own nice + 1)", syscall(SYS_setpriority, PRIO_PROCESS, 0, nice + 1));
        check("getpriority after", syscall(SYS_getpriority, PRIO_PROCESS, 0) == prio - 1);
    } else {
        printf("setpriority(own nice + 1): ok\ngetpriority after: yes\n");
    }
    SHOW("setpriority(nice 100 clamps to 19)", syscall(SYS_setpriority, PRIO_PROCESS, 0, 100));
    check("getpriority is 1", syscall(SYS_getpriority, PRIO_PROCESS, 0) == 1);
    SHOW("getpriority(PRIO_PGRP, 0)", syscall(SYS_getpriority, PRIO_PGRP, 0));
    SHOW("getpriority(which 5)", syscall(SYS_getpriority, 5, 0));
    SHOW("setpriority(no such pid)", syscall(SYS_setpriority, PRIO_PROCESS, 0x3ffffff, 19));
    SHOW("getpriority(no such pid)", syscall(SYS_getpriority, PRIO_PROCESS, 0x3ffffff));
}

static void files(void)
{
    const char *dir = "/tmp/dirtybit-syscalls2";
    char path[128], cwd[256];
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/f", dir);
    int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (f < 0 || write(f, "hello", 5) != 5) {
        printf("setup failed: %s\n", errname(errno));
        exit(1);
    }
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    SHOW("fchdir(dir)", syscall(SYS_fchdir, d));
    check("getcwd is the dir", getcwd(cwd, sizeof cwd) && strcmp(cwd, dir) == 0);
    SHOW("fchdir(file)", syscall(SYS_fchdir, f));
    SHOW("fchdir(-1)", syscall(SYS_fchdir, -1));
    int dp = open(dir, O_PATH);
    chdir("/");
    SHOW("fchdir(O_PATH dir)", syscall(SYS_fchdir, dp));
    check("getcwd is the dir again", getcwd(cwd, sizeof cwd) && strcmp(cwd, dir) == 0);
    chdir("/");

    struct statfs sf;
    SHOW("statfs(/proc)", statfs("/proc", &sf));
    check("/proc is procfs", sf.f_type == PROC_SUPER_MAGIC_);
    check("/proc namelen 255", sf.f_namelen == 255);
    SHOW("statfs(dir)", statfs(dir, &sf));
    check("dir namelen 255, bsize > 0, frsize == bsize",
          sf.f_namelen == 255 && sf.f_bsize > 0 && sf.f_frsize == sf.f_bsize);
    check("dir bfree <= blocks, bavail <= bfree", sf.f_bfree <= sf.f_blocks && sf.f_bavail <= sf.f_bfree);
    SHOW("statfs(missing)", statfs("/tmp/dirtybit-syscalls2/missing", &sf));
    SHOW("statfs(bad pointer)", syscall(SYS_statfs, (char *)8, &sf));
    int p[2];
    pipe(p);
    SHOW("fstatfs(pipe)", fstatfs(p[0], &sf));
    check("a pipe is on pipefs", sf.f_type == PIPEFS_MAGIC_);
    SHOW("fstatfs(file)", fstatfs(f, &sf));
    check("fstatfs(file) namelen 255", sf.f_namelen == 255);
    SHOW("fstatfs(-1)", fstatfs(-1, &sf));

    SHOW("fadvise64(file, WILLNEED)", syscall(SYS_fadvise64, f, 0, 0, POSIX_FADV_WILLNEED));
    SHOW("fadvise64(file, DONTNEED)", syscall(SYS_fadvise64, f, 0, 4096, POSIX_FADV_DONTNEED));
    SHOW("fadvise64(file, advice 9)", syscall(SYS_fadvise64, f, 0, 0, 9));
    SHOW("fadvise64(file, len -1)", syscall(SYS_fadvise64, f, 0, -1L, POSIX_FADV_NORMAL));
    SHOW("fadvise64(pipe)", syscall(SYS_fadvise64, p[0], 0, 0, POSIX_FADV_NORMAL));
    SHOW("fadvise64(-1)", syscall(SYS_fadvise64, -1, 0, 0, POSIX_FADV_NORMAL));
    SHOW("readahead(file)", syscall(SYS_readahead, f, 0, 4096));
    SHOW("readahead(pipe)", syscall(SYS_readahead, p[0], 0, 4096));
    SHOW("readahead(dir)", syscall(SYS_readahead, d, 0, 4096));
    SHOW("readahead(-1)", syscall(SYS_readahead, -1, 0, 4096));

    /* sendfile and copy_file_range: f holds "hello". */
    char buf[64] = { 0 };
    off_t off = 1;
    printf("sendfile(pipe <- file, offset 1, 3): %ld\n", (long)sendfile(p[1], f, &off, 3));
    printf("offset now %ld, read back \"%.*s\"\n", (long)off, (int)read(p[0], buf, sizeof buf), buf);
    lseek(f, 2, SEEK_SET);
    printf("sendfile(pipe <- file at its position, 100): %ld\n", (long)sendfile(p[1], f, NULL, 100));
    memset(buf, 0, sizeof buf);
    printf("position now %ld, read back \"%.*s\"\n", (long)lseek(f, 0, SEEK_CUR),
           (int)read(p[0], buf, sizeof buf), buf);
    snprintf(cwd, sizeof cwd, "%s/g", dir);
    int g = open(cwd, O_RDWR | O_CREAT | O_TRUNC, 0644);
    off = 0;
    printf("sendfile(file <- file): %ld\n", (long)sendfile(g, f, &off, 5));
    off_t oi = 1, oo = 5;
    printf("copy_file_range(f@1 -> g@5, 10): %ld\n", (long)copy_file_range(f, &oi, g, &oo, 10, 0));
    printf("offsets now %ld %ld\n", (long)oi, (long)oo);
    memset(buf, 0, sizeof buf);
    printf("g: \"%.*s\"\n", (int)pread(g, buf, sizeof buf, 0), buf);
    printf("copy_file_range at EOF: %ld\n", (long)copy_file_range(f, &oi, g, &oo, 10, 0));
    lseek(f, 0, SEEK_SET);
    lseek(g, 0, SEEK_SET);
    printf("copy_file_range(positions, 2): %ld\n", (long)copy_file_range(f, NULL, g, NULL, 2, 0));
    printf("positions now %ld %ld\n", (long)lseek(f, 0, SEEK_CUR), (long)lseek(g, 0, SEEK_CUR));
    SHOW("copy_file_range(flags 1)", copy_file_range(f, NULL, g, NULL, 1, 1));
    oi = 0, oo = 2;
    SHOW("copy_file_range(overlapping, one file)", copy_file_range(g, &oi, g, &oo, 4, 0));
    SHOW("copy_file_range(dir)", copy_file_range(d, NULL, g, NULL, 1, 0));
    SHOW("copy_file_range(pipe)", copy_file_range(p[0], NULL, g, NULL, 1, 0));
    SHOW("copy_file_range(-1)", copy_file_range(-1, NULL, g, NULL, 1, 0));
    int ga = open(cwd, O_WRONLY | O_APPEND);
    SHOW("copy_file_range(to O_APPEND)", copy_file_range(f, NULL, ga, NULL, 1, 0));
    SHOW("sendfile(to O_APPEND)", sendfile(ga, f, NULL, 1));
    write(p[1], "x", 1);
    SHOW("sendfile(from a pipe to a file)", sendfile(g, p[0], NULL, 1));
    SHOW("sendfile(offset on a pipe)", sendfile(g, p[0], &off, 1));
    SHOW("sendfile(-1)", sendfile(g, -1, NULL, 1));
    char drain;
    while (fcntl(p[0], F_SETFL, O_NONBLOCK) == 0 && read(p[0], &drain, 1) == 1)
        ;
    fcntl(p[0], F_SETFL, 0);
    close(ga);
    close(g);
    unlink(cwd);

    /* openat2: struct open_how { flags, mode, resolve }. */
    struct {
        uint64_t flags, mode, resolve, extra;
    } how = { O_RDONLY, 0, 0, 0 };
    int o2;
    SHOW("openat2(O_RDONLY)", o2 = syscall(SYS_openat2, AT_FDCWD, path, &how, 24));
    memset(buf, 0, sizeof buf);
    printf("openat2 read back \"%.*s\"\n", (int)read(o2, buf, sizeof buf), buf);
    close(o2);
    SHOW("openat2(size 32, zero tail)", syscall(SYS_openat2, AT_FDCWD, path, &how, 32));
    how.extra = 1;
    SHOW("openat2(size 32, non-zero tail)", syscall(SYS_openat2, AT_FDCWD, path, &how, 32));
    how.extra = 0;
    SHOW("openat2(size 16)", syscall(SYS_openat2, AT_FDCWD, path, &how, 16));
    SHOW("openat2(size 8192)", syscall(SYS_openat2, AT_FDCWD, path, &how, 8192));
    how.mode = 0644;
    SHOW("openat2(mode without O_CREAT)", syscall(SYS_openat2, AT_FDCWD, path, &how, 24));
    how.flags = O_RDWR | O_CREAT;
    how.mode = 010000;
    SHOW("openat2(O_CREAT, mode 010000)", syscall(SYS_openat2, AT_FDCWD, path, &how, 24));
    how.flags = 1ULL << 40;
    how.mode = 0;
    SHOW("openat2(flag bit 40)", syscall(SYS_openat2, AT_FDCWD, path, &how, 24));
    how.flags = O_PATH | O_RDWR;
    SHOW("openat2(O_PATH|O_RDWR)", syscall(SYS_openat2, AT_FDCWD, path, &how, 24));
    how.flags = O_RDONLY;
    how.resolve = 0x40;
    SHOW("openat2(resolve 0x40)", syscall(SYS_openat2, AT_FDCWD, path, &how, 24));
    how.resolve = 0x08 | 0x10;
    SHOW("openat2(BENEATH|IN_ROOT)", syscall(SYS_openat2, AT_FDCWD, path, &how, 24));
    how.resolve = 0x01;
    SHOW("openat2(NO_XDEV)", o2 = syscall(SYS_openat2, AT_FDCWD, path, &how, 24));
    close(o2);
    how.flags = O_RDWR | O_TRUNC;
    how.resolve = 0x20;
    SHOW("openat2(CACHED, O_TRUNC)", syscall(SYS_openat2, AT_FDCWD, path, &how, 24));
    how.flags = O_RDONLY;
    how.resolve = 0;
    SHOW("openat2(missing)", syscall(SYS_openat2, AT_FDCWD, "/tmp/dirtybit-syscalls2/none", &how, 24));

    /* close_range over descriptors 100..103. */
    for (int i = 100; i < 104; i++)
        dup2(f, i);
    SHOW("close_range(100, 101, CLOEXEC)", syscall(SYS_close_range, 100, 101, 4));
    check("100 and 101 close-on-exec", fcntl(100, F_GETFD) == FD_CLOEXEC && fcntl(101, F_GETFD) == FD_CLOEXEC);
    check("102 not close-on-exec", fcntl(102, F_GETFD) == 0);
    SHOW("close_range(101, ~0U, 0)", syscall(SYS_close_range, 101, ~0U, 0));
    check("100 open, 101..103 closed", fcntl(100, F_GETFD) >= 0 && fcntl(101, F_GETFD) < 0 &&
                                           fcntl(103, F_GETFD) < 0);
    SHOW("close_range(5, 4, 0)", syscall(SYS_close_range, 5, 4, 0));
    SHOW("close_range(flags 8)", syscall(SYS_close_range, 100, 100, 8));
    SHOW("close_range(100, 100, UNSHARE)", syscall(SYS_close_range, 100, 100, 2));
    check("100 closed", fcntl(100, F_GETFD) < 0);

    /* flock: two open file descriptions of one file, and a dup of the first. */
    int a = open(path, O_RDONLY), b = open(path, O_RDONLY);
    SHOW("flock(a, EX)", flock(a, LOCK_EX));
    SHOW("flock(b, EX|NB)", flock(b, LOCK_EX | LOCK_NB));
    SHOW("flock(b, SH|NB)", flock(b, LOCK_SH | LOCK_NB));
    int a2 = dup(a);
    SHOW("flock(dup of a, SH): converts a's lock", flock(a2, LOCK_SH));
    SHOW("flock(b, SH|NB)", flock(b, LOCK_SH | LOCK_NB));
    SHOW("flock(b, EX|NB)", flock(b, LOCK_EX | LOCK_NB));
    close(a);
    close(a2);
    SHOW("flock(b, EX|NB) after a's last close", flock(b, LOCK_EX | LOCK_NB));
    SHOW("flock(b, 0)", flock(b, 0));
    SHOW("flock(b, NB alone)", flock(b, LOCK_NB));
    SHOW("flock(-1, SH)", flock(-1, LOCK_SH));
    int o = open(path, O_PATH);
    SHOW("flock(O_PATH, SH)", flock(o, LOCK_SH));
    SHOW("flock(b, UN)", flock(b, LOCK_UN));
    SHOW("flock(b, UN) again", flock(b, LOCK_UN));
    /* A blocked waiter: the child's LOCK_EX waits until the parent unlocks. */
    SHOW("flock(b, EX)", flock(b, LOCK_EX));
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        int mine = open(path, O_RDONLY);
        int r = flock(mine, LOCK_EX);
        printf("child: flock(EX) %s after the parent unlocked\n", r ? errname(errno) : "ok");
        fflush(stdout);
        _exit(0);
    }
    for (int i = 0; i < 20; i++)
        sched_yield();
    printf("parent: unlocking\n");
    fflush(stdout);
    flock(b, LOCK_UN);
    int st;
    waitpid(c, &st, 0);
    check("child exited 0", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(b);
    close(o);
    close(d);
    close(dp);
    close(f);
    close(p[0]);
    close(p[1]);
    unlink(path);
    rmdir(dir);
}

static void memory(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    unsigned char v[8];
    char *m = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    m[0] = 1;
    m[2 * pg] = 1;
    memset(v, 0xee, sizeof v);
    SHOW("mincore(4 pages)", mincore(m, 4 * pg, v));
    printf("mincore: %d %d %d %d\n", v[0] & 1, v[1] & 1, v[2] & 1, v[3] & 1);
    check("mincore left the rest alone", v[4] == 0xee);
    SHOW("mincore(1 byte)", mincore(m + 2 * pg, 1, v));
    printf("mincore: %d\n", v[0] & 1);
    SHOW("mincore(unaligned)", mincore(m + 1, pg, v));
    SHOW("mincore(len 0)", mincore(m, 0, v));
    SHOW("mincore(bad vec)", mincore(m, pg, (unsigned char *)8));
    munmap(m + 3 * pg, pg);
    SHOW("mincore(over a hole)", mincore(m, 4 * pg, v));
    SHOW("mincore(beyond user space)", mincore((void *)-4096L, pg, v));

    SHOW("mlock2(flags 2)", syscall(SYS_mlock2, m, pg, 2));
    SHOW("mlock2(ONFAULT)", syscall(SYS_mlock2, m + pg, pg, 1));
    mincore(m + pg, pg, v);
    printf("untouched ONFAULT page resident: %d\n", v[0] & 1);
    SHOW("munlock", munlock(m + pg, pg));
    SHOW("mlockall(0)", mlockall(0));
    SHOW("mlockall(ONFAULT alone)", mlockall(MCL_ONFAULT));
    SHOW("mlockall(8)", mlockall(8));
    SHOW("munlockall", munlockall());
    munmap(m, 3 * pg);
}

static volatile int got_code, got_int, got_pid_ok, got_count;

static void on_queued(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    got_code = si->si_code;
    got_int = si->si_value.sival_int;
    got_pid_ok = si->si_pid == getpid() && si->si_uid == getuid() && si->si_signo == sig;
    got_count++;
}

static void sigqueues(void)
{
    struct sigaction sa = { 0 };
    sa.sa_sigaction = on_queued;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    SHOW("sigqueue(self, SIGUSR1, 42)", sigqueue(getpid(), SIGUSR1, (union sigval){ .sival_int = 42 }));
    printf("handler: count %d, si_code SI_QUEUE %s, si_int %d, si_pid/si_uid/si_signo %s\n", got_count,
           got_code == SI_QUEUE ? "yes" : "no", got_int, got_pid_ok ? "ok" : "wrong");
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_int = 7;
    SHOW("rt_tgsigqueueinfo(self thread, SIGUSR2)",
         syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), SIGUSR2, &si));
    printf("handler: count %d, si_int %d\n", got_count, got_int);
    SHOW("rt_sigqueueinfo(signal 0)", syscall(SYS_rt_sigqueueinfo, getpid(), 0, &si));
    SHOW("rt_sigqueueinfo(signal 99)", syscall(SYS_rt_sigqueueinfo, getpid(), 99, &si));
    SHOW("rt_sigqueueinfo(no such pid)", syscall(SYS_rt_sigqueueinfo, 0x3ffffff, SIGUSR1, &si));
    SHOW("rt_sigqueueinfo(bad info)", syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, (void *)8));
    SHOW("rt_tgsigqueueinfo(tgid 0)", syscall(SYS_rt_tgsigqueueinfo, 0, gettid(), SIGUSR2, &si));
    SHOW("rt_tgsigqueueinfo(no such thread)",
         syscall(SYS_rt_tgsigqueueinfo, getpid(), 0x3ffffff, SIGUSR2, &si));
    si.si_code = SI_USER;
    SHOW("rt_sigqueueinfo(SI_USER, to the parent)", syscall(SYS_rt_sigqueueinfo, getppid(), 0, &si));
    si.si_code = SI_TKILL;
    SHOW("rt_sigqueueinfo(SI_TKILL, to the parent)", syscall(SYS_rt_sigqueueinfo, getppid(), 0, &si));
    si.si_code = SI_USER;
    si.si_value.sival_int = 9;
    SHOW("rt_sigqueueinfo(SI_USER, to itself)", syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, &si));
    printf("handler: count %d, si_code %d, si_int %d\n", got_count, got_code, got_int);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    ids();
    caps();
    misc();
    sched();
    files();
    memory();
    sigqueues();
    printf("done\n");
    return 0;
}
