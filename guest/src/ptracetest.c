/* ptracetest: ptrace(2) with Linux's riscv64 ABI, request by request, and its errnos.
 *
 * 1. A child that asks to be traced (PTRACE_TRACEME) stops itself with SIGSTOP; the
 *    tracer (its parent) reads the stop through waitpid and PTRACE_GETSIGINFO, reads and
 *    writes its memory (PEEKDATA through glibc and through the raw call, which stores
 *    the word at *data; POKEDATA into .data; POKETEXT into the read-only .rodata, a
 *    FOLL_FORCE write that breaks COW: the child sees the new bytes, the tracer's own copy
 *    keeps the old), its registers (GETREGSET/SETREGSET NT_PRSTATUS and NT_PRFPREG, iov_len
 *    updated), delivers the SIGSTOP (a group-stop, reported again, GETSIGINFO EINVAL in
 *    it), follows it with PTRACE_SYSCALL to its getppid() and makes that call return
 *    4242 by setting a0 at the syscall-exit stop; then signal-delivery-stops: a SIGUSR1
 *    suppressed (CONT 0: the handler never runs), a SIGUSR2 replaced by SIGUSR1 (the
 *    handler sees the tracer as sender), a SIGUSR1 passed on as it was (its siginfo kept).
 *    The errnos: EPERM (TRACEME twice, ATTACH to init), EIO (unknown request, bad signal,
 *    unmapped PEEK address, INTERRUPT of a task not seized), EINVAL (unknown regset,
 *    iov_len not a multiple of 8, unknown options), EFAULT (the tracer's buffers).
 * 2. exec: PTRACE_O_TRACEEXEC's event stop (GETEVENTMSG: the pid), PTRACE_O_TRACEFORK's
 *    event and the new child traced from its first instruction (SIGSTOP); the tracer
 *    reaps that grandchild first, then its real parent sees it exit; the legacy SIGTRAP
 *    after an exec without TRACEEXEC.
 * 2b. A signal for the tracer that finds its tracee asleep in read(): suppressed, the
 *    read is restarted (it sleeps again, then reads what comes); delivered to a handler,
 *    the read returns EINTR (the tracer waits for 'S' in /proc/<pid>/stat first).
 * 3. ATTACH (SIGSTOP, si_code SI_KERNEL), EPERM to attach twice or to oneself, ESRCH for
 *    no such task or one not traced, DETACH; SEIZE (no stop; EIO for addr or unknown
 *    options), ESRCH while it runs, INTERRUPT (PTRACE_EVENT_STOP), PTRACE_KILL; INTERRUPT
 *    of a tracee asleep in pause() (it stops at once, and sleeps again after CONT);
 *    PTRACE_O_EXITKILL: a tracee whose tracer exits dies of SIGKILL; without it, the
 *    tracee is detached (attached again by init, which has inherited it).
 * 5. GETSIGMASK (EINVAL for a size other than 8) and SETSIGMASK (SIGKILL cannot be
 *    blocked; EFAULT from a bad buffer): the child sees the mask the tracer set;
 *    SETSIGINFO rewrites the stop's siginfo, which GETSIGINFO then returns.
 * Every line is printed by the process whose turn it is (the other is stopped or waited
 * for), so the output is the same for any interleaving.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <sched.h>
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

#define SAY(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)

static volatile long data_word = 0x1111222233334444L;
static const char ro_text[16] = "read-only text.";
static volatile int usr1_count, usr1_code, usr1_pid;

static long pt(long req, pid_t pid, long addr, long data)
{
    return syscall(SYS_ptrace, req, pid, addr, data);
}

static const char *res(long r)
{
    return r == 0 ? "0" : r == -1 ? errname(errno) : "unexpected";
}

static const char *signame(int s)
{
    static char buf[16];
    switch (s) {
    case SIGTRAP: return "SIGTRAP";
    case SIGKILL: return "SIGKILL";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGSTOP: return "SIGSTOP";
    case SIGCHLD: return "SIGCHLD";
    }
    snprintf(buf, sizeof buf, "signal %d", s);
    return buf;
}

/* waitpid(pid, __WALL) and what it saw. */
static int wait_for(const char *who, pid_t pid)
{
    int st = 0;
    pid_t r = waitpid(pid, &st, __WALL);
    if (r <= 0 || (pid > 0 && r != pid)) {
        SAY("%s: waitpid: %s\n", who, errname(errno));
        return -1;
    }
    if (WIFEXITED(st))
        SAY("%s: exited with %d\n", who, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        SAY("%s: killed by %s\n", who, signame(WTERMSIG(st)));
    else if (WIFSTOPPED(st)) {
        int s = WSTOPSIG(st), ev = st >> 16;
        const char *evname = ev == PTRACE_EVENT_EXEC ? " PTRACE_EVENT_EXEC"
                             : ev == PTRACE_EVENT_FORK ? " PTRACE_EVENT_FORK"
                             : ev == PTRACE_EVENT_STOP ? " PTRACE_EVENT_STOP"
                             : ev ? " (another event)" : "";
        SAY("%s: stopped by %s%s%s\n", who, signame(s & 0x7f), s & 0x80 ? "|0x80" : "", evname);
    }
    return st;
}

static void stop_self(void)
{
    syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
}

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
    usr1_count++;
    usr1_code = si->si_code;
    usr1_pid = si->si_pid;
}

