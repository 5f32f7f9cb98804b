/* mtetrace: PTRACE_PEEKMTETAGS / PTRACE_POKEMTETAGS (arm64's ABI, request 33 / 34) on the
 * Zimt hart: a tracer reads and writes its tracee's memory tags, one tag per byte of a
 * struct iovec buffer, as arm64's __access_remote_tags() does over
 * get_user_page_vma_remote().
 *
 * The tracer maps three anonymous pages, the first two PROT_MTE (one VM_MTE VMA, the
 * third page a VMA without it), and forks a child that asks to be traced, tags the first
 * 16 granules of its copy 1..15,1 (settag: a COW break that copies the tags) and stops.
 * The tracer then: peeks them (full transfer; an address not 16-aligned is aligned down);
 * pokes granules 16..31 (the high nibble of each byte ignored) and four granules of the
 * second page, which the child has never touched (GUP faults it in for FOLL_WRITE);
 * peeks across the page boundary inside the VMA; peeks 10 tags 3 granules before the end
 * of the VM_MTE VMA (a partial transfer: 0 and iov_len 3); and checks the errnos: EIO on
 * the VMA without VM_MTE and on an unmapped address, EFAULT for a tracer buffer that
 * faults, lies outside user space, an iovec that faults and a zero length (nothing
 * copied), ESRCH for a task it does not trace and for the tracee while it runs (or has
 * exited), EPERM to attach to itself. Its own copy's tags are untouched. The child, resumed,
 * reads its tags back with the tag-read instruction (mte_loadtag) and tells in its exit
 * status whether the poked ones are there. Printed: tags and results, never addresses.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../include/mte.h"
#include "errname.h"

#define PTRACE_TRACEME 0
#define PTRACE_CONT 7
#define PTRACE_ATTACH 16
#define PTRACE_PEEKMTETAGS 33
#define PTRACE_POKEMTETAGS 34
#define PAGE 4096UL

#define SAY(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)

static long pt(long req, pid_t pid, unsigned long addr, void *data)
{
    return syscall(SYS_ptrace, req, pid, addr, data);
}

static const char *res(long r)
{
    return r == 0 ? "0" : r == -1 ? errname(errno) : "unexpected";
}

/* One tag request: its result, and the tags moved with the iov_len it left. */
static void tags_req(const char *what, long req, pid_t pid, unsigned long addr, unsigned char *buf,
                     size_t len)
{
    struct iovec iov = {buf, len};
    long r = pt(req, pid, addr, &iov);
    printf("%s: %s, iov_len %zu", what, res(r), iov.iov_len);
    if (r == 0 && req == PTRACE_PEEKMTETAGS) {
        printf(", tags");
        for (size_t i = 0; i < iov.iov_len; i++)
            printf(" %u", buf[i]);
    }
    SAY("\n");
}

static void child(char *region)
{
    if (pt(PTRACE_TRACEME, 0, 0, 0) != 0)
        _exit(100);
    for (unsigned i = 0; i < 16; i++)
        mte_settag(mte_addtag(region + 16 * i, i % 15 + 1), 1);
    syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
    int own = 1, poked = 1, fresh = 1;
    for (unsigned i = 0; i < 16; i++) {
        own &= mte_loadtag(region + 16 * i) == i % 15 + 1;
        poked &= mte_loadtag(region + 16 * (16 + i)) == ((i * 7) & 0xf);
    }
    for (unsigned i = 0; i < 4; i++)
        fresh &= mte_loadtag(region + PAGE + 16 * i) == 9 + i;
    /* The answer in the exit status: the tracer prints it (no interleaving). */
    _exit(own | poked << 1 | fresh << 2);
}

