/* badargs: a misbehaving program gets Linux's answers, and goes on.
 *
 * Default mode (differential against qemu-riscv64, whose answers here are the host
 * kernel's):
 *   - execve with Linux's argument limits (fs/exec.c): one string of MAX_ARG_STRLEN
 *     (128 KiB) with its NUL, more than a quarter of RLIMIT_STACK in total, an unreadable
 *     argv array or string: E2BIG / EFAULT, and the caller carries on;
 *   - rt_sigreturn with an unreadable frame: force_sig(SIGSEGV) (a child dies by SIGSEGV,
 *     with or without a SIGSEGV handler, blocked or not);
 *   - kill: INT_MIN is ESRCH (its negation overflows), 0 and -1 with signal 0 probe,
 *     a zombie can be signalled, bad signal numbers are EINVAL.
 *
 * "linux" mode (argv[1] == "linux"; run by tests/hostile.rs, which spells out Linux's
 * answers: qemu-user 7.2 refuses custom clone exit signals, ignores setrlimit(RLIMIT_STACK)
 * and range-checks mremap itself, and kill(-1) on the host would reach every process):
 *   - clone with an invalid exit signal succeeds and the parent is not signalled
 *     (do_notify_parent: valid_signal()); CLONE_PARENT takes the parent's exit signal; a
 *     valid custom exit signal is delivered; a child whose exit signal is not SIGCHLD is
 *     waited for with __WCLONE only (eligible_child()), a SIGCHLD child without it;
 *   - kill(-1, sig) reaches every process but init and the caller; ESRCH when there is
 *     none; a process group that does not exist is ESRCH;
 *   - mremap with a huge old length is EINVAL and leaves the stack mapped;
 *   - execve under a 256 KiB RLIMIT_STACK allows only ARG_MAX (128 KiB);
 *   - a system-call number with bits above 31 set is ENOSYS (riscv compares the whole a7;
 *     qemu-user truncates it to an int), riscv_flush_icache with an unknown flag is
 *     EINVAL (qemu-user 7.2 ignores the flags);
 *   - rt_sigreturn of a frame whose word after the FP state, or extension header, is not
 *     0 kills with SIGSEGV; a handler's uc_stack becomes the alternate stack.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "errname.h"

#define ARGSTR 131072 /* MAX_ARG_STRLEN */

static const char *self;

