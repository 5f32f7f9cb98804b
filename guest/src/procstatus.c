/* procstatus: /proc/self/status as Linux 6.18's proc_pid_status() writes it
 * (fs/proc/array.c, task_mem() in fs/proc/task_mmu.c):
 *  - the fields, in order, each "Name:\tvalue";
 *  - Name, Umask (after umask(027)), State, Tgid/Pid/PPid, Uid/Gid, FDSize (64, then 128
 *    once descriptor 100 is open), Threads (with two more threads);
 *  - memory in "%8lu kB": VmSize, VmData and RssAnon grow by exactly what a touched
 *    anonymous mapping adds, RssShmem by a touched memfd mapping and a shared anonymous
 *    one, RssFile by a touched private read-only file mapping, VmLck by mlock; after a
 *    munmap VmSize shrinks back but VmPeak keeps the peak, and VmHWM >= VmRSS;
 *  - signals: SigBlk, SigIgn, SigCgt, SigPnd (a blocked raise) and ShdPnd (a blocked
 *    kill of the process) as 16 hex digits;
 *  - voluntary_ctxt_switches grows across a sleep.
 * qemu-user shows the host's file of its own process; the reference is dirtybit's,
 * reviewed against those rules. Prints facts and differences, never addresses. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int failures;
static char text[8192];

static void check(int ok, const char *what)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAILED");
    if (!ok)
        failures++;
}

static void load(void)
{
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = read(fd, text, sizeof(text) - 1);
    text[n > 0 ? n : 0] = 0;
    close(fd);
}

/* The value of field NAME (after "NAME:\t"), up to the newline. */
static const char *field(const char *name, char *buf, size_t len)
{
    char key[64];
    snprintf(key, sizeof(key), "\n%s:\t", name);
    const char *p = strstr(text, key);
    if (!p && !strncmp(text, key + 1, strlen(key + 1)))
        p = text - 1;
    if (!p)
        return "(none)";
    p += strlen(key);
    size_t i = 0;
    while (p[i] && p[i] != '\n' && i + 1 < len) {
        buf[i] = p[i];
        i++;
    }
    buf[i] = 0;
    return buf;
}

static long kb(const char *name)
{
    char b[64];
    const char *v = field(name, b, sizeof(b));
    return strtol(v, NULL, 10);
}

static void *sleeper(void *arg)
{
    pause();
    return NULL;
}

