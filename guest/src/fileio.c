/* fileio: file-system and file-descriptor system calls.
 *
 * Works only inside a fresh directory: argv[1] if given, else /tmp/dirtybit-fileio (under
 * qemu-user this is the real host file system), and removes everything it created.
 * Covers open/creat/write/read/lseek/pread/pwrite/readv/writev, O_APPEND, O_TRUNC,
 * ftruncate, fstat/stat/lstat/fstatat (size, file type, permission bits after umask, nlink),
 * link/rename, mkdir, getdents64 (names sorted before printing), unlink/rmdir,
 * dup/dup2/dup3, pipe2 (data, O_NONBLOCK EAGAIN, EOF after close, ESPIPE),
 * fcntl F_GETFL/F_SETFL/F_GETFD/F_SETFD/F_DUPFD/F_DUPFD_CLOEXEC, access/faccessat,
 * chdir/getcwd relative paths, and the errors ENOENT EEXIST EBADF EISDIR ENOTDIR ENOTEMPTY
 * EINVAL ESPIPE EAGAIN printed by name. Times, inode numbers, owners and directory sizes
 * are never printed (they depend on the file system). Exit 0 when all "ok" checks pass. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "errname.h"

static int failures;

static void check(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAIL");
    if (!ok)
        failures++;
}

/* prints "OK" (or the value) on success, the errno name on failure */
static void res(const char *what, long r)
{
    if (r < 0)
        printf("%s: %s\n", what, errname(errno));
    else
        printf("%s: OK %ld\n", what, r);
}

static const char *ftype(mode_t m)
{
    switch (m & S_IFMT) {
    case S_IFREG: return "regular";
    case S_IFDIR: return "directory";
    case S_IFIFO: return "fifo";
    case S_IFLNK: return "symlink";
    case S_IFCHR: return "chardev";
    default: return "other";
    }
}

static void show_stat(const char *what, const struct stat *st, int is_dir)
{
    if (is_dir) /* directory size and link count depend on the file system */
        printf("%s: type %s perm %03o\n", what, ftype(st->st_mode), st->st_mode & 0777);
    else
        printf("%s: type %s perm %03o size %lld nlink %lu\n", what, ftype(st->st_mode),
               st->st_mode & 0777, (long long)st->st_size, (unsigned long)st->st_nlink);
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* list a directory with the raw getdents64 system call; names sorted */
static void list_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        printf("list %s: %s\n", path, errname(errno));
        return;
    }
    static char buf[512]; /* small: forces several getdents64 calls */
    char *names[64];
    unsigned char types[64];
    int n = 0, calls = 0;
    for (;;) {
        long r = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (r < 0) {
            printf("getdents64: %s\n", errname(errno));
            break;
        }
        calls++;
        if (r == 0)
            break;
        for (long off = 0; off < r;) {
            struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *d =
                (void *)(buf + off);
            if (n < 64) {
                names[n] = strdup(d->name);
                types[n] = d->type;
                n++;
            }
            off += d->reclen;
        }
    }
    close(fd);
    /* sort names, carrying the types along */
    char *sorted[64];
    memcpy(sorted, names, sizeof(char *) * n);
    qsort(sorted, n, sizeof(char *), cmpstr);
    printf("listing (%d entries, %s):", n, calls > 2 ? "several calls" : "one call");
    for (int i = 0; i < n; i++) {
        int t = 0;
        for (int j = 0; j < n; j++)
            if (names[j] == sorted[i])
                t = types[j];
        printf(" %s%s", sorted[i], t == DT_DIR ? "/" : t == DT_REG ? "" : t == DT_UNKNOWN ? "?" : "*");
    }
    printf("\n");
    for (int i = 0; i < n; i++)
        free(names[i]);
}