static void show_status(const char *what, int st)
{
    if (WIFEXITED(st))
        printf("%s: exited %d\n", what, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("%s: killed by signal %d\n", what, WTERMSIG(st));
    else
        printf("%s: status %#x\n", what, st);
}

/* execve(self, argv, envp) must fail: print the errno. */
static void try_exec(const char *what, char *const *argv, char *const *envp)
{
    errno = 0;
    long r = syscall(SYS_execve, self, argv, envp);
    printf("execve %s: %s%s\n", what, r < 0 ? errname(errno) : "returned", r < 0 ? ", caller carries on" : "");
}

static char *filled(size_t n, char c)
{
    char *s = malloc(n + 1);
    if (!s) {
        perror("malloc");
        exit(1);
    }
    memset(s, c, n);
    s[n] = 0;
    return s;
}

static void exec_limits(void)
{
    char *envp[] = {NULL};
    char *longest_plus_one = filled(ARGSTR, 'a'); /* 131073 bytes with its NUL */
    char *argv1[] = {(char *)self, longest_plus_one, NULL};
    try_exec("one 131072-byte argument (131073 with NUL)", argv1, envp);
    char *env1[] = {longest_plus_one, NULL};
    char *argv0[] = {(char *)self, "exec'd", NULL};
    try_exec("one 131072-byte environment string", argv0, env1);

    /* 17 strings of 128000 bytes: 2.1 MB > 2 MiB (a quarter of the 8 MiB stack rlimit). */
    char *big = filled(128000, 'b');
    char *argv17[19];
    argv17[0] = (char *)self;
    for (int i = 1; i <= 17; i++)
        argv17[i] = big;
    argv17[18] = NULL;
    try_exec("17 x 128000-byte arguments", argv17, envp);
    /* The same bytes split between argv and envp count together. */
    char *argv9[11], *env9[10];
    argv9[0] = (char *)self;
    for (int i = 1; i <= 9; i++)
        argv9[i] = big;
    argv9[10] = NULL;
    for (int i = 0; i < 9; i++)
        env9[i] = big;
    env9[9] = NULL;
    try_exec("9 arguments + 9 environment strings of 128000 bytes", argv9, env9);
    /* 300000 empty strings: their pointers alone (2.4 MB) exceed the space. */
    size_t n = 300000;
    char **many = malloc((n + 2) * sizeof(char *));
    many[0] = (char *)self;
    for (size_t i = 1; i <= n; i++)
        many[i] = "";
    many[n + 1] = NULL;
    try_exec("300000 empty arguments", many, envp);
    free(many);

    uintptr_t volatile unmapped = 8;
    try_exec("argv array unreadable", (char *const *)unmapped, envp);
    char *badstr[] = {(char *)self, (char *)unmapped, NULL};
    try_exec("argv[1] unreadable", badstr, envp);
    try_exec("envp array unreadable", argv0, (char *const *)unmapped);
    /* The caller is intact: its memory and descriptors are still there. */
    printf("after the failed execs: argument buffer still reads '%c', write works\n", longest_plus_one[ARGSTR - 1]);
    free(big);
    free(longest_plus_one);
}

/* rt_sigreturn with sp pointing at unmapped memory. */
static void __attribute__((noinline, noreturn)) sigreturn_bad_frame(void)
{
    register long a7 __asm__("a7") = SYS_rt_sigreturn;
    register long a0 __asm__("a0") = 0;
    __asm__ volatile("li sp, 4096\n\tecall" : "+r"(a0) : "r"(a7) : "memory");
    _exit(99); /* not reached: the child dies by SIGSEGV */
}

static void on_segv(int sig)
{
    (void)sig;
    _exit(42); /* would mean the handler ran on a frame that could not be written */
}

static void sigreturn_cases(void)
{
    const char *names[] = {"no handler", "SIGSEGV handler", "SIGSEGV blocked", "SIGSEGV ignored"};
    for (int mode = 0; mode < 4; mode++) {
        pid_t pid = fork();
        if (pid == 0) {
            if (mode == 1)
                signal(SIGSEGV, on_segv);
            if (mode == 2) {
                sigset_t s;
                sigemptyset(&s);
                sigaddset(&s, SIGSEGV);
                sigprocmask(SIG_BLOCK, &s, NULL);
            }
            if (mode == 3)
                signal(SIGSEGV, SIG_IGN);
            sigreturn_bad_frame();
        }
        int st = 0;
        waitpid(pid, &st, 0);
        char what[80];
        snprintf(what, sizeof what, "rt_sigreturn with an unreadable frame (%s)", names[mode]);
        show_status(what, st);
    }
}

static void kill_cases(void)
{
    printf("kill(INT_MIN, 0): %s\n", kill(INT_MIN, 0) < 0 ? errname(errno) : "OK");
    printf("kill(INT_MIN, SIGKILL): %s\n", kill(INT_MIN, SIGKILL) < 0 ? errname(errno) : "OK");
    printf("kill(0, 0): %s\n", kill(0, 0) < 0 ? errname(errno) : "OK");
    printf("kill(getpid(), 65): %s\n", kill(getpid(), 65) < 0 ? errname(errno) : "OK");
    printf("kill(getpid(), -1): %s\n", kill(getpid(), -1) < 0 ? errname(errno) : "OK");
    int p[2];
    if (pipe(p) < 0)
        return;
    pid_t child = fork();
    if (child == 0) {
        char c;
        close(p[1]);
        read(p[0], &c, 1);
        _exit(3);
    }
    close(p[0]);
    printf("kill(-1, 0) with a child alive: %s\n", kill(-1, 0) < 0 ? errname(errno) : "OK");
    close(p[1]);
    /* Wait until it is a zombie without reaping it (WNOWAIT). */
    siginfo_t si;
    waitid(P_PID, child, &si, WEXITED | WNOWAIT);
    printf("kill(zombie, SIGTERM): %s\n", kill(child, SIGTERM) < 0 ? errname(errno) : "OK");
    int st = 0;
    waitpid(child, &st, 0);
    show_status("the zombie, reaped", st);
    printf("kill(reaped child, 0): %s\n", kill(child, 0) < 0 ? errname(errno) : "OK");
}

/* ---- linux mode ---------------------------------------------------------------------- */

static volatile sig_atomic_t got_usr1, got_usr2;
static void on_usr1(int s) { (void)s; got_usr1++; }
static void on_usr2(int s) { (void)s; got_usr2++; }

static pid_t raw_clone(unsigned long flags)
{
    return (pid_t)syscall(SYS_clone, flags, 0, 0, 0, 0);
}

static void clone_cases(void)
{
    signal(SIGUSR1, on_usr1);
    /* 127 is not a signal: accepted by the legacy clone(), never sent. */
    pid_t pid = raw_clone(127);
    if (pid == 0)
        _exit(7);
    printf("clone(exit signal 127): %s\n", pid < 0 ? errname(errno) : "child created");
    int st = 0;
    pid_t w = waitpid(pid, &st, __WALL);
    printf("waitpid(__WALL) found it: %s\n", w == pid ? "yes" : errname(errno));
    show_status("clone(127) child", st);
    printf("parent still alive after the child's exit\n");
    /* A valid custom exit signal is delivered to the parent. */
    pid = raw_clone(SIGUSR1);
    if (pid == 0)
        _exit(8);
    w = waitpid(pid, &st, __WALL);
    show_status("clone(SIGUSR1) child", st);
    printf("SIGUSR1 handler ran %d time(s)\n", (int)got_usr1);
    /* A child of a child with CLONE_PARENT is the grandparent's child, with the
       intermediate's exit signal (SIGCHLD here). */
    pid_t mid = fork();
    if (mid == 0) {
        pid_t g = raw_clone(CLONE_PARENT | SIGUSR1);
        if (g == 0)
            _exit(9);
        _exit(g > 0 ? 0 : 1);
    }
    waitpid(mid, &st, 0);
    show_status("CLONE_PARENT creator", st);
    w = waitpid(-1, &st, 0); /* without __WALL: only SIGCHLD children */
    printf("grandchild reaped by the grandparent without __WALL: %s\n", w > 0 ? "yes" : errname(errno));
    show_status("CLONE_PARENT child", st);
    printf("SIGUSR1 handler ran %d time(s)\n", (int)got_usr1);
    /* init cannot create siblings. */
    if (getpid() == 1)
        printf("clone(CLONE_PARENT) from init: %s\n",
               raw_clone(CLONE_PARENT | SIGCHLD) < 0 ? errname(errno) : "created");
    signal(SIGUSR1, SIG_DFL);
}

/* kernel/exit.c eligible_child(): without __WALL, a child whose exit signal is not SIGCHLD
 * (a "clone" child) is waited for only with __WCLONE, and then only such children. */
static void clone_child_waits(void)
{
    int sigs[] = {0, SIGUSR1, 64, 65, 255};
    signal(SIGUSR1, SIG_IGN);
    signal(64, SIG_IGN);
    for (int i = 0; i < 5; i++) {
        pid_t pid = raw_clone((unsigned long)sigs[i]);
        if (pid == 0)
            _exit(5);
        int st = 0;
        pid_t w = waitpid(pid, &st, 0);
        printf("exit signal %d: waitpid without __WCLONE: %s", sigs[i], w < 0 ? errname(errno) : "reaped");
        w = waitpid(pid, &st, __WCLONE);
        printf(", with __WCLONE: %s\n", w == pid ? "reaped" : errname(errno));
    }
    pid_t pid = raw_clone(SIGCHLD);
    if (pid == 0)
        _exit(6);
    int st = 0;
    pid_t w = waitpid(pid, &st, __WCLONE | WNOHANG);
    printf("SIGCHLD child: waitpid with __WCLONE: %s", w < 0 ? errname(errno) : "found");
    w = waitpid(pid, &st, 0);
    printf(", without: %s\n", w == pid ? "reaped" : errname(errno));
    signal(SIGUSR1, SIG_DFL);
    signal(64, SIG_DFL);
}

static void kill_all_cases(void)
{
    printf("kill(-1, 0) alone: %s\n", kill(-1, 0) < 0 ? errname(errno) : "OK");
    printf("kill(-4000, 0) (no such group): %s\n", kill(-4000, 0) < 0 ? errname(errno) : "OK");
    signal(SIGUSR2, on_usr2);
    pid_t kids[2];
    int p[2];
    pipe(p);
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            char c;
            close(p[1]);
            read(p[0], &c, 1); /* killed before this returns */
            _exit(0);
        }
    }
    close(p[0]);
    /* Give the children time to block (the answer does not depend on it). */
    usleep(20000);
    printf("kill(-1, SIGTERM) from init: %s\n", kill(-1, SIGTERM) < 0 ? errname(errno) : "OK");
    for (int i = 0; i < 2; i++) {
        int st = 0;
        waitpid(kids[i], &st, 0);
        show_status("child", st);
    }
    close(p[1]);
    /* From a child: init (pid 1) is spared, so is the caller. */
    pid_t k = fork();
    if (k == 0) {
        int r = kill(-1, SIGUSR2);
        _exit(r < 0 ? 100 + errno : 0);
    }
    int st = 0;
    waitpid(k, &st, 0);
    show_status("kill(-1, SIGUSR2) from a child with no siblings", st);
    printf("init's SIGUSR2 handler ran %d time(s)\n", (int)got_usr2);
}

