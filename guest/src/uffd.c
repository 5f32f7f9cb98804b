/* uffd: userfaultfd(2) as Linux 6.18 behaves for private anonymous memory
 * (fs/userfaultfd.c, mm/userfaultfd.c, include/uapi/linux/userfaultfd.h):
 *  - /dev/userfaultfd: USERFAULTFD_IOC_NEW makes a userfaultfd (flags as userfaultfd(2)'s);
 *    its other ioctls and read() are EINVAL;
 *  - userfaultfd(flags): EINVAL for unknown flags; before UFFDIO_API every other ioctl and
 *    read() are EINVAL and poll() reports POLLERR; UFFDIO_API: EINVAL (and the struct
 *    zeroed) for a bad api, an unknown feature or a second call; the features and
 *    ioctls it reports;
 *  - UFFDIO_REGISTER (MISSING): the ioctls it reports; EINVAL for a bad mode or range,
 *    ENOMEM for no VMA; the VMA is split ("um" in smaps's VmFlags for the range only);
 *  - a monitor thread answering the faults of another thread: read() of a struct uffd_msg
 *    (UFFD_EVENT_PAGEFAULT, the page's address, UFFD_PAGEFAULT_FLAG_WRITE for a write)
 *    after poll() said POLLIN, answered with UFFDIO_COPY (the faulting thread sees the
 *    copied bytes) and UFFDIO_ZEROPAGE (it sees zeroes, then its own write);
 *    UFFDIO_COPY_MODE_DONTWAKE then UFFDIO_WAKE; the copy/zeropage result fields;
 *  - EEXIST for a page already there (copy = -EEXIST), ENOENT outside the range, EAGAIN
 *    from a non-blocking read with nothing to read; poll() with no fault times out;
 *  - close() of the userfaultfd wakes a thread waiting on its fault, which is then
 *    handled as a normal fault (a zero page);
 *  - UFFDIO_REGISTER_MODE_WP with UFFD_FEATURE_PAGEFAULT_FLAG_WP: UFFDIO_WRITEPROTECT makes
 *    a write fault with UFFD_PAGEFAULT_FLAG_WP|WRITE (a read does not) and sets pagemap's
 *    PM_UFFD_WP (bit 57) until the page is unprotected, the monitor
 *    unprotects and the write completes; UFFDIO_COPY_MODE_WP maps a write-protected copy;
 *    UNREGISTER of a protected range lets writes through;
 *  - UFFD_FEATURE_SIGBUS: a fault is SIGBUS instead of a message; a system call reading a
 *    missing page of a range registered with UFFD_USER_MODE_ONLY gets EFAULT.
 * Prints facts, never addresses; exit status 0 when every check passed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "errname.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#define PG 4096UL

static int failures;

static void check(int ok, const char *what)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAILED");
    if (!ok)
        failures++;
}

static int new_uffd(int flags)
{
    return (int)syscall(__NR_userfaultfd, flags);
}

static int api(int fd, uint64_t features)
{
    struct uffdio_api a = {.api = UFFD_API, .features = features};
    return ioctl(fd, UFFDIO_API, &a);
}

static int reg(int fd, void *p, size_t len, uint64_t mode, uint64_t *ioctls)
{
    struct uffdio_register r = {.range = {(unsigned long)p, len}, .mode = mode};
    int ret = ioctl(fd, UFFDIO_REGISTER, &r);
    if (ioctls)
        *ioctls = r.ioctls;
    return ret;
}

static const char *err(int ret)
{
    return ret == 0 ? "OK" : errname(errno);
}

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

/* /dev/userfaultfd (Linux 6.1): USERFAULTFD_IOC_NEW makes a userfaultfd as the system
 * call does; the device has no other operation. */