/* ---- 1. TRACEME, memory, registers, syscall stops, signals ---------------------------- */

static void traceme_child(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    long r1 = pt(PTRACE_TRACEME, 0, 0, 0);
    long r2 = pt(PTRACE_TRACEME, 0, 0, 0);
    long r3 = pt(PTRACE_ATTACH, getppid(), 0, 0);
    SAY("child: TRACEME %s, again %s; ATTACH to init %s\n", res(r1), res(r2), res(r3));
    stop_self();
    SAY("child: data_word %#lx, ro_text \"%.15s\"\n", data_word, ro_text);
    long v = syscall(SYS_getppid);
    SAY("child: getppid() returned %ld\n", v);
    syscall(SYS_kill, syscall(SYS_getpid), SIGUSR1);
    SAY("child: after a suppressed SIGUSR1 the handler ran %d times\n", usr1_count);
    syscall(SYS_kill, syscall(SYS_getpid), SIGUSR2);
    SAY("child: SIGUSR2 replaced: handler ran %d times, si_code %d, sent by the tracer: %s\n",
        usr1_count, usr1_code, usr1_pid == getppid() ? "yes" : "no");
    syscall(SYS_kill, syscall(SYS_getpid), SIGUSR1);
    SAY("child: SIGUSR1 passed on: handler ran %d times, sent by me: %s\n", usr1_count,
        usr1_pid == getpid() ? "yes" : "no");
    _exit(7);
}

static void regs_of(pid_t c, unsigned long *regs)
{
    struct iovec iov = {regs, 32 * 8};
    pt(PTRACE_GETREGSET, c, NT_PRSTATUS, (long)&iov);
}

