/* ministrace: a small strace on ptrace(PTRACE_SYSCALL) + PTRACE_GETREGSET(NT_PRSTATUS).
 *
 * ministrace              trace a child running a fixed workload of raw system calls
 *                         whose arguments are numbers, not addresses (the reference run)
 * ministrace IMAGE ARGS.. trace a child that execs IMAGE with ARGS (environment kept)
 * ministrace -f IMAGE ARGS..  the same, following its forks and clones (strace -f):
 *                         PTRACE_O_TRACEFORK/VFORK/CLONE, each line led by the pid
 *
 * The child asks to be traced (PTRACE_TRACEME) and stops itself with SIGSTOP; the tracer
 * sets PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | PTRACE_O_TRACEEXEC and resumes it with
 * PTRACE_SYSCALL from stop to stop (checking at each that PTRACE_GET_SYSCALL_INFO and
 * PTRACE_GETEVENTMSG agree with the registers). At each syscall-entry stop it reads the registers
 * (a7 the number, a0..a5 the arguments), at the matching exit stop a0 (the return
 * value), and prints one line per call in dirtybit's --strace format without the tid:
 *   name(0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5) = 0xRET   or   = -1 ENAME
 * A call that never returns (exit_group) ends with "= ?". Signals are printed as
 * "--- SIGNAME ---" and delivered; the end as "+++ exited with N +++" or
 * "+++ killed by SIGNAME +++". Lines are flushed one by one, so a traced program's own
 * output (written between two stops) never lands inside one. tests/ptrace.rs compares
 * the lines after the execve with `dirtybit run --strace IMAGE ARGS`.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

extern char **environ;

/* The riscv64 numbers of the calls a small static program makes (asm-generic). */
static const struct {
    long nr;
    const char *name;
} names[] = {
    {17, "getcwd"}, {23, "dup"}, {24, "dup3"}, {25, "fcntl"}, {29, "ioctl"},
    {35, "unlinkat"}, {46, "ftruncate"}, {48, "faccessat"}, {49, "chdir"},
    {56, "openat"}, {57, "close"}, {59, "pipe2"}, {61, "getdents64"}, {62, "lseek"},
    {63, "read"}, {64, "write"}, {65, "readv"}, {66, "writev"}, {67, "pread64"},
    {68, "pwrite64"}, {78, "readlinkat"}, {79, "newfstatat"}, {80, "fstat"},
    {72, "pselect6"}, {73, "ppoll"}, {82, "fsync"}, {93, "exit"}, {94, "exit_group"},
    {95, "waitid"}, {100, "get_robust_list"}, {132, "sigaltstack"}, {133, "rt_sigsuspend"},
    {136, "rt_sigpending"}, {154, "setpgid"}, {155, "getpgid"}, {157, "setsid"},
    {165, "getrusage"}, {169, "gettimeofday"}, {96, "set_tid_address"}, {98, "futex"},
    {99, "set_robust_list"}, {101, "nanosleep"}, {113, "clock_gettime"},
    {117, "ptrace"}, {124, "sched_yield"}, {129, "kill"}, {130, "tkill"},
    {131, "tgkill"}, {134, "rt_sigaction"}, {135, "rt_sigprocmask"},
    {139, "rt_sigreturn"}, {160, "uname"}, {166, "umask"}, {167, "prctl"},
    {172, "getpid"}, {173, "getppid"}, {174, "getuid"}, {175, "geteuid"},
    {176, "getgid"}, {177, "getegid"}, {178, "gettid"}, {214, "brk"}, {215, "munmap"},
    {216, "mremap"}, {220, "clone"}, {221, "execve"}, {222, "mmap"}, {226, "mprotect"},
    {233, "madvise"}, {258, "riscv_hwprobe"}, {260, "wait4"}, {261, "prlimit64"},
    {278, "getrandom"},
};

static const char *sysname(long nr, char *buf, size_t len)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].nr == nr)
            return names[i].name;
    snprintf(buf, len, "syscall_%ld", nr);
    return buf;
}

static const char *signame(int s)
{
    static char buf[16];
    switch (s) {
    case SIGSEGV: return "SIGSEGV";
    case SIGKILL: return "SIGKILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGSTOP: return "SIGSTOP";
    case SIGCHLD: return "SIGCHLD";
    case SIGUSR1: return "SIGUSR1";
    case SIGPIPE: return "SIGPIPE";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    }
    snprintf(buf, sizeof buf, "SIG%d", s);
    return buf;
}

/* The fixed workload: raw calls, numbers only. */
static void workload(void)
{
    syscall(SYS_getpid);
    syscall(SYS_getuid);
    syscall(SYS_close, 1000);
    syscall(SYS_dup3, 1, 1, 0);
    syscall(SYS_write, 1, 0, 0);
    syscall(SYS_umask, 022);
    syscall(SYS_umask, 077);
    syscall(SYS_sched_yield);
    syscall(SYS_lseek, 999, 0, 0);
    syscall(SYS_kill, 0, 0);
    syscall(SYS_exit_group, 3);
}

/* struct ptrace_syscall_info (include/uapi/linux/ptrace.h, Linux 5.3): what
 * PTRACE_GET_SYSCALL_INFO tells of a stop. */
struct syscall_info {
    unsigned char op, pad[3];
    unsigned int arch;
    unsigned long pc, sp;
    union {
        struct { unsigned long nr, args[6]; } entry;
        struct { long rval; unsigned char is_error; } exit;
    };
};

/* PTRACE_GET_SYSCALL_INFO and PTRACE_GETEVENTMSG at a syscall stop of pid (entry or
 * exit: `entry`) must say what the registers say (op 1 or 2, AUDIT_ARCH_RISCV64, the
 * pc and sp, the number and arguments or the return value and its error flag; the
 * event message PTRACE_EVENTMSG_SYSCALL_ENTRY or _EXIT). Prints a line if not. */