static void mremap_cases(void)
{
    char *m = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    m[0] = 1;
    volatile char on_stack[64];
    on_stack[0] = 5;
    void *r = mremap(m, 1UL << 46, 4096, 0);
    printf("mremap(old_len 1<<46, new_len 4096): %s\n", r == MAP_FAILED ? errname(errno) : "OK");
    r = mremap(m, ~0UL - 4095, 4096, 0);
    printf("mremap(old_len ~0 - 4095): %s\n", r == MAP_FAILED ? errname(errno) : "OK");
    r = mremap(m, ~0UL, 8192, 0);
    printf("mremap(old_len ~0, wraps to 0, private): %s\n", r == MAP_FAILED ? errname(errno) : "OK");
    r = mremap(m, 4096, ~0UL - 4095, MREMAP_MAYMOVE);
    printf("mremap(new_len ~0 - 4095): %s\n", r == MAP_FAILED ? errname(errno) : "OK");
    r = mremap(m, 3 * 4096, 4096, 0);
    printf("mremap(old_len past the mapping, shrinking): %s\n", r == MAP_FAILED ? errname(errno) : "OK");
    printf("stack still mapped: %d, mapping still reads %d\n", on_stack[0], m[0]);
}

static void exec_small_rlimit(void)
{
    struct rlimit rl = {256 << 10, RLIM_INFINITY};
    setrlimit(RLIMIT_STACK, &rl);
    char *s = filled(100000, 'c');
    char *argv[] = {(char *)self, s, s, NULL};
    char *envp[] = {NULL};
    try_exec("2 x 100000 bytes under a 256 KiB stack rlimit (ARG_MAX = 128 KiB)", argv, envp);
    free(s);
}

