/* sigs: signal delivery, handlers and rt_sigreturn.
 *
 * SIGSEGV with SA_SIGINFO: si_code SEGV_MAPERR for an unmapped address and SEGV_ACCERR for
 * a store to a PROT_READ page, si_addr exact; recovery by siglongjmp, and by repairing the
 * cause in the handler (mprotect RW, or mmap MAP_FIXED over the hole) and returning, so
 * rt_sigreturn restores the context and the faulting store re-executes and takes effect.
 * sigaltstack with SA_ONSTACK (the handler checks that a local lies in the alternate stack
 * and that sigaltstack reports SS_ONSTACK), and a stack overflow caught on the alternate
 * stack. raise() and kill(getpid()) with a handler; SIG_IGN (an ignored signal is
 * discarded, but a blocked one stays pending); a blocked signal delivered when
 * sigprocmask unblocks it; SA_RESETHAND; SA_NODEFER against the default deferral; the
 * signal mask inside a handler (the signal itself plus sa_mask) and its restoration;
 * SIGCHLD ignored by default, SIGCHLD pending while blocked and then handled, SIG_IGN on
 * SIGCHLD reaping children automatically (ECHILD); a child killed with SIGKILL and with
 * SIGTERM, and one that handles SIGTERM in sigsuspend and exits; callee-saved registers
 * survive a handler.
 *
 * Only yes/no, counts, signal names and offsets are printed. Exit status 0 when all checks
 * passed, else 1. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

static long PG;
static int failures;

/* Keeps the compiler from moving memory accesses across a faulting access. */
#define barrier() __asm__ volatile("" ::: "memory")

static void check(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAIL");
    if (!ok)
        failures++;
}

/* "yes"/"no" for a signal in the pending set, or the errno name if sigpending fails. */
static const char *pending(int sig)
{
    sigset_t pend;
    sigemptyset(&pend);
    if (sigpending(&pend) != 0)
        return errname(errno);
    return sigismember(&pend, sig) ? "yes" : "no";
}

static const char *signame(int s)
{
    switch (s) {
    case SIGSEGV: return "SIGSEGV";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGTERM: return "SIGTERM";
    case SIGKILL: return "SIGKILL";
    case SIGCHLD: return "SIGCHLD";
    case SIGABRT: return "SIGABRT";
    default: return "other";
    }
}

static void set_handler(int sig, void (*fn)(int, siginfo_t *, void *), int flags, const sigset_t *mask)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | flags;
    if (mask)
        sa.sa_mask = *mask;
    else
        sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) {
        printf("sigaction(%s): %s\n", signame(sig), errname(errno));
        exit(1);
    }
}

static void set_simple(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) {
        printf("sigaction(%s): %s\n", signame(sig), errname(errno));
        exit(1);
    }
}

static void *xmap(int prot)
{
    void *p = mmap(NULL, PG, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap: %s\n", errname(errno));
        exit(1);
    }
    return p;
}

/* ---- SIGSEGV: siglongjmp recovery ---- */

static sigjmp_buf jb;
static volatile sig_atomic_t seen_code, seen_signo;
static void *volatile seen_addr;

static void segv_jump(int sig, siginfo_t *si, void *uc)
{
    seen_signo = sig;
    seen_code = si->si_code;
    seen_addr = si->si_addr;
    siglongjmp(jb, 1);
}

static const char *codename(int c)
{
    return c == SEGV_MAPERR ? "SEGV_MAPERR" : c == SEGV_ACCERR ? "SEGV_ACCERR" : "other";
}