static void test_dev(void)
{
    printf("== /dev/userfaultfd\n");
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev < 0) {
        printf("open /dev/userfaultfd: %s\n", errname(errno));
        return;
    }
    char b;
    printf("read of the device: %s\n", read(dev, &b, 1) < 0 ? errname(errno) : "data");
    printf("UFFDIO_API on the device: %s\n", err(api(dev, 0)));
    printf("USERFAULTFD_IOC_NEW with a bad flag: %s\n", err(ioctl(dev, USERFAULTFD_IOC_NEW, 0x1000)));
    int fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
    printf("USERFAULTFD_IOC_NEW: %s\n", fd >= 0 ? "a new descriptor" : errname(errno));
    if (fd >= 0) {
        printf("its O_NONBLOCK %d, FD_CLOEXEC %d\n", !!(fcntl(fd, F_GETFL) & O_NONBLOCK),
               !!(fcntl(fd, F_GETFD) & FD_CLOEXEC));
        printf("UFFDIO_API on it: %s\n", err(api(fd, 0)));
        struct uffd_msg msg;
        printf("read with nothing pending: %s\n", read(fd, &msg, sizeof msg) < 0 ? errname(errno) : "data");
        close(fd);
    }
    close(dev);
}

/* ---- a monitor thread answering one fault at a time ---------------------------------- */

enum answer { COPY, ZERO, COPY_DONTWAKE_THEN_WAKE, UNPROTECT, NONE };

struct monitor {
    int fd;
    int nfaults;          /* faults to answer */
    enum answer how;
    char fill;            /* COPY: the byte */
    /* what it saw */
    int events_ok;        /* every message a UFFD_EVENT_PAGEFAULT */
    uint64_t flags[8];
    unsigned long offset[8]; /* address - base */
    unsigned long base;
    int polled_in;        /* poll() said POLLIN before each read */
    int64_t result;       /* copy / zeropage field of the last answer */
};

static void *monitor_main(void *arg)
{
    struct monitor *m = arg;
    static char page[PG];
    m->events_ok = 1;
    m->polled_in = 1;
    for (int i = 0; i < m->nfaults; i++) {
        struct pollfd pfd = {.fd = m->fd, .events = POLLIN};
        if (poll(&pfd, 1, -1) != 1 || !(pfd.revents & POLLIN))
            m->polled_in = 0;
        struct uffd_msg msg;
        ssize_t n = read(m->fd, &msg, sizeof(msg));
        if (n != sizeof(msg)) {
            m->events_ok = 0;
            return NULL;
        }
        if (msg.event != UFFD_EVENT_PAGEFAULT)
            m->events_ok = 0;
        unsigned long addr = msg.arg.pagefault.address;
        if (i < 8) {
            m->flags[i] = msg.arg.pagefault.flags;
            m->offset[i] = addr - m->base;
        }
        unsigned long pgaddr = addr & ~(PG - 1);
        switch (m->how) {
        case COPY:
        case COPY_DONTWAKE_THEN_WAKE: {
            memset(page, m->fill + i, PG);
            struct uffdio_copy c = {.dst = pgaddr, .src = (unsigned long)page, .len = PG};
            if (m->how == COPY_DONTWAKE_THEN_WAKE)
                c.mode = UFFDIO_COPY_MODE_DONTWAKE;
            ioctl(m->fd, UFFDIO_COPY, &c);
            m->result = c.copy;
            if (m->how == COPY_DONTWAKE_THEN_WAKE) {
                struct uffdio_range r = {pgaddr, PG};
                ioctl(m->fd, UFFDIO_WAKE, &r);
            }
            break;
        }
        case ZERO: {
            struct uffdio_zeropage z = {.range = {pgaddr, PG}};
            ioctl(m->fd, UFFDIO_ZEROPAGE, &z);
            m->result = z.zeropage;
            break;
        }
        case UNPROTECT: {
            struct uffdio_writeprotect w = {.range = {pgaddr, PG}, .mode = 0};
            m->result = ioctl(m->fd, UFFDIO_WRITEPROTECT, &w);
            break;
        }
        case NONE:
            break;
        }
    }
    return NULL;
}

static pthread_t start_monitor(struct monitor *m)
{
    pthread_t t;
    pthread_create(&t, NULL, monitor_main, m);
    return t;
}

/* ---- the setup checks ------------------------------------------------------------------ */