static void part_traceme(void)
{
    SAY("== TRACEME ==\n");
    pid_t c = fork();
    if (c == 0)
        traceme_child();
    wait_for("tracer", c);
    siginfo_t si;
    long r = pt(PTRACE_GETSIGINFO, c, 0, (long)&si);
    SAY("GETSIGINFO %s: si_signo %s, si_code %d, si_pid is the child: %s\n", res(r),
        signame(si.si_signo), si.si_code, si.si_pid == c ? "yes" : "no");
    int st;
    SAY("waitpid WNOHANG again (the stop is reported once): %d\n",
        (int)waitpid(c, &st, WNOHANG | __WALL));

    /* Memory. */
    errno = 0;
    long w = ptrace(PTRACE_PEEKDATA, c, (void *)&data_word, 0);
    SAY("PEEKDATA (glibc) %#lx, errno %s\n", w, errname(errno));
    long out = 0;
    r = pt(PTRACE_PEEKDATA, c, (long)&data_word, (long)&out);
    SAY("PEEKDATA (raw) %s, *data %#lx\n", res(r), out);
    SAY("PEEKDATA into a bad buffer: %s\n", res(pt(PTRACE_PEEKDATA, c, (long)&data_word, 8)));
    SAY("PEEKDATA at an unmapped address: %s\n", res(pt(PTRACE_PEEKDATA, c, 0x10, (long)&out)));
    SAY("POKEDATA: %s\n", res(pt(PTRACE_POKEDATA, c, (long)&data_word, 0x5555aaaa)));
    SAY("POKEDATA at an unmapped address: %s\n", res(pt(PTRACE_POKEDATA, c, 0x10, 1)));
    long word;
    memcpy(&word, "POKED!!!", 8);
    SAY("POKETEXT into read-only .rodata: %s\n", res(pt(PTRACE_POKETEXT, c, (long)ro_text, word)));
    r = pt(PTRACE_PEEKTEXT, c, (long)ro_text, (long)&out);
    SAY("PEEKTEXT back %s: \"%.8s\"; the tracer's own copy: \"%.15s\"\n", res(r), (char *)&out,
        ro_text);

    /* Registers. */
    unsigned long regs[40];
    struct iovec iov = {regs, sizeof regs};
    r = pt(PTRACE_GETREGSET, c, NT_PRSTATUS, (long)&iov);
    SAY("GETREGSET NT_PRSTATUS %s: iov_len %zu, a7 %lu (kill), a0 %lu, pc set: %s\n", res(r),
        iov.iov_len, regs[17], regs[10], regs[0] ? "yes" : "no");
    iov.iov_len = 24;
    r = pt(PTRACE_GETREGSET, c, NT_PRSTATUS, (long)&iov);
    SAY("GETREGSET of 24 bytes %s: iov_len %zu\n", res(r), iov.iov_len);
    iov.iov_len = 12;
    SAY("GETREGSET of 12 bytes: %s\n", res(pt(PTRACE_GETREGSET, c, NT_PRSTATUS, (long)&iov)));
    iov.iov_len = sizeof regs;
    SAY("GETREGSET of regset 99: %s\n", res(pt(PTRACE_GETREGSET, c, 99, (long)&iov)));
    SAY("GETREGSET through a bad iovec: %s\n", res(pt(PTRACE_GETREGSET, c, NT_PRSTATUS, 8)));
    struct iovec bad = {(void *)8, 256};
    SAY("GETREGSET into a bad buffer: %s\n", res(pt(PTRACE_GETREGSET, c, NT_PRSTATUS, (long)&bad)));
    unsigned long fp[40];
    struct iovec fiov = {fp, sizeof fp};
    r = pt(PTRACE_GETREGSET, c, NT_PRFPREG, (long)&fiov);
    SAY("GETREGSET NT_PRFPREG %s: iov_len %zu\n", res(r), fiov.iov_len);
    r = pt(PTRACE_SETREGSET, c, NT_PRFPREG, (long)&fiov);
    SAY("SETREGSET NT_PRFPREG (the same) %s: iov_len %zu\n", res(r), fiov.iov_len);

    /* Requests and options. */
    SAY("unknown request: %s\n", res(pt(12345, c, 0, 0)));
    SAY("CONT with signal 100: %s\n", res(pt(PTRACE_CONT, c, 0, 100)));
    SAY("INTERRUPT without SEIZE: %s\n", res(pt(PTRACE_INTERRUPT, c, 0, 0)));
    SAY("SETOPTIONS 0x80000000: %s\n", res(pt(PTRACE_SETOPTIONS, c, 0, 0x80000000L)));
    SAY("SETOPTIONS TRACESYSGOOD: %s\n", res(pt(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACESYSGOOD)));

    /* The stop signal delivered: a group-stop, reported again, without siginfo. */
    SAY("delivering the SIGSTOP\n");
    pt(PTRACE_CONT, c, 0, SIGSTOP);
    wait_for("tracer", c);
    SAY("GETSIGINFO in the group-stop: %s\n", res(pt(PTRACE_GETSIGINFO, c, 0, (long)&si)));

    /* PTRACE_SYSCALL up to getppid(), whose result the tracer changes. */
    int in_call = 0, stops = 0;
    for (;;) {
        if (pt(PTRACE_SYSCALL, c, 0, 0) != 0 || waitpid(c, &st, __WALL) != c || !WIFSTOPPED(st)) {
            SAY("PTRACE_SYSCALL: lost the child\n");
            return;
        }
        if (WSTOPSIG(st) != (SIGTRAP | 0x80)) {
            SAY("unexpected stop %d\n", WSTOPSIG(st));
            return;
        }
        stops++;
        regs_of(c, regs);
        in_call = !in_call;
        if (regs[17] != SYS_getppid)
            continue;
        if (in_call) {
            SAY("syscall-entry stop of getppid (SIGTRAP|0x80 after %d stops)\n", stops);
            continue;
        }
        SAY("syscall-exit stop of getppid: a0 %ld is the tracer: %s\n", (long)regs[10],
            (pid_t)regs[10] == getpid() ? "yes" : "no");
        regs[10] = 4242;
        iov.iov_len = 32 * 8;
        SAY("SETREGSET a0 = 4242: %s\n", res(pt(PTRACE_SETREGSET, c, NT_PRSTATUS, (long)&iov)));
        break;
    }

    /* Signal-delivery-stops. */
    pt(PTRACE_CONT, c, 0, 0);
    wait_for("tracer", c);
    pt(PTRACE_GETSIGINFO, c, 0, (long)&si);
    SAY("GETSIGINFO: %s, si_code %d (SI_USER), from the child: %s; suppressed\n",
        signame(si.si_signo), si.si_code, si.si_pid == c ? "yes" : "no");
    pt(PTRACE_CONT, c, 0, 0);
    wait_for("tracer", c);
    SAY("delivering SIGUSR1 instead\n");
    pt(PTRACE_CONT, c, 0, SIGUSR1);
    wait_for("tracer", c);
    SAY("delivering it as it is\n");
    pt(PTRACE_CONT, c, 0, SIGUSR1);
    wait_for("tracer", c);
}

