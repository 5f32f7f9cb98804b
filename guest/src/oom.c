/* oom: the OOM killer, run with little guest RAM (--mem 32M; argv[1] is that size in MiB).
 *
 * Default: the parent (init, which the OOM killer never picks) forks a "sleeper" that
 * touches 9/16 of RAM in anonymous memory and blocks on a pipe, then an "allocator"
 * that maps and touches 1 MiB after another without bound, reporting each MiB on a pipe.
 * When memory runs out under the allocator's faults, the sleeper has the highest badness
 * (resident pages): it must be killed with SIGKILL and the allocator's fault retried, so
 * the allocator goes on past what it could touch while the sleeper lived (more than
 * MEM minus the sleeper's share, in MiB); at the next OOM the allocator is the biggest and is killed. The
 * parent survives, reports both deaths as waitpid() sees them, and exits 0.
 *
 * "oom MEM alone": the process allocates without bound by itself. Nothing else can be
 * killed, so the OOM killer kills it: status 137 (128 + SIGKILL).
 *
 * qemu-user runs with the host's memory and would not OOM: the reference is recorded from
 * dirtybit (guest/expected-oom/). stdout holds facts only, never sizes that depend on the
 * kernel's own overheads. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1024L * 1024L)

static void touch_mib(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        /* Address space is not the limit here; report and stop (not expected). */
        dprintf(2, "oom: mmap failed\n");
        _exit(2);
    }
    for (long off = 0; off < MIB; off += pg)
        p[off] = 1;
}

static void allocate_forever(int progress_fd)
{
    for (;;) {
        touch_mib();
        if (progress_fd >= 0 && write(progress_fd, "m", 1) != 1)
            _exit(3);
    }
}

static const char *describe(int status, char *buf, size_t n)
{
    if (WIFSIGNALED(status))
        snprintf(buf, n, "killed by signal %d%s", WTERMSIG(status),
                 WTERMSIG(status) == SIGKILL ? " (SIGKILL)" : "");
    else if (WIFEXITED(status))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(buf, n, "stopped?");
    return buf;
}

int main(int argc, char **argv)
{
    long mem_mib = argc > 1 ? atol(argv[1]) : 32;
    long sleeper_mib = mem_mib * 9 / 16;
    if (argc > 2 && strcmp(argv[2], "alone") == 0) {
        printf("alone: allocating without bound; expect SIGKILL from the OOM killer (status 137)\n");
        fflush(stdout);
        allocate_forever(-1);
    }

    int ready[2], hold[2], progress[2];
    if (pipe(ready) || pipe(hold) || pipe(progress)) {
        printf("pipe failed\n");
        return 1;
    }
    fflush(stdout);
    pid_t sleeper = fork();
    if (sleeper == 0) {
        for (long i = 0; i < sleeper_mib; i++)
            touch_mib();
        char c = 'r';
        if (write(ready[1], &c, 1) != 1)
            _exit(3);
        read(hold[0], &c, 1); /* nobody writes: blocks until killed */
        _exit(4);
    }
    char c;
    if (sleeper < 0 || read(ready[0], &c, 1) != 1) {
        printf("sleeper did not start\n");
        return 1;
    }
    printf("sleeper holds 9/16 of RAM\n");
    fflush(stdout);
    pid_t allocator = fork();
    if (allocator == 0) {
        close(progress[0]);
        allocate_forever(progress[1]);
    }
    if (allocator < 0) {
        printf("fork failed\n");
        return 1;
    }
    close(progress[1]);

    int st_sleeper = -1, st_allocator = -1;
    for (int n = 0; n < 2; n++) {
        int st;
        pid_t w = waitpid(-1, &st, 0);
        if (w == sleeper)
            st_sleeper = st;
        else if (w == allocator)
            st_allocator = st;
        else {
            printf("waitpid returned %d\n", (int)w);
            return 1;
        }
    }
    long mibs = 0;
    char buf[64];
    ssize_t r;
    while ((r = read(progress[0], buf, sizeof buf)) > 0)
        mibs += r;

    printf("sleeper: %s\n", describe(st_sleeper, buf, sizeof buf));
    printf("allocator: %s\n", describe(st_allocator, buf, sizeof buf));
    printf("allocator went on after the sleeper's memory was freed: %s\n",
           mibs > mem_mib - sleeper_mib ? "yes" : "no");
    printf("parent (init) survived\n");
    return 0;
}