static void test_api(void)
{
    printf("== UFFDIO_API\n");
    int bad = new_uffd(0x100);
    printf("userfaultfd(0x100): %s\n", bad < 0 ? errname(errno) : "opened");
    int fd = new_uffd(O_CLOEXEC | O_NONBLOCK);
    check(fd >= 0, "userfaultfd(O_CLOEXEC|O_NONBLOCK)");
    int fdflags = fcntl(fd, F_GETFD), flflags = fcntl(fd, F_GETFL);
    check((fdflags & FD_CLOEXEC) && (flflags & O_NONBLOCK) && (flflags & O_ACCMODE) == O_RDWR,
          "close-on-exec, O_RDWR|O_NONBLOCK");

    char *mem = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct uffd_msg msg;
    printf("read before UFFDIO_API: %s\n", read(fd, &msg, sizeof(msg)) < 0 ? errname(errno) : "data");
    printf("UFFDIO_REGISTER before UFFDIO_API: %s\n", err(reg(fd, mem, PG, UFFDIO_REGISTER_MODE_MISSING, NULL)));
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    printf("poll before UFFDIO_API: %d revents POLLERR=%d\n", poll(&pfd, 1, 0), !!(pfd.revents & POLLERR));

    struct uffdio_api a = {.api = 0x55, .features = 0};
    int r = ioctl(fd, UFFDIO_API, &a);
    printf("UFFDIO_API api=0x55: %s, struct zeroed %d\n", err(r), a.api == 0 && a.features == 0 && a.ioctls == 0);
    a = (struct uffdio_api){.api = UFFD_API, .features = 1ULL << 40};
    printf("UFFDIO_API unknown feature: %s\n", err(ioctl(fd, UFFDIO_API, &a)));
    a = (struct uffdio_api){.api = UFFD_API, .features = 0};
    r = ioctl(fd, UFFDIO_API, &a);
    printf("UFFDIO_API: %s api=0x%llx\n", err(r), (unsigned long long)a.api);
    printf("  features: PAGEFAULT_FLAG_WP=%d SIGBUS=%d THREAD_ID=%d EXACT_ADDRESS=%d\n",
           !!(a.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP), !!(a.features & UFFD_FEATURE_SIGBUS),
           !!(a.features & UFFD_FEATURE_THREAD_ID), !!(a.features & UFFD_FEATURE_EXACT_ADDRESS));
    printf("  ioctls: REGISTER=%d UNREGISTER=%d API=%d\n", !!(a.ioctls & (1ULL << _UFFDIO_REGISTER)),
           !!(a.ioctls & (1ULL << _UFFDIO_UNREGISTER)), !!(a.ioctls & (1ULL << _UFFDIO_API)));
    a = (struct uffdio_api){.api = UFFD_API, .features = 0};
    printf("second UFFDIO_API: %s\n", err(ioctl(fd, UFFDIO_API, &a)));
    printf("unknown ioctl: %s\n", err(ioctl(fd, _IOWR(0xAA, 0x30, struct uffdio_range), &a)));
    printf("read, nothing pending (O_NONBLOCK): %s\n", read(fd, &msg, sizeof(msg)) < 0 ? errname(errno) : "data");
    printf("read, 16-byte buffer: %s\n", read(fd, &msg, 16) < 0 ? errname(errno) : "data");
    pfd.revents = 0;
    printf("poll, nothing pending: %d\n", poll(&pfd, 1, 0));
    close(fd);
    munmap(mem, PG);

    fd = new_uffd(0);
    api(fd, 0);
    pfd = (struct pollfd){.fd = fd, .events = POLLIN};
    printf("poll of a blocking userfaultfd: %d revents POLLERR=%d\n", poll(&pfd, 1, 0), !!(pfd.revents & POLLERR));
    close(fd);
}