static void segv_longjmp(void)
{
    printf("== SIGSEGV, siglongjmp ==\n");
    set_handler(SIGSEGV, segv_jump, 0, NULL);
    /* Three pages: the first made read-only, the second unmapped (a hole nothing else
     * mapped later can fill before it is used), the third left alone. */
    unsigned char *three = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (three == MAP_FAILED)
        exit(1);
    unsigned char *ro = three, *hole = three + PG;
    munmap(hole, PG);
    memset(ro, 0x5a, PG);
    mprotect(ro, PG, PROT_READ);

    struct { const char *what; unsigned char *addr; } cases[] = {
        {"store to an unmapped page", hole + 0x123},
        {"load from an unmapped page", hole + 0x7f8},
        {"store to a PROT_READ page", ro + 0x321},
    };
    for (unsigned i = 0; i < 3; i++) {
        seen_code = 0;
        seen_addr = NULL;
        barrier();
        if (sigsetjmp(jb, 1) == 0) {
            if (i == 1)
                (void)*(volatile unsigned char *)cases[i].addr;
            else
                *(volatile unsigned char *)cases[i].addr = 1;
            barrier();
            printf("%s: no fault\n", cases[i].what);
            failures++;
        } else {
            printf("%s: %s %s, si_addr exact: %s\n", cases[i].what, signame(seen_signo),
                   codename(seen_code), seen_addr == cases[i].addr ? "yes" : "no");
        }
    }
    /* siglongjmp(.., 1) restored the mask: SIGSEGV is not blocked any more. */
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    check("SIGSEGV unblocked after siglongjmp", !sigismember(&cur, SIGSEGV));
    check("read-only page unchanged", ro[0x321] == 0x5a);
    munmap(three, 3 * PG);
}

/* ---- SIGSEGV: repair and return (rt_sigreturn re-executes the store) ---- */

static unsigned char *volatile fix_page;
static volatile int fixes;

static void segv_fix(int sig, siginfo_t *si, void *uc)
{
    fixes++;
    seen_code = si->si_code;
    seen_addr = si->si_addr;
    uintptr_t page = (uintptr_t)si->si_addr & ~(uintptr_t)(PG - 1);
    if ((unsigned char *)page != fix_page)
        _exit(99); /* a fault we did not expect: do not loop */
    if (si->si_code == SEGV_ACCERR)
        mprotect((void *)page, PG, PROT_READ | PROT_WRITE);
    else
        mmap((void *)page, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
}

static void segv_return(void)
{
    printf("== SIGSEGV, repair in the handler and return ==\n");
    set_handler(SIGSEGV, segv_fix, 0, NULL);
    unsigned char *p = xmap(PROT_READ | PROT_WRITE);
    memset(p, 0x11, PG);
    mprotect(p, PG, PROT_READ);
    fix_page = p;
    fixes = 0;
    barrier();
    /* Live values in callee-saved registers across the fault must survive sigreturn. */
    volatile unsigned char *vp = p;
    long a = 3, b = 5;
    for (int i = 0; i < 4; i++) {
        vp[100 + i] = (unsigned char)(0x40 + i); /* first iteration faults */
        a = a * 7 + i;
        b = b * 11 + a;
    }
    barrier();
    printf("store to PROT_READ: %d fault(s), %s, si_addr offset %ld, stored bytes %02x %02x %02x %02x, "
           "neighbour %02x\n",
           fixes, codename(seen_code), (long)((unsigned char *)seen_addr - p), p[100], p[101], p[102], p[103],
           p[99]);
    printf("values computed around the faulting store: %ld %ld\n", a, b);
    check("registers intact after return from the handler", a == 7269 && b == 137751);

    munmap(p, PG);
    fixes = 0;
    vp = p;
    barrier();
    vp[0x555] = 0x77; /* unmapped: the handler maps a fresh zero page there */
    barrier();
    printf("store to unmapped: %d fault(s), %s, si_addr offset %ld, stored %02x, rest zero: %s\n", fixes,
           codename(seen_code), (long)((unsigned char *)seen_addr - p), p[0x555],
           p[0] == 0 && p[0x554] == 0 && p[PG - 1] == 0 ? "yes" : "no");
    munmap(p, PG);
    signal(SIGSEGV, SIG_DFL);
}

/* ---- sigaltstack ---- */

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31) /* include/uapi/linux/signal.h; not in glibc's headers */
#endif