static void check_syscall_info(pid_t pid, int entry, const unsigned long *regs)
{
    struct syscall_info si;
    memset(&si, 0xff, sizeof si);
    long size = ptrace(0x420e /* PTRACE_GET_SYSCALL_INFO */, pid, sizeof si, &si);
    unsigned long msg = 0;
    ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg);
    int ok = si.arch == 0xc00000f3u && si.pc == regs[0] && si.sp == regs[2];
    if (entry)
        ok = ok && size == 80 && si.op == 1 && msg == 1 && si.entry.nr == regs[17] &&
             memcmp(si.entry.args, &regs[10], sizeof si.entry.args) == 0;
    else
        ok = ok && size == 33 && si.op == 2 && msg == 2 && si.exit.rval == (long)regs[10] &&
             si.exit.is_error == ((long)regs[10] < 0 && (long)regs[10] > -4096);
    if (!ok)
        printf("ministrace: PTRACE_GET_SYSCALL_INFO of %d disagrees with the registers "
               "(size %ld op %d msg %lu)\n", (int)pid, size, si.op, msg);
}

/* What the tracer keeps per tracee: whether it is inside a call (between its entry and
 * exit stops) and that call's number and arguments. */
struct tracee {
    pid_t pid;
    int in_call, started;
    unsigned long nr, args[6];
};

static struct tracee tracees[256];
static int follow;

static struct tracee *tracee_of(pid_t pid)
{
    struct tracee *free_slot = NULL;
    for (size_t i = 0; i < sizeof tracees / sizeof tracees[0]; i++) {
        if (tracees[i].pid == pid)
            return &tracees[i];
        if (!tracees[i].pid && !free_slot)
            free_slot = &tracees[i];
    }
    if (free_slot) {
        memset(free_slot, 0, sizeof *free_slot);
        free_slot->pid = pid;
    }
    return free_slot;
}

/* The line's start: the tracee's pid when following forks (as --strace's tid). */
static void prefix(pid_t pid)
{
    if (follow)
        printf("%d ", (int)pid);
}

static void print_call(struct tracee *t)
{
    char nbuf[32];
    prefix(t->pid);
    printf("%s(0x%lx, 0x%lx, 0x%lx, 0x%lx, 0x%lx, 0x%lx) = ", sysname(t->nr, nbuf, sizeof nbuf),
           t->args[0], t->args[1], t->args[2], t->args[3], t->args[4], t->args[5]);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 2 && strcmp(argv[1], "-f") == 0) {
        follow = 1;
        argv++;
        argc--;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
            _exit(100);
        syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
        if (argc > 1) {
            execve(argv[1], argv + 1, environ);
            _exit(127);
        }
        workload();
        _exit(101);
    }
    int st;
    if (waitpid(pid, &st, __WALL) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) {
        printf("ministrace: no initial SIGSTOP (status %#x)\n", st);
        return 1;
    }
    long opts = PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | PTRACE_O_TRACEEXEC;
    if (follow)
        opts |= PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE;
    if (ptrace(PTRACE_SETOPTIONS, pid, 0, opts) != 0) {
        printf("ministrace: PTRACE_SETOPTIONS: %s\n", errname(errno));
        return 1;
    }
    tracee_of(pid)->started = 1;
    int sig = 0;
    for (;;) {
        if (ptrace(PTRACE_SYSCALL, pid, 0, sig) != 0 && errno != ESRCH) {
            printf("ministrace: PTRACE_SYSCALL: %s\n", errname(errno));
            return 1;
        }
        sig = 0;
        pid = waitpid(-1, &st, __WALL);
        if (pid < 0)
            return errno == ECHILD ? 0 : 1; /* every tracee is gone */
        struct tracee *t = tracee_of(pid);
        if (!t) {
            printf("ministrace: too many tracees\n");
            return 1;
        }
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            if (t->in_call) {
                print_call(t);
                printf("?\n");
            }
            prefix(pid);
            if (WIFEXITED(st))
                printf("+++ exited with %d +++\n", WEXITSTATUS(st));
            else
                printf("+++ killed by %s +++\n", signame(WTERMSIG(st)));
            t->pid = 0;
            continue;
        }
        if (!WIFSTOPPED(st))
            continue;
        int s = WSTOPSIG(st), event = st >> 16;
        if (event != 0)
            continue; /* exec, fork: the call's exit stop follows */
        if (!t->started && s == SIGSTOP) {
            t->started = 1; /* a new child's first stop (PTRACE_O_TRACEFORK) */
            continue;
        }
        t->started = 1;
        if (s != (SIGTRAP | 0x80)) {
            prefix(pid);
            printf("--- %s ---\n", signame(s));
            sig = s;
            continue;
        }
        unsigned long regs[32];
        struct iovec iov = {regs, sizeof regs};
        if (ptrace(PTRACE_GETREGSET, pid, NT_PRSTATUS, &iov) != 0 || iov.iov_len != sizeof regs) {
            printf("ministrace: PTRACE_GETREGSET: %s\n", errname(errno));
            return 1;
        }
        check_syscall_info(pid, !t->in_call, regs);
        if (!t->in_call) {
            t->nr = regs[17];
            memcpy(t->args, &regs[10], sizeof t->args);
            t->in_call = 1;
            continue;
        }
        t->in_call = 0;
        long ret = (long)regs[10];
        print_call(t);
        if (ret < 0 && ret > -4096)
            printf("-1 %s\n", errname((int)-ret));
        else
            printf("0x%lx\n", (unsigned long)ret);
    }
}