/* ---- 2. exec and fork events ---------------------------------------------------------- */

static void part_exec(void)
{
    SAY("== exec and fork events ==\n");
    pid_t c = fork();
    if (c == 0) {
        pt(PTRACE_TRACEME, 0, 0, 0);
        stop_self();
        char *argv[] = {"ptracetest", "exec", NULL};
        execve("/proc/self/exe", argv, NULL);
        _exit(127);
    }
    wait_for("tracer", c);
    long opts = PTRACE_O_TRACEEXEC | PTRACE_O_TRACEFORK;
    SAY("SETOPTIONS TRACEEXEC|TRACEFORK: %s\n", res(pt(PTRACE_SETOPTIONS, c, 0, opts)));
    pt(PTRACE_CONT, c, 0, 0);
    wait_for("tracer", c);
    unsigned long msg = 0;
    pt(PTRACE_GETEVENTMSG, c, 0, (long)&msg);
    SAY("GETEVENTMSG: the exec'ing pid: %s\n", (pid_t)msg == c ? "yes" : "no");
    pt(PTRACE_CONT, c, 0, 0);
    wait_for("tracer", c);
    pt(PTRACE_GETEVENTMSG, c, 0, (long)&msg);
    pid_t gc = (pid_t)msg;
    SAY("GETEVENTMSG: a new pid: %s\n", gc > c ? "yes" : "no");
    pt(PTRACE_CONT, c, 0, 0);
    wait_for("tracer (its new child)", gc);
    pt(PTRACE_CONT, gc, 0, 0);
    wait_for("tracer (its new child)", gc);
    wait_for("tracer", c);

    /* Without TRACEEXEC: a SIGTRAP after the exec. */
    c = fork();
    if (c == 0) {
        pt(PTRACE_TRACEME, 0, 0, 0);
        stop_self();
        char *argv[] = {"ptracetest", "exit9", NULL};
        execve("/proc/self/exe", argv, NULL);
        _exit(127);
    }
    wait_for("tracer", c);
    pt(PTRACE_CONT, c, 0, 0);
    wait_for("tracer", c);
    siginfo_t si;
    pt(PTRACE_GETSIGINFO, c, 0, (long)&si);
    SAY("legacy exec SIGTRAP: si_code %d (SI_USER)\n", si.si_code);
    pt(PTRACE_CONT, c, 0, 0);
    wait_for("tracer", c);
}

/* The exec'd image of part 2: fork a child that exits 5, wait for it (after the tracer
 * has), exit with its status + 10. */
static int exec_mode(void)
{
    SAY("exec'd child: running\n");
    pid_t gc = fork();
    if (gc == 0)
        _exit(5);
    int st = 0;
    if (waitpid(gc, &st, 0) != gc)
        return 99;
    return WIFEXITED(st) ? WEXITSTATUS(st) + 10 : 98;
}

/* ---- 2b. a signal for the tracer interrupts a sleeping read -------------------------- */

/* Waits until task pid sleeps ('S' in /proc/<pid>/stat). */
static void wait_sleeping(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (;;) {
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        if (p && p[1] == ' ' && p[2] == 'S')
            return;
        sched_yield();
    }
}

