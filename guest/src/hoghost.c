/* hoghost MODE: a guest that tries to make dirtybit's host process grow (issue 10's host
 * memory bound; tests/hostsafe.rs measures dirtybit's peak RSS while it runs). Prints
 * what it managed, never addresses; its status is 0 unless the OOM killer ends it (137).
 *
 *   mmap     anonymous mappings of 1 MiB, every page touched, until mmap fails or the
 *            OOM killer strikes (guest RAM full)
 *   tmpfs    one file in /tmp written in 64 KiB pieces until the tmpfs is full (ENOSPC)
 *   argv     execve of itself with 4096 strings of 128 KiB - 1 (512 MiB: E2BIG), then 8
 *            times with 15 such strings (1.9 MiB, under a quarter of the 8 MiB stack
 *            rlimit): each new image exits at once
 *   threads  256 threads alive at once, 32 KiB of each one's 64 KiB stack touched
 *   pipes    as many pipes as descriptors allow, each filled to its 64 KiB capacity
 *   all      each of the above in a child of its own, one after the other */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

#define MiB (1024L * 1024)
#define ARG_LEN (128 * 1024 - 1)

static int hog_mmap(void)
{
    long got = 0;
    for (;;) {
        char *p = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            break;
        for (long i = 0; i < MiB; i += 4096)
            p[i] = 1;
        got++;
    }
    printf("mmap: stopped by %s\n", errname(errno));
    return 0;
}

static int hog_tmpfs(void)
{
    static char buf[64 * 1024];
    memset(buf, 'x', sizeof buf);
    int fd = open("/tmp/hoghost-fill", O_CREAT | O_TRUNC | O_WRONLY, 0600);
    if (fd < 0) {
        printf("tmpfs: open %s\n", errname(errno));
        return 1;
    }
    long total = 0;
    ssize_t n;
    while ((n = write(fd, buf, sizeof buf)) > 0)
        total += n;
    printf("tmpfs: full after some MiB: %s, stopped by %s\n", total > MiB ? "yes" : "no",
           errname(errno));
    close(fd);
    unlink("/tmp/hoghost-fill");
    return 0;
}

static int exec_self(const char *self, int strings)
{
    char **argv = calloc((size_t)strings + 3, sizeof *argv);
    static char arg[ARG_LEN + 1];
    memset(arg, 'a', ARG_LEN);
    argv[0] = (char *)self;
    argv[1] = "exit";
    for (int i = 0; i < strings; i++)
        argv[i + 2] = arg;
    pid_t pid = fork();
    if (pid == 0) {
        execv(self, argv);
        _exit(errno == E2BIG ? 2 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    free(argv);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int hog_argv(const char *self)
{
    printf("argv: 4096 x 128 KiB: %s\n", exec_self(self, 4096) == 2 ? "E2BIG" : "not E2BIG");
    int ok = 0;
    for (int i = 0; i < 8; i++)
        ok += exec_self(self, 15) == 0;
    printf("argv: 15 x 128 KiB ran %d of 8 times\n", ok);
    return 0;
}

static void *hold(void *arg)
{
    volatile char stack[32 * 1024];
    stack[0] = stack[sizeof stack - 1] = 1;
    pthread_barrier_wait(arg);
    return NULL;
}

static int hog_threads(void)
{
    enum { N = 256 };
    static pthread_t t[N];
    pthread_barrier_t b;
    pthread_barrier_init(&b, NULL, N + 1);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 * 1024);
    int made = 0;
    for (; made < N; made++)
        if (pthread_create(&t[made], &a, hold, &b) != 0)
            break;
    if (made == N)
        pthread_barrier_wait(&b);
    printf("threads: %d alive at once\n", made);
    if (made < N)
        return 1;
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    return 0;
}

static int hog_pipes(void)
{
    static char buf[64 * 1024];
    int pipes = 0, p[2];
    while (pipe2(p, O_NONBLOCK) == 0) {
        while (write(p[1], buf, sizeof buf) > 0)
            ;
        pipes++;
    }
    printf("pipes: stopped by %s after more than 400 full pipes: %s\n", errname(errno),
           pipes > 400 ? "yes" : "no");
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "all";
    /* The image's own path, for the execve of itself. */
    static char self[4096];
    if (readlink("/proc/self/exe", self, sizeof self - 1) <= 0)
        strcpy(self, "/proc/self/exe");
    if (!strcmp(mode, "exit"))
        return 0;
    if (!strcmp(mode, "mmap"))
        return hog_mmap();
    if (!strcmp(mode, "tmpfs"))
        return hog_tmpfs();
    if (!strcmp(mode, "argv"))
        return hog_argv(self);
    if (!strcmp(mode, "threads"))
        return hog_threads();
    if (!strcmp(mode, "pipes"))
        return hog_pipes();
    static const char *const all[] = {"tmpfs", "argv", "threads", "pipes", "mmap"};
    for (unsigned i = 0; i < sizeof all / sizeof *all; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execl(self, argv[0], all[i], (char *)NULL);
            _exit(127);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        printf("%s: %s %d\n", all[i], WIFEXITED(st) ? "exited" : "killed by signal",
               WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    }
    return 0;
}