/* arch/riscv/kernel/signal.c restore_sigcontext(): the word after the FP state
 * (sc_extdesc.reserved) must be 0 and the extension header after it the end marker
 * (magic 0, size 0), else badframe: force_sig(SIGSEGV). restore_altstack(): uc_stack is
 * the alternate stack after the return. */
static int frame_word; /* u32 index into __fpregs to corrupt: 129 reserved, 130 magic */
static char new_altstack[65536];
static void corrupting_handler(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ctx;
    uint32_t *fp = (uint32_t *)&uc->uc_mcontext.__fpregs;
    if (frame_word)
        fp[frame_word] = 0x1234;
    else {
        uc->uc_stack.ss_sp = new_altstack;
        uc->uc_stack.ss_size = sizeof new_altstack;
        uc->uc_stack.ss_flags = 0;
    }
}

static void sigreturn_frame_cases(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = corrupting_handler;
    sa.sa_flags = SA_SIGINFO;
    int words[] = {129, 130, 131};
    const char *names[] = {"sc_extdesc.reserved", "extension magic", "extension size"};
    for (int i = 0; i < 3; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            frame_word = words[i];
            sigaction(SIGUSR1, &sa, NULL);
            raise(SIGUSR1);
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        char line[96];
        snprintf(line, sizeof line, "rt_sigreturn with a nonzero %s", names[i]);
        show_status(line, st);
    }
    frame_word = 0;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    stack_t now;
    sigaltstack(NULL, &now);
    printf("alternate stack after a handler set uc_stack: %s, size %zu, flags %d\n",
           now.ss_sp == new_altstack ? "the new one" : "unchanged", now.ss_size, now.ss_flags);
    now.ss_flags = SS_DISABLE;
    sigaltstack(&now, NULL);
    signal(SIGUSR1, SIG_DFL);
}

/* arch/riscv/kernel/traps.c do_trap_ecall_u(): `long syscall = regs->a7` is compared with
 * NR_syscalls whole, so (1 << 32) | SYS_getpid is no system call; arch/riscv/kernel/
 * sys_riscv.c riscv_flush_icache: flags other than SYS_RISCV_FLUSH_ICACHE_LOCAL are
 * EINVAL. */
static void arch_cases(void)
{
    long r = syscall((1L << 32) | SYS_getpid);
    printf("syscall (1 << 32) | getpid: %s\n", r < 0 ? errname(errno) : "a pid");
    r = syscall(SYS_riscv_flush_icache, 0, 0, 2);
    printf("riscv_flush_icache unknown flag: %s\n", r < 0 ? errname(errno) : "OK");
    r = syscall(SYS_riscv_flush_icache, 0, 0, 1);
    printf("riscv_flush_icache SYS_RISCV_FLUSH_ICACHE_LOCAL: %s\n", r < 0 ? errname(errno) : "OK");
}

int main(int argc, char **argv)
{
    self = argv[0];
    if (argc >= 2 && strcmp(argv[1], "linux") != 0) {
        /* Reached only if a failing execve had succeeded. */
        printf("exec'd with %d arguments: a limit was not enforced\n", argc);
        return 1;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 2 && strcmp(argv[1], "linux") == 0) {
        clone_cases();
        clone_child_waits();
        kill_all_cases();
        sigreturn_frame_cases(); /* before mremap_cases, which may unmap the trampoline */
        mremap_cases();
        exec_small_rlimit();
        arch_cases();
        printf("done\n");
        return 0;
    }
    exec_limits();
    sigreturn_cases();
    kill_cases();
    printf("done\n");
    return 0;
}
