/* eventfd: eventfd2 as Linux's fs/eventfd.c — the counter read and reset (1 at a time
 * with EFD_SEMAPHORE), writes adding up, EAGAIN when empty or when a write would reach
 * 0xffffffffffffffff, EINVAL for that value, for a buffer under 8 bytes and for unknown
 * flags, EFAULT for a write, lseek (noop_llseek) and pread (ESPIPE), EFD_CLOEXEC/EFD_NONBLOCK as descriptor and status flags; ppoll's
 * POLLIN/POLLOUT; a thread blocked in read() woken by another thread's write(), a thread
 * blocked in write() (the counter full) woken by a read(), a ppoll() woken by a write,
 * a semaphore counter shared by reader threads (each read takes 1), and a child process
 * blocked on an eventfd inherited across fork(). Prints timing-independent facts only. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static void msleep(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void rd(const char *what, int fd, size_t len) {
    uint64_t v[2] = {0, 0};
    errno = 0;
    ssize_t n = read(fd, v, len);
    if (n < 0)
        printf("%s: -1 %s\n", what, errname(errno));
    else
        printf("%s: %zd bytes, value %llu\n", what, n, (unsigned long long)v[0]);
}

static void wr(const char *what, int fd, uint64_t v, size_t len) {
    uint64_t b[2] = {v, 0};
    errno = 0;
    ssize_t n = write(fd, b, len);
    if (n < 0)
        printf("%s: -1 %s\n", what, errname(errno));
    else
        printf("%s: %zd bytes\n", what, n);
}

static const char *events(int fd) {
    static char buf[64];
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    struct timespec zero = {0, 0};
    int n = ppoll(&p, 1, &zero, NULL);
    snprintf(buf, sizeof buf, "%d%s%s%s", n, p.revents & POLLIN ? " POLLIN" : "",
             p.revents & POLLOUT ? " POLLOUT" : "", p.revents & POLLERR ? " POLLERR" : "");
    return buf;
}

static int efd;

static void *writer_later(void *arg) {
    msleep(30);
    uint64_t v = (uintptr_t)arg;
    if (write(efd, &v, 8) != 8)
        perror("write");
    return NULL;
}

static void *reader_later(void *arg) {
    (void)arg;
    msleep(30);
    uint64_t v;
    if (read(efd, &v, 8) != 8)
        perror("read");
    return NULL;
}

static int sem_fd;
static int sem_got[4];

static void *sem_reader(void *arg) {
    int i = (int)(uintptr_t)arg;
    uint64_t v = 0;
    if (read(sem_fd, &v, 8) == 8)
        sem_got[i] = (int)v;
    return NULL;
}

/* NULL, out of the compiler's sight (no -Wnonnull). */
static const void *volatile unmapped;

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);

    /* Flags and errors. */
    errno = 0;
    printf("eventfd2 flags 8: %d %s\n", (int)syscall(SYS_eventfd2, 0, 8), errname(errno));
    errno = 0;
    printf("eventfd2 O_RDWR flag: %d %s\n", (int)syscall(SYS_eventfd2, 0, O_RDWR),
           errname(errno));
    int fd = eventfd(3, EFD_NONBLOCK | EFD_CLOEXEC);
    printf("eventfd(3, NONBLOCK|CLOEXEC) >= 0: %s\n", fd >= 0 ? "yes" : "no");
    int fl = fcntl(fd, F_GETFL);
    printf("F_GETFL: O_RDWR %s, O_NONBLOCK %s\n", (fl & O_ACCMODE) == O_RDWR ? "yes" : "no",
           fl & O_NONBLOCK ? "yes" : "no");
    printf("F_GETFD: FD_CLOEXEC %s\n", fcntl(fd, F_GETFD) & FD_CLOEXEC ? "yes" : "no");
    printf("poll at 3: %s\n", events(fd));
    rd("read 7 bytes", fd, 7);
    wr("write 7 bytes", fd, 1, 7);
    /* No read into NULL: Linux takes the counter before its copy faults (EFAULT, the
     * count lost), qemu-user checks the buffer first and keeps it. */
    errno = 0;
    printf("write from NULL: %zd %s\n", write(fd, unmapped, 8), errname(errno));
    errno = 0;
    printf("lseek: %lld %s\n", (long long)lseek(fd, 0, SEEK_SET), errname(errno));
    errno = 0;
    printf("pread: %zd %s\n", pread(fd, &(uint64_t){0}, 8, 0), errname(errno));
    rd("read", fd, 8);
    rd("read empty", fd, 8);
    printf("poll at 0: %s\n", events(fd));
    wr("write 5", fd, 5, 8);
    wr("write 6 with a 16-byte buffer", fd, 6, 16);
    rd("read 16-byte buffer", fd, 16);
    wr("write 0", fd, 0, 8);
    printf("poll after adding 0: %s\n", events(fd));
    wr("write 0xffffffffffffffff", fd, UINT64_MAX, 8);
    wr("write 0xfffffffffffffffe", fd, UINT64_MAX - 1, 8);
    printf("poll at max-1: %s\n", events(fd));
    wr("write 1 at max-1", fd, 1, 8);
    wr("write 0 at max-1", fd, 0, 8);
    rd("read at max-1", fd, 8);
    wr("write max-2", fd, UINT64_MAX - 2, 8);
    printf("poll at max-2: %s\n", events(fd));
    rd("read", fd, 8);
    uint64_t v = 9;
    printf("eventfd_write 9: %d\n", eventfd_write(fd, 9));
    printf("eventfd_read: %d", eventfd_read(fd, &v));
    printf(" value %llu\n", (unsigned long long)v);

    /* EFD_SEMAPHORE. */
    int s = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
    rd("semaphore read", s, 8);
    rd("semaphore read", s, 8);
    rd("semaphore read at 0", s, 8);
    close(s);
    close(fd);

    /* A read that blocks until another thread writes. */
    efd = eventfd(0, 0);
    pthread_t t;
    pthread_create(&t, NULL, writer_later, (void *)(uintptr_t)42);
    rd("blocking read woken by a thread's write", efd, 8);
    pthread_join(t, NULL);

    /* A write that blocks (the counter would overflow) until another thread reads. */
    v = UINT64_MAX - 1;
    printf("fill to max-1: %zd\n", write(efd, &v, 8));
    pthread_create(&t, NULL, reader_later, NULL);
    wr("blocking write of 7 woken by a thread's read", efd, 7, 8);
    pthread_join(t, NULL);
    rd("then read", efd, 8);

    /* ppoll sleeping until another thread writes. */
    pthread_create(&t, NULL, writer_later, (void *)(uintptr_t)3);
    struct pollfd p = {efd, POLLIN, 0};
    int n = ppoll(&p, 1, NULL, NULL);
    printf("ppoll woken by a thread's write: %d%s\n", n, p.revents & POLLIN ? " POLLIN" : "");
    pthread_join(t, NULL);
    rd("read", efd, 8);
    struct timespec to = {0, 20 * 1000000L};
    p.revents = 0;
    n = ppoll(&p, 1, &to, NULL);
    printf("ppoll on an empty eventfd, 20 ms timeout: %d\n", n);

    /* Four readers on a semaphore eventfd: a write of 4 lets each take 1. */
    sem_fd = eventfd(0, EFD_SEMAPHORE);
    pthread_t r[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&r[i], NULL, sem_reader, (void *)(uintptr_t)i);
    msleep(30);
    v = 4;
    printf("write 4 to the semaphore: %zd\n", write(sem_fd, &v, 8));
    for (int i = 0; i < 4; i++)
        pthread_join(r[i], NULL);
    printf("each reader got: %d %d %d %d\n", sem_got[0], sem_got[1], sem_got[2], sem_got[3]);

    /* A child blocked on an inherited eventfd, woken by the parent. */
    pid_t c = fork();
    if (c == 0) {
        uint64_t got = 0;
        ssize_t k = read(efd, &got, 8);
        _exit(k == 8 && got == 77 ? 0 : 1);
    }
    msleep(30);
    v = 77;
    printf("parent writes 77: %zd\n", write(efd, &v, 8));
    int st = 0;
    waitpid(c, &st, 0);
    printf("child read 77: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no");

    /* EBADF, and an eventfd write through a read-only view is not possible: the fd is
     * O_RDWR, so check a closed one. */
    close(efd);
    errno = 0;
    printf("read closed fd: %zd %s\n", read(efd, &v, 8), errname(errno));
    return 0;
}