static void test_register(void)
{
    printf("== UFFDIO_REGISTER\n");
    int fd = new_uffd(O_CLOEXEC | O_NONBLOCK);
    api(fd, 0);
    char *mem = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint64_t ioctls = 0;
    printf("mode 0: %s\n", err(reg(fd, mem, PG, 0, NULL)));
    printf("mode 1<<5: %s\n", err(reg(fd, mem, PG, 1 << 5, NULL)));
    printf("unaligned start: %s\n", err(reg(fd, mem + 1, PG, UFFDIO_REGISTER_MODE_MISSING, NULL)));
    printf("unaligned len: %s\n", err(reg(fd, mem, 100, UFFDIO_REGISTER_MODE_MISSING, NULL)));
    printf("len 0: %s\n", err(reg(fd, mem, 0, UFFDIO_REGISTER_MODE_MISSING, NULL)));
    char *hole = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(hole, PG);
    printf("no VMA: %s\n", err(reg(fd, hole, PG, UFFDIO_REGISTER_MODE_MISSING, NULL)));
    int r = reg(fd, mem + PG, 2 * PG, UFFDIO_REGISTER_MODE_MISSING, &ioctls);
    printf("MISSING on 2 of 4 pages: %s\n", err(r));
    printf("  ioctls: WAKE=%d COPY=%d ZEROPAGE=%d WRITEPROTECT=%d\n", !!(ioctls & (1ULL << _UFFDIO_WAKE)),
           !!(ioctls & (1ULL << _UFFDIO_COPY)), !!(ioctls & (1ULL << _UFFDIO_ZEROPAGE)),
           !!(ioctls & (1ULL << _UFFDIO_WRITEPROTECT)));
    /* The VMA is split: smaps shows "um" for the middle two pages only. */
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[256];
    unsigned long lo = 0, hi = 0, want_lo = (unsigned long)mem, want_hi = want_lo + 4 * PG;
    int vmas = 0, um_pages = 0;
    while (f && fgets(line, sizeof(line), f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            lo = a;
            hi = b;
            if (lo >= want_lo && hi <= want_hi)
                vmas++;
        } else if (!strncmp(line, "VmFlags:", 8) && lo >= want_lo && hi <= want_hi && strstr(line, " um")) {
            um_pages += (hi - lo) / PG;
        }
    }
    if (f)
        fclose(f);
    printf("  VMAs in the 4 pages: %d, pages with \"um\": %d\n", vmas, um_pages);
    struct uffdio_range rg = {(unsigned long)mem + PG, 2 * PG};
    printf("UNREGISTER: %s\n", err(ioctl(fd, UFFDIO_UNREGISTER, &rg)));
    mem[PG] = 1; /* a normal fault now */
    check(mem[PG] == 1, "write after UNREGISTER");
    close(fd);
    munmap(mem, 4 * PG);
}

/* ---- missing faults answered by a monitor ------------------------------------------------ */