static char *alt_lo, *alt_hi;
static volatile int alt_on, alt_flags;

static void on_alt(int sig, siginfo_t *si, void *uc)
{
    char local;
    alt_on = &local >= alt_lo && &local < alt_hi;
    stack_t now;
    sigaltstack(NULL, &now);
    alt_flags = now.ss_flags;
}

static volatile int depth_reached;
#pragma GCC diagnostic ignored "-Winfinite-recursion"
static int recurse(int n)
{
    volatile char buf[512];
    buf[0] = (char)n;
    depth_reached = n;
    return recurse(n + 1) + buf[0];
}

static void overflow_handler(int sig, siginfo_t *si, void *uc)
{
    char local;
    alt_on = &local >= alt_lo && &local < alt_hi;
    siglongjmp(jb, 1);
}

static void altstack(void)
{
    printf("== sigaltstack ==\n");
    size_t sz = 64 * 1024;
    char *mem = malloc(sz);
    if (!mem)
        exit(1);
    stack_t ss = {.ss_sp = mem, .ss_size = sz, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        printf("sigaltstack: %s\n", errname(errno));
        exit(1);
    }
    alt_lo = mem;
    alt_hi = mem + sz;
    stack_t cur;
    sigaltstack(NULL, &cur);
    printf("outside a handler: SS_ONSTACK %s, SS_DISABLE %s, size matches %s\n",
           cur.ss_flags & SS_ONSTACK ? "yes" : "no", cur.ss_flags & SS_DISABLE ? "yes" : "no",
           cur.ss_size == sz ? "yes" : "no");

    set_handler(SIGUSR1, on_alt, SA_ONSTACK, NULL);
    raise(SIGUSR1);
    printf("SA_ONSTACK handler on the alternate stack: %s, sigaltstack says SS_ONSTACK: %s\n",
           alt_on ? "yes" : "no", alt_flags & SS_ONSTACK ? "yes" : "no");
    set_handler(SIGUSR1, on_alt, 0, NULL);
    raise(SIGUSR1);
    printf("handler without SA_ONSTACK on the alternate stack: %s\n", alt_on ? "yes" : "no");

    /* Run off the end of the stack: the SIGSEGV can only be handled on the alternate one. */
    struct rlimit rl = {1 << 20, 1 << 20};
    setrlimit(RLIMIT_STACK, &rl); /* keep the overflow short (the main stack is already mapped) */
    set_handler(SIGSEGV, overflow_handler, SA_ONSTACK, NULL);
    alt_on = 0;
    if (sigsetjmp(jb, 1) == 0) {
        recurse(0);
        printf("stack overflow: no fault\n");
        failures++;
    } else {
        printf("stack overflow caught on the alternate stack: %s, recursed deeper than 1000: %s\n",
               alt_on ? "yes" : "no", depth_reached > 1000 ? "yes" : "no");
    }
    signal(SIGSEGV, SIG_DFL);

    /* SS_AUTODISARM: the stack is disarmed while a handler runs on it (a nested signal
       would get a stack of its own) and armed again by the frame's uc_stack at return. */
    ss.ss_flags = SS_AUTODISARM;
    if (sigaltstack(&ss, NULL) != 0)
        printf("sigaltstack(SS_AUTODISARM): %s\n", errname(errno));
    set_handler(SIGUSR1, on_alt, SA_ONSTACK, NULL);
    raise(SIGUSR1);
    sigaltstack(NULL, &cur);
    printf("SS_AUTODISARM: handler on the alternate stack: %s, disarmed inside: %s, "
           "armed again after: %s\n",
           alt_on ? "yes" : "no", alt_flags & SS_DISABLE ? "yes" : "no",
           !(cur.ss_flags & SS_DISABLE) && cur.ss_sp == mem ? "yes" : "no");

    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    sigaltstack(NULL, &cur);
    printf("after SS_DISABLE: SS_DISABLE %s\n", cur.ss_flags & SS_DISABLE ? "yes" : "no");
    free(mem);
}

