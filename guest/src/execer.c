/* execer: fork + execve of other images, and what execve keeps and discards.
 *
 * The images it runs are its siblings: the directory part of argv[0] (whatever path the
 * runner used to start execer, absolute or relative to the working directory it gave the
 * guest) joined with "hello", "segv" or "execer". So no argument file is needed and the
 * same reference holds for `make` (run from guest/), for `cargo test` (absolute paths)
 * and for `dirtybit run guest/bin/execer` from the repository root.
 *
 * Children: execve of hello with argv ["hello", "one", "two words"] (hello prints them,
 * exit 0); execve of execer itself in "--show" mode with a chosen argv and envp, where
 * the new image prints its argv and whole environment, checks that a .data global has its
 * initial value again (the old image changed it), that an fd without FD_CLOEXEC is still
 * open and one with it is closed, that a caught signal was reset to SIG_DFL while an
 * ignored one stays ignored and the blocked mask is kept, then exits 42; execve of segv
 * (killed by SIGSEGV after printing two lines). Failures: a missing file (ENOENT), a
 * non-ELF file with execute permission (ENOEXEC), a file without execute permission and a
 * directory (EACCES), a path through a regular file (ENOTDIR) -- each in the parent itself
 * too, which must carry on unharmed after a failed execve. Temporary files are made in
 * /tmp under a name containing the pid (never printed) and removed.
 *
 * Verdicts are in stdout only ("ok"/"FAIL" lines and the summary); the exit status is 0
 * whenever execer runs to its end, because the reference's stdout for the successful execs
 * is corrected from qemu-user's (which cannot run them without binfmt_misc, see
 * qemu-fixups/execer.sed) while its exit status cannot be. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

static int failures;
long marker = 1234; /* .data: the exec'd image must see this initial value again */

static void check(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAIL");
    if (!ok)
        failures++;
}

static void print_status(const char *who, int st)
{
    if (WIFEXITED(st))
        printf("%s: exited with status %d\n", who, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("%s: killed by signal %d%s\n", who, WTERMSIG(st), WTERMSIG(st) == SIGSEGV ? " (SIGSEGV)" : "");
    else
        printf("%s: other wait status\n", who);
}

/* The exec'd side of the argv/envp test: argv = execer --show KEEPFD CLOEXECFD args... */
static int show(int argc, char **argv, char **envp)
{
    printf("new image: argc %d\n", argc);
    for (int i = 4; i < argc; i++)
        printf("new image: argv[%d] = \"%s\"\n", i, argv[i]);
    int n = 0;
    for (char **e = envp; *e; e++, n++)
        printf("new image: env \"%s\"\n", *e);
    printf("new image: %d environment strings, getenv(\"FOO\") = %s\n", n, getenv("FOO") ? getenv("FOO") : "(null)");
    printf("new image: .data global has its initial value: %s\n", marker == 1234 ? "yes" : "no");
    int keep = atoi(argv[2]), gone = atoi(argv[3]);
    int fk = fcntl(keep, F_GETFD);
    printf("new image: fd without FD_CLOEXEC: %s\n", fk < 0 ? errname(errno) : "open");
    int fg = fcntl(gone, F_GETFD);
    printf("new image: fd with FD_CLOEXEC: %s\n", fg < 0 ? errname(errno) : "open");
    struct sigaction sa;
    sigaction(SIGUSR1, NULL, &sa);
    printf("new image: caught SIGUSR1 is now %s\n",
           sa.sa_handler == SIG_DFL ? "SIG_DFL" : sa.sa_handler == SIG_IGN ? "SIG_IGN" : "a handler");
    sigaction(SIGUSR2, NULL, &sa);
    printf("new image: ignored SIGUSR2 is now %s\n",
           sa.sa_handler == SIG_DFL ? "SIG_DFL" : sa.sa_handler == SIG_IGN ? "SIG_IGN" : "a handler");
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    printf("new image: SIGTERM still blocked: %s\n", sigismember(&cur, SIGTERM) ? "yes" : "no");
    return 42;
}

static void on_usr1(int sig)
{
}

static char bindir[4096];

static void sibling(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", bindir, name);
}

static pid_t xfork(void)
{
    fflush(stdout);
    pid_t p = fork();
    if (p < 0) {
        printf("fork: %s\n", errname(errno));
        exit(1);
    }
    return p;
}

static int reap(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) {
        printf("waitpid: %s\n", errname(errno));
        failures++;
    }
    return st;
}