static void test_basic_io(void)
{
    printf("== read/write/lseek\n");
    int fd = open("a.txt", O_CREAT | O_EXCL | O_RDWR, 0640);
    res("open a.txt O_CREAT|O_EXCL", fd >= 0 ? 0 : -1);
    const char *msg = "Hello, file!\n";
    res("write", write(fd, msg, strlen(msg)));
    res("lseek SEEK_CUR 0", lseek(fd, 0, SEEK_CUR));
    res("lseek SEEK_SET 7", lseek(fd, 7, SEEK_SET));
    char buf[64] = { 0 };
    long n = read(fd, buf, sizeof buf - 1);
    printf("read after seek: %ld \"%.*s\"\n", n, (int)(n > 0 ? n - 1 : 0), buf);
    res("read at EOF", read(fd, buf, sizeof buf));
    res("lseek SEEK_END +100", lseek(fd, 100, SEEK_END));
    res("write past EOF makes a hole", write(fd, "X", 1));
    memset(buf, 0x55, sizeof buf);
    res("pread 4 bytes at 20 (hole)", pread(fd, buf, 4, 20));
    printf("hole bytes: %02x %02x %02x %02x\n", buf[0], buf[1], buf[2], buf[3]);
    res("pwrite at 0", pwrite(fd, "J", 1, 0));
    res("lseek SEEK_CUR after pwrite (unchanged)", lseek(fd, 0, SEEK_CUR));
    res("lseek negative", lseek(fd, -1, SEEK_SET));
    res("lseek bad whence", lseek(fd, 0, 42));
    struct stat st;
    fstat(fd, &st);
    show_stat("fstat a.txt", &st, 0);
    res("ftruncate 5", ftruncate(fd, 5));
    fstat(fd, &st);
    show_stat("after ftruncate", &st, 0);
    res("pread beyond EOF", pread(fd, buf, 10, 50));
    n = pread(fd, buf, 10, 0);
    printf("pread all: %ld \"%.*s\"\n", n, (int)n, buf);
    close(fd);

    printf("== readv/writev\n");
    fd = open("v.bin", O_CREAT | O_TRUNC | O_WRONLY, 0600);
    struct iovec iov[3] = { { "abc", 3 }, { "", 0 }, { "defgh", 5 } };
    res("writev 3 iovecs", writev(fd, iov, 3));
    close(fd);
    fd = open("v.bin", O_RDONLY);
    char p1[2], p2[4], p3[8] = { 0 };
    struct iovec rv[3] = { { p1, 2 }, { p2, 4 }, { p3, 8 } };
    res("readv", readv(fd, rv, 3));
    printf("readv parts: %.2s|%.4s|%s\n", p1, p2, p3);
    res("write to O_RDONLY fd", write(fd, "x", 1));
    close(fd);

    printf("== O_APPEND / O_TRUNC / creat\n");
    fd = open("v.bin", O_WRONLY | O_APPEND);
    lseek(fd, 0, SEEK_SET);
    res("append write", write(fd, "XYZ", 3));
    res("position after append", lseek(fd, 0, SEEK_CUR));
    close(fd);
    fd = creat("v.bin", 0644);
    fstat(fd, &st);
    show_stat("creat on existing truncates", &st, 0);
    write(fd, "0123456789", 10);
    close(fd);
    fd = open("v.bin", O_RDWR | O_TRUNC);
    fstat(fd, &st);
    show_stat("O_TRUNC", &st, 0);
    close(fd);
}

