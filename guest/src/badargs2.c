/* badargs2: Linux's answers to bad arguments across the system-call table (issue 10, item 3).
 *
 * Each line is one call with one or more wrong arguments and the errno Linux gives (or
 * "OK"): flag bits Linux rejects, lengths that overflow, descriptors that are closed, of
 * the wrong kind or open in the wrong mode, pointers to unmapped memory, negative counts,
 * unaligned addresses, signal numbers 0, 32..64 and past 64, clock ids, which/whence/how
 * values and rlimits. Where several arguments are wrong at once the line shows which check
 * Linux makes first ("EBADF before EINVAL"). Calls go through syscall(2) so that glibc
 * checks nothing itself.
 *
 * Works in a fresh directory, /tmp/dirtybit-badargs2 (under qemu-user the host's /tmp),
 * and removes it. Portable: `make native-check` runs it on the host's Linux too; where
 * qemu-user 7.2 answers differently, qemu-fixups/badargs2.sed corrects the reference
 * (each line citing the Linux function that decides).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

#define DIR_ "/tmp/dirtybit-badargs2"
#define PAGE 4096UL

/* An address nothing is mapped at. */
#define BAD ((void *)8)

/* errname() and the errnos only these calls give. */
static const char *ename(int e)
{
    switch (e) {
    case ENXIO: return "ENXIO";
    case ENODEV: return "ENODEV";
    case ENOTTY: return "ENOTTY";
    case ETXTBSY: return "ETXTBSY";
    case EMLINK: return "EMLINK";
    case ELOOP: return "ELOOP";
    case EROFS: return "EROFS";
    case ETIMEDOUT: return "ETIMEDOUT";
    default: return errname(e);
    }
}

/* "what: OK" or "what: ERRNO". */
static void t(const char *what, long r)
{
    int e = errno;
    if (r == -1)
        printf("%s: %s\n", what, ename(e));
    else
        printf("%s: OK\n", what);
}

/* "what: OK <value>" or "what: ERRNO", for calls whose result does not depend on the run. */
static void tv(const char *what, long r)
{
    int e = errno;
    if (r == -1)
        printf("%s: %s\n", what, ename(e));
    else
        printf("%s: OK %ld\n", what, r);
}

#define T(what, call) (errno = 0, t(what, (long)(call)))
#define TV(what, call) (errno = 0, tv(what, (long)(call)))
#define S(...) syscall(__VA_ARGS__)

static long mmap_raw(unsigned long addr, unsigned long len, long prot, long flags, long fd, unsigned long off)
{
    return S(SYS_mmap, addr, len, prot, flags, fd, off);
}

/* mmap() of a fresh anonymous region; its result as a failed call when it fails. */
static long mmap_ok(unsigned long addr, unsigned long len, long prot, long flags, long fd, unsigned long off)
{
    long r = mmap_raw(addr, len, prot, flags, fd, off);
    if (r != -1)
        munmap((void *)r, len);
    return r == -1 ? -1 : 0;
}

static void mm_cases(int rdfd, int wrfd, int dirfd)
{
    const long RW = PROT_READ | PROT_WRITE;
    const long PA = MAP_PRIVATE | MAP_ANONYMOUS;
    /* mm/mmap.c ksys_mmap_pgoff()/do_mmap() */
    T("mmap len 0", mmap_raw(0, 0, RW, PA, -1, 0));
    T("mmap len ~0 (PAGE_ALIGN wraps)", mmap_raw(0, ~0UL, RW, PA, -1, 0));
    T("mmap len 1<<62", mmap_raw(0, 1UL << 62, RW, PA, -1, 0));
    T("mmap len 0 and no MAP_PRIVATE/SHARED", mmap_raw(0, 0, RW, MAP_ANONYMOUS, -1, 0));
    T("mmap neither MAP_PRIVATE nor MAP_SHARED", mmap_raw(0, PAGE, RW, MAP_ANONYMOUS, -1, 0));
    T("mmap MAP_SHARED_VALIDATE anonymous", mmap_ok(0, PAGE, RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0));
    T("mmap MAP_SHARED_VALIDATE unknown flag", mmap_raw(0, PAGE, RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS | 0x800000, -1, 0));
    T("mmap MAP_PRIVATE unknown flag ignored", mmap_ok(0, PAGE, RW, PA | 0x800000, -1, 0));
    T("mmap offset unaligned", mmap_raw(0, PAGE, RW, MAP_PRIVATE, rdfd, 100));
    T("mmap offset unaligned, anonymous", mmap_raw(0, PAGE, RW, PA, -1, 100));
    T("mmap offset + len overflows (EOVERFLOW)", mmap_raw(0, 2 * PAGE, PROT_READ, MAP_PRIVATE, rdfd, ~0UL & ~(PAGE - 1)));
    T("mmap MAP_FIXED unaligned", mmap_raw(0x10000001, PAGE, RW, PA | MAP_FIXED, -1, 0));
    T("mmap MAP_FIXED past user space", mmap_raw(1UL << 60, PAGE, RW, PA | MAP_FIXED, -1, 0));
    T("mmap MAP_FIXED end wraps", mmap_raw(~0UL & ~(PAGE - 1), 2 * PAGE, RW, PA | MAP_FIXED, -1, 0));
    T("mmap hint unaligned (rounded)", mmap_ok(0x10000001, PAGE, RW, PA, -1, 0));
    T("mmap file, fd -1", mmap_raw(0, PAGE, PROT_READ, MAP_PRIVATE, -1, 0));
    T("mmap file, fd 9999", mmap_raw(0, PAGE, PROT_READ, MAP_PRIVATE, 9999, 0));
    T("mmap file, bad fd and len 0 (EINVAL first)", mmap_raw(0, 0, PROT_READ, MAP_PRIVATE, 9999, 0));
    T("mmap file, bad fd and no type (EBADF first)", mmap_raw(0, PAGE, PROT_READ, 0, 9999, 0));
    T("mmap a directory", mmap_raw(0, PAGE, PROT_READ, MAP_PRIVATE, dirfd, 0));
    T("mmap O_WRONLY file MAP_SHARED", mmap_raw(0, PAGE, PROT_READ, MAP_SHARED, wrfd, 0));
    T("mmap O_WRONLY file MAP_PRIVATE", mmap_raw(0, PAGE, PROT_READ, MAP_PRIVATE, wrfd, 0));
    T("mmap O_RDONLY file MAP_SHARED PROT_WRITE", mmap_raw(0, PAGE, RW, MAP_SHARED, rdfd, 0));
    T("mmap O_RDONLY file MAP_PRIVATE PROT_WRITE", mmap_ok(0, PAGE, RW, MAP_PRIVATE, rdfd, 0));
    T("mmap O_RDONLY file MAP_SHARED PROT_READ", mmap_ok(0, PAGE, PROT_READ, MAP_SHARED, rdfd, 0));
    T("mmap fd ignored with MAP_ANONYMOUS", mmap_ok(0, PAGE, RW, PA, 9999, 0));

    /* Four pages mapped and a four-page hole after them. */
    char *m = (char *)mmap_raw(0, 8 * PAGE, RW, PA, -1, 0);
    if (m == (char *)-1) {
        printf("mmap failed\n");
        return;
    }
    munmap(m + 4 * PAGE, 4 * PAGE);
    m[0] = 1;
    /* mm/mmap.c do_vmi_munmap() */
    T("munmap len 0", munmap(m, 0));
    T("munmap unaligned", munmap(m + 1, PAGE));
    T("munmap past user space", munmap((void *)(1UL << 60), PAGE));
    T("munmap wraps", munmap((void *)(~0UL & ~(PAGE - 1)), 2 * PAGE));
    T("munmap nothing mapped", munmap((void *)(1UL << 36), PAGE));
    T("munmap len ~0", munmap(m, ~0UL));
    /* mm/mprotect.c do_mprotect_pkey() */
    T("mprotect unaligned", mprotect(m + 1, PAGE, PROT_READ));
    T("mprotect len 0", mprotect(m, 0, PROT_READ));
    T("mprotect len 0, unaligned (EINVAL first)", mprotect(m + 1, 0, PROT_READ));
    T("mprotect unknown prot bit", mprotect(m, PAGE, PROT_READ | 0x100));
    T("mprotect GROWSDOWN|GROWSUP", mprotect(m, PAGE, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP));
    T("mprotect len wraps", mprotect(m, ~0UL - PAGE, PROT_READ));
    T("mprotect unmapped", mprotect((void *)(1UL << 36), PAGE, PROT_READ));
    T("mprotect partly unmapped", mprotect(m + 2 * PAGE, 4 * PAGE, PROT_READ | PROT_WRITE));
    T("mprotect bad prot and unmapped (EINVAL first)", mprotect((void *)(1UL << 36), PAGE, 0x100));
    T("mprotect PROT_WRITE on O_RDONLY MAP_SHARED", ({
          long r = -1;
          void *f = (void *)mmap_raw(0, PAGE, PROT_READ, MAP_SHARED, rdfd, 0);
          if (f != (void *)-1) {
              r = mprotect(f, PAGE, RW);
              munmap(f, PAGE);
          }
          r;
      }));
    /* mm/madvise.c do_madvise() */
    T("madvise unaligned", madvise(m + 1, PAGE, MADV_DONTNEED));
    T("madvise len 0", madvise(m, 0, MADV_DONTNEED));
    T("madvise unknown advice", madvise(m, PAGE, 999));
    T("madvise unknown advice, len 0 (EINVAL first)", madvise(m, 0, 999));
    T("madvise len wraps", madvise(m, ~0UL - 100, MADV_DONTNEED));
    T("madvise unmapped", madvise((void *)(1UL << 36), PAGE, MADV_DONTNEED));
    T("madvise MADV_NORMAL unmapped", madvise((void *)(1UL << 36), PAGE, MADV_NORMAL));
    T("madvise MADV_WILLNEED", madvise(m, PAGE, MADV_WILLNEED));
    T("madvise MADV_DONTFORK", madvise(m, PAGE, MADV_DONTFORK));
    T("madvise MADV_DOFORK", madvise(m, PAGE, MADV_DOFORK));
    T("madvise MADV_FREE", madvise(m + PAGE, PAGE, MADV_FREE));
    T("madvise MADV_REMOVE on private", madvise(m, PAGE, MADV_REMOVE));
    /* mm/mlock.c */
    T("mlock unaligned (rounded)", mlock(m + 1, 10));
    T("munlock unaligned (rounded)", munlock(m + 1, 10));
    T("mlock len 0", mlock(m, 0));
    T("mlock unmapped", mlock((void *)(1UL << 36), PAGE));
    T("munlock unmapped", munlock((void *)(1UL << 36), PAGE));
    T("mlock len wraps", mlock(m, ~0UL - 100));
    /* mm/msync.c */
    T("msync unaligned", msync(m + 1, PAGE, MS_SYNC));
    T("msync unknown flag", msync(m, PAGE, 8));
    T("msync MS_SYNC|MS_ASYNC", msync(m, PAGE, MS_SYNC | MS_ASYNC));
    T("msync len 0", msync(m, 0, MS_SYNC));
    T("msync unmapped", msync((void *)(1UL << 36), PAGE, MS_SYNC));
    T("msync len wraps", msync(m, ~0UL - 100, MS_SYNC));
    /* mm/mremap.c */
    T("mremap unknown flag", (long)S(SYS_mremap, m, PAGE, PAGE, 8, 0));
    T("mremap unaligned", (long)S(SYS_mremap, m + 1, PAGE, PAGE, 0, 0));
    T("mremap MREMAP_FIXED without MAYMOVE", (long)S(SYS_mremap, m, PAGE, PAGE, MREMAP_FIXED, m + 8 * PAGE));
    T("mremap new_len 0", (long)S(SYS_mremap, m, PAGE, 0, 0, 0));
    T("mremap nothing mapped", (long)S(SYS_mremap, (void *)(1UL << 36), PAGE, 2 * PAGE, MREMAP_MAYMOVE, 0));
    T("mremap MREMAP_DONTUNMAP without MAYMOVE", (long)S(SYS_mremap, m, PAGE, PAGE, MREMAP_DONTUNMAP, 0));
    T("mremap MREMAP_FIXED unaligned new address", (long)S(SYS_mremap, m, PAGE, PAGE, MREMAP_FIXED | MREMAP_MAYMOVE, m + 8 * PAGE + 1));
    T("mremap MREMAP_FIXED onto itself", (long)S(SYS_mremap, m, PAGE, PAGE, MREMAP_FIXED | MREMAP_MAYMOVE, m));
    T("mremap grow in place blocked", S(SYS_mremap, m, PAGE, 2 * PAGE, 0, 0));
    T("mremap grow into the hole", S(SYS_mremap, m + 3 * PAGE, PAGE, 2 * PAGE, 0, 0));
    T("mremap old range crosses the hole", S(SYS_mremap, m + 3 * PAGE, 3 * PAGE, 4 * PAGE, MREMAP_MAYMOVE, 0));
    /* mm/mmap.c brk(): a bad break leaves it where it was */
    long cur = S(SYS_brk, 0);
    printf("brk(huge) leaves the break: %s\n", S(SYS_brk, 1UL << 60) == cur ? "yes" : "no");
    printf("brk(1) leaves the break: %s\n", S(SYS_brk, 1) == cur ? "yes" : "no");
    printf("mapping intact: %d\n", m[0]);
    munmap(m, 5 * PAGE);
}

