/* The /sys/kernel/debug/gup_test ioctl ABI (Linux mm/gup_test.h), shared by the guest
 * programs that drive it (guptest.c, gupconc.c), and the FOLL_* flags they pass
 * (include/linux/mm_types.h). */
#ifndef GUP_TEST_ABI_H
#define GUP_TEST_ABI_H

#include <stdint.h>
#include <sys/ioctl.h>

#define GUP_TEST_MAX_PAGES_TO_DUMP 8
#define GUP_TEST_FLAG_DUMP_PAGES_USE_PIN 0x1

struct gup_test {
    uint64_t get_delta_usec;
    uint64_t put_delta_usec;
    uint64_t addr;
    uint64_t size;
    uint32_t nr_pages_per_call;
    uint32_t gup_flags;
    uint32_t test_flags;
    uint32_t which_pages[GUP_TEST_MAX_PAGES_TO_DUMP];
};

#define PIN_LONGTERM_TEST_FLAG_USE_WRITE 1
#define PIN_LONGTERM_TEST_FLAG_USE_FAST 2

struct pin_longterm_test {
    uint64_t addr;
    uint64_t size;
    uint32_t flags;
};

#define GUP_FAST_BENCHMARK _IOWR('g', 1, struct gup_test)
#define PIN_FAST_BENCHMARK _IOWR('g', 2, struct gup_test)
#define PIN_LONGTERM_BENCHMARK _IOWR('g', 3, struct gup_test)
#define GUP_BASIC_TEST _IOWR('g', 4, struct gup_test)
#define PIN_BASIC_TEST _IOWR('g', 5, struct gup_test)
#define DUMP_USER_PAGES_TEST _IOWR('g', 6, struct gup_test)
#define PIN_LONGTERM_TEST_START _IOW('g', 7, struct pin_longterm_test)
#define PIN_LONGTERM_TEST_STOP _IO('g', 8)
#define PIN_LONGTERM_TEST_READ _IOW('g', 9, uint64_t)

/* The values dirtybit's kernel decodes (guestos/src/mm/gup_test.rs): checked here by the
 * C compiler from the definitions above. */
_Static_assert(sizeof(struct gup_test) == 80, "struct gup_test");
_Static_assert(sizeof(struct pin_longterm_test) == 24, "struct pin_longterm_test");
_Static_assert(GUP_FAST_BENCHMARK == 0xc0506701u, "GUP_FAST_BENCHMARK");
_Static_assert(PIN_FAST_BENCHMARK == 0xc0506702u, "PIN_FAST_BENCHMARK");
_Static_assert(PIN_LONGTERM_BENCHMARK == 0xc0506703u, "PIN_LONGTERM_BENCHMARK");
_Static_assert(GUP_BASIC_TEST == 0xc0506704u, "GUP_BASIC_TEST");
_Static_assert(PIN_BASIC_TEST == 0xc0506705u, "PIN_BASIC_TEST");
_Static_assert(DUMP_USER_PAGES_TEST == 0xc0506706u, "DUMP_USER_PAGES_TEST");
_Static_assert(PIN_LONGTERM_TEST_START == 0x40186707u, "PIN_LONGTERM_TEST_START");
_Static_assert(PIN_LONGTERM_TEST_STOP == 0x6708u, "PIN_LONGTERM_TEST_STOP");
_Static_assert(PIN_LONGTERM_TEST_READ == 0x40086709u, "PIN_LONGTERM_TEST_READ");

/* PIN_LONGTERM_TEST_START of [mem, mem + size) with flags through the gup_test
 * descriptor fd, then STOP: "pinned", or the errno's name (needs errname.h). */
#ifdef ERRNAME_H
static inline const char *gup_longterm_pin(int fd, void *mem, uint64_t size, uint32_t flags)
{
    struct pin_longterm_test args = {
        .addr = (uint64_t)(uintptr_t)mem,
        .size = size,
        .flags = flags,
    };
    if (ioctl(fd, PIN_LONGTERM_TEST_START, &args))
        return errname(errno);
    if (ioctl(fd, PIN_LONGTERM_TEST_STOP))
        return "STOP failed";
    return "pinned";
}
#endif

/* FOLL_* (include/linux/mm_types.h): the selftest passes FOLL_WRITE by default. */
#define FOLL_WRITE 0x01
#define FOLL_LONGTERM 0x100

#endif