/* ---- raise, kill, SIG_IGN, blocking ---- */

static volatile int count1, count2;
static volatile int last_code;
static volatile int pid_matches;

static void usr1_info(int sig, siginfo_t *si, void *uc)
{
    count1++;
    last_code = si->si_code;
    pid_matches = si->si_pid == getpid();
}

static void usr2_simple(int sig)
{
    count2++;
}

static void raising(void)
{
    printf("== raise, kill, SIG_IGN, blocked signals ==\n");
    set_handler(SIGUSR1, usr1_info, 0, NULL);
    count1 = 0;
    raise(SIGUSR1);
    printf("raise(SIGUSR1): handler ran %d time(s), si_code %s, si_pid is self %s\n", count1,
           last_code == SI_TKILL ? "SI_TKILL" : last_code == SI_USER ? "SI_USER" : "other",
           pid_matches ? "yes" : "no");
    kill(getpid(), SIGUSR1);
    printf("kill(getpid(), SIGUSR1): handler ran %d time(s), si_code %s, si_pid is self %s\n", count1,
           last_code == SI_USER ? "SI_USER" : last_code == SI_TKILL ? "SI_TKILL" : "other",
           pid_matches ? "yes" : "no");

    set_simple(SIGUSR2, SIG_IGN);
    count2 = 0;
    raise(SIGUSR2);
    printf("SIG_IGN: survived, pending %s\n", pending(SIGUSR2));

    /* Blocked: the signal waits; several sends of a standard signal collapse into one. */
    set_handler(SIGUSR1, usr1_info, 0, NULL);
    count1 = 0;
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old);
    raise(SIGUSR1);
    kill(getpid(), SIGUSR1);
    printf("blocked: handler ran %d time(s), pending %s\n", count1, pending(SIGUSR1));
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("after unblocking: handler ran %d time(s)\n", count1);

    /* Blocked and ignored: stays pending (sig_ignored() never ignores a blocked signal);
     * setting SIG_IGN then discards it (do_sigaction flushes it). */
    set_simple(SIGUSR2, SIG_IGN);
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, &old);
    raise(SIGUSR2);
    printf("blocked and ignored: pending %s\n", pending(SIGUSR2));
    sigprocmask(SIG_SETMASK, &old, NULL);
    set_simple(SIGUSR2, usr2_simple);
    sigprocmask(SIG_BLOCK, &block, &old);
    raise(SIGUSR2);
    set_simple(SIGUSR2, SIG_IGN);
    printf("blocked, then SIG_IGN set: pending %s\n", pending(SIGUSR2));
    set_simple(SIGUSR2, usr2_simple);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("unblocked with a handler again: handler ran %d time(s)\n", count2);

    /* SIGKILL and SIGSTOP cannot be caught or blocked. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = usr2_simple;
    printf("sigaction(SIGKILL): %s\n", sigaction(SIGKILL, &sa, NULL) < 0 ? errname(errno) : "OK");
    printf("sigaction(SIGSTOP): %s\n", sigaction(SIGSTOP, &sa, NULL) < 0 ? errname(errno) : "OK");
    printf("sigaction(0): %s\n", sigaction(0, &sa, NULL) < 0 ? errname(errno) : "OK");
    printf("sigaction(65): %s\n", sigaction(65, &sa, NULL) < 0 ? errname(errno) : "OK");
    sigemptyset(&block);
    sigaddset(&block, SIGKILL);
    sigprocmask(SIG_BLOCK, &block, NULL);
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    printf("SIGKILL blockable: %s\n", sigismember(&cur, SIGKILL) ? "yes" : "no");
    printf("kill(getpid(), 0): %s\n", kill(getpid(), 0) < 0 ? errname(errno) : "OK");
    printf("kill(getpid(), 99): %s\n", kill(getpid(), 99) < 0 ? errname(errno) : "OK");
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
}

/* ---- SA_RESETHAND, SA_NODEFER, the mask in a handler ---- */