static void fd_cases(int rdfd, int wrfd, int dirfd)
{
    char buf[64];
    int p[2];
    if (pipe(p) < 0)
        return;
    /* fs/read_write.c */
    T("read fd -1", S(SYS_read, -1, buf, 1));
    T("read fd 9999", S(SYS_read, 9999, buf, 1));
    T("read fd 9999, bad buffer (EBADF first)", S(SYS_read, 9999, BAD, 1));
    T("read O_WRONLY fd", S(SYS_read, wrfd, buf, 1));
    T("read O_WRONLY fd, bad buffer (EBADF first)", S(SYS_read, wrfd, BAD, 1));
    T("read bad buffer", S(SYS_read, rdfd, BAD, 1));
    TV("read bad buffer, count 0", S(SYS_read, rdfd, BAD, 0));
    T("read buffer wraps", S(SYS_read, rdfd, buf, ~0UL));
    T("read a directory", S(SYS_read, dirfd, buf, 1));
    TV("read fd 1<<32 | rdfd (unsigned int fd)", S(SYS_pread64, (1L << 32) | rdfd, buf, 4, 0));
    T("write fd 9999", S(SYS_write, 9999, buf, 1));
    T("write O_RDONLY fd", S(SYS_write, rdfd, buf, 1));
    T("write bad buffer", S(SYS_write, wrfd, BAD, 1));
    TV("write bad buffer, count 0", S(SYS_write, wrfd, BAD, 0));
    T("write a directory", S(SYS_write, dirfd, buf, 1));
    T("pread negative offset", S(SYS_pread64, rdfd, buf, 1, -1L));
    T("pread fd 9999, negative offset (EINVAL first)", S(SYS_pread64, 9999, buf, 1, -1L));
    T("pread a pipe", S(SYS_pread64, p[0], buf, 1, 0));
    T("pread a pipe, negative offset (EINVAL first)", S(SYS_pread64, p[0], buf, 1, -1L));
    T("pread O_WRONLY fd", S(SYS_pread64, wrfd, buf, 1, 0));
    TV("pread past EOF", S(SYS_pread64, rdfd, buf, 1, 1L << 40));
    T("pwrite negative offset", S(SYS_pwrite64, wrfd, buf, 1, -1L));
    T("pwrite a pipe", S(SYS_pwrite64, p[1], buf, 1, 0));
    T("pwrite O_RDONLY fd", S(SYS_pwrite64, rdfd, buf, 1, 0));
    T("pwrite offset + count past the max file size", S(SYS_pwrite64, wrfd, buf, 2, LLONG_MAX - 1));
    struct iovec iov[2] = {{buf, 4}, {buf + 4, 4}};
    T("readv iovcnt -1", S(SYS_readv, rdfd, iov, -1));
    T("readv iovcnt 1025", S(SYS_readv, rdfd, iov, 1025));
    TV("readv iovcnt 0", S(SYS_readv, rdfd, iov, 0));
    T("readv iov unreadable", S(SYS_readv, rdfd, BAD, 1));
    T("readv fd 9999, iovcnt -1 (EBADF first)", S(SYS_readv, 9999, iov, -1));
    T("readv O_WRONLY fd, iovcnt -1 (EBADF first)", S(SYS_readv, wrfd, iov, -1));
    struct iovec neg[2] = {{buf, (size_t)-1}, {buf, 1}};
    T("readv iov_len negative", S(SYS_readv, rdfd, neg, 1));
    struct iovec over[2] = {{buf, (size_t)LONG_MAX}, {buf, (size_t)LONG_MAX}};
    T("readv total overflows ssize_t", S(SYS_readv, rdfd, over, 2));
    struct iovec badbase[1] = {{BAD, 4}};
    T("readv iov_base unmapped", S(SYS_readv, rdfd, badbase, 1));
    T("writev iovcnt -1", S(SYS_writev, wrfd, iov, -1));
    T("writev O_RDONLY fd", S(SYS_writev, rdfd, iov, 2));
    T("writev iov_base unmapped", S(SYS_writev, wrfd, badbase, 1));
    /* fs/read_write.c ksys_lseek() */
    T("lseek whence 5", S(SYS_lseek, rdfd, 0, 5));
    T("lseek whence -1", S(SYS_lseek, rdfd, 0, -1L));
    T("lseek negative result", S(SYS_lseek, rdfd, -1L, SEEK_SET));
    T("lseek SEEK_CUR to negative", S(SYS_lseek, rdfd, -100L, SEEK_CUR));
    T("lseek a pipe", S(SYS_lseek, p[0], 0, SEEK_SET));
    T("lseek a pipe, whence 7 (EINVAL first)", S(SYS_lseek, p[0], 0, 7));
    T("lseek fd 9999, whence 7 (EBADF first)", S(SYS_lseek, 9999, 0, 7));
    TV("lseek SEEK_END", S(SYS_lseek, rdfd, 0, SEEK_END));
    TV("lseek past EOF", S(SYS_lseek, rdfd, 1L << 40, SEEK_SET));
    T("lseek SEEK_DATA past EOF", S(SYS_lseek, rdfd, 1L << 20, SEEK_DATA));
    TV("lseek SEEK_HOLE", S(SYS_lseek, rdfd, 0, SEEK_HOLE));
    T("lseek SEEK_DATA negative", S(SYS_lseek, rdfd, -1L, SEEK_DATA));
    S(SYS_lseek, rdfd, 0, SEEK_SET);
    /* fs/file.c, fs/fcntl.c */
    T("close -1", S(SYS_close, -1));
    T("close 9999", S(SYS_close, 9999));
    T("dup 9999", S(SYS_dup, 9999));
    T("dup -1", S(SYS_dup, -1));
    T("dup3 same fd", S(SYS_dup3, rdfd, rdfd, 0));
    T("dup3 unknown flag", S(SYS_dup3, rdfd, 50, 1));
    T("dup3 unknown flag, same fd (flags first)", S(SYS_dup3, rdfd, rdfd, 1));
    T("dup3 bad oldfd", S(SYS_dup3, 9999, 50, 0));
    T("dup3 bad oldfd, same fd (EINVAL first)", S(SYS_dup3, 9999, 9999, 0));
    T("dup3 newfd past RLIMIT_NOFILE", S(SYS_dup3, rdfd, 1 << 30, 0));
    T("dup3 newfd -1", S(SYS_dup3, rdfd, -1, 0));
    T("dup3 bad oldfd, newfd past rlimit (EBADF from newfd)", S(SYS_dup3, 9999, 1 << 30, 0));
    T("fcntl unknown cmd", S(SYS_fcntl, rdfd, 9999, 0));
    T("fcntl bad fd, unknown cmd (EBADF first)", S(SYS_fcntl, 9999, 9999, 0));
    T("fcntl F_GETFD bad fd", S(SYS_fcntl, 9999, F_GETFD));
    T("fcntl F_DUPFD past RLIMIT_NOFILE", S(SYS_fcntl, rdfd, F_DUPFD, 1 << 30));
    T("fcntl F_DUPFD -1", S(SYS_fcntl, rdfd, F_DUPFD, -1L));
    T("fcntl F_DUPFD_CLOEXEC past RLIMIT_NOFILE", S(SYS_fcntl, rdfd, F_DUPFD_CLOEXEC, 1 << 30));
    TV("fcntl F_SETFD unknown bits kept to FD_CLOEXEC", (S(SYS_fcntl, rdfd, F_SETFD, 0xff), S(SYS_fcntl, rdfd, F_GETFD)));
    S(SYS_fcntl, rdfd, F_SETFD, 0);
    TV("fcntl F_GETFL of a pipe's write end", S(SYS_fcntl, p[1], F_GETFL) & ~0x8000);
    T("fcntl F_SETPIPE_SZ 0 on a file", S(SYS_fcntl, rdfd, F_SETPIPE_SZ, 0));
    T("fcntl F_GETPIPE_SZ on a file", S(SYS_fcntl, rdfd, F_GETPIPE_SZ));
    /* fs/pipe.c */
    T("pipe2 unknown flag", S(SYS_pipe2, p, 1));
    T("pipe2 O_NONBLOCK|O_CLOEXEC|O_DIRECT", ({
          int q[2];
          long r = S(SYS_pipe2, q, O_NONBLOCK | O_CLOEXEC | O_DIRECT);
          if (r == 0) {
              close(q[0]);
              close(q[1]);
          }
          r;
      }));
    T("pipe2 unmapped array", S(SYS_pipe2, BAD, 0));
    T("pipe2 unmapped array, bad flag (EINVAL first)", S(SYS_pipe2, BAD, 1));
    /* fs/ioctl.c */
    T("ioctl bad fd", S(SYS_ioctl, 9999, FIONREAD, buf));
    T("ioctl unknown request on a file", S(SYS_ioctl, rdfd, 0x5401, buf));
    T("ioctl FIONREAD on a file", S(SYS_ioctl, rdfd, FIONREAD, buf));
    T("ioctl FIONREAD on a pipe, bad pointer", S(SYS_ioctl, p[0], FIONREAD, BAD));
    TV("ioctl FIONREAD on an empty pipe", ({
           int n = -1;
           long r = S(SYS_ioctl, p[0], FIONREAD, &n);
           r < 0 ? r : n;
       }));
    T("ioctl FIOCLEX bad fd", S(SYS_ioctl, 9999, FIOCLEX));
    T("ioctl FIOCLEX", S(SYS_ioctl, rdfd, FIOCLEX));
    T("ioctl FIONCLEX", S(SYS_ioctl, rdfd, FIONCLEX));
    /* fs/sync.c, fs/open.c */
    T("fsync bad fd", S(SYS_fsync, 9999));
    T("fsync a pipe", S(SYS_fsync, p[0]));
    T("fdatasync a pipe", S(SYS_fdatasync, p[0]));
    T("syncfs bad fd", S(SYS_syncfs, 9999));
    T("ftruncate negative", S(SYS_ftruncate, wrfd, -1L));
    T("ftruncate O_RDONLY fd", S(SYS_ftruncate, rdfd, 0));
    T("ftruncate a pipe", S(SYS_ftruncate, p[1], 0));
    T("ftruncate bad fd", S(SYS_ftruncate, 9999, 0));
    T("ftruncate a directory", S(SYS_ftruncate, dirfd, 0));
    T("ftruncate bad fd, negative (EINVAL first)", S(SYS_ftruncate, 9999, -1L));
    T("fallocate len 0", S(SYS_fallocate, wrfd, 0, 0L, 0L));
    T("fallocate negative offset", S(SYS_fallocate, wrfd, 0, -1L, 1L));
    T("fallocate unknown mode", S(SYS_fallocate, wrfd, 0x1000, 0L, 1L));
    T("fallocate O_RDONLY fd", S(SYS_fallocate, rdfd, 0, 0L, 1L));
    T("fallocate a pipe", S(SYS_fallocate, p[1], 0, 0L, 1L));
    T("fallocate bad fd", S(SYS_fallocate, 9999, 0, 0L, 1L));
    T("fallocate PUNCH_HOLE without KEEP_SIZE", S(SYS_fallocate, wrfd, 2, 0L, 1L));
    T("fallocate offset + len overflows", S(SYS_fallocate, wrfd, 0, LLONG_MAX - 1, 10L));
    T("fchmod bad fd", S(SYS_fchmod, 9999, 0644));
    T("fchown bad fd", S(SYS_fchown, 9999, 0, 0));
    /* fs/readdir.c */
    T("getdents64 bad fd", S(SYS_getdents64, 9999, buf, sizeof buf));
    T("getdents64 a file", S(SYS_getdents64, rdfd, buf, sizeof buf));
    T("getdents64 buffer too small", S(SYS_getdents64, dirfd, buf, 4));
    T("getdents64 unmapped buffer", S(SYS_getdents64, dirfd, BAD, 64));
    /* mm/memfd.c */
    T("memfd_create unknown flag", S(SYS_memfd_create, "x", 0x100));
    T("memfd_create unmapped name", S(SYS_memfd_create, BAD, 0));
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    T("memfd_create 299-byte name", S(SYS_memfd_create, longname, 0));
    longname[249] = 0;
    T("memfd_create 249-byte name", ({
          long r = S(SYS_memfd_create, longname, 0);
          if (r >= 0)
              close(r);
          r;
      }));
    longname[249] = 'n';
    longname[250] = 0;
    T("memfd_create 250-byte name", S(SYS_memfd_create, longname, 0));
    /* fs/splice.c vmsplice */
    struct iovec one = {buf, 1};
    T("vmsplice unknown flag", S(SYS_vmsplice, p[1], &one, 1, 0x100));
    T("vmsplice bad fd", S(SYS_vmsplice, 9999, &one, 1, 0));
    T("vmsplice not a pipe", S(SYS_vmsplice, rdfd, &one, 1, 0));
    T("vmsplice nr_segs 1025", S(SYS_vmsplice, p[1], &one, 1025, 0));
    TV("vmsplice nr_segs 0", S(SYS_vmsplice, p[1], &one, 0, 0));
    T("vmsplice bad fd, unknown flag (EINVAL first)", S(SYS_vmsplice, 9999, &one, 1, 0x100));
    /* fs/select.c */
    struct pollfd pf = {p[0], POLLIN, 0};
    struct timespec bad_ts = {0, 1000000000};
    struct timespec neg_ts = {-1, 0};
    T("ppoll tv_nsec 1e9", S(SYS_ppoll, &pf, 1, &bad_ts, NULL, 8));
    T("ppoll tv_sec -1", S(SYS_ppoll, &pf, 1, &neg_ts, NULL, 8));
    T("ppoll sigsetsize 4", S(SYS_ppoll, &pf, 1, NULL, BAD, 4));
    T("ppoll unmapped fds", S(SYS_ppoll, BAD, 1, &bad_ts, NULL, 8));
    T("pselect6 nfds -1", S(SYS_pselect6, -1, NULL, NULL, NULL, NULL, NULL));
    T("pselect6 tv_nsec 1e9", S(SYS_pselect6, 0, NULL, NULL, NULL, &bad_ts, NULL));
    T("pselect6 unmapped fd_set", S(SYS_pselect6, 1, BAD, NULL, NULL, NULL, NULL));
    close(p[0]);
    close(p[1]);
}