static void test_missing(void)
{
    printf("== MISSING faults\n");
    int fd = new_uffd(O_CLOEXEC | O_NONBLOCK);
    api(fd, 0);
    char *mem = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    reg(fd, mem, 8 * PG, UFFDIO_REGISTER_MODE_MISSING, NULL);

    /* Reads of pages 0 and 1 answered by UFFDIO_COPY. */
    struct monitor m = {.fd = fd, .nfaults = 2, .how = COPY, .fill = 'A', .base = (unsigned long)mem};
    pthread_t t = start_monitor(&m);
    char c0 = mem[0];
    char c1 = mem[PG + 123];
    pthread_join(t, NULL);
    printf("read faults: events ok %d, polled POLLIN %d, flags %llu %llu, offsets 0x%lx 0x%lx\n",
           m.events_ok, m.polled_in, (unsigned long long)m.flags[0], (unsigned long long)m.flags[1],
           m.offset[0], m.offset[1]);
    printf("  the faulting thread read '%c' '%c', copy field %lld\n", c0, c1, (long long)m.result);
    check(c0 == 'A' && c1 == 'B' && mem[PG - 1] == 'A', "UFFDIO_COPY resolves the faults");

    /* A write to page 2 answered by UFFDIO_ZEROPAGE: the write then completes. */
    m = (struct monitor){.fd = fd, .nfaults = 1, .how = ZERO, .base = (unsigned long)mem};
    t = start_monitor(&m);
    mem[2 * PG + 8] = 'w';
    pthread_join(t, NULL);
    printf("write fault: flags %llu (WRITE=%d), offset 0x%lx, zeropage field %lld\n",
           (unsigned long long)m.flags[0], !!(m.flags[0] & UFFD_PAGEFAULT_FLAG_WRITE), m.offset[0],
           (long long)m.result);
    check(mem[2 * PG + 8] == 'w' && mem[2 * PG] == 0, "UFFDIO_ZEROPAGE then the write");

    /* COPY with DONTWAKE, then UFFDIO_WAKE. */
    m = (struct monitor){.fd = fd, .nfaults = 1, .how = COPY_DONTWAKE_THEN_WAKE, .fill = 'x', .base = (unsigned long)mem};
    t = start_monitor(&m);
    char c3 = mem[3 * PG];
    pthread_join(t, NULL);
    check(c3 == 'x', "UFFDIO_COPY_MODE_DONTWAKE + UFFDIO_WAKE");

    /* EEXIST, ENOENT, bad mode, a partial copy. */
    static char src[4 * PG];
    memset(src, 'z', sizeof(src));
    struct uffdio_copy cp = {.dst = (unsigned long)mem, .src = (unsigned long)src, .len = PG};
    int r = ioctl(fd, UFFDIO_COPY, &cp);
    printf("COPY onto a present page: %s, copy %s\n", err(r), cp.copy == -EEXIST ? "-EEXIST" : "other");
    char *other = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cp = (struct uffdio_copy){.dst = (unsigned long)other, .src = (unsigned long)src, .len = PG};
    r = ioctl(fd, UFFDIO_COPY, &cp);
    printf("COPY outside the range: %s, copy %s\n", err(r), cp.copy == -ENOENT ? "-ENOENT" : "other");
    cp = (struct uffdio_copy){.dst = (unsigned long)mem + 4 * PG, .src = (unsigned long)src, .len = PG, .mode = 4};
    printf("COPY mode 4: %s\n", err(ioctl(fd, UFFDIO_COPY, &cp)));
    cp = (struct uffdio_copy){.dst = (unsigned long)mem + 4 * PG, .src = (unsigned long)src, .len = PG, .mode = UFFDIO_COPY_MODE_WP};
    printf("COPY_MODE_WP into a MISSING-only range: %s\n", err(ioctl(fd, UFFDIO_COPY, &cp)));
    /* Pages 4 and 5 free, page 6 filled first: a 3-page copy stops at page 6. */
    struct uffdio_zeropage zp = {.range = {(unsigned long)mem + 6 * PG, PG}};
    ioctl(fd, UFFDIO_ZEROPAGE, &zp);
    cp = (struct uffdio_copy){.dst = (unsigned long)mem + 4 * PG, .src = (unsigned long)src, .len = 3 * PG};
    r = ioctl(fd, UFFDIO_COPY, &cp);
    printf("COPY of 3 pages, the third present: %s, copy %lld\n", err(r), (long long)cp.copy);
    check(mem[4 * PG] == 'z' && mem[5 * PG + PG - 1] == 'z' && mem[6 * PG] == 0, "partial copy's pages");
    zp = (struct uffdio_zeropage){.range = {(unsigned long)mem, PG}};
    r = ioctl(fd, UFFDIO_ZEROPAGE, &zp);
    printf("ZEROPAGE onto a present page: %s, zeropage %s\n", err(r), zp.zeropage == -EEXIST ? "-EEXIST" : "other");
    close(fd);
    munmap(mem, 8 * PG);
    munmap(other, PG);
}

/* ---- close() wakes a waiting fault -------------------------------------------------------- */

static char *close_mem;
static volatile int close_read;

static void *close_faulter(void *arg)
{
    close_read = close_mem[5] + 1; /* the page is missing: the fault waits */
    return NULL;
}

static void test_close_wakes(void)
{
    printf("== close() wakes\n");
    int fd = new_uffd(O_CLOEXEC | O_NONBLOCK);
    api(fd, 0);
    close_mem = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    reg(fd, close_mem, PG, UFFDIO_REGISTER_MODE_MISSING, NULL);
    pthread_t t;
    pthread_create(&t, NULL, close_faulter, NULL);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n = poll(&pfd, 1, -1);
    printf("a fault is pending: %d\n", n == 1 && (pfd.revents & POLLIN));
    close(fd); /* not answered: close() wakes it, it retries as a normal fault */
    pthread_join(t, NULL);
    check(close_read == 1, "the woken fault maps a zero page");
    munmap(close_mem, PG);
}

/* ---- a signal interrupts a waiting fault --------------------------------------------------- */

static char *sig_mem;
static volatile int sig_handled, sig_value;

static void on_usr1(int sig)
{
    sig_handled++;
}

static void *sig_faulter(void *arg)
{
    sig_value = sig_mem[100]; /* waits; the signal's handler runs; the fault waits again */
    return NULL;
}