static volatile int depth, max_depth, events;
static char order[64];
static volatile int norder;

static void nest(int sig, siginfo_t *si, void *uc)
{
    depth++;
    if (depth > max_depth)
        max_depth = depth;
    if (norder < 60)
        order[norder++] = (char)('0' + depth);
    if (events++ == 0)
        raise(sig); /* with SA_NODEFER: runs now, nested; without: after this returns */
    if (norder < 60)
        order[norder++] = (char)('a' + depth - 1);
    depth--;
}

static volatile int mask_self, mask_usr2, mask_term;

static void show_mask(int sig, siginfo_t *si, void *uc)
{
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    mask_self = sigismember(&cur, SIGUSR1);
    mask_usr2 = sigismember(&cur, SIGUSR2);
    mask_term = sigismember(&cur, SIGTERM);
    /* The interrupted context's mask is in the ucontext: it must not contain SIGUSR1. */
    ucontext_t *u = uc;
    mask_term |= sigismember(&u->uc_sigmask, SIGUSR1) ? 2 : 0;
}

static void handler_flags(void)
{
    printf("== SA_RESETHAND, SA_NODEFER, the mask in a handler ==\n");
    set_handler(SIGUSR1, usr1_info, SA_RESETHAND, NULL);
    count1 = 0;
    raise(SIGUSR1);
    struct sigaction now;
    sigaction(SIGUSR1, NULL, &now);
    printf("SA_RESETHAND: handler ran %d time(s), disposition afterwards %s\n", count1,
           now.sa_handler == SIG_DFL ? "SIG_DFL" : "still the handler");

    set_handler(SIGUSR1, nest, 0, NULL);
    depth = max_depth = events = norder = 0;
    raise(SIGUSR1);
    order[norder] = 0;
    printf("default (deferred): max depth %d, order %s\n", max_depth, order);

    set_handler(SIGUSR1, nest, SA_NODEFER, NULL);
    depth = max_depth = events = norder = 0;
    raise(SIGUSR1);
    order[norder] = 0;
    printf("SA_NODEFER: max depth %d, order %s\n", max_depth, order);

    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR2);
    set_handler(SIGUSR1, show_mask, 0, &m);
    raise(SIGUSR1);
    printf("mask in handler: SIGUSR1 %s, SIGUSR2 (sa_mask) %s, SIGTERM %s, uc_sigmask has SIGUSR1 %s\n",
           mask_self ? "blocked" : "open", mask_usr2 ? "blocked" : "open", mask_term & 1 ? "blocked" : "open",
           mask_term & 2 ? "yes" : "no");
    set_handler(SIGUSR1, show_mask, SA_NODEFER, &m);
    raise(SIGUSR1);
    printf("mask in SA_NODEFER handler: SIGUSR1 %s, SIGUSR2 %s\n", mask_self ? "blocked" : "open",
           mask_usr2 ? "blocked" : "open");
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    check("mask restored after the handlers", !sigismember(&cur, SIGUSR1) && !sigismember(&cur, SIGUSR2));
    signal(SIGUSR1, SIG_DFL);
}

/* ---- children: SIGCHLD, kill ---- */

static volatile int chld_count, chld_code, chld_status;

