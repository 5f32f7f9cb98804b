/* stress [ROUNDS]: the kernel stress guest. Four workers run at once (on four harts when
 * the machine has them), for ROUNDS rounds each (default 4), against one address space
 * and the processes it forks:
 *
 * - toucher: writes its own 32-page region (a pattern of its round), reads it back,
 *   pins it with PIN_FAST_BENCHMARK (FOLL_WRITE) and GUP_BASIC_TEST through
 *   /sys/kernel/debug/gup_test (the whole size must come back: nobody else changes that
 *   region), mprotect()s it read-only, checks it, makes it writable again, and
 *   MADV_DONTNEEDs it: it must then read as zeros. Faults, zaps and TLB shootdowns in the
 *   address space the others walk.
 * - remapper: maps a 16-page region at a fixed address B, writes page i's words as
 *   value(i), mprotect()s it read-only, mremap()s it to a second address and back (moving
 *   its page tables under the prober's faults), checking every word at each step, and
 *   munmap()s it; every other round it also unmaps half of it first and maps it again.
 * - prober: in a loop until the others are done, reads and writes the words of B (a
 *   write stores the value already there, value(i)) and issues GUP_FAST_BENCHMARK,
 *   PIN_FAST_BENCHMARK and GUP_BASIC_TEST over B. B may be mapped, read-only, moved away
 *   or unmapped at any instant: a SIGSEGV is handled (siglongjmp) and counted, not fatal;
 *   a word read must be value(i) or 0 (a page mapped again, not yet written), and an
 *   ioctl returns 0 with a size of whole pages no larger than asked (gup_test cuts it
 *   where GUP stopped).
 * - forker: forks a child per round; the child fills a page of its copy of a static
 *   buffer with a pattern and waits on a pipe; the parent reads it back through
 *   process_vm_readv() and /proc/<pid>/mem, writes a second pattern into one half with
 *   process_vm_writev() and into the other through /proc/<pid>/mem (pwrite), and lets the
 *   child go; the child checks both halves, and execs /proc/self/exe ("stress child K"),
 *   which exits with status K; the parent reaps it and checks the status.
 *
 * - two filers (their shared file filled by main before the workers start, a word at a
 *   time: 8192 small pwrite()s): file I/O on tmpfs in the address space the others
 *   fault in, each
 *   round into fresh anonymous buffers (so every copy to or from user memory faults
 *   its pages in): a private file written with write(), checked with fstat(), read back
 *   with read(), pread() and readv(); its own half of a shared file written with
 *   pwrite() and read back (the other half, the other filer's, must read as whole words
 *   of that filer); /dev/zero and /dev/urandom read, /tmp listed (getdents64) with its
 *   own file in it, getcwd(), getpid(); and a race on one descriptor number: filer 0
 *   dup3()s the shared file there and close()s it again, while filer 1 pread()s through
 *   that number (the shared file's data or EBADF, nothing else) and reads a private
 *   file through a dup() whose original it closed (the open file lives on).
 *
 * stdout is the same for every interleaving, hart count and scheduler: it prints what was
 * asked and that the checks held, never counts that depend on the interleaving (those go
 * to stderr: faults handled, ioctls cut short). Exit status 0 when every check holds, 1
 * otherwise (the first failure is printed). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

#include "gup_test_abi.h"

#define TOUCH_PAGES 32
#define REMAP_PAGES 16
#define DEFAULT_ROUNDS 4
#define B_ADDR 0x1000000000UL

static long PG;
static unsigned rounds = DEFAULT_ROUNDS;

/* The remapper's region B and where it moves it to. */
static char *region_b;
static char *region_moved;
static int remapper_done;
static int others_done;

static pthread_barrier_t start;

/* The workers that wait at `start`. */
#define WORKERS 6

/* The first failure of any thread, printed by main. */
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static char failure[256];

static void fail(const char *what, const char *why)
{
    pthread_mutex_lock(&fail_lock);
    if (!failure[0])
        snprintf(failure, sizeof failure, "%s: %s", what, why);
    pthread_mutex_unlock(&fail_lock);
}

static const char *ename(int e)
{
    return e == ENODEV ? "ENODEV" : errname(e);
}

/* The word every 64-bit slot of page `i` of B holds. */
static inline uint64_t value(size_t i)
{
    return (i + 1) * 0x9e3779b97f4a7c15ULL;
}