static void part_restart(void)
{
    SAY("== a sleeping read and the tracer's signals ==\n");
    int a[2], b[2], back[2];
    if (pipe(a) != 0 || pipe(b) != 0 || pipe(back) != 0)
        return;
    pid_t c = fork();
    if (c == 0) {
        struct sigaction sa = {0};
        sa.sa_sigaction = on_usr1;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGUSR1, &sa, NULL);
        pt(PTRACE_TRACEME, 0, 0, 0);
        char ch;
        long n = read(a[0], &ch, 1);
        SAY("child: read returned %ld (%s)\n", n, n < 0 ? errname(errno) : "restarted");
        if (write(back[1], "k", 1) != 1)
            _exit(1);
        n = read(b[0], &ch, 1);
        SAY("child: read returned %ld (%s), the handler ran %d times\n", n,
            n < 0 ? errname(errno) : "?", usr1_count);
        _exit(0);
    }
    char ch;
    wait_sleeping(c);
    kill(c, SIGUSR1);
    wait_for("tracer", c);
    SAY("suppressed: the read sleeps again\n");
    pt(PTRACE_CONT, c, 0, 0);
    wait_sleeping(c);
    if (write(a[1], "x", 1) != 1 || read(back[0], &ch, 1) != 1)
        return;
    /* The child has read, and sleeps in its second read now. */
    wait_sleeping(c);
    kill(c, SIGUSR1);
    wait_for("tracer", c);
    SAY("delivered: the handler runs\n");
    pt(PTRACE_CONT, c, 0, SIGUSR1);
    wait_for("tracer", c);
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
        close(back[i]);
    }
}

/* ---- 3. ATTACH, SEIZE, INTERRUPT, KILL, EXITKILL ---------------------------------------- */

static pid_t looper(void)
{
    pid_t p = fork();
    if (p == 0)
        for (volatile unsigned long spin = 0;; spin++)
            ;
    return p;
}

static void part_attach(void)
{
    SAY("== ATTACH, SEIZE, INTERRUPT, KILL ==\n");
    pid_t l = looper(), other = looper();
    SAY("ATTACH: %s\n", res(pt(PTRACE_ATTACH, l, 0, 0)));
    wait_for("tracer", l);
    siginfo_t si;
    pt(PTRACE_GETSIGINFO, l, 0, (long)&si);
    SAY("GETSIGINFO: %s, si_code %#x (SI_KERNEL)\n", signame(si.si_signo), si.si_code);
    SAY("ATTACH again: %s\n", res(pt(PTRACE_ATTACH, l, 0, 0)));
    SAY("ATTACH to myself: %s\n", res(pt(PTRACE_ATTACH, getpid(), 0, 0)));
    SAY("ATTACH to no such task: %s\n", res(pt(PTRACE_ATTACH, 99999, 0, 0)));
    long out;
    SAY("PEEKDATA of a task not traced: %s\n", res(pt(PTRACE_PEEKDATA, other, (long)&data_word, (long)&out)));
    SAY("DETACH: %s\n", res(pt(PTRACE_DETACH, l, 0, 0)));
    SAY("PEEKDATA after DETACH: %s\n", res(pt(PTRACE_PEEKDATA, l, (long)&data_word, (long)&out)));
    SAY("SEIZE with addr 1: %s\n", res(pt(PTRACE_SEIZE, l, 1, 0)));
    SAY("SEIZE with options 0x80000000: %s\n", res(pt(PTRACE_SEIZE, l, 0, 0x80000000L)));
    SAY("SEIZE: %s\n", res(pt(PTRACE_SEIZE, l, 0, 0)));
    int st;
    SAY("waitpid WNOHANG (no stop): %d\n", (int)waitpid(l, &st, WNOHANG | __WALL));
    SAY("PEEKDATA while it runs: %s\n", res(pt(PTRACE_PEEKDATA, l, (long)&data_word, (long)&out)));
    SAY("INTERRUPT: %s\n", res(pt(PTRACE_INTERRUPT, l, 0, 0)));
    wait_for("tracer", l);
    long r = pt(PTRACE_PEEKDATA, l, (long)&data_word, (long)&out);
    SAY("PEEKDATA while stopped: %s, %#lx\n", res(r), out);
    SAY("KILL: %s\n", res(pt(PTRACE_KILL, l, 0, 0)));
    wait_for("tracer", l);
    kill(other, SIGKILL);
    wait_for("parent", other);
    /* INTERRUPT of a tracee asleep in pause(): it stops, and sleeps again after CONT. */
    pid_t p = fork();
    if (p == 0) {
        pause();
        _exit(0);
    }
    SAY("SEIZE a child in pause(): %s\n", res(pt(PTRACE_SEIZE, p, 0, 0)));
    SAY("INTERRUPT: %s\n", res(pt(PTRACE_INTERRUPT, p, 0, 0)));
    wait_for("tracer", p);
    SAY("CONT: %s\n", res(pt(PTRACE_CONT, p, 0, 0)));
    SAY("waitpid WNOHANG (back in pause): %d\n", (int)waitpid(p, &st, WNOHANG | __WALL));
    kill(p, SIGKILL);
    wait_for("tracer", p);

    SAY("== EXITKILL ==\n");
    pid_t t = fork();
    if (t == 0) {
        pid_t g = looper();
        long ok = pt(PTRACE_SEIZE, g, 0, PTRACE_O_EXITKILL);
        _exit(ok == 0 ? 0 : 1);
    }
    wait_for("init (the tracer)", t);
    /* The tracee, orphaned, is init's child now. */
    wait_for("init (the orphaned tracee)", -1);

    SAY("== a tracer exits without EXITKILL ==\n");
    t = fork();
    if (t == 0) {
        pid_t g = looper();
        long ok = pt(PTRACE_SEIZE, g, 0, 0);
        _exit(ok == 0 ? g - getpid() : 0);
    }
    st = wait_for("init (the tracer)", t);
    pid_t g = t + WEXITSTATUS(st);
    SAY("the orphaned tracee, detached, can be attached again: %s\n",
        res(pt(PTRACE_ATTACH, g, 0, 0)));
    wait_for("init (its new tracer)", g);
    SAY("KILL: %s\n", res(pt(PTRACE_KILL, g, 0, 0)));
    wait_for("init (its new tracer)", g);
}