static void on_chld(int sig, siginfo_t *si, void *uc)
{
    chld_count++;
    chld_code = si->si_code;
    chld_status = si->si_status;
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

static void print_status(const char *who, int st)
{
    if (WIFEXITED(st))
        printf("%s: exited with status %d\n", who, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("%s: killed by %s\n", who, signame(WTERMSIG(st)));
    else
        printf("%s: other wait status\n", who);
}

static volatile int term_seen;
static void on_term(int sig)
{
    term_seen = 1;
}

static void children(void)
{
    printf("== SIGCHLD and killing children ==\n");
    /* Default disposition of SIGCHLD is to ignore it: the parent is not disturbed. */
    pid_t pid = xfork();
    if (pid == 0)
        _exit(4);
    int st;
    waitpid(pid, &st, 0);
    print_status("child with SIGCHLD at SIG_DFL", st);

    /* Blocked SIGCHLD: pending after the child exits; delivered once unblocked. */
    set_handler(SIGCHLD, on_chld, 0, NULL);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &old);
    chld_count = 0;
    pid = xfork();
    if (pid == 0)
        _exit(12);
    waitpid(pid, &st, 0);
    printf("SIGCHLD blocked: pending %s, handler ran %d time(s)\n", pending(SIGCHLD), chld_count);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("unblocked: handler ran %d time(s), si_code %s, si_status %d\n", chld_count,
           chld_code == CLD_EXITED ? "CLD_EXITED" : "other", chld_status);
    print_status("that child", st);
    signal(SIGCHLD, SIG_DFL);

    /* SIGKILL and SIGTERM to a child blocked in read() on a pipe nobody writes to. */
    int pfd[2];
    if (pipe(pfd) != 0)
        exit(1);
    static const int sigs[] = {SIGKILL, SIGTERM};
    for (int i = 0; i < 2; i++) {
        pid = xfork();
        if (pid == 0) {
            char c;
            close(pfd[1]);
            read(pfd[0], &c, 1);
            _exit(0);
        }
        kill(pid, sigs[i]);
        waitpid(pid, &st, 0);
        char who[48];
        snprintf(who, sizeof who, "child sent %s", signame(sigs[i]));
        print_status(who, st);
    }
    /* A child that handles SIGTERM. It blocks SIGTERM, tells the parent it is ready and
     * waits in sigsuspend with SIGTERM open, so delivery does not depend on timing. */
    int ready[2];
    if (pipe(ready) != 0)
        exit(1);
    pid = xfork();
    if (pid == 0) {
        set_simple(SIGTERM, on_term);
        sigset_t t, none;
        sigemptyset(&t);
        sigaddset(&t, SIGTERM);
        sigprocmask(SIG_BLOCK, &t, NULL);
        close(ready[0]);
        write(ready[1], "r", 1);
        sigemptyset(&none);
        int r = sigsuspend(&none);
        sigset_t after;
        sigprocmask(SIG_BLOCK, NULL, &after);
        printf("child: sigsuspend returned %s, handler ran: %s, SIGTERM blocked again: %s\n",
               r < 0 ? errname(errno) : "0", term_seen ? "yes" : "no",
               sigismember(&after, SIGTERM) ? "yes" : "no");
        fflush(stdout);
        _exit(term_seen ? 21 : 22);
    }
    close(ready[1]);
    char c;
    read(ready[0], &c, 1);
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    print_status("child handling SIGTERM", st);
    close(ready[0]);
    close(pfd[0]);
    close(pfd[1]);

    printf("kill of a reaped child: %s\n", kill(pid, SIGTERM) < 0 ? errname(errno) : "OK");

    /* SIG_IGN on SIGCHLD: children are reaped automatically; wait gives ECHILD. */
    signal(SIGCHLD, SIG_IGN);
    pid = xfork();
    if (pid == 0)
        _exit(3);
    pid_t r = waitpid(pid, &st, 0);
    printf("SIGCHLD ignored: waitpid %s\n", r < 0 ? errname(errno) : "returned the child");
    signal(SIGCHLD, SIG_DFL);
}

int main(void)
{
    PG = sysconf(_SC_PAGESIZE);
    segv_longjmp();
    segv_return();
    altstack();
    raising();
    handler_flags();
    children();
    printf("sigs: %s\n", failures ? "FAILURES" : "all checks passed");
    return failures ? 1 : 0;
}