static void test_signal(void)
{
    printf("== a signal while waiting\n");
    int fd = new_uffd(O_CLOEXEC | O_NONBLOCK);
    api(fd, 0);
    sig_mem = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    reg(fd, sig_mem, PG, UFFDIO_REGISTER_MODE_MISSING, NULL);
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t t;
    pthread_create(&t, NULL, sig_faulter, NULL);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    poll(&pfd, 1, -1);
    pthread_kill(t, SIGUSR1);
    while (!sig_handled)
        sched_yield();
    /* The retried fault queues its message again; read until one comes. */
    struct uffd_msg msg;
    int msgs = 0;
    for (;;) {
        pfd.revents = 0;
        poll(&pfd, 1, -1);
        if (read(fd, &msg, sizeof(msg)) == sizeof(msg)) {
            msgs++;
            break;
        }
    }
    static char src[PG];
    memset(src, 7, PG);
    struct uffdio_copy cp = {.dst = (unsigned long)sig_mem, .src = (unsigned long)src, .len = PG};
    ioctl(fd, UFFDIO_COPY, &cp);
    pthread_join(t, NULL);
    printf("handler ran %d time(s), a message read %d, the fault then read %d\n", sig_handled, msgs, sig_value);
    check(sig_handled == 1 && sig_value == 7, "the interrupted fault is retried after the handler");
    close(fd);
    munmap(sig_mem, PG);
}

/* pagemap bit 57, PM_UFFD_WP, of the page at p. */
static int pagemap_uffd_wp(void *p)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    uint64_t e = 0;
    pread(fd, &e, sizeof(e), (uintptr_t)p / PG * 8);
    close(fd);
    return (int)((e >> 57) & 1);
}

/* ---- write-protect ------------------------------------------------------------------------- */

static void test_wp(void)
{
    printf("== WP\n");
    int fd = new_uffd(O_CLOEXEC | O_NONBLOCK);
    printf("UFFDIO_API with PAGEFAULT_FLAG_WP: %s\n", err(api(fd, UFFD_FEATURE_PAGEFAULT_FLAG_WP)));
    char *mem = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mem[0] = 1;
    mem[PG] = 2;
    uint64_t ioctls = 0;
    int r = reg(fd, mem, 2 * PG, UFFDIO_REGISTER_MODE_WP, &ioctls);
    printf("REGISTER_MODE_WP: %s, WRITEPROTECT ioctl %d\n", err(r), !!(ioctls & (1ULL << _UFFDIO_WRITEPROTECT)));
    struct uffdio_writeprotect w = {.range = {(unsigned long)mem, 2 * PG}, .mode = UFFDIO_WRITEPROTECT_MODE_WP | UFFDIO_WRITEPROTECT_MODE_DONTWAKE};
    printf("WRITEPROTECT WP|DONTWAKE: %s\n", err(ioctl(fd, UFFDIO_WRITEPROTECT, &w)));
    w.mode = 4;
    printf("WRITEPROTECT mode 4: %s\n", err(ioctl(fd, UFFDIO_WRITEPROTECT, &w)));
    w.mode = UFFDIO_WRITEPROTECT_MODE_WP;
    printf("pagemap PM_UFFD_WP before: %d\n", pagemap_uffd_wp(mem));
    printf("WRITEPROTECT: %s\n", err(ioctl(fd, UFFDIO_WRITEPROTECT, &w)));
    printf("pagemap PM_UFFD_WP after: %d %d\n", pagemap_uffd_wp(mem), pagemap_uffd_wp(mem + PG));
    check(mem[0] == 1 && mem[PG] == 2, "reads of protected pages do not fault");
    struct uffd_msg msg;
    printf("nothing pending after the reads: %s\n", read(fd, &msg, sizeof(msg)) < 0 ? errname(errno) : "data");

    struct monitor m = {.fd = fd, .nfaults = 1, .how = UNPROTECT, .base = (unsigned long)mem};
    pthread_t t = start_monitor(&m);
    mem[PG + 7] = 9;
    pthread_join(t, NULL);
    printf("write fault: flags WRITE=%d WP=%d, offset 0x%lx, unprotect %lld\n",
           !!(m.flags[0] & UFFD_PAGEFAULT_FLAG_WRITE), !!(m.flags[0] & UFFD_PAGEFAULT_FLAG_WP), m.offset[0],
           (long long)m.result);
    check(mem[PG + 7] == 9 && mem[PG] == 2, "the write completes after the unprotect");
    printf("pagemap PM_UFFD_WP after the unprotect: %d %d\n", pagemap_uffd_wp(mem), pagemap_uffd_wp(mem + PG));

    /* Page 0 is still protected: UNREGISTER clears it and the write goes through. */
    struct uffdio_range rg = {(unsigned long)mem, 2 * PG};
    printf("UNREGISTER: %s\n", err(ioctl(fd, UFFDIO_UNREGISTER, &rg)));
    mem[1] = 5;
    check(mem[1] == 5 && mem[0] == 1, "write after UNREGISTER of a protected page");

    /* MISSING|WP: a write-protected copy, read freely, written after the unprotect. */
    char *m2 = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    reg(fd, m2, PG, UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP, NULL);
    static char src[PG];
    memset(src, 'p', PG);
    struct uffdio_copy cp = {.dst = (unsigned long)m2, .src = (unsigned long)src, .len = PG, .mode = UFFDIO_COPY_MODE_WP};
    r = ioctl(fd, UFFDIO_COPY, &cp);
    printf("COPY_MODE_WP: %s, copy %lld, reads '%c'\n", err(r), (long long)cp.copy, m2[10]);
    m = (struct monitor){.fd = fd, .nfaults = 1, .how = UNPROTECT, .base = (unsigned long)m2};
    t = start_monitor(&m);
    m2[10] = 'q';
    pthread_join(t, NULL);
    printf("write fault on the copy: WP=%d\n", !!(m.flags[0] & UFFD_PAGEFAULT_FLAG_WP));
    check(m2[10] == 'q' && m2[11] == 'p', "write to the unprotected copy");

    struct uffdio_writeprotect bad = {.range = {(unsigned long)mem, PG}, .mode = UFFDIO_WRITEPROTECT_MODE_WP};
    printf("WRITEPROTECT outside a WP range: %s\n", err(ioctl(fd, UFFDIO_WRITEPROTECT, &bad)));
    close(fd);
    munmap(mem, 2 * PG);
    munmap(m2, PG);
}