int main(void)
{
    if (mte_enable(PR_MTE_TCF_SYNC, 0xfffe) != 0) {
        SAY("mte_enable: %s\n", errname(errno));
        return 1;
    }
    char *region = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED || mprotect(region, 2 * PAGE, PROT_READ | PROT_WRITE | PROT_MTE) != 0) {
        SAY("mmap/mprotect: %s\n", errname(errno));
        return 1;
    }
    region[0] = 1; /* the first page mapped (tags zero) before the fork */
    pid_t c = fork();
    if (c == 0)
        child(region);
    int st;
    if (waitpid(c, &st, 0) != c || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) {
        SAY("no stop: %#x\n", st);
        return 1;
    }
    SAY("tracee stopped by SIGSTOP\n");

    unsigned char buf[64];
    tags_req("PEEK 16 at the start", PTRACE_PEEKMTETAGS, c, (unsigned long)region, buf, 16);
    tags_req("PEEK 2 at start+5 (aligned down)", PTRACE_PEEKMTETAGS, c, (unsigned long)region + 5,
             buf, 2);
    for (unsigned i = 0; i < 16; i++)
        buf[i] = 0xf0 | ((i * 7) & 0xf);
    tags_req("POKE 16 at granule 16 (high nibbles set)", PTRACE_POKEMTETAGS, c,
             (unsigned long)region + 256, buf, 16);
    unsigned char fresh[4] = {9, 10, 11, 12};
    tags_req("POKE 4 on the page the tracee never touched", PTRACE_POKEMTETAGS, c,
             (unsigned long)region + PAGE, fresh, 4);
    tags_req("PEEK granule 16 back", PTRACE_PEEKMTETAGS, c, (unsigned long)region + 256, buf, 16);
    tags_req("PEEK 4 across the page boundary", PTRACE_PEEKMTETAGS, c,
             (unsigned long)region + PAGE - 32, buf, 4);
    tags_req("PEEK 10 three granules before the end of the VM_MTE VMA", PTRACE_PEEKMTETAGS, c,
             (unsigned long)region + 2 * PAGE - 48, buf, 10);
    tags_req("POKE 10 there", PTRACE_POKEMTETAGS, c, (unsigned long)region + 2 * PAGE - 48, buf, 10);
    tags_req("PEEK in the VMA without VM_MTE", PTRACE_PEEKMTETAGS, c,
             (unsigned long)region + 2 * PAGE, buf, 4);
    tags_req("POKE in the VMA without VM_MTE", PTRACE_POKEMTETAGS, c,
             (unsigned long)region + 2 * PAGE, buf, 4);
    tags_req("PEEK at an unmapped address", PTRACE_PEEKMTETAGS, c, 0x1000, buf, 4);
    tags_req("PEEK into an unmapped tracer buffer", PTRACE_PEEKMTETAGS, c, (unsigned long)region,
             (unsigned char *)8, 4);
    tags_req("PEEK into a buffer outside user space", PTRACE_PEEKMTETAGS, c,
             (unsigned long)region, (unsigned char *)0xffffffffffff0000UL, 4);
    tags_req("POKE from an unmapped tracer buffer", PTRACE_POKEMTETAGS, c, (unsigned long)region,
             (unsigned char *)8, 4);
    tags_req("PEEK of length 0", PTRACE_PEEKMTETAGS, c, (unsigned long)region, buf, 0);
    SAY("PEEK through an unmapped iovec: %s\n",
        res(pt(PTRACE_PEEKMTETAGS, c, (unsigned long)region, (void *)8)));
    int mine = 1;
    for (unsigned i = 0; i < 32; i++)
        mine &= mte_loadtag(region + 16 * i) == 0;
    SAY("the tracer's own copy keeps tags 0: %s\n", mine ? "yes" : "no");

    /* A child not traced (running its exit or a zombie already: ESRCH either way, and
     * the same instructions retired whichever). */
    pid_t other = fork();
    if (other == 0)
        _exit(0);
    tags_req("PEEK of a task not traced", PTRACE_PEEKMTETAGS, other, (unsigned long)region, buf, 4);
    SAY("ATTACH to myself: %s\n", res(pt(PTRACE_ATTACH, getpid(), 0, 0)));
    waitpid(other, &st, 0);

    pt(PTRACE_CONT, c, 0, 0);
    tags_req("PEEK of the tracee running or gone", PTRACE_PEEKMTETAGS, c, (unsigned long)region,
             buf, 4);
    if (waitpid(c, &st, 0) != c || !WIFEXITED(st)) {
        SAY("tracee: status %#x\n", st);
        return 1;
    }
    int r = WEXITSTATUS(st);
    SAY("tracee, resumed, reads with mte_loadtag: its own tags kept: %s; the poked ones: %s; "
        "those on the fresh page: %s\n",
        r & 1 ? "yes" : "no", r & 2 ? "yes" : "no", r & 4 ? "yes" : "no");
    return 0;
}