static void on_term(int sig)
{
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    umask(027);
    load();
    /* The fields, in order. */
    printf("fields:");
    for (const char *p = text; *p;) {
        const char *colon = strchr(p, ':');
        const char *nl = strchr(p, '\n');
        if (!colon || !nl)
            break;
        printf(" %.*s", (int)(colon - p), p);
        p = nl + 1;
    }
    printf("\n");
    char b[128];
    printf("Name: %s\n", field("Name", b, sizeof(b)));
    printf("Umask: %s\n", field("Umask", b, sizeof(b)));
    printf("State: %s\n", field("State", b, sizeof(b)));
    check(atoi(field("Tgid", b, sizeof(b))) == getpid() && atoi(field("Pid", b, sizeof(b))) == getpid(), "Tgid and Pid are getpid()");
    check(atoi(field("PPid", b, sizeof(b))) == getppid(), "PPid is getppid()");
    printf("Uid: %s\n", field("Uid", b, sizeof(b)));
    printf("Gid: %s\n", field("Gid", b, sizeof(b)));
    printf("TracerPid: %s\n", field("TracerPid", b, sizeof(b)));
    printf("FDSize: %s\n", field("FDSize", b, sizeof(b)));
    dup2(0, 100);
    load();
    printf("FDSize with fd 100 open: %s\n", field("FDSize", b, sizeof(b)));
    close(100);
    check(strstr(text, "VmRSS:\t") && strstr(text, " kB\nRssAnon:\t"), "memory lines end in \" kB\"");
    char *line = strstr(text, "\nVmSize:\t");
    check(line && strlen(line) > 18 && line[17] == ' ' && line[18] == 'k', "VmSize is %8lu");

    /* Anonymous memory: 1 MiB mapped, 256 pages touched. */
    long size0 = kb("VmSize"), data0 = kb("VmData"), anon0 = kb("RssAnon");
    char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < 256; i++)
        m[i * 4096] = 1;
    load();
    printf("1 MiB touched: VmSize +%ld kB, VmData +%ld kB, RssAnon +%ld kB\n", kb("VmSize") - size0,
           kb("VmData") - data0, kb("RssAnon") - anon0);
    long peak = kb("VmPeak");
    check(peak >= kb("VmSize"), "VmPeak >= VmSize");
    munmap(m, 1 << 20);
    load();
    printf("after munmap: VmSize +%ld kB, VmPeak kept %d\n", kb("VmSize") - size0, kb("VmPeak") >= peak);
    check(kb("VmHWM") >= kb("VmRSS") && kb("VmHWM") >= anon0 + 1024, "VmHWM keeps the peak RSS");

    /* Shared memory: a memfd and a shared anonymous mapping. */
    long shmem0 = kb("RssShmem");
    int mfd = memfd_create("status", 0);
    ftruncate(mfd, 64 << 10);
    char *s = mmap(NULL, 64 << 10, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    memset(s, 1, 64 << 10);
    char *sa = mmap(NULL, 32 << 10, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(sa, 1, 32 << 10);
    load();
    printf("memfd 64 kB + shared anonymous 32 kB touched: RssShmem +%ld kB\n", kb("RssShmem") - shmem0);
    munmap(s, 64 << 10);
    munmap(sa, 32 << 10);
    close(mfd);

    /* A file of the root file system, mapped private read-only and read. */
    int ffd = open("/status.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
    static char page[4096];
    memset(page, 7, sizeof(page));
    for (int i = 0; i < 4; i++)
        write(ffd, page, sizeof(page));
    long file0 = kb("RssFile");
    char *f = mmap(NULL, 16 << 10, PROT_READ, MAP_PRIVATE, ffd, 0);
    volatile char sum = 0;
    for (int i = 0; i < 4; i++)
        sum += f[i * 4096];
    load();
    printf("file 16 kB read: RssFile +%ld kB\n", kb("RssFile") - file0);
    munmap(f, 16 << 10);
    close(ffd);
    unlink("/status.dat");

    /* mlock. */
    char *l = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mlock(l, 4 * 4096);
    load();
    printf("VmLck after mlock of 16 kB: %ld kB\n", kb("VmLck"));
    munmap(l, 4 * 4096);

    /* Signals. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGUSR2, SIG_IGN);
    signal(SIGTERM, on_term);
    raise(SIGUSR1);
    load();
    printf("SigPnd: %s\n", field("SigPnd", b, sizeof(b)));
    printf("SigBlk: %s\n", field("SigBlk", b, sizeof(b)));
    printf("SigIgn: %s\n", field("SigIgn", b, sizeof(b)));
    printf("SigCgt has SIGTERM: %d\n", (int)((strtoull(field("SigCgt", b, sizeof(b)), NULL, 16) >> (SIGTERM - 1)) & 1));
    printf("SigQ queued: %.1s\n", field("SigQ", b, sizeof(b)));
    signal(SIGUSR1, SIG_IGN); /* discards the pending one */
    signal(SIGUSR1, SIG_DFL);
    sigaddset(&set, SIGUSR2);
    signal(SIGUSR2, SIG_DFL);
    sigprocmask(SIG_BLOCK, &set, NULL);
    kill(getpid(), SIGUSR2);
    load();
    printf("ShdPnd after kill(getpid(), SIGUSR2): %s\n", field("ShdPnd", b, sizeof(b)));
    printf("SigPnd: %s\n", field("SigPnd", b, sizeof(b)));
    signal(SIGUSR2, SIG_IGN);

    /* Threads and context switches. */
    pthread_t t1, t2;
    pthread_create(&t1, NULL, sleeper, NULL);
    pthread_create(&t2, NULL, sleeper, NULL);
    long vol0 = kb("voluntary_ctxt_switches");
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    nanosleep(&ts, NULL);
    load();
    printf("Threads: %s\n", field("Threads", b, sizeof(b)));
    check(kb("voluntary_ctxt_switches") >= vol0 + 2, "voluntary_ctxt_switches counts the sleeps");
    printf("failures: %d\n", failures);
    return failures ? 1 : 0;
}