static void path_cases(int dirfd)
{
    char buf[256];
    char longpath[5000];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = 0;
    char longname[300] = "/tmp/";
    memset(longname + 5, 'b', 260);
    longname[265] = 0;
    /* fs/namei.c, fs/open.c */
    T("openat unmapped path", S(SYS_openat, AT_FDCWD, BAD, O_RDONLY));
    T("openat empty path", S(SYS_openat, AT_FDCWD, "", O_RDONLY));
    T("openat path of 4999 bytes", S(SYS_openat, AT_FDCWD, longpath, O_RDONLY));
    T("openat component of 260 bytes", S(SYS_openat, AT_FDCWD, longname, O_RDONLY));
    T("openat relative, dirfd 9999", S(SYS_openat, 9999, "f", O_RDONLY));
    T("openat absolute, dirfd 9999", ({
          long r = S(SYS_openat, 9999, DIR_ "/f", O_RDONLY);
          if (r >= 0)
              close(r);
          r;
      }));
    T("openat relative, dirfd a file", S(SYS_openat, open(DIR_ "/f", O_RDONLY), "g", O_RDONLY));
    T("openat O_DIRECTORY of a file", S(SYS_openat, AT_FDCWD, DIR_ "/f", O_RDONLY | O_DIRECTORY));
    T("openat O_CREAT|O_EXCL existing", S(SYS_openat, AT_FDCWD, DIR_ "/f", O_RDWR | O_CREAT | O_EXCL, 0644));
    T("openat O_WRONLY a directory", S(SYS_openat, AT_FDCWD, DIR_, O_WRONLY));
    T("openat O_CREAT a directory", S(SYS_openat, AT_FDCWD, DIR_, O_RDONLY | O_CREAT, 0644));
    T("openat trailing slash on a file", S(SYS_openat, AT_FDCWD, DIR_ "/f/", O_RDONLY));
    T("openat O_CREAT trailing slash", S(SYS_openat, AT_FDCWD, DIR_ "/new/", O_RDWR | O_CREAT, 0644));
    T("openat missing parent", S(SYS_openat, AT_FDCWD, DIR_ "/none/f", O_RDONLY));
    T("openat through a file", S(SYS_openat, AT_FDCWD, DIR_ "/f/g", O_RDONLY));
    T("openat O_TMPFILE without write", S(SYS_openat, AT_FDCWD, DIR_, O_TMPFILE | O_RDONLY, 0600));
    T("openat O_CREAT|O_DIRECTORY", S(SYS_openat, AT_FDCWD, DIR_ "/cd", O_RDWR | O_CREAT | O_DIRECTORY, 0644));
    T("openat O_RDONLY|O_TRUNC a directory", S(SYS_openat, AT_FDCWD, DIR_, O_RDONLY | O_TRUNC));
    T("openat O_PATH then read", ({
          long fd = S(SYS_openat, AT_FDCWD, DIR_ "/f", O_PATH);
          long r = fd < 0 ? fd : S(SYS_read, fd, buf, 1);
          r;
      }));
    T("openat O_PATH then fstat", ({
          struct stat st;
          long fd = S(SYS_openat, AT_FDCWD, DIR_ "/f", O_PATH);
          fd < 0 ? fd : fstat(fd, &st);
      }));
    /* fs/d_path.c getcwd */
    T("getcwd size 0", S(SYS_getcwd, buf, 0));
    T("getcwd size 1", S(SYS_getcwd, buf, 1));
    T("getcwd unmapped", S(SYS_getcwd, BAD, sizeof buf));
    T("chdir unmapped", S(SYS_chdir, BAD));
    T("chdir a file", S(SYS_chdir, DIR_ "/f"));
    T("chdir missing", S(SYS_chdir, DIR_ "/none"));
    T("chdir empty", S(SYS_chdir, ""));
    T("mkdirat existing", S(SYS_mkdirat, AT_FDCWD, DIR_ "/f", 0755));
    T("mkdirat missing parent", S(SYS_mkdirat, AT_FDCWD, DIR_ "/none/d", 0755));
    T("mkdirat unmapped", S(SYS_mkdirat, AT_FDCWD, BAD, 0755));
    T("mkdirat bad dirfd", S(SYS_mkdirat, 9999, "d", 0755));
    T("unlinkat unknown flag", S(SYS_unlinkat, AT_FDCWD, DIR_ "/f", 0x1));
    T("unlinkat a directory without AT_REMOVEDIR", S(SYS_unlinkat, AT_FDCWD, DIR_ "/d", 0));
    T("unlinkat AT_REMOVEDIR a file", S(SYS_unlinkat, AT_FDCWD, DIR_ "/f", AT_REMOVEDIR));
    T("unlinkat AT_REMOVEDIR non-empty", S(SYS_unlinkat, AT_FDCWD, DIR_, AT_REMOVEDIR));
    T("unlinkat AT_REMOVEDIR '.'", S(SYS_unlinkat, dirfd, ".", AT_REMOVEDIR));
    T("unlinkat AT_REMOVEDIR '..'", S(SYS_unlinkat, dirfd, "..", AT_REMOVEDIR));
    T("unlinkat missing", S(SYS_unlinkat, AT_FDCWD, DIR_ "/none", 0));
    T("unlinkat unknown flag on missing (EINVAL first)", S(SYS_unlinkat, AT_FDCWD, DIR_ "/none", 0x1));
    T("renameat2 unknown flag", S(SYS_renameat2, AT_FDCWD, DIR_ "/f", AT_FDCWD, DIR_ "/g", 0x10));
    T("renameat2 NOREPLACE|EXCHANGE", S(SYS_renameat2, AT_FDCWD, DIR_ "/f", AT_FDCWD, DIR_ "/g", RENAME_NOREPLACE | RENAME_EXCHANGE));
    T("renameat2 NOREPLACE onto existing", S(SYS_renameat2, AT_FDCWD, DIR_ "/f", AT_FDCWD, DIR_ "/f2", RENAME_NOREPLACE));
    T("renameat2 missing source", S(SYS_renameat2, AT_FDCWD, DIR_ "/none", AT_FDCWD, DIR_ "/g", 0));
    T("renameat2 directory into itself", S(SYS_renameat2, AT_FDCWD, DIR_ "/d", AT_FDCWD, DIR_ "/d/e", 0));
    T("renameat2 file over directory", S(SYS_renameat2, AT_FDCWD, DIR_ "/f", AT_FDCWD, DIR_ "/d", 0));
    T("renameat2 directory over file", S(SYS_renameat2, AT_FDCWD, DIR_ "/d", AT_FDCWD, DIR_ "/f", 0));
    T("linkat unknown flag", S(SYS_linkat, AT_FDCWD, DIR_ "/f", AT_FDCWD, DIR_ "/h", 0x1));
    T("linkat onto existing", S(SYS_linkat, AT_FDCWD, DIR_ "/f", AT_FDCWD, DIR_ "/f2", 0));
    T("linkat a directory", S(SYS_linkat, AT_FDCWD, DIR_ "/d", AT_FDCWD, DIR_ "/h", 0));
    T("linkat missing", S(SYS_linkat, AT_FDCWD, DIR_ "/none", AT_FDCWD, DIR_ "/h", 0));
    T("symlinkat onto existing", S(SYS_symlinkat, "x", AT_FDCWD, DIR_ "/f"));
    T("symlinkat empty target", S(SYS_symlinkat, "", AT_FDCWD, DIR_ "/s"));
    T("mknodat existing", S(SYS_mknodat, AT_FDCWD, DIR_ "/f", S_IFIFO | 0644, 0));
    T("mknodat S_IFDIR", S(SYS_mknodat, AT_FDCWD, DIR_ "/n", S_IFDIR | 0755, 0));
    T("mknodat unknown type", S(SYS_mknodat, AT_FDCWD, DIR_ "/n", 0170000 | 0644, 0));
    T("faccessat unknown mode bit", S(SYS_faccessat, AT_FDCWD, DIR_ "/f", 8));
    T("faccessat missing", S(SYS_faccessat, AT_FDCWD, DIR_ "/none", F_OK));
    T("faccessat2 unknown flag", S(SYS_faccessat2, AT_FDCWD, DIR_ "/f", F_OK, 0x1));
    T("faccessat2 unknown mode, unknown flag", S(SYS_faccessat2, AT_FDCWD, DIR_ "/f", 8, 0x1));
    T("faccessat2 AT_EMPTY_PATH on an fd", S(SYS_faccessat2, dirfd, "", F_OK, AT_EMPTY_PATH));
    T("readlinkat not a link", S(SYS_readlinkat, AT_FDCWD, DIR_ "/f", buf, sizeof buf));
    T("readlinkat bufsiz 0", S(SYS_readlinkat, AT_FDCWD, DIR_ "/f", buf, 0));
    T("readlinkat bufsiz -1", S(SYS_readlinkat, AT_FDCWD, DIR_ "/f", buf, -1));
    T("readlinkat missing", S(SYS_readlinkat, AT_FDCWD, DIR_ "/none", buf, sizeof buf));
    T("newfstatat unknown flag", S(SYS_newfstatat, AT_FDCWD, DIR_ "/f", buf, 0x1));
    T("newfstatat unmapped buffer", S(SYS_newfstatat, AT_FDCWD, DIR_ "/f", BAD, 0));
    T("newfstatat empty path", S(SYS_newfstatat, AT_FDCWD, "", buf, 0));
    T("newfstatat missing", S(SYS_newfstatat, AT_FDCWD, DIR_ "/none", buf, 0));
    T("fstat bad fd", S(SYS_fstat, 9999, buf));
    T("fstat unmapped buffer", S(SYS_fstat, dirfd, BAD));
    T("statx unknown flag", S(SYS_statx, AT_FDCWD, DIR_ "/f", 0x10000000, STATX_BASIC_STATS, buf));
    T("statx reserved mask bit", S(SYS_statx, AT_FDCWD, DIR_ "/f", 0, 0x80000000U, buf));
    T("statx FORCE_SYNC|DONT_SYNC", S(SYS_statx, AT_FDCWD, DIR_ "/f", AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC, STATX_BASIC_STATS, buf));
    T("statx unmapped buffer", S(SYS_statx, AT_FDCWD, DIR_ "/f", 0, STATX_BASIC_STATS, BAD));
    T("statx missing", S(SYS_statx, AT_FDCWD, DIR_ "/none", 0, STATX_BASIC_STATS, buf));
    struct timespec ts[2] = {{0, 1000000000}, {0, 0}};
    T("utimensat tv_nsec 1e9", S(SYS_utimensat, AT_FDCWD, DIR_ "/f", ts, 0));
    T("utimensat unknown flag", S(SYS_utimensat, AT_FDCWD, DIR_ "/f", NULL, 0x1));
    T("utimensat missing", S(SYS_utimensat, AT_FDCWD, DIR_ "/none", NULL, 0));
    struct timespec now2[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    T("utimensat UTIME_NOW/UTIME_OMIT", S(SYS_utimensat, AT_FDCWD, DIR_ "/f", now2, 0));
    T("fchmodat missing", S(SYS_fchmodat, AT_FDCWD, DIR_ "/none", 0644));
    T("fchownat unknown flag", S(SYS_fchownat, AT_FDCWD, DIR_ "/f", 0, 0, 0x1));
    T("fchownat missing", S(SYS_fchownat, AT_FDCWD, DIR_ "/none", 0, 0, 0));
    T("truncate negative", S(SYS_truncate, DIR_ "/f", -1L));
    T("truncate a directory", S(SYS_truncate, DIR_, 0));
    T("truncate missing", S(SYS_truncate, DIR_ "/none", 0));
    T("truncate unmapped", S(SYS_truncate, BAD, 0));
    T("execve missing", S(SYS_execve, DIR_ "/none", NULL, NULL));
    T("execve a directory", S(SYS_execve, DIR_, NULL, NULL));
    T("execve not executable", S(SYS_execve, DIR_ "/f", NULL, NULL));
    T("execve unmapped path", S(SYS_execve, BAD, NULL, NULL));
    /* fs/exec.c alloc_bprm() opens the file before count() reads argv */
    T("execve missing, unmapped argv (ENOENT first)", S(SYS_execve, DIR_ "/none", BAD, NULL));
    T("execve a directory, unmapped envp (EACCES first)", S(SYS_execve, DIR_, NULL, BAD));
    T("execve not executable, unmapped argv (EACCES first)", S(SYS_execve, DIR_ "/f", BAD, NULL));
}

static volatile sig_atomic_t got;
static void on_sig(int s) { (void)s; got++; }

struct ksigaction {
    void (*handler)(int);
    unsigned long flags;
    unsigned long mask;
};

static void signal_cases(void)
{
    struct ksigaction ka = {on_sig, 0, 0}, old;
    uint64_t set = 0, oset;
    /* kernel/signal.c */
    T("rt_sigaction signal 0", S(SYS_rt_sigaction, 0, &ka, NULL, 8));
    T("rt_sigaction signal 65", S(SYS_rt_sigaction, 65, &ka, NULL, 8));
    T("rt_sigaction signal -1", S(SYS_rt_sigaction, -1, &ka, NULL, 8));
    T("rt_sigaction signal 64, query", S(SYS_rt_sigaction, 64, NULL, &old, 8));
    T("rt_sigaction SIGKILL", S(SYS_rt_sigaction, SIGKILL, &ka, NULL, 8));
    T("rt_sigaction SIGSTOP", S(SYS_rt_sigaction, SIGSTOP, &ka, NULL, 8));
    T("rt_sigaction SIGKILL, query only", S(SYS_rt_sigaction, SIGKILL, NULL, &old, 8));
    T("rt_sigaction sigsetsize 4", S(SYS_rt_sigaction, SIGUSR1, &ka, NULL, 4));
    T("rt_sigaction sigsetsize 16", S(SYS_rt_sigaction, SIGUSR1, &ka, NULL, 16));
    T("rt_sigaction sigsetsize 4, signal 0 (EINVAL)", S(SYS_rt_sigaction, 0, &ka, NULL, 4));
    T("rt_sigaction unmapped act", S(SYS_rt_sigaction, SIGUSR1, BAD, NULL, 8));
    T("rt_sigaction unmapped oldact", S(SYS_rt_sigaction, SIGUSR1, NULL, BAD, 8));
    T("rt_sigaction signal 0, unmapped act (EINVAL first)", S(SYS_rt_sigaction, 0, BAD, NULL, 8));
    T("rt_sigprocmask how 3", S(SYS_rt_sigprocmask, 3, &set, NULL, 8));
    T("rt_sigprocmask how -1", S(SYS_rt_sigprocmask, -1, &set, NULL, 8));
    T("rt_sigprocmask how 3, no set", S(SYS_rt_sigprocmask, 3, NULL, &oset, 8));
    T("rt_sigprocmask sigsetsize 4", S(SYS_rt_sigprocmask, SIG_BLOCK, &set, NULL, 4));
    T("rt_sigprocmask sigsetsize 4, how 3 (EINVAL)", S(SYS_rt_sigprocmask, 3, &set, NULL, 4));
    T("rt_sigprocmask unmapped set", S(SYS_rt_sigprocmask, SIG_BLOCK, BAD, NULL, 8));
    T("rt_sigprocmask unmapped oldset", S(SYS_rt_sigprocmask, SIG_BLOCK, NULL, BAD, 8));
    T("rt_sigprocmask unmapped set, how 3 (EFAULT first)", S(SYS_rt_sigprocmask, 3, BAD, NULL, 8));
    set = ~0ULL;
    S(SYS_rt_sigprocmask, SIG_SETMASK, &set, NULL, 8);
    S(SYS_rt_sigprocmask, SIG_SETMASK, NULL, &oset, 8);
    printf("SIGKILL and SIGSTOP cannot be blocked: %s\n",
           (oset & ((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)))) == 0 ? "yes" : "no");
    set = 0;
    S(SYS_rt_sigprocmask, SIG_SETMASK, &set, NULL, 8);
    T("rt_sigpending sigsetsize 16", S(SYS_rt_sigpending, &set, 16));
    T("rt_sigpending sigsetsize 4", S(SYS_rt_sigpending, &set, 4));
    T("rt_sigpending unmapped", S(SYS_rt_sigpending, BAD, 8));
    T("rt_sigsuspend sigsetsize 4", S(SYS_rt_sigsuspend, &set, 4));
    T("rt_sigsuspend unmapped", S(SYS_rt_sigsuspend, BAD, 8));
    stack_t ss = {0};
    ss.ss_sp = malloc(1 << 16);
    ss.ss_size = 1024;
    T("sigaltstack below MINSIGSTKSZ", S(SYS_sigaltstack, &ss, NULL));
    ss.ss_size = 1 << 16;
    ss.ss_flags = 0x10;
    T("sigaltstack unknown flag", S(SYS_sigaltstack, &ss, NULL));
    ss.ss_flags = SS_ONSTACK;
    T("sigaltstack SS_ONSTACK", S(SYS_sigaltstack, &ss, NULL));
    ss.ss_flags = SS_DISABLE;
    ss.ss_size = 0;
    T("sigaltstack SS_DISABLE size 0", S(SYS_sigaltstack, &ss, NULL));
    T("sigaltstack unmapped", S(SYS_sigaltstack, BAD, NULL));
    T("sigaltstack unmapped old", S(SYS_sigaltstack, NULL, BAD));
    /* kill/tkill/tgkill: kernel/signal.c */
    pid_t me = getpid();
    T("kill signal 65", kill(me, 65));
    T("kill signal -1", kill(me, -1));
    T("kill no such pid, signal 65 (EINVAL first)", kill(0x3fffff, 65));
    T("kill no such pid", kill(0x3fffff, 0));
    T("tkill tid 0", S(SYS_tkill, 0, 0));
    T("tkill tid -1", S(SYS_tkill, -1, 0));
    T("tkill no such tid", S(SYS_tkill, 0x3fffff, 0));
    T("tkill signal 65", S(SYS_tkill, S(SYS_gettid), 65));
    T("tkill tid 0, signal 65 (EINVAL)", S(SYS_tkill, 0, 65));
    T("tgkill tgid 0", S(SYS_tgkill, 0, S(SYS_gettid), 0));
    T("tgkill tid -1", S(SYS_tgkill, me, -1, 0));
    T("tgkill wrong tgid", S(SYS_tgkill, 0x3fffff, S(SYS_gettid), 0));
    T("tgkill signal 65", S(SYS_tgkill, me, S(SYS_gettid), 65));
    T("tgkill signal 0 probes", S(SYS_tgkill, me, S(SYS_gettid), 0));
    /* Real-time signals 32..64 are signals: handled, queued, blocked. */
    signal(SIGRTMIN, on_sig);
    T("kill SIGRTMIN", kill(me, SIGRTMIN));
    printf("SIGRTMIN handler ran: %d\n", (int)got);
    T("signal(64) installs a handler", signal(64, on_sig) == SIG_ERR ? -1 : 0);
    T("kill signal 64", kill(me, 64));
    printf("signal 64 handler ran: %d\n", (int)got);
    set = 1ULL << 63;
    S(SYS_rt_sigprocmask, SIG_BLOCK, &set, NULL, 8);
    kill(me, 64);
    kill(me, 64);
    set = 0;
    S(SYS_rt_sigpending, &set, 8);
    printf("signal 64 pending while blocked: %s\n", set == (1ULL << 63) ? "yes" : "no");
    set = 1ULL << 63;
    S(SYS_rt_sigprocmask, SIG_UNBLOCK, &set, NULL, 8);
    printf("signal 64 handler ran after unblock (queued twice): %d\n", (int)got);
    signal(64, SIG_DFL);
    signal(SIGRTMIN, SIG_DFL);
}

