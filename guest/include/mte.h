/* mte.h - memory tagging for C programs on dirtybit's Zimt hart, with arm64 Linux's
 * user ABI (README.md, "Memory tagging (Zimt)"; guestos/src/mm/mte.rs).
 *
 * Pointers carry a 4-bit tag in bits 63:60; memory carries one 4-bit tag per 16-byte
 * granule on PROT_MTE mappings. With checks on (mte_enable), a load or store whose
 * pointer tag differs from the granule's tag is SIGSEGV (sync: SEGV_MTESERR, si_addr the
 * tagged address; async: SEGV_MTEAERR at the next kernel entry, si_addr 0).
 *
 * The instructions are emitted with .insn (binutils does not know Zimt):
 *   gentag rd            MOP.RR.1: funct7 1000011, rs2 = rs1 = 0, funct3 100, SYSTEM
 *   addtag rd, rs1, imm4 MOP.RR.1 with rs2 = imm4
 *   settag rs1, imm4     MOP.RR.0: funct7 1000001, rd = 0, rs2 = imm4 (imm4 + 1 granules)
 *   loadtag rd, rs1      custom-0 (0001011), funct3 100: dirtybit's own, arm64's LDG
 */
#ifndef DIRTYBIT_MTE_H
#define DIRTYBIT_MTE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>

#ifndef PR_SET_TAGGED_ADDR_CTRL
#define PR_SET_TAGGED_ADDR_CTRL 55
#define PR_GET_TAGGED_ADDR_CTRL 56
#endif
#ifndef PR_TAGGED_ADDR_ENABLE
#define PR_TAGGED_ADDR_ENABLE (1UL << 0)
#endif
#ifndef PR_MTE_TCF_SHIFT
#define PR_MTE_TCF_SHIFT 1
#define PR_MTE_TCF_NONE (0UL << PR_MTE_TCF_SHIFT)
#define PR_MTE_TCF_SYNC (1UL << PR_MTE_TCF_SHIFT)
#define PR_MTE_TCF_ASYNC (2UL << PR_MTE_TCF_SHIFT)
#define PR_MTE_TCF_MASK (3UL << PR_MTE_TCF_SHIFT)
#define PR_MTE_TAG_SHIFT 3
#define PR_MTE_TAG_MASK (0xffffUL << PR_MTE_TAG_SHIFT)
#endif
#ifndef PR_PMLEN_SHIFT
#define PR_PMLEN_SHIFT 24
#define PR_PMLEN_MASK (0x7fUL << PR_PMLEN_SHIFT)
#endif
#ifndef PROT_MTE
#define PROT_MTE 0x20
#endif
#ifndef SEGV_MTEAERR
#define SEGV_MTEAERR 8
#define SEGV_MTESERR 9
#endif
/* AT_HWCAP2 bit of memory tagging: arm64's HWCAP2_MTE, bit 18. */
#define MTE_HWCAP2 (1UL << 18)

#define MTE_GRANULE 16
#define MTE_TAG_SHIFT 60

/* The tag in bits 63:60 of p. */
static inline unsigned mte_ptrtag(const void *p)
{
    return (unsigned)((uintptr_t)p >> MTE_TAG_SHIFT) & 0xf;
}

/* p with a random tag from the thread's include mask (0 if the mask is empty or
 * tagging is off), bits 59:0 kept. */
static inline void *mte_gentag(void *p)
{
    uintptr_t t;
    __asm__ volatile(".insn r 0x73, 4, 0x43, %0, x0, x0" : "=r"(t));
    return (void *)(((uintptr_t)p & ~(0xfUL << MTE_TAG_SHIFT)) | t);
}

#define MTE_ADDTAG_(n)                                                              \
    case n:                                                                         \
        __asm__ volatile(".insn r 0x73, 4, 0x43, %0, %1, x" #n : "=r"(r) : "r"(p)); \
        break
/* p with its tag advanced by n (mod 16). */
static inline void *mte_addtag(void *p, unsigned n)
{
    void *r = p;
    switch (n & 15) {
        MTE_ADDTAG_(0); MTE_ADDTAG_(1); MTE_ADDTAG_(2); MTE_ADDTAG_(3);
        MTE_ADDTAG_(4); MTE_ADDTAG_(5); MTE_ADDTAG_(6); MTE_ADDTAG_(7);
        MTE_ADDTAG_(8); MTE_ADDTAG_(9); MTE_ADDTAG_(10); MTE_ADDTAG_(11);
        MTE_ADDTAG_(12); MTE_ADDTAG_(13); MTE_ADDTAG_(14); MTE_ADDTAG_(15);
    }
    return r;
}
#undef MTE_ADDTAG_

#define MTE_SETTAG_(n)                                                               \
    case n + 1:                                                                      \
        __asm__ volatile(".insn r 0x73, 4, 0x41, x0, %0, x" #n : : "r"(a) : "memory"); \
        break
/* Sets the tags of `granules` 16-byte granules from p (rounded down to 16) to p's tag. */
static inline void mte_settag(void *p, size_t granules)
{
    char *a = p;
    while (granules >= 16) {
        __asm__ volatile(".insn r 0x73, 4, 0x41, x0, %0, x15" : : "r"(a) : "memory");
        a += 16 * MTE_GRANULE;
        granules -= 16;
    }
    switch (granules) {
        MTE_SETTAG_(0); MTE_SETTAG_(1); MTE_SETTAG_(2); MTE_SETTAG_(3);
        MTE_SETTAG_(4); MTE_SETTAG_(5); MTE_SETTAG_(6); MTE_SETTAG_(7);
        MTE_SETTAG_(8); MTE_SETTAG_(9); MTE_SETTAG_(10); MTE_SETTAG_(11);
        MTE_SETTAG_(12); MTE_SETTAG_(13); MTE_SETTAG_(14);
    default:
        break;
    }
}
#undef MTE_SETTAG_

/* The tag of p's granule in memory (0 on untagged memory). */
static inline unsigned mte_loadtag(const void *p)
{
    uintptr_t t;
    __asm__ volatile(".insn r 0x0b, 4, 0, %0, %1, x0" : "=r"(t) : "r"(p) : "memory");
    return (unsigned)t;
}

/* prctl(PR_SET_TAGGED_ADDR_CTRL): the tagged-address ABI on, check mode `tcf`
 * (PR_MTE_TCF_NONE/SYNC/ASYNC), `include_mask` the tags gentag may return (bit t for
 * tag t). Returns prctl's result (0, or -1 with errno). */
static inline int mte_enable(int tcf, unsigned include_mask)
{
    unsigned long ctrl = PR_TAGGED_ADDR_ENABLE | (unsigned long)tcf |
                         ((unsigned long)(include_mask & 0xffff) << PR_MTE_TAG_SHIFT);
    return prctl(PR_SET_TAGGED_ADDR_CTRL, ctrl, 0, 0, 0);
}

#endif
