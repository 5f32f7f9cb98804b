// clone() sharing as copy_process() decides it, one part at a time, between processes
// (no CLONE_THREAD): CLONE_VM|CLONE_VFORK (posix_spawn's, the child writes the parent's
// memory before it exits), CLONE_VM alone (a second process on one address space, waited
// for with waitpid), CLONE_FILES (one descriptor table: an fd opened or closed by the
// child is opened or closed for the parent), CLONE_FS (one cwd and umask), CLONE_SIGHAND
// (one set of handlers), and each of them left out (the parent is unaffected). Every line
// is a fact observed by the parent; the output does not depend on scheduling.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK_SIZE (64 * 1024)

static char stack[STACK_SIZE] __attribute__((aligned(16)));
static volatile int shared_word;
static char shared_text[32];
static int child_fd = -1;
static int victim_fd = -1;

static void on_usr1(int sig) { (void)sig; }

static int write_memory(void *arg) {
    shared_word = (int)(long)arg;
    strcpy(shared_text, "written by the child");
    return 7;
}

static int use_files(void *arg) {
    (void)arg;
    child_fd = open("/dev/null", O_RDONLY);
    close(victim_fd);
    return child_fd < 0 ? 1 : 0;
}

static int use_fs(void *arg) {
    (void)arg;
    umask(077);
    return chdir("/tmp") == 0 ? 0 : 1;
}

static int use_sighand(void *arg) {
    (void)arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    return sigaction(SIGUSR1, &sa, NULL) == 0 ? 0 : 1;
}

/// clone(fn) with `flags | SIGCHLD`, then waitpid; prints the child's exit status.
static void run(const char *what, int (*fn)(void *), int flags, void *arg) {
    pid_t pid = clone(fn, stack + STACK_SIZE, flags | SIGCHLD, arg);
    if (pid < 0) {
        printf("%s: clone failed: %s\n", what, strerror(errno));
        exit(1);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
        printf("%s: waitpid failed: %s\n", what, strerror(errno));
        exit(1);
    }
    printf("%s: child exited %d\n", what, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void reset_memory(void) {
    shared_word = 0;
    strcpy(shared_text, "untouched");
}

static const char *fd_state(int fd) {
    return fd >= 0 && fcntl(fd, F_GETFD) >= 0 ? "open" : "closed";
}

static void check_files(const char *what, int flags) {
    child_fd = -1;
    victim_fd = open("/dev/null", O_RDONLY);
    int probe = victim_fd;
    // CLONE_VM so that the parent learns the number the child got.
    run(what, use_files, flags | CLONE_VM, NULL);
    printf("%s: the child's new fd in the parent: %s\n", what, fd_state(child_fd));
    printf("%s: the fd the child closed, in the parent: %s\n", what, fd_state(probe));
    if (child_fd >= 0 && child_fd != probe)
        close(child_fd);
    close(probe);
}

static void check_fs(const char *what, int flags) {
    char before[256], after[256];
    if (!getcwd(before, sizeof before))
        strcpy(before, "?");
    mode_t old = umask(022);
    run(what, use_fs, flags, NULL);
    if (!getcwd(after, sizeof after))
        strcpy(after, "?");
    mode_t now = umask(old);
    printf("%s: the parent's cwd %s, umask %03o\n", what,
           strcmp(before, after) == 0 ? "unchanged" : after, (unsigned)now);
    if (chdir(before) != 0)
        printf("%s: chdir back failed\n", what);
}

static void check_sighand(const char *what, int flags) {
    signal(SIGUSR1, SIG_DFL);
    run(what, use_sighand, flags, NULL);
    struct sigaction sa;
    sigaction(SIGUSR1, NULL, &sa);
    printf("%s: the parent's SIGUSR1 handler: %s\n", what,
           sa.sa_handler == on_usr1 ? "the child's" : "default");
    signal(SIGUSR1, SIG_DFL);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (chdir("/") != 0)
        printf("chdir / failed\n");

    reset_memory();
    run("vm|vfork", write_memory, CLONE_VM | CLONE_VFORK, (void *)42);
    printf("vm|vfork: parent sees %d, \"%s\"\n", shared_word, shared_text);

    reset_memory();
    run("vm", write_memory, CLONE_VM, (void *)43);
    printf("vm: parent sees %d, \"%s\"\n", shared_word, shared_text);

    reset_memory();
    run("no vm", write_memory, 0, (void *)44);
    printf("no vm: parent sees %d, \"%s\"\n", shared_word, shared_text);

    check_files("vm|files", CLONE_FILES);
    check_files("vm, no files", 0);

    check_fs("fs", CLONE_FS);
    check_fs("no fs", 0);

    check_sighand("vm|sighand", CLONE_VM | CLONE_SIGHAND);
    check_sighand("vm, no sighand", CLONE_VM);

    printf("done\n");
    return 0;
}