static void test_dirs(void)
{
    printf("== directories\n");
    res("mkdir sub", mkdir("sub", 0755));
    res("mkdir sub again", mkdir("sub", 0755));
    res("mkdir missing/parent", mkdir("missing/x", 0755));
    struct stat st;
    stat("sub", &st);
    show_stat("stat sub", &st, 1);
    for (int i = 0; i < 12; i++) {
        char name[64];
        snprintf(name, sizeof name, "sub/file-%02d-%s", (i * 7) % 12, i % 3 ? "long-name-to-fill-buffers" : "x");
        int fd = open(name, O_CREAT | O_WRONLY, 0644);
        for (int k = 0; k < i; k++)
            write(fd, "0123456789", 10);
        close(fd);
    }
    mkdir("sub/inner", 0700);
    list_dir("sub");
    stat("sub/file-07-long-name-to-fill-buffers", &st);
    show_stat("stat file-07", &st, 0);
    res("link file-00-x -> hard", link("sub/file-00-x", "sub/hard"));
    stat("sub/hard", &st);
    show_stat("stat hard link", &st, 0);
    res("rename hard -> renamed", rename("sub/hard", "sub/renamed"));
    res("stat old name", stat("sub/hard", &st));
    res("rename onto existing file", rename("sub/renamed", "sub/file-01-long-name-to-fill-buffers"));
    lstat("sub/file-01-long-name-to-fill-buffers", &st);
    show_stat("lstat replaced", &st, 0);
    res("fstatat(AT_FDCWD, sub/inner)", fstatat(AT_FDCWD, "sub/inner", &st, 0));
    show_stat("inner", &st, 1);
    list_dir("sub");
    res("rmdir non-empty sub", rmdir("sub"));
    res("unlink a directory", unlink("sub/inner"));
    res("rmdir a file", rmdir("sub/file-00-x"));
    res("open file/child", open("sub/file-00-x/child", O_RDONLY));
    res("open dir O_WRONLY", open("sub", O_WRONLY));
    res("open file O_DIRECTORY", open("sub/file-00-x", O_RDONLY | O_DIRECTORY));
    res("open missing", open("sub/nope", O_RDONLY));
    res("open O_CREAT|O_EXCL existing", open("sub/file-00-x", O_CREAT | O_EXCL | O_WRONLY, 0644));
    int dfd = open("sub", O_RDONLY | O_DIRECTORY);
    char buf[8];
    res("read on a directory fd", read(dfd, buf, sizeof buf));
    int fd = openat(dfd, "inner/deep", O_CREAT | O_WRONLY, 0600);
    res("openat(dirfd, inner/deep)", fd >= 0 ? 0 : -1);
    close(fd);
    res("unlinkat(dirfd, inner/deep)", unlinkat(dfd, "inner/deep", 0));
    res("unlinkat AT_REMOVEDIR inner", unlinkat(dfd, "inner", AT_REMOVEDIR));
    close(dfd);

    printf("== chdir/getcwd\n");
    char cwd[4096], cwd2[4096];
    getcwd(cwd, sizeof cwd);
    res("chdir sub", chdir("sub"));
    getcwd(cwd2, sizeof cwd2);
    check("getcwd ends with /sub", strlen(cwd2) == strlen(cwd) + 4 && strcmp(cwd2 + strlen(cwd), "/sub") == 0);
    res("access ./file-00-x F_OK", access("file-00-x", F_OK));
    res("access ../a.txt R_OK", access("../a.txt", R_OK));
    res("access missing", access("missing", F_OK));
    res("faccessat(AT_FDCWD, file-03-x)", faccessat(AT_FDCWD, "file-03-x", R_OK | W_OK, 0));
    res("chdir ..", chdir(".."));
    res("chdir to a file", chdir("a.txt"));

    /* clean up the directory with the names we know */
    DIR *d = opendir("sub");
    struct dirent *e;
    int removed = 0;
    while ((e = readdir(d))) {
        char path[300];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "sub/%s", e->d_name);
        if (unlink(path) == 0)
            removed++;
    }
    closedir(d);
    printf("removed %d files from sub\n", removed);
    res("rmdir sub", rmdir("sub"));
}

static void test_fds(void)
{
    printf("== dup/fcntl\n");
    int fd = open("a.txt", O_RDONLY);
    int d1 = dup(fd);
    check("dup returns the lowest free fd above", d1 == fd + 1);
    lseek(fd, 2, SEEK_SET);
    res("dup shares the offset", lseek(d1, 0, SEEK_CUR));
    res("dup2 to 50", dup2(fd, 50));
    res("dup2 same fd", dup2(50, 50));
    res("dup3 same fd", dup3(50, 50, 0));
    res("dup3 to 51 O_CLOEXEC", dup3(fd, 51, O_CLOEXEC));
    res("F_GETFD 50", fcntl(50, F_GETFD));
    res("F_GETFD 51", fcntl(51, F_GETFD));
    res("F_SETFD 50 FD_CLOEXEC", fcntl(50, F_SETFD, FD_CLOEXEC));
    res("F_GETFD 50", fcntl(50, F_GETFD));
    res("F_DUPFD from 40", fcntl(fd, F_DUPFD, 40));
    res("F_DUPFD_CLOEXEC from 40", fcntl(fd, F_DUPFD_CLOEXEC, 40));
    res("F_GETFD 41", fcntl(41, F_GETFD));
    long fl = fcntl(fd, F_GETFL);
    printf("F_GETFL: accmode %ld append %d nonblock %d\n", fl & O_ACCMODE, !!(fl & O_APPEND), !!(fl & O_NONBLOCK));
    res("F_SETFL O_APPEND|O_NONBLOCK", fcntl(fd, F_SETFL, O_APPEND | O_NONBLOCK));
    fl = fcntl(d1, F_GETFL); /* file status flags are shared with the dup */
    printf("F_GETFL via dup: accmode %ld append %d nonblock %d\n", fl & O_ACCMODE, !!(fl & O_APPEND), !!(fl & O_NONBLOCK));
    res("close 50", close(50));
    res("close 50 again", close(50));
    res("read closed fd", read(50, &fl, 1));
    res("fstat bad fd", fstat(-1, &(struct stat){ 0 }));
    res("dup2 from bad fd", dup2(77, 78));
    res("fcntl F_GETFD bad fd", fcntl(77, F_GETFD));
    close(51);
    close(40);
    close(41);
    close(d1);
    close(fd);
}