/* ---- SIGBUS and kernel-mode accesses -------------------------------------------------------- */

static sigjmp_buf jb;
static volatile int sig_seen, code_seen;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    sig_seen = sig;
    code_seen = si->si_code;
    siglongjmp(jb, 1);
}

static void test_sigbus_and_kernel(void)
{
    printf("== SIGBUS, kernel accesses\n");
    int fd = new_uffd(O_CLOEXEC | O_NONBLOCK);
    printf("UFFDIO_API with SIGBUS: %s\n", err(api(fd, UFFD_FEATURE_SIGBUS)));
    char *mem = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    reg(fd, mem, PG, UFFDIO_REGISTER_MODE_MISSING, NULL);
    struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};
    sigaction(SIGBUS, &sa, NULL);
    volatile char v = 0;
    if (!sigsetjmp(jb, 1))
        v = mem[0];
    printf("fault with UFFD_FEATURE_SIGBUS: %s code %s\n", sig_seen == SIGBUS ? "SIGBUS" : "none",
           code_seen == BUS_ADRERR ? "BUS_ADRERR" : "other");
    (void)v;
    close(fd);
    munmap(mem, PG);

    fd = new_uffd(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    printf("userfaultfd(UFFD_USER_MODE_ONLY): %s\n", fd >= 0 ? "OK" : errname(errno));
    api(fd, 0);
    mem = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    reg(fd, mem, PG, UFFDIO_REGISTER_MODE_MISSING, NULL);
    int p[2];
    pipe(p);
    ssize_t n = write(p[1], mem, 16);
    printf("write() from a missing page (user-mode-only): %s\n", n < 0 ? errname(errno) : "wrote");
    close(p[0]);
    close(p[1]);
    close(fd);
    munmap(mem, PG);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int probe = new_uffd(O_CLOEXEC);
    if (probe < 0) {
        printf("userfaultfd: %s\n", errname(errno));
        return 1;
    }
    close(probe);
    test_api();
    test_dev();
    test_register();
    test_missing();
    test_close_wakes();
    test_signal();
    test_wp();
    test_sigbus_and_kernel();
    printf("failures: %d\n", failures);
    return failures ? 1 : 0;
}