/* The toucher's word `i` in round `r`. */
static inline uint64_t touch_pattern(unsigned r, size_t i)
{
    return (i + 1) * 0xbf58476d1ce4e5b9ULL + r;
}

/* ---- SIGSEGV/SIGBUS: handled where a thread armed its jump buffer ---- */

static __thread sigjmp_buf probe_jmp;
static __thread volatile int probe_armed;
static unsigned long faults_handled;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    if (!probe_armed) {
        static const char msg[] = "stress: unexpected fault outside a probe\n";
        write(2, msg, sizeof msg - 1);
        _exit(2);
    }
    __atomic_fetch_add(&faults_handled, 1, __ATOMIC_RELAXED);
    siglongjmp(probe_jmp, sig);
}

/* ---- gup_test ---- */

/* One gup_test command over [mem, mem + size): 0 with the size that came back (a
 * multiple of the page size, at most `size`), or -1 with the failure recorded. */
static int gup_cmd(int fd, unsigned long cmd, const char *name, char *mem, size_t size,
                   uint32_t per_call, uint32_t gup_flags, uint64_t *size_back)
{
    struct gup_test g;
    memset(&g, 0, sizeof g);
    g.addr = (uintptr_t)mem;
    g.size = size;
    g.nr_pages_per_call = per_call;
    g.gup_flags = gup_flags;
    if (ioctl(fd, cmd, &g)) {
        fail(name, ename(errno));
        return -1;
    }
    if (g.size > size || g.size % (uint64_t)PG != 0 || g.addr != (uintptr_t)mem) {
        fail(name, "the size back is not whole pages of the size asked");
        return -1;
    }
    *size_back = g.size;
    return 0;
}

/* ---- toucher ---- */

static void *toucher(void *arg)
{
    (void)arg;
    size_t size = TOUCH_PAGES * PG;
    size_t words = size / sizeof(uint64_t);
    pthread_barrier_wait(&start);
    int fd = open("/sys/kernel/debug/gup_test", O_RDWR);
    if (fd < 0) {
        fail("toucher: open gup_test", ename(errno));
        return NULL;
    }
    uint64_t *w = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (w == MAP_FAILED) {
        fail("toucher: mmap", ename(errno));
        close(fd);
        return NULL;
    }
    for (unsigned r = 0; r < rounds; r++) {
        for (size_t i = 0; i < words; i++)
            w[i] = touch_pattern(r, i);
        for (size_t i = 0; i < words; i++)
            if (w[i] != touch_pattern(r, i)) {
                fail("toucher", "a word read back differs from the one written");
                goto out;
            }
        uint64_t back;
        if (gup_cmd(fd, PIN_FAST_BENCHMARK, "toucher: PIN_FAST_BENCHMARK", (char *)w, size,
                    1 + r % 8, FOLL_WRITE, &back))
            goto out;
        if (back != (uint64_t)size) {
            fail("toucher: PIN_FAST_BENCHMARK", "cut short on a region nobody else changes");
            goto out;
        }
        if (gup_cmd(fd, GUP_BASIC_TEST, "toucher: GUP_BASIC_TEST", (char *)w, size, 8, 0,
                    &back))
            goto out;
        if (back != (uint64_t)size) {
            fail("toucher: GUP_BASIC_TEST", "cut short on a region nobody else changes");
            goto out;
        }
        if (mprotect(w, size, PROT_READ)) {
            fail("toucher: mprotect(PROT_READ)", ename(errno));
            goto out;
        }
        for (size_t i = 0; i < words; i++)
            if (w[i] != touch_pattern(r, i)) {
                fail("toucher", "mprotect changed the data");
                goto out;
            }
        if (mprotect(w, size, PROT_READ | PROT_WRITE)) {
            fail("toucher: mprotect(PROT_READ|PROT_WRITE)", ename(errno));
            goto out;
        }
        if (madvise(w, size, MADV_DONTNEED)) {
            fail("toucher: madvise(MADV_DONTNEED)", ename(errno));
            goto out;
        }
        for (size_t i = 0; i < words; i++)
            if (w[i] != 0) {
                fail("toucher", "a page reads non-zero after MADV_DONTNEED");
                goto out;
            }
    }
out:
    munmap(w, size);
    close(fd);
    return NULL;
}

/* ---- remapper ---- */