static void time_cases(void)
{
    struct timespec ts;
    struct timespec bad_ns = {0, 1000000000}, neg_ns = {0, -1}, neg_s = {-1, 0};
    /* kernel/time/posix-timers.c, posix-cpu-timers.c */
    T("clock_gettime clock 100", S(SYS_clock_gettime, 100, &ts));
    T("clock_gettime clock 10", S(SYS_clock_gettime, 10, &ts));
    T("clock_gettime clock 16", S(SYS_clock_gettime, 16, &ts));
    T("clock_gettime CLOCK_MONOTONIC_RAW", S(SYS_clock_gettime, CLOCK_MONOTONIC_RAW, &ts));
    T("clock_gettime CLOCK_REALTIME_COARSE", S(SYS_clock_gettime, CLOCK_REALTIME_COARSE, &ts));
    T("clock_gettime CLOCK_MONOTONIC_COARSE", S(SYS_clock_gettime, CLOCK_MONOTONIC_COARSE, &ts));
    T("clock_gettime CLOCK_BOOTTIME", S(SYS_clock_gettime, CLOCK_BOOTTIME, &ts));
    T("clock_gettime CLOCK_TAI", S(SYS_clock_gettime, CLOCK_TAI, &ts));
    T("clock_gettime CLOCK_PROCESS_CPUTIME_ID", S(SYS_clock_gettime, CLOCK_PROCESS_CPUTIME_ID, &ts));
    T("clock_gettime CLOCK_THREAD_CPUTIME_ID", S(SYS_clock_gettime, CLOCK_THREAD_CPUTIME_ID, &ts));
    T("clock_gettime unmapped", S(SYS_clock_gettime, CLOCK_MONOTONIC, BAD));
    T("clock_gettime clock 100, unmapped (EINVAL first)", S(SYS_clock_gettime, 100, BAD));
    /* CPU-time clock ids: ~pid << 3 | type (MAKE_PROCESS_CPUCLOCK) */
    clockid_t self_cpu = (~0U << 3) | 2; /* pid 0 = the caller, CPUCLOCK_SCHED */
    T("clock_gettime pid-0 process CPU clock", S(SYS_clock_gettime, self_cpu, &ts));
    clockid_t bad_type = (~0U << 3) | 3; /* CPUCLOCK_MAX */
    T("clock_gettime CPU clock type 3", S(SYS_clock_gettime, bad_type, &ts));
    clockid_t gone = (clockid_t)((~0x3fffffU << 3) | 2);
    T("clock_gettime CPU clock of no such pid", S(SYS_clock_gettime, gone, &ts));
    T("clock_getres clock 100", S(SYS_clock_getres, 100, &ts));
    T("clock_getres NULL", S(SYS_clock_getres, CLOCK_MONOTONIC, NULL));
    T("clock_getres unmapped", S(SYS_clock_getres, CLOCK_MONOTONIC, BAD));
    TV("clock_getres CLOCK_MONOTONIC ns", (S(SYS_clock_getres, CLOCK_MONOTONIC, &ts), ts.tv_nsec));
    /* kernel/time/hrtimer.c nanosleep, posix-timers.c clock_nanosleep */
    T("nanosleep tv_nsec 1e9", S(SYS_nanosleep, &bad_ns, NULL));
    T("nanosleep tv_nsec -1", S(SYS_nanosleep, &neg_ns, NULL));
    T("nanosleep tv_sec -1", S(SYS_nanosleep, &neg_s, NULL));
    T("nanosleep unmapped", S(SYS_nanosleep, BAD, NULL));
    T("clock_nanosleep clock 100", S(SYS_clock_nanosleep, 100, 0, &bad_ns, NULL));
    T("clock_nanosleep CLOCK_THREAD_CPUTIME_ID", S(SYS_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, &ts, NULL));
    T("clock_nanosleep tv_nsec 1e9", S(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &bad_ns, NULL));
    T("clock_nanosleep tv_sec -1", S(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &neg_s, NULL));
    T("clock_nanosleep unmapped", S(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, BAD, NULL));
    T("clock_nanosleep TIMER_ABSTIME in the past", S(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &(struct timespec){0, 0}, NULL));
    T("clock_nanosleep unknown flag bits ignored", S(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0x100, &(struct timespec){0, 1}, NULL));
    T("clock_nanosleep CLOCK_PROCESS_CPUTIME_ID absolute 0", S(SYS_clock_nanosleep, CLOCK_PROCESS_CPUTIME_ID, TIMER_ABSTIME, &(struct timespec){0, 0}, NULL));
    T("gettimeofday NULL", S(SYS_gettimeofday, NULL, NULL));
    T("gettimeofday unmapped", S(SYS_gettimeofday, BAD, NULL));
    T("gettimeofday unmapped timezone", S(SYS_gettimeofday, NULL, BAD));
    /* drivers/char/random.c getrandom */
    char b[16];
    T("getrandom unknown flag", S(SYS_getrandom, b, 16, 0x10));
    T("getrandom GRND_RANDOM|GRND_INSECURE", S(SYS_getrandom, b, 16, 0x2 | 0x4));
    TV("getrandom count 0", S(SYS_getrandom, b, 0, 0));
    T("getrandom unmapped", S(SYS_getrandom, BAD, 16, 0));
    TV("getrandom GRND_NONBLOCK", S(SYS_getrandom, b, 16, 1));
    T("getrandom unknown flag, unmapped (EINVAL first)", S(SYS_getrandom, BAD, 16, 0x10));
}