static void test_pipes(void)
{
    printf("== pipe2\n");
    int p[2];
    res("pipe2(O_CLOEXEC|O_NONBLOCK)", pipe2(p, O_CLOEXEC | O_NONBLOCK));
    res("F_GETFD read end", fcntl(p[0], F_GETFD));
    long fl = fcntl(p[1], F_GETFL);
    printf("write end: accmode %ld nonblock %d\n", fl & O_ACCMODE, !!(fl & O_NONBLOCK));
    char buf[100];
    res("read empty non-blocking pipe", read(p[0], buf, sizeof buf));
    res("write 11 bytes", write(p[1], "pipe-data-1", 11));
    res("write 5 bytes", write(p[1], "more!", 5));
    long n = read(p[0], buf, 6);
    printf("read 6: %ld \"%.*s\"\n", n, (int)n, buf);
    n = read(p[0], buf, sizeof buf);
    printf("read rest: %ld \"%.*s\"\n", n, (int)n, buf);
    res("lseek on a pipe", lseek(p[0], 0, SEEK_SET));
    struct stat st;
    fstat(p[0], &st);
    printf("fstat pipe: type %s\n", ftype(st.st_mode));
    /* fill to capacity without blocking: count how much fits, in 4 KiB chunks */
    static char chunk[4096];
    long total = 0;
    for (;;) {
        long w = write(p[1], chunk, sizeof chunk);
        if (w < 0) {
            printf("pipe full: %s\n", errname(errno));
            break;
        }
        total += w;
        if (total > (1 << 22))
            break;
    }
    check("pipe accepted at least 4 KiB before EAGAIN", total >= 4096);
    while (read(p[0], chunk, sizeof chunk) > 0)
        ;
    res("write to read end", write(p[0], "x", 1));
    close(p[1]);
    res("read after writer closed (EOF)", read(p[0], buf, sizeof buf));
    close(p[0]);
    int q[2];
    res("pipe (blocking)", pipe(q));
    write(q[1], "abc", 3);
    close(q[1]);
    n = read(q[0], buf, 10);
    printf("blocking read of 3 then EOF: %ld", n);
    printf(" %ld\n", (long)read(q[0], buf, 10));
    close(q[0]);
    res("pipe2 bad flags", pipe2(q, 0x12345678));
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp/dirtybit-fileio";
    umask(022);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (mkdir(dir, 0755) != 0) {
        printf("cannot create the work directory: %s\n", errname(errno));
        return 2;
    }
    if (chdir(dir) != 0) {
        printf("cannot enter the work directory: %s\n", errname(errno));
        return 2;
    }
    struct stat st;
    stat(".", &st);
    show_stat("work directory", &st, 1);
    test_basic_io();
    test_dirs();
    test_fds();
    test_pipes();
    list_dir(".");
    res("unlink a.txt", unlink("a.txt"));
    res("unlink v.bin", unlink("v.bin"));
    res("unlink a.txt again", unlink("a.txt"));
    list_dir(".");
    res("chdir /", chdir("/"));
    res("rmdir work directory", rmdir(dir));
    res("stat work directory", stat(dir, &st));
    printf("fileio: %d failures\n", failures);
    return failures ? 1 : 0;
}