/* Whether every word of `pages` pages at `p`, starting at page `first` of B, is value(). */
static int holds_values(const char *p, size_t first, size_t pages)
{
    for (size_t i = 0; i < pages; i++) {
        const uint64_t *w = (const uint64_t *)(p + i * PG);
        for (size_t j = 0; j < PG / sizeof(uint64_t); j++)
            if (w[j] != value(first + i))
                return 0;
    }
    return 1;
}

static void fill_values(char *p, size_t first, size_t pages)
{
    for (size_t i = 0; i < pages; i++) {
        uint64_t *w = (uint64_t *)(p + i * PG);
        for (size_t j = 0; j < PG / sizeof(uint64_t); j++)
            w[j] = value(first + i);
    }
}

static int map_b(char *at, size_t first, size_t pages)
{
    void *p = mmap(at + first * PG, pages * PG, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED) {
        fail("remapper: mmap(MAP_FIXED)", ename(errno));
        return -1;
    }
    fill_values(p, first, pages);
    return 0;
}

static void *remapper(void *arg)
{
    (void)arg;
    size_t size = REMAP_PAGES * PG;
    size_t half = REMAP_PAGES / 2;
    pthread_barrier_wait(&start);
    for (unsigned r = 0; r < rounds; r++) {
        if (map_b(region_b, 0, REMAP_PAGES))
            break;
        if (r % 2) {
            /* Half of it unmapped and mapped again under the prober. */
            if (munmap(region_b + half * PG, half * PG)) {
                fail("remapper: munmap of half", ename(errno));
                break;
            }
            if (map_b(region_b, half, REMAP_PAGES - half))
                break;
        }
        if (!holds_values(region_b, 0, REMAP_PAGES)) {
            fail("remapper", "B does not hold its values after mapping");
            break;
        }
        if (mprotect(region_b, size, PROT_READ)) {
            fail("remapper: mprotect(PROT_READ)", ename(errno));
            break;
        }
        void *m = mremap(region_b, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, region_moved);
        if (m != region_moved) {
            fail("remapper: mremap away", ename(errno));
            break;
        }
        if (!holds_values(region_moved, 0, REMAP_PAGES)) {
            fail("remapper", "the moved region does not hold B's values");
            break;
        }
        m = mremap(region_moved, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, region_b);
        if (m != region_b) {
            fail("remapper: mremap back", ename(errno));
            break;
        }
        if (mprotect(region_b, size, PROT_READ | PROT_WRITE)) {
            fail("remapper: mprotect(PROT_READ|PROT_WRITE)", ename(errno));
            break;
        }
        if (!holds_values(region_b, 0, REMAP_PAGES)) {
            fail("remapper", "B does not hold its values after moving back");
            break;
        }
        if (munmap(region_b, size)) {
            fail("remapper: munmap", ename(errno));
            break;
        }
    }
    __atomic_store_n(&remapper_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* ---- prober ---- */

static unsigned long probe_cut_short;

/* A read and a write of the first word of page `i` of B, each in a probe. */
static __attribute__((noinline)) void probe_page(size_t i)
{
    volatile uint64_t *p = (volatile uint64_t *)(region_b + i * PG);
    if (sigsetjmp(probe_jmp, 1) == 0) {
        probe_armed = 1;
        uint64_t v = *p;
        probe_armed = 0;
        if (v != 0 && v != value(i))
            fail("prober", "a word of B is neither 0 nor its value");
    }
    probe_armed = 0;
    if (sigsetjmp(probe_jmp, 1) == 0) {
        probe_armed = 1;
        *p = value(i);
        probe_armed = 0;
    }
    probe_armed = 0;
}

static void probe_pass(void)
{
    for (size_t i = 0; i < REMAP_PAGES; i++)
        probe_page(i);
}

static void *prober(void *arg)
{
    (void)arg;
    static const struct {
        unsigned long cmd;
        const char *name;
        uint32_t flags;
    } cmds[] = {
        { GUP_FAST_BENCHMARK, "prober: GUP_FAST_BENCHMARK", 0 },
        { PIN_FAST_BENCHMARK, "prober: PIN_FAST_BENCHMARK", FOLL_WRITE },
        { GUP_BASIC_TEST, "prober: GUP_BASIC_TEST", 0 },
    };
    pthread_barrier_wait(&start);
    int fd = open("/sys/kernel/debug/gup_test", O_RDWR);
    if (fd < 0) {
        fail("prober: open gup_test", ename(errno));
        return NULL;
    }
    /* At least `rounds` passes, and on until the remapper is done. */
    for (unsigned n = 0; n < rounds || !__atomic_load_n(&remapper_done, __ATOMIC_ACQUIRE);
         n++) {
        probe_pass();
        unsigned c = n % (sizeof cmds / sizeof cmds[0]);
        uint64_t back;
        if (gup_cmd(fd, cmds[c].cmd, cmds[c].name, region_b, REMAP_PAGES * PG, 1 + n % 4,
                    cmds[c].flags, &back))
            break;
        if (back != (uint64_t)(REMAP_PAGES * PG))
            __atomic_fetch_add(&probe_cut_short, 1, __ATOMIC_RELAXED);
        if (__atomic_load_n(&others_done, __ATOMIC_ACQUIRE) && n >= rounds &&
            __atomic_load_n(&remapper_done, __ATOMIC_ACQUIRE))
            break;
        if (failure[0])
            break;
    }
    close(fd);
    return NULL;
}

/* ---- forker ---- */

/* The page a child fills and the parent reads and writes through its memory files. */
static uint64_t child_page[512] __attribute__((aligned(4096)));
#define CHILD_WORDS (sizeof child_page / sizeof child_page[0])

static inline uint64_t child_pattern(unsigned r, size_t i)
{
    return (i + 1) * 0x94d049bb133111ebULL ^ r;
}

static inline uint64_t parent_pattern(unsigned r, size_t i)
{
    return (i + 1) * 0xd6e8feb86659fd93ULL + r;
}

static char self_exe[] = "/proc/self/exe";

/* The forked child: fill, report, wait, check, exec. Async-signal-safe calls only (the
 * parent has other threads). */
static void child(unsigned r, int ready_w, int go_r)
{
    for (size_t i = 0; i < CHILD_WORDS; i++)
        child_page[i] = child_pattern(r, i);
    char c = 'r';
    if (write(ready_w, &c, 1) != 1)
        _exit(10);
    if (read(go_r, &c, 1) != 1)
        _exit(11);
    for (size_t i = 0; i < CHILD_WORDS; i++)
        if (child_page[i] != parent_pattern(r, i))
            _exit(12);
    char num[4] = { (char)('0' + r / 100 % 10), (char)('0' + r / 10 % 10),
                    (char)('0' + r % 10), 0 };
    char *argv[] = { self_exe, "child", num, NULL };
    char *envp[] = { NULL };
    execve(self_exe, argv, envp);
    _exit(13);
}

static int check_child_page(const uint64_t *got, unsigned r, const char *how)
{
    for (size_t i = 0; i < CHILD_WORDS; i++)
        if (got[i] != child_pattern(r, i)) {
            fail(how, "the child's page does not hold what the child wrote");
            return -1;
        }
    return 0;
}

static void *forker(void *arg)
{
    (void)arg;
    static uint64_t buf[512];
    pthread_barrier_wait(&start);
    for (unsigned r = 0; r < rounds; r++) {
        int ready[2], go[2];
        if (pipe(ready) || pipe(go)) {
            fail("forker: pipe", ename(errno));
            break;
        }
        pid_t pid = fork();
        if (pid < 0) {
            fail("forker: fork", ename(errno));
            break;
        }
        if (pid == 0)
            child(r + 1, ready[1], go[0]);
        close(ready[1]);
        close(go[0]);
        char c;
        int ok = read(ready[0], &c, 1) == 1;
        if (!ok)
            fail("forker", "the child did not report ready");
        size_t half = sizeof child_page / 2;
        /* process_vm_readv of the whole page, then /proc/<pid>/mem. */
        if (ok) {
            struct iovec l = { buf, sizeof buf }, rv = { child_page, sizeof child_page };
            memset(buf, 0, sizeof buf);
            ssize_t n = process_vm_readv(pid, &l, 1, &rv, 1, 0);
            if (n != (ssize_t)sizeof buf) {
                fail("forker: process_vm_readv", n < 0 ? ename(errno) : "short");
                ok = 0;
            } else if (check_child_page(buf, r + 1, "forker: process_vm_readv"))
                ok = 0;
        }
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
        int mem = ok ? open(path, O_RDWR) : -1;
        if (ok && mem < 0) {
            fail("forker: open /proc/<pid>/mem", ename(errno));
            ok = 0;
        }
        if (ok) {
            memset(buf, 0, sizeof buf);
            ssize_t n = pread(mem, buf, sizeof buf, (off_t)(uintptr_t)child_page);
            if (n != (ssize_t)sizeof buf) {
                fail("forker: pread /proc/<pid>/mem", n < 0 ? ename(errno) : "short");
                ok = 0;
            } else if (check_child_page(buf, r + 1, "forker: pread /proc/<pid>/mem"))
                ok = 0;
        }
        /* The parent's pattern: first half by process_vm_writev, second by pwrite. */
        if (ok) {
            for (size_t i = 0; i < CHILD_WORDS; i++)
                buf[i] = parent_pattern(r + 1, i);
            struct iovec l = { buf, half }, rv = { child_page, half };
            ssize_t n = process_vm_writev(pid, &l, 1, &rv, 1, 0);
            if (n != (ssize_t)half) {
                fail("forker: process_vm_writev", n < 0 ? ename(errno) : "short");
                ok = 0;
            }
        }
        if (ok) {
            ssize_t n = pwrite(mem, (char *)buf + half, half,
                               (off_t)((uintptr_t)child_page + half));
            if (n != (ssize_t)half) {
                fail("forker: pwrite /proc/<pid>/mem", n < 0 ? ename(errno) : "short");
                ok = 0;
            }
        }
        if (mem >= 0)
            close(mem);
        c = 'g';
        if (write(go[1], &c, 1) != 1)
            fail("forker", "cannot let the child go");
        close(go[1]);
        close(ready[0]);
        int status;
        if (waitpid(pid, &status, 0) != pid) {
            fail("forker: waitpid", ename(errno));
            break;
        }
        if (ok && !(WIFEXITED(status) && WEXITSTATUS(status) == (int)(r + 1) % 256)) {
            char why[64];
            snprintf(why, sizeof why, "status 0x%x, expected exit %u", status, r + 1);
            fail("forker: the exec'd child", why);
        }
        if (!ok || failure[0])
            break;
    }
    return NULL;
}


/* ---- filers ---- */

#define FILE_PAGES 8
/* The descriptor number filer 0 dup3()s the shared file to and closes, under filer 1's
 * reads. */
#define RACE_FD 200
#define RACE_TRIES 16

static int shared_fd;
static pid_t main_pid;

/* Word i of filer `id`'s data in round r: its top byte is id + 1, so a word of the
 * shared file tells whose it is. */
static inline uint64_t file_word(unsigned id, unsigned r, size_t i)
{
    return ((uint64_t)(id + 1) << 56) | ((uint64_t)r << 40) | (uint64_t)i;
}

/* Creates the shared file: both filers' halves, each holding its round-0 data. */
static int shared_file_init(void)
{
    main_pid = getpid();
    shared_fd = open("/tmp/stress-shared", O_CREAT | O_TRUNC | O_RDWR, 0600);
    if (shared_fd < 0) {
        printf("open /tmp/stress-shared: %s\n", ename(errno));
        return 1;
    }
    size_t words = FILE_PAGES * PG / sizeof(uint64_t);
    for (unsigned id = 0; id < 2; id++)
        for (size_t i = 0; i < words; i++) {
            uint64_t w = file_word(id, 0, i);
            off_t at = (off_t)((id * words + i) * sizeof w);
            if (pwrite(shared_fd, &w, sizeof w, at) != (ssize_t)sizeof w) {
                printf("pwrite /tmp/stress-shared: %s\n", ename(errno));
                return 1;
            }
        }
    return 0;
}

/* Whether every word of `p` (`words` of them) belongs to filer `id`. */
static int words_of(const uint64_t *p, size_t words, unsigned id)
{
    for (size_t i = 0; i < words; i++)
        if (p[i] >> 56 != id + 1)
            return 0;
    return 1;
}

static void *fresh(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* One round of filer `id`; returns 0, or 1 after fail(). */
static int filer_round(unsigned id, unsigned r, const char *name)
{
    size_t size = FILE_PAGES * PG, words = size / sizeof(uint64_t);
    int ret = 1, fd = -1;
    uint64_t *out = fresh(size), *back = fresh(size);
    if (!out || !back) {
        fail("filer: mmap", ename(errno));
        goto done;
    }
    for (size_t i = 0; i < words; i++)
        out[i] = file_word(id, r, i);

    /* A private file: write, fstat, read, pread, readv. */
    fd = open(name, O_CREAT | O_TRUNC | O_RDWR, 0600);
    if (fd < 0) {
        fail("filer: open", ename(errno));
        goto done;
    }
    if (write(fd, out, size) != (ssize_t)size) {
        fail("filer: write", ename(errno));
        goto done;
    }
    struct stat st;
    if (fstat(fd, &st) || st.st_size != (off_t)size) {
        fail("filer: fstat", "the size is not what was written");
        goto done;
    }
    if (lseek(fd, 0, SEEK_SET) != 0 || read(fd, back, size) != (ssize_t)size ||
        memcmp(back, out, size)) {
        fail("filer: read", "the data read back differs");
        goto done;
    }
    memset(back, 0, size);
    if (pread(fd, back, size / 2, size / 2) != (ssize_t)(size / 2) ||
        memcmp(back, (char *)out + size / 2, size / 2)) {
        fail("filer: pread", "the data read back differs");
        goto done;
    }
    struct iovec iov[2] = { { (char *)back + size / 2, size / 2 }, { back, size / 2 } };
    if (lseek(fd, 0, SEEK_SET) != 0 || readv(fd, iov, 2) != (ssize_t)size ||
        memcmp(back, (char *)out + size / 2, size / 2) ||
        memcmp((char *)back + size / 2, out, size / 2)) {
        fail("filer: readv", "the data read back differs");
        goto done;
    }

    /* The shared file: its own half written and read back, the other's whole words. */
    if (pwrite(shared_fd, out, size, (off_t)(id * size)) != (ssize_t)size) {
        fail("filer: pwrite", ename(errno));
        goto done;
    }
    if (pread(shared_fd, back, size, (off_t)(id * size)) != (ssize_t)size ||
        memcmp(back, out, size)) {
        fail("filer: pread of the shared file", "its own half differs");
        goto done;
    }
    if (pread(shared_fd, back, size, (off_t)((1 - id) * size)) != (ssize_t)size ||
        !words_of(back, words, 1 - id)) {
        fail("filer: pread of the shared file", "a word of the other half is not the other's");
        goto done;
    }

    /* Devices, the directory, identity. */
    int z = open("/dev/zero", O_RDONLY), u = open("/dev/urandom", O_RDONLY);
    if (z < 0 || u < 0 || read(z, back, size) != (ssize_t)size || read(u, out, 64) != 64) {
        fail("filer: /dev/zero, /dev/urandom", ename(errno));
        close(z);
        close(u);
        goto done;
    }
    close(z);
    close(u);
    for (size_t i = 0; i < words; i++)
        if (back[i]) {
            fail("filer: /dev/zero", "a byte read is not zero");
            goto done;
        }
    int dfd = open("/tmp", O_RDONLY | O_DIRECTORY);
    if (dfd < 0) {
        fail("filer: open /tmp", ename(errno));
        goto done;
    }
    int found = 0;
    long n;
    const char *base = strrchr(name, '/') + 1;
    while ((n = syscall(SYS_getdents64, dfd, back, size)) > 0)
        for (long off = 0; off < n;) {
            struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type;
                     char name[]; } *d = (void *)((char *)back + off);
            found |= strcmp(d->name, base) == 0;
            off += d->reclen;
        }
    close(dfd);
    if (n < 0 || !found) {
        fail("filer: getdents64 of /tmp", n < 0 ? ename(errno) : "its own file is missing");
        goto done;
    }
    char cwd[64];
    if (!getcwd(cwd, sizeof cwd) || getpid() != main_pid || gettid() == main_pid) {
        fail("filer: getcwd, getpid, gettid", "a wrong answer");
        goto done;
    }

    /* The race on RACE_FD, and a file that outlives its descriptor. */
    for (int k = 0; k < RACE_TRIES; k++) {
        if (id == 0) {
            if (dup3(shared_fd, RACE_FD, O_CLOEXEC) != RACE_FD) {
                fail("filer: dup3", ename(errno));
                goto done;
            }
            if (close(RACE_FD) && errno != EBADF) {
                fail("filer: close", ename(errno));
                goto done;
            }
            continue;
        }
        ssize_t got = pread(RACE_FD, back, PG, 0);
        if (got < 0 ? errno != EBADF : (got != PG || !words_of(back, PG / 8, 0))) {
            fail("filer: pread of a descriptor being closed", "neither the data nor EBADF");
            goto done;
        }
        int f = fcntl(RACE_FD, F_GETFD);
        if (f < 0 ? errno != EBADF : f != FD_CLOEXEC) {
            fail("filer: fcntl of a descriptor being closed", "neither FD_CLOEXEC nor EBADF");
            goto done;
        }
    }
    int again = dup(fd);
    if (again < 0 || close(fd)) {
        fail("filer: dup, close", ename(errno));
        goto done;
    }
    fd = again;
    if (pread(fd, back, size, 0) != (ssize_t)size || !words_of(back, words, id)) {
        fail("filer: pread through a dup of a closed descriptor", "the data differs");
        goto done;
    }
    ret = 0;
done:
    if (fd >= 0)
        close(fd);
    if (out)
        munmap(out, size);
    if (back)
        munmap(back, size);
    return ret;
}

static void *filer(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    char name[40];
    snprintf(name, sizeof name, "/tmp/stress-file-%u", id);
    pthread_barrier_wait(&start);
    for (unsigned r = 1; r <= rounds; r++)
        if (filer_round(id, r, name))
            break;
    unlink(name);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "child") == 0) {
        /* The exec'd child: a little work in a fresh image, then its number as status. */
        unsigned k = (unsigned)strtoul(argv[2], NULL, 10);
        uint64_t *p = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return 100;
        for (size_t i = 0; i < 4 * 4096 / sizeof *p; i++)
            p[i] = i * k;
        for (size_t i = 0; i < 4 * 4096 / sizeof *p; i++)
            if (p[i] != i * k)
                return 101;
        return (int)(k % 256);
    }
    if (argc > 1)
        rounds = (unsigned)strtoul(argv[1], NULL, 10);
    if (rounds < 1)
        rounds = 1;
    PG = sysconf(_SC_PAGESIZE);
    setvbuf(stdout, NULL, _IONBF, 0);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGBUS, &sa, NULL)) {
        printf("sigaction: %s\n", ename(errno));
        return 1;
    }

    /* B and the place it moves to: fixed addresses far below where mmap() places
     * mappings (top-down from under the stack), so that no other mapping of the program
     * ever lands in B's range while it is unmapped, and MAP_FIXED replaces only B. */
    region_b = (char *)B_ADDR;
    region_moved = (char *)B_ADDR + 2 * REMAP_PAGES * PG;

    printf("stress: toucher, remapper, prober, forker and two filers, %u rounds each\n",
           rounds);
    if (shared_file_init())
        return 1;
    pthread_barrier_init(&start, NULL, WORKERS);
    pthread_t t[WORKERS];
    void *(*fns[WORKERS])(void *) = { toucher, remapper, prober, forker, filer, filer };
    void *args[WORKERS] = { NULL, NULL, NULL, NULL, (void *)0, (void *)1 };
    for (int i = 0; i < WORKERS; i++)
        if (pthread_create(&t[i], NULL, fns[i], args[i])) {
            printf("pthread_create failed\n");
            return 1;
        }
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    pthread_join(t[3], NULL);
    pthread_join(t[4], NULL);
    pthread_join(t[5], NULL);
    __atomic_store_n(&others_done, 1, __ATOMIC_RELEASE);
    pthread_join(t[2], NULL);

    fprintf(stderr, "stress: %lu faults handled, %lu gup_test calls cut short\n",
            faults_handled, probe_cut_short);
    if (failure[0]) {
        printf("FAIL: %s\n", failure);
        return 1;
    }
    printf("toucher: %u rounds of write, pin, mprotect, MADV_DONTNEED: data ok\n", rounds);
    printf("remapper: %u rounds of mmap, munmap, mprotect, mremap: data ok\n", rounds);
    printf("prober: B read as its values or zeros, SIGSEGV handled, gup_test sizes ok\n");
    printf("forker: %u children: process_vm_readv/writev, /proc/<pid>/mem, exec, status ok\n",
           rounds);
    printf("filers: %u rounds of read, write, pread, pwrite, readv, fstat, getdents64, "
           "dup3/close races: data ok\n",
           rounds);
    printf("stress: ok\n");
    return 0;
}