/* Forks a child that execs path; a failed execve prints its errno and exits 127. */
static int run_child(const char *label, const char *path, char *const argv[], char *const envp[])
{
    pid_t pid = xfork();
    if (pid == 0) {
        execve(path, argv, envp);
        printf("exec %s: failed with %s\n", label, errname(errno));
        fflush(stdout);
        _exit(127);
    }
    int st = reap(pid);
    print_status(label, st);
    return st;
}

static void expect_fail(const char *label, const char *path, int want)
{
    char *argv[] = {(char *)"x", NULL};
    char *envp[] = {NULL};
    /* In a child... */
    pid_t pid = xfork();
    if (pid == 0) {
        execve(path, argv, envp);
        _exit(errno == want ? 0 : 1);
    }
    int st = reap(pid);
    /* ...and in this process, which must carry on. */
    long before = marker;
    int r = execve(path, argv, envp);
    int e = errno;
    printf("execve %s: %s (in a child: %s), still running with memory intact: %s\n", label,
           r < 0 ? errname(e) : "returned", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "same" : "different",
           marker == before ? "yes" : "no");
    if (!(r < 0 && e == want && WIFEXITED(st) && WEXITSTATUS(st) == 0))
        failures++;
}

int main(int argc, char **argv, char **envp)
{
    if (argc >= 4 && strcmp(argv[1], "--show") == 0)
        return show(argc, argv, envp);

    const char *slash = strrchr(argv[0], '/');
    if (!slash) {
        printf("execer: start me by a path containing '/' (its siblings are found next to it)\n");
        return 2;
    }
    snprintf(bindir, sizeof bindir, "%.*s", (int)(slash - argv[0]), argv[0]);
    char path[4200];

    printf("== execve hello ==\n");
    sibling(path, sizeof path, "hello");
    {
        char *cargv[] = {(char *)"hello", (char *)"one", (char *)"two words", NULL};
        char *cenv[] = {(char *)"A=1", NULL};
        int st = run_child("hello", path, cargv, cenv);
        check("hello exited 0", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }

    printf("== execve with argv, envp, fds and signal state ==\n");
    marker = 5678;
    int keep[2], gone[2];
    if (pipe(keep) != 0 || pipe2(gone, O_CLOEXEC) != 0) {
        printf("pipe: %s\n", errname(errno));
        return 1;
    }
    signal(SIGUSR1, on_usr1);
    signal(SIGUSR2, SIG_IGN);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    {
        char kfd[16], gfd[16];
        snprintf(kfd, sizeof kfd, "%d", keep[0]);
        snprintf(gfd, sizeof gfd, "%d", gone[0]);
        sibling(path, sizeof path, "execer");
        char *cargv[] = {(char *)"execer", (char *)"--show", kfd, gfd, (char *)"x", (char *)"", (char *)"last arg",
                         NULL};
        char *cenv[] = {(char *)"FOO=bar", (char *)"EMPTY=", (char *)"PATH=/nowhere", NULL};
        int st = run_child("execer --show", path, cargv, cenv);
        check("exec'd image exited 42", WIFEXITED(st) && WEXITSTATUS(st) == 42);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
    close(keep[0]);
    close(keep[1]);
    close(gone[0]);
    close(gone[1]);

    printf("== execve segv ==\n");
    sibling(path, sizeof path, "segv");
    {
        char *cargv[] = {(char *)"segv", NULL};
        char *cenv[] = {NULL};
        int st = run_child("segv", path, cargv, cenv);
        check("segv killed by SIGSEGV", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    }

    printf("== failing execve ==\n");
    expect_fail("of a missing file", "/nonexistent-dirtybit/none", ENOENT);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "/tmp/dirtybit-execer.%d", (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd < 0) {
        printf("create %s: %s\n", "the temporary file", errname(errno));
        return 1;
    }
    const char text[] = "this is text, not an executable\n";
    write(fd, text, sizeof text - 1);
    close(fd);
    chmod(tmp, 0755);
    expect_fail("of a text file with execute permission", tmp, ENOEXEC);
    chmod(tmp, 0644);
    expect_fail("of a file without execute permission", tmp, EACCES);
    expect_fail("of a directory", "/tmp", EACCES);
    char under[128];
    snprintf(under, sizeof under, "%s/x", tmp);
    expect_fail("of a path through a regular file", under, ENOTDIR);
    unlink(tmp);

    printf("execer: %s\n", failures ? "FAILURES" : "all checks passed");
    return 0;
}