/* ---- 5. GETSIGMASK/SETSIGMASK, SETSIGINFO --------------------------------------------- */

static void part_sigmask(void)
{
    SAY("== GETSIGMASK, SETSIGMASK, SETSIGINFO ==\n");
    pid_t c = fork();
    if (c == 0) {
        sigset_t set, cur;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigprocmask(SIG_BLOCK, &set, NULL);
        pt(PTRACE_TRACEME, 0, 0, 0);
        stop_self();
        sigprocmask(SIG_BLOCK, NULL, &cur);
        SAY("child: blocked now: SIGUSR1 %s, SIGUSR2 %s, SIGKILL %s\n",
            sigismember(&cur, SIGUSR1) ? "yes" : "no", sigismember(&cur, SIGUSR2) ? "yes" : "no",
            sigismember(&cur, SIGKILL) ? "yes" : "no");
        _exit(0);
    }
    wait_for("tracer", c);
    unsigned long mask = 0;
    long r = pt(PTRACE_GETSIGMASK, c, 8, (long)&mask);
    SAY("GETSIGMASK: %s, SIGUSR1 in it: %s\n", res(r),
        mask & (1UL << (SIGUSR1 - 1)) ? "yes" : "no");
    SAY("GETSIGMASK with a size of 4: %s\n", res(pt(PTRACE_GETSIGMASK, c, 4, (long)&mask)));
    mask = (1UL << (SIGUSR2 - 1)) | (1UL << (SIGKILL - 1));
    SAY("SETSIGMASK {SIGUSR2, SIGKILL}: %s\n", res(pt(PTRACE_SETSIGMASK, c, 8, (long)&mask)));
    SAY("SETSIGMASK from a bad buffer: %s\n", res(pt(PTRACE_SETSIGMASK, c, 8, 8)));
    siginfo_t si;
    pt(PTRACE_GETSIGINFO, c, 0, (long)&si);
    si.si_code = 77;
    SAY("SETSIGINFO (si_code 77): %s\n", res(pt(PTRACE_SETSIGINFO, c, 0, (long)&si)));
    memset(&si, 0, sizeof si);
    pt(PTRACE_GETSIGINFO, c, 0, (long)&si);
    SAY("GETSIGINFO after it: %s, si_code %d\n", signame(si.si_signo), si.si_code);
    SAY("SETSIGINFO from a bad buffer: %s\n", res(pt(PTRACE_SETSIGINFO, c, 0, 8)));
    /* The child prints next: the tracer's line comes before the resume. */
    SAY("CONT, the SIGSTOP suppressed:\n");
    long cont = pt(PTRACE_CONT, c, 0, 0);
    wait_for("tracer", c);
    if (cont != 0)
        SAY("CONT failed: %s\n", res(cont));
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exec") == 0)
        return exec_mode();
    if (argc > 1 && strcmp(argv[1], "exit9") == 0)
        return 9;
    part_traceme();
    part_exec();
    part_restart();
    part_attach();
    part_sigmask();
    SAY("done\n");
    return 0;
}