/* A raw clone(flags, 0, ptid): a child that is made exits at once and is reaped. */
static long clone_raw(unsigned long flags, void *ptid)
{
    long r = S(SYS_clone, flags, 0, ptid, 0, 0);
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid((pid_t)r, NULL, __WALL);
    return r > 0 ? 0 : r;
}

static void proc_cases(void)
{
    int st;
    char b[512];
    struct rlimit rl;
    /* kernel/exit.c */
    T("wait4 unknown option", S(SYS_wait4, -1, &st, 0x10000, NULL));
    T("wait4 no children", S(SYS_wait4, -1, &st, 0, NULL));
    T("wait4 INT_MIN", S(SYS_wait4, INT_MIN, &st, 0, NULL));
    T("wait4 no such pid", S(SYS_wait4, 0x3fffff, &st, 0, NULL));
    T("wait4 unknown option, no children (EINVAL first)", S(SYS_wait4, -1, &st, 0x10000 | WNOHANG, NULL));
    siginfo_t si;
    T("waitid idtype 9", S(SYS_waitid, 9, 0, &si, WEXITED, NULL));
    T("waitid no state option", S(SYS_waitid, P_ALL, 0, &si, 0, NULL));
    T("waitid unknown option", S(SYS_waitid, P_ALL, 0, &si, WEXITED | 0x10000, NULL));
    T("waitid P_PID 0", S(SYS_waitid, P_PID, 0, &si, WEXITED, NULL));
    T("waitid P_PID -1", S(SYS_waitid, P_PID, -1, &si, WEXITED, NULL));
    T("waitid P_PGID -1", S(SYS_waitid, P_PGID, -1, &si, WEXITED, NULL));
    T("waitid P_ALL no children", S(SYS_waitid, P_ALL, 0, &si, WEXITED, NULL));
    T("waitid P_PIDFD bad fd", S(SYS_waitid, 3 /* P_PIDFD */, 9999, &si, WEXITED, NULL));
    pid_t c = fork();
    if (c == 0) {
        pause();
        _exit(0);
    }
    T("waitid WNOHANG, child running", S(SYS_waitid, P_PID, c, &si, WEXITED | WNOHANG, NULL));
    TV("wait4 WNOHANG, child running", S(SYS_wait4, c, &st, WNOHANG, NULL));
    T("wait4 WNOHANG, a process group with no child", S(SYS_wait4, -0x3ffff0, &st, WNOHANG, NULL));
    T("waitid P_PGID with no child, WNOHANG", S(SYS_waitid, P_PGID, 0x3ffff0, &si, WEXITED | WNOHANG, NULL));
    T("waitid P_PID of a non-child", S(SYS_waitid, P_PID, 1, &si, WEXITED | WNOHANG, NULL));
    /* kernel/sched/syscalls.c sched_getaffinity: any task, not just the caller's */
    unsigned long mask[16];
    T("sched_getaffinity of a child", S(SYS_sched_getaffinity, c, sizeof mask, mask));
    T("sched_getaffinity len 4", S(SYS_sched_getaffinity, 0, 4, mask));
    T("sched_getaffinity len 12", S(SYS_sched_getaffinity, 0, 12, mask));
    T("sched_getaffinity no such pid", S(SYS_sched_getaffinity, 0x3fffff, sizeof mask, mask));
    T("sched_getaffinity pid -1", S(SYS_sched_getaffinity, -1, sizeof mask, mask));
    T("sched_getaffinity unmapped", S(SYS_sched_getaffinity, 0, sizeof mask, BAD));
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    /* kernel/fork.c copy_process(): flag combinations refused before anything is made */
    T("clone CLONE_THREAD without CLONE_SIGHAND", clone_raw(CLONE_THREAD | SIGCHLD, NULL));
    T("clone CLONE_SIGHAND without CLONE_VM", clone_raw(CLONE_SIGHAND | SIGCHLD, NULL));
    T("clone CLONE_NEWNS|CLONE_FS", clone_raw(CLONE_NEWNS | CLONE_FS | SIGCHLD, NULL));
    T("clone CLONE_NEWUSER|CLONE_FS", clone_raw(CLONE_NEWUSER | CLONE_FS | SIGCHLD, NULL));
    /* kernel_clone(): a parent_tid that cannot be written does not stop the fork */
    T("clone CLONE_PARENT_SETTID to unmapped memory", clone_raw(CLONE_PARENT_SETTID | SIGCHLD, BAD));
    /* kernel/sys.c */
    T("getpgid no such pid", S(SYS_getpgid, 0x3fffff));
    T("getpgid -1", S(SYS_getpgid, -1));
    T("getrlimit resource 16", S(SYS_getrlimit, 16, &rl));
    T("getrlimit resource -1", S(SYS_getrlimit, -1, &rl));
    T("getrlimit unmapped", S(SYS_getrlimit, RLIMIT_NOFILE, BAD));
    T("setrlimit resource 16", S(SYS_setrlimit, 16, &rl));
    T("setrlimit unmapped", S(SYS_setrlimit, RLIMIT_NOFILE, BAD));
    struct rlimit inv = {2, 1}; /* cur > max: EINVAL before any permission check */
    T("setrlimit soft > hard", S(SYS_setrlimit, RLIMIT_CORE, &inv));
    struct rlimit huge_nofile = {1 << 30, 1 << 30};
    T("setrlimit RLIMIT_NOFILE past nr_open", S(SYS_setrlimit, RLIMIT_NOFILE, &huge_nofile));
    T("prlimit64 resource 16", S(SYS_prlimit64, 0, 16, NULL, &rl));
    T("prlimit64 no such pid", S(SYS_prlimit64, 0x3fffff, RLIMIT_NOFILE, NULL, &rl));
    T("prlimit64 soft > hard", S(SYS_prlimit64, 0, RLIMIT_CORE, &inv, NULL));
    T("prlimit64 unmapped new", S(SYS_prlimit64, 0, RLIMIT_CORE, BAD, NULL));
    T("prlimit64 unmapped old", S(SYS_prlimit64, 0, RLIMIT_CORE, NULL, BAD));
    T("prlimit64 resource 16, no such pid (EINVAL first)", S(SYS_prlimit64, 0x3fffff, 16, NULL, &rl));
    T("getrusage who 5", S(SYS_getrusage, 5, b));
    T("getrusage who -2", S(SYS_getrusage, -2, b));
    T("getrusage RUSAGE_CHILDREN", S(SYS_getrusage, RUSAGE_CHILDREN, b));
    T("getrusage RUSAGE_THREAD", S(SYS_getrusage, 1 /* RUSAGE_THREAD */, b));
    T("getrusage unmapped", S(SYS_getrusage, RUSAGE_SELF, BAD));
    T("getrusage who 5, unmapped (EINVAL first)", S(SYS_getrusage, 5, BAD));
    T("uname unmapped", S(SYS_uname, BAD));
    T("sysinfo unmapped", S(SYS_sysinfo, BAD));
    T("set_robust_list len 0", S(SYS_set_robust_list, b, 0));
    T("set_robust_list len 25", S(SYS_set_robust_list, b, 25));
    T("get_robust_list no such pid", S(SYS_get_robust_list, 0x3fffff, b, b + 8));
    T("get_robust_list unmapped", S(SYS_get_robust_list, 0, BAD, b + 8));
    TV("umask returns the old mask", (umask(0777), S(SYS_umask, 022)));
    TV("umask keeps only 0777", (S(SYS_umask, 0xffff), S(SYS_umask, 022)));
    /* kernel/futex/syscalls.c */
    int fw = 5;
    T("futex unknown op", S(SYS_futex, &fw, 99, 0, NULL, NULL, 0));
    T("futex FUTEX_WAIT value differs", S(SYS_futex, &fw, FUTEX_WAIT, 6, NULL, NULL, 0));
    T("futex FUTEX_WAIT unaligned", S(SYS_futex, (char *)&fw + 1, FUTEX_WAIT, 5, NULL, NULL, 0));
    T("futex FUTEX_WAIT unmapped", S(SYS_futex, BAD, FUTEX_WAIT, 5, NULL, NULL, 0));
    T("futex FUTEX_WAIT tv_nsec 1e9", S(SYS_futex, &fw, FUTEX_WAIT, 5, &(struct timespec){0, 1000000000}, NULL, 0));
    T("futex FUTEX_WAIT tv_sec -1", S(SYS_futex, &fw, FUTEX_WAIT, 5, &(struct timespec){-1, 0}, NULL, 0));
    T("futex FUTEX_WAIT timeout unmapped", S(SYS_futex, &fw, FUTEX_WAIT, 5, BAD, NULL, 0));
    T("futex FUTEX_WAIT timeout 0", S(SYS_futex, &fw, FUTEX_WAIT, 5, &(struct timespec){0, 0}, NULL, 0));
    TV("futex FUTEX_WAKE nobody", S(SYS_futex, &fw, FUTEX_WAKE, 1, NULL, NULL, 0));
    T("futex FUTEX_WAKE unaligned", S(SYS_futex, (char *)&fw + 2, FUTEX_WAKE, 1, NULL, NULL, 0));
    T("futex FUTEX_WAKE|FUTEX_CLOCK_REALTIME", S(SYS_futex, &fw, FUTEX_WAKE | FUTEX_CLOCK_REALTIME, 1, NULL, NULL, 0));
    T("futex FUTEX_WAIT_BITSET bitset 0", S(SYS_futex, &fw, FUTEX_WAIT_BITSET, 5, NULL, NULL, 0));
    T("futex FUTEX_WAKE_BITSET bitset 0", S(SYS_futex, &fw, FUTEX_WAKE_BITSET, 1, NULL, NULL, 0));
    T("futex FUTEX_REQUEUE same futex, unaligned second", S(SYS_futex, &fw, FUTEX_REQUEUE, 1, 1, (char *)&fw + 1, 0));
    T("futex FUTEX_CMP_REQUEUE value differs", S(SYS_futex, &fw, FUTEX_CMP_REQUEUE, 1, 1, &fw + 1, 6));
    T("futex FUTEX_CMP_REQUEUE nr_wake -1", S(SYS_futex, &fw, FUTEX_CMP_REQUEUE, -1, 1, &fw + 1, 5));
    T("futex unaligned, unknown op (ENOSYS first)", S(SYS_futex, (char *)&fw + 1, 99, 0, NULL, NULL, 0));
    /* kernel/sched/membarrier.c */
    T("membarrier unknown cmd", S(SYS_membarrier, 1 << 20, 0, 0));
    T("membarrier unknown flag", S(SYS_membarrier, 0, 1, 0));
    T("membarrier QUERY", S(SYS_membarrier, 0, 0, 0));
    T("membarrier QUERY, unknown flag (EINVAL)", S(SYS_membarrier, 0, 2, 0));
    /* mm/process_vm_access.c */
    struct iovec li = {b, 8}, ri = {b + 8, 8};
    T("process_vm_readv unknown flag", S(SYS_process_vm_readv, getpid(), &li, 1, &ri, 1, 1));
    T("process_vm_readv liovcnt 1025", S(SYS_process_vm_readv, getpid(), &li, 1025, &ri, 1, 0));
    T("process_vm_readv no such pid", S(SYS_process_vm_readv, 0x3fffff, &li, 1, &ri, 1, 0));
    TV("process_vm_readv own memory", S(SYS_process_vm_readv, getpid(), &li, 1, &ri, 1, 0));
    struct iovec badri = {BAD, 8};
    T("process_vm_readv remote unmapped", S(SYS_process_vm_readv, getpid(), &li, 1, &badri, 1, 0));
    T("process_vm_readv local iov unmapped", S(SYS_process_vm_readv, getpid(), BAD, 1, &ri, 1, 0));
    T("process_vm_readv no such pid, unknown flag (EINVAL first)", S(SYS_process_vm_readv, 0x3fffff, &li, 1, &ri, 1, 1));
    TV("process_vm_writev liovcnt 0", S(SYS_process_vm_writev, getpid(), &li, 0, &ri, 1, 0));
    /* arch/riscv sys_riscv_flush_icache and unknown numbers */
    T("syscall 1000", S(1000));
    T("syscall 100000", S(100000));
    T("syscall -1", S(-1L));
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    umask(022);
    mkdir(DIR_, 0755);
    int wfd = open(DIR_ "/f", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    write(wfd, "0123456789", 10);
    int wrfd = open(DIR_ "/f2", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rdfd = open(DIR_ "/f", O_RDONLY);
    int dirfd = open(DIR_, O_RDONLY | O_DIRECTORY);
    mkdir(DIR_ "/d", 0755);
    if (wfd < 0 || wrfd < 0 || rdfd < 0 || dirfd < 0) {
        printf("setup failed: %s\n", ename(errno));
        return 1;
    }
    mm_cases(rdfd, wrfd, dirfd);
    fd_cases(rdfd, wrfd, dirfd);
    path_cases(dirfd);
    signal_cases();
    time_cases();
    proc_cases();
    unlink(DIR_ "/f");
    unlink(DIR_ "/f2");
    unlink(DIR_ "/g");
    unlink(DIR_ "/h");
    unlink(DIR_ "/s");
    unlink(DIR_ "/n");
    rmdir(DIR_ "/d/e");
    rmdir(DIR_ "/d");
    rmdir(DIR_ "/cd");
    rmdir(DIR_ "/n");
    printf("cleanup: %s\n", rmdir(DIR_) == 0 ? "OK" : ename(errno));
    printf("done\n");
    return 0;
}
