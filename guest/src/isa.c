/* isa: user-level RV64GC semantics, one instruction at a time, printed in hex.
 *
 * Every instruction under test is written with inline asm so the compiler cannot fold
 * it. Sections:
 *   int   RV64I register/immediate ops, W ops (sign extension), LUI/AUIPC, branches,
 *         JALR bit 0, loads/stores incl. sign/zero extension and misaligned accesses
 *   mul   RV64M incl. division by zero and INT_MIN / -1 (no trap, fixed results)
 *   amo   every AMO .w/.d with each of none/.aq/.rl/.aqrl, LR/SC loops and SC failure
 *   fp    F and D: add/sub/mul/div/sqrt/fmadd/fmsub/fnmadd/fnmsub with every static
 *         rounding mode (rne rtz rdn rup rmm) and dynamic mode (frm set by fesetround,
 *         and by fsrm for RMM), fflags after each op; fmin/fmax/feq/flt/fle/fsgnj/fsgnjn/fsgnjx/fclass;
 *         fcvt between all integer and FP formats (saturation, NV/NX); NaN boxing
 *   csr   fcsr/frm/fflags reads and writes; cycle/time/instret only checked monotonic
 *
 * Single-precision results are read back with fmv.x.d: a properly NaN-boxed result is
 * printed as 8 hex digits, anything else as "UNBOXED:" and 16 digits.
 * When all five static modes give the same result and flags, "all=" replaces them.
 * Output lines look like "add 0000000000000001: r0 r1 ..." with one result per value of
 * the second operand (table order). Exit status 0. */
#include <fenv.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint64_t u64;
typedef int64_t i64;
typedef uint32_t u32;

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ integer */

static const u64 iv[] = {
    0, 1, 3, (u64)-1, (u64)-7, 0x7fffffffffffffffULL, 0x8000000000000000ULL,
    0x7fffffffULL, 0x80000000ULL, 0xffffffffULL, 0xffffffff80000000ULL,
    31, 32, 63, 64, 0x123456789abcdef0ULL, 0xfedcba9876543217ULL,
};

typedef u64 (*binop)(u64, u64);
#define RR(op) \
    static u64 i_##op(u64 a, u64 b) \
    { u64 r; asm volatile(#op " %0,%1,%2" : "=r"(r) : "r"(a), "r"(b)); return r; }
#define RR_LIST(X) X(add) X(sub) X(sll) X(slt) X(sltu) X(xor) X(srl) X(sra) X(or) X(and) \
    X(addw) X(subw) X(sllw) X(srlw) X(sraw) \
    X(mul) X(mulh) X(mulhsu) X(mulhu) X(div) X(divu) X(rem) X(remu) \
    X(mulw) X(divw) X(divuw) X(remw) X(remuw)
RR_LIST(RR)
#define RR_ENT(op) { #op, i_##op },
static const struct { const char *name; binop fn; } rr_ops[] = { RR_LIST(RR_ENT) };

static void test_rr(void)
{
    printf("== int: register-register (columns: second operand in table order)\n");
    printf("values:");
    for (unsigned j = 0; j < N(iv); j++)
        printf(" %lx", iv[j]);
    printf("\n");
    for (unsigned k = 0; k < N(rr_ops); k++)
        for (unsigned i = 0; i < N(iv); i++) {
            printf("%s %016lx:", rr_ops[k].name, iv[i]);
            for (unsigned j = 0; j < N(iv); j++)
                printf(" %lx", rr_ops[k].fn(iv[i], iv[j]));
            printf("\n");
        }
}

#define RI(op, imm) \
    do { u64 r; asm volatile(#op " %0,%1,%2" : "=r"(r) : "r"(a), "i"(imm)); printf(" %lx", r); } while (0)

static void test_ri(void)
{
    printf("== int: register-immediate\n");
    for (unsigned i = 0; i < N(iv); i++) {
        u64 a = iv[i];
        printf("addi   %016lx:", a); RI(addi, 0); RI(addi, 1); RI(addi, -1); RI(addi, 2047); RI(addi, -2048); printf("\n");
        printf("slti   %016lx:", a); RI(slti, 0); RI(slti, 1); RI(slti, -1); RI(slti, 2047); RI(slti, -2048); printf("\n");
        printf("sltiu  %016lx:", a); RI(sltiu, 0); RI(sltiu, 1); RI(sltiu, -1); RI(sltiu, 2047); RI(sltiu, -2048); printf("\n");
        printf("xori   %016lx:", a); RI(xori, 0); RI(xori, -1); RI(xori, 0x555); RI(xori, -2048); printf("\n");
        printf("ori    %016lx:", a); RI(ori, 0); RI(ori, -1); RI(ori, 0x555); RI(ori, -2048); printf("\n");
        printf("andi   %016lx:", a); RI(andi, 0); RI(andi, -1); RI(andi, 0x555); RI(andi, -2048); printf("\n");
        printf("slli   %016lx:", a); RI(slli, 0); RI(slli, 1); RI(slli, 31); RI(slli, 32); RI(slli, 63); printf("\n");
        printf("srli   %016lx:", a); RI(srli, 0); RI(srli, 1); RI(srli, 31); RI(srli, 32); RI(srli, 63); printf("\n");
        printf("srai   %016lx:", a); RI(srai, 0); RI(srai, 1); RI(srai, 31); RI(srai, 32); RI(srai, 63); printf("\n");
        printf("addiw  %016lx:", a); RI(addiw, 0); RI(addiw, 1); RI(addiw, -1); RI(addiw, 2047); RI(addiw, -2048); printf("\n");
        printf("slliw  %016lx:", a); RI(slliw, 0); RI(slliw, 1); RI(slliw, 31); printf("\n");
        printf("srliw  %016lx:", a); RI(srliw, 0); RI(srliw, 1); RI(srliw, 31); printf("\n");
        printf("sraiw  %016lx:", a); RI(sraiw, 0); RI(sraiw, 1); RI(sraiw, 31); printf("\n");
    }
}

static void test_upper_and_jumps(void)
{
    u64 r;
    printf("== int: lui/auipc/jal/jalr\n");
#define LUI(imm) asm volatile("lui %0," #imm : "=r"(r)); printf("lui " #imm " -> %lx\n", r)
    LUI(0); LUI(1); LUI(0x7ffff); LUI(0x80000); LUI(0xfffff);
    /* auipc relative to its own address: independent of where the image is loaded */
    u64 a, b;
    asm volatile("1: auipc %0, 0x12345\n\tlla %1, 1b\n\tsub %0, %0, %1" : "=&r"(a), "=&r"(b));
    printf("auipc 0x12345 - pc -> %lx\n", a);
    asm volatile("1: auipc %0, 0x80000\n\tlla %1, 1b\n\tsub %0, %0, %1" : "=&r"(a), "=&r"(b));
    printf("auipc 0x80000 - pc -> %lx\n", a);
    /* jal link value = pc + 4 */
    asm volatile("jal %0, 1f\n1:\tlla %1, 1b\n\tsub %0, %0, %1" : "=&r"(a), "=&r"(b));
    printf("jal link - next pc -> %lx\n", a);
    /* jalr clears bit 0 of the target; link = pc + 4 even when rd == rs1 */
    asm volatile("lla %0, 1f\n\taddi %0, %0, 1\n\tjalr %0, 0(%0)\n\tli %1, 99\n\tj 2f\n"
                 "1:\tli %1, 1\n2:" : "=&r"(a), "=&r"(b));
    printf("jalr odd target -> %s\n", b == 1 ? "ok" : "WRONG");
    asm volatile(".option push\n.option norvc\n"
                 "lla %1, 1f\n\taddi %1, %1, -8\n\tjalr %0, 8(%1)\n1:\tlla %1, 1b\n\tsub %0, %0, %1\n"
                 ".option pop" : "=&r"(a), "=&r"(b));
    printf("jalr with offset: link - next pc -> %lx\n", a);
}

#define BR(op) \
    static int b_##op(u64 a, u64 b) \
    { int r; asm volatile(#op " %1,%2,1f\n\tli %0,0\n\tj 2f\n1:\tli %0,1\n2:" : "=r"(r) : "r"(a), "r"(b)); return r; }
BR(beq) BR(bne) BR(blt) BR(bge) BR(bltu) BR(bgeu)

static void test_branches(void)
{
    printf("== int: branches (bit0 beq, bit1 bne, bit2 blt, bit3 bge, bit4 bltu, bit5 bgeu)\n");
    for (unsigned i = 0; i < N(iv); i++) {
        printf("br %016lx:", iv[i]);
        for (unsigned j = 0; j < N(iv); j++) {
            u64 a = iv[i], b = iv[j];
            int m = b_beq(a, b) | b_bne(a, b) << 1 | b_blt(a, b) << 2 | b_bge(a, b) << 3 |
                    b_bltu(a, b) << 4 | b_bgeu(a, b) << 5;
            printf(" %02x", m);
        }
        printf("\n");
    }
}

static unsigned char membuf[64] __attribute__((aligned(64)));
static unsigned char pagebuf[8192] __attribute__((aligned(4096)));

static void fill_mem(void)
{
    for (unsigned i = 0; i < sizeof membuf; i++)
        membuf[i] = (unsigned char)(0x80 + i * 7);
}

static void dump_mem(const char *what)
{
    printf("%s:", what);
    for (unsigned i = 0; i < 32; i++)
        printf("%02x", membuf[i]);
    printf("\n");
}

#define LD(op, off) \
    do { u64 r; asm volatile(#op " %0, %2(%1)" : "=r"(r) : "r"(membuf), "i"(off) : "memory"); printf(" %lx", r); } while (0)
#define ST(op, off, v) \
    asm volatile(#op " %1, %2(%0)" : : "r"(membuf), "r"(v), "i"(off) : "memory")

static void test_loadstore(void)
{
    printf("== int: loads/stores (aligned and misaligned)\n");
    fill_mem();
    dump_mem("mem");
    printf("lb:");  LD(lb, 0); LD(lb, 1); LD(lb, 16); LD(lb, 31); printf("\n");
    printf("lbu:"); LD(lbu, 0); LD(lbu, 1); LD(lbu, 16); LD(lbu, 31); printf("\n");
    printf("lh:");  LD(lh, 0); LD(lh, 2); LD(lh, 1); LD(lh, 7); printf("\n");
    printf("lhu:"); LD(lhu, 0); LD(lhu, 2); LD(lhu, 1); LD(lhu, 7); printf("\n");
    printf("lw:");  LD(lw, 0); LD(lw, 4); LD(lw, 1); LD(lw, 6); printf("\n");
    printf("lwu:"); LD(lwu, 0); LD(lwu, 4); LD(lwu, 1); LD(lwu, 6); printf("\n");
    printf("ld:");  LD(ld, 0); LD(ld, 8); LD(ld, 1); LD(ld, 3); LD(ld, 7); printf("\n");
    u64 v = 0x1122334455667788ULL;
    ST(sb, 0, v); ST(sb, 3, v); dump_mem("sb 0,3");
    ST(sh, 4, v); ST(sh, 9, v); dump_mem("sh 4,9(mis)");
    ST(sw, 12, v); ST(sw, 17, v); dump_mem("sw 12,17(mis)");
    ST(sd, 24, v); ST(sd, 1, ~v); dump_mem("sd 24,1(mis)");
    /* misaligned accesses that straddle a page boundary */
    for (unsigned i = 0; i < 16; i++)
        pagebuf[4096 - 8 + i] = (unsigned char)(0xa0 + i);
    u64 r;
    asm volatile("ld %0, 0(%1)" : "=r"(r) : "r"(pagebuf + 4096 - 3) : "memory");
    printf("ld across page: %lx\n", r);
    asm volatile("lw %0, 0(%1)" : "=r"(r) : "r"(pagebuf + 4096 - 1) : "memory");
    printf("lw across page: %lx\n", r);
    asm volatile("sd %1, 0(%0)" : : "r"(pagebuf + 4096 - 5), "r"(v) : "memory");
    printf("sd across page:");
    for (unsigned i = 0; i < 16; i++)
        printf("%02x", pagebuf[4096 - 8 + i]);
    printf("\n");
    asm volatile("fence\n\tfence rw,rw\n\tfence.i" ::: "memory");
    printf("fence/fence.i: ok\n");
}

/* ------------------------------------------------------------------ atomics */

static u64 amo_cell[4] __attribute__((aligned(16)));
static const u64 av[] = { 0, 1, (u64)-1, 0x7fffffff, 0x80000000ULL, 0x8000000000000000ULL,
                          0x123456789abcdef0ULL };

typedef u64 (*amofn)(u64 *, u64);
#define AMO1(op, sfx, ord) \
    static u64 a_##op##_##sfx##ord(u64 *p, u64 v) \
    { u64 r; asm volatile(#op "." #sfx "." #ord " %0, %2, (%1)" : "=r"(r) : "r"(p), "r"(v) : "memory"); return r; }
#define AMO0(op, sfx) \
    static u64 a_##op##_##sfx(u64 *p, u64 v) \
    { u64 r; asm volatile(#op "." #sfx " %0, %2, (%1)" : "=r"(r) : "r"(p), "r"(v) : "memory"); return r; }
#define AMO_ALL(op, sfx) AMO0(op, sfx) AMO1(op, sfx, aq) AMO1(op, sfx, rl) AMO1(op, sfx, aqrl)
#define AMO_LIST(X) X(amoswap) X(amoadd) X(amoxor) X(amoand) X(amoor) \
    X(amomin) X(amomax) X(amominu) X(amomaxu)
#define AMO_W(op) AMO_ALL(op, w)
#define AMO_D(op) AMO_ALL(op, d)
AMO_LIST(AMO_W)
AMO_LIST(AMO_D)
#define AMO_ENT(op) { #op ".w", 1, { a_##op##_w, a_##op##_waq, a_##op##_wrl, a_##op##_waqrl } }, \
                    { #op ".d", 0, { a_##op##_d, a_##op##_daq, a_##op##_drl, a_##op##_daqrl } },
static const struct { const char *name; int word; amofn fn[4]; } amo_ops[] = { AMO_LIST(AMO_ENT) };
static const char *const ord_name[4] = { "", ".aq", ".rl", ".aqrl" };

static void test_amo(void)
{
    printf("== amo: rows: memory value; columns: rs2 value -> old/new memory (guard word checked)\n");
    for (unsigned k = 0; k < N(amo_ops); k++)
        for (unsigned o = 0; o < 4; o++)
            for (unsigned i = 0; i < N(av); i++) {
                printf("%s%s %lx:", amo_ops[k].name, ord_name[o], av[i]);
                for (unsigned j = 0; j < N(av); j++) {
                    amo_cell[0] = 0x5555555555555555ULL;
                    amo_cell[1] = 0x5555555555555555ULL;
                    u64 *p = &amo_cell[1];
                    if (amo_ops[k].word)
                        memcpy(p, &av[i], 4); /* low word on little-endian */
                    else
                        *p = av[i];
                    u64 old = amo_ops[k].fn[o](p, av[j]);
                    u64 now = *p;
                    printf(" %lx/%lx", old, now);
                    if (amo_cell[0] != 0x5555555555555555ULL)
                        printf("!GUARD");
                }
                printf("\n");
            }

    /* LR/SC: increment loops, sign extension, and mandatory SC failures */
    static u64 cell[512] __attribute__((aligned(4096)));
    cell[0] = 0;
    for (int i = 0; i < 1000; i++) {
        u64 tmp, fail;
        asm volatile("1: lr.d %0, (%2)\n\taddi %0, %0, 3\n\tsc.d %1, %0, (%2)\n\tbnez %1, 1b"
                     : "=&r"(tmp), "=&r"(fail) : "r"(&cell[0]) : "memory");
        asm volatile("1: lr.d.aq %0, (%2)\n\taddi %0, %0, -1\n\tsc.d.rl %1, %0, (%2)\n\tbnez %1, 1b"
                     : "=&r"(tmp), "=&r"(fail) : "r"(&cell[0]) : "memory");
    }
    printf("lr.d/sc.d loop: %lx\n", cell[0]);
    u32 *w = (u32 *)&cell[2];
    w[0] = 0x7ffffff0; w[1] = 0xabcdef01;
    for (int i = 0; i < 100; i++) {
        u64 tmp, fail;
        asm volatile("1: lr.w.aqrl %0, (%2)\n\taddi %0, %0, 1\n\tsc.w.aqrl %1, %0, (%2)\n\tbnez %1, 1b"
                     : "=&r"(tmp), "=&r"(fail) : "r"(w) : "memory");
    }
    printf("lr.w/sc.w loop: %x guard %x\n", w[0], w[1]);
    u64 lrv;
    asm volatile("lr.w %0, (%1)" : "=r"(lrv) : "r"(w) : "memory");
    printf("lr.w sign-extends: %lx\n", lrv);
    /* the second SC after a successful one has no reservation and must fail */
    u64 f1, f2, t;
    cell[4] = 40;
    asm volatile("1: lr.d %0, (%3)\n\tsc.d %1, %0, (%3)\n\tbnez %1, 1b\n\tsc.d %2, %0, (%3)"
                 : "=&r"(t), "=&r"(f1), "=&r"(f2) : "r"(&cell[4]) : "memory");
    printf("sc.d after sc.d: first %s, second %s\n", f1 ? "failed" : "ok", f2 ? "failed" : "SUCCEEDED");
    /* SC to an address in another page than the LR must fail and must not store */
    static u64 other[512] __attribute__((aligned(4096)));
    other[0] = 7;
    asm volatile("lr.d %0, (%2)\n\tsc.d %1, %0, (%3)" : "=&r"(t), "=&r"(f1) : "r"(&cell[4]), "r"(&other[0]) : "memory");
    printf("sc.d to other page: %s, memory %lx\n", f1 ? "failed" : "SUCCEEDED", other[0]);
}

/* ------------------------------------------------------------------ floating point */

static const u64 dv[] = {
    0x0000000000000000ULL, /* +0 */
    0x8000000000000000ULL, /* -0 */
    0x3ff0000000000000ULL, /* 1 */
    0xbff0000000000000ULL, /* -1 */
    0x3fd5555555555555ULL, /* 1/3 */
    0x3ff0000000000001ULL, /* 1 + ulp */
    0x3c98000000000000ULL, /* 3*2^-55: rounding decides */
    0x7fefffffffffffffULL, /* max */
    0x0010000000000000ULL, /* min normal */
    0x0000000000000001ULL, /* min subnormal */
    0x7ff0000000000000ULL, /* +inf */
    0xfff0000000000000ULL, /* -inf */
    0x7ff8000000000000ULL, /* qNaN */
    0x7ff0000000000001ULL, /* sNaN */
    0xfff8000000000123ULL, /* -qNaN with payload */
};
static const u32 sv[] = {
    0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x3eaaaaab, 0x3f800001, 0x33400000,
    0x7f7fffff, 0x00800000, 0x00000001, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001,
    0xffc00123,
};

typedef u64 (*fp1)(u64, u64 *);
typedef u64 (*fp2)(u64, u64, u64 *);
typedef u64 (*fp3)(u64, u64, u64, u64 *);

/* Inputs: D via fmv.d.x; S via fmv.w.x (NaN-boxes). Result read with fmv.x.d. */
#define MVD(r, x) "fmv.d.x " r ", " x "\n\t"
#define MVS(r, x) "fmv.w.x " r ", " x "\n\t"
#define MK2(T, MV, op, rm) \
    static u64 f2_##T##_##op##_##rm(u64 a, u64 b, u64 *fl) \
    { u64 r, f; asm volatile(MV("ft0", "%2") MV("ft1", "%3") "csrw fflags, zero\n\t" \
        #op "." #T " ft2, ft0, ft1, " #rm "\n\tfmv.x.d %0, ft2\n\tfrflags %1" \
        : "=&r"(r), "=&r"(f) : "r"(a), "r"(b) : "ft0", "ft1", "ft2"); *fl = f; return r; }
#define MK1(T, MV, op, rm) \
    static u64 f1_##T##_##op##_##rm(u64 a, u64 *fl) \
    { u64 r, f; asm volatile(MV("ft0", "%2") "csrw fflags, zero\n\t" \
        #op "." #T " ft2, ft0, " #rm "\n\tfmv.x.d %0, ft2\n\tfrflags %1" \
        : "=&r"(r), "=&r"(f) : "r"(a) : "ft0", "ft2"); *fl = f; return r; }
#define MK3(T, MV, op, rm) \
    static u64 f3_##T##_##op##_##rm(u64 a, u64 b, u64 c, u64 *fl) \
    { u64 r, f; asm volatile(MV("ft0", "%2") MV("ft1", "%3") MV("ft3", "%4") "csrw fflags, zero\n\t" \
        #op "." #T " ft2, ft0, ft1, ft3, " #rm "\n\tfmv.x.d %0, ft2\n\tfrflags %1" \
        : "=&r"(r), "=&r"(f) : "r"(a), "r"(b), "r"(c) : "ft0", "ft1", "ft2", "ft3"); *fl = f; return r; }
#define RM_EACH(M, T, MV, op) M(T, MV, op, rne) M(T, MV, op, rtz) M(T, MV, op, rdn) M(T, MV, op, rup) \
    M(T, MV, op, rmm) M(T, MV, op, dyn)
#define ARR(P, T, op) { P##_##T##_##op##_rne, P##_##T##_##op##_rtz, P##_##T##_##op##_rdn, \
                        P##_##T##_##op##_rup, P##_##T##_##op##_rmm, P##_##T##_##op##_dyn }

RM_EACH(MK2, d, MVD, fadd) RM_EACH(MK2, d, MVD, fsub) RM_EACH(MK2, d, MVD, fmul) RM_EACH(MK2, d, MVD, fdiv)
RM_EACH(MK2, s, MVS, fadd) RM_EACH(MK2, s, MVS, fsub) RM_EACH(MK2, s, MVS, fmul) RM_EACH(MK2, s, MVS, fdiv)
RM_EACH(MK1, d, MVD, fsqrt) RM_EACH(MK1, s, MVS, fsqrt)
RM_EACH(MK3, d, MVD, fmadd) RM_EACH(MK3, d, MVD, fmsub) RM_EACH(MK3, d, MVD, fnmadd) RM_EACH(MK3, d, MVD, fnmsub)
RM_EACH(MK3, s, MVS, fmadd) RM_EACH(MK3, s, MVS, fmsub) RM_EACH(MK3, s, MVS, fnmadd) RM_EACH(MK3, s, MVS, fnmsub)

static const char *const rm_name[5] = { "rne", "rtz", "rdn", "rup", "rmm" };

static void set_frm(int m)
{
    /* the four C99 modes through fesetround, RMM (no C name) through fsrm */
    static const int fe[4] = { FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD };
    if (m < 4) {
        if (fesetround(fe[m]) != 0)
            printf("fesetround failed\n");
    } else {
        asm volatile("fsrmi 4");
    }
}

static u64 read_frm(void)
{
    u64 r;
    asm volatile("frrm %0" : "=r"(r));
    return r;
}

static void pr_fp(int single, u64 r)
{
    if (!single)
        printf("%016lx", r);
    else if ((r >> 32) == 0xffffffffULL)
        printf("%08lx", r & 0xffffffffUL);
    else
        printf("UNBOXED:%016lx", r);
}

static void pr_val(int single, u64 v)
{
    printf(single ? "%08lx" : "%016lx", v);
}

/* For one operation and input: all five static modes, then dyn under each frm value. */
struct fpres { u64 r[5], fl[5]; int dyn_ok; };

static void pr_res(int single, const struct fpres *x)
{
    int same = 1;
    for (int m = 1; m < 5; m++)
        if (x->r[m] != x->r[0] || x->fl[m] != x->fl[0])
            same = 0;
    if (same) {
        printf(" all=");
        pr_fp(single, x->r[0]);
        printf("/%02lx", x->fl[0]);
    } else for (int m = 0; m < 5; m++) {
        printf(" %s=", rm_name[m]);
        pr_fp(single, x->r[m]);
        printf("/%02lx", x->fl[m]);
    }
    printf(x->dyn_ok ? " dyn=same\n" : " dyn=MISMATCH\n");
}

static void run2(fp2 const *fn, u64 a, u64 b, struct fpres *x)
{
    x->dyn_ok = 1;
    for (int m = 0; m < 5; m++)
        x->r[m] = fn[m](a, b, &x->fl[m]);
    for (int m = 0; m < 5; m++) {
        u64 fl, r;
        set_frm(m);
        r = fn[5](a, b, &fl);
        if (read_frm() != (u64)m || r != x->r[m] || fl != x->fl[m])
            x->dyn_ok = 0;
    }
    set_frm(0);
}

static void run1(fp1 const *fn, u64 a, struct fpres *x)
{
    x->dyn_ok = 1;
    for (int m = 0; m < 5; m++)
        x->r[m] = fn[m](a, &x->fl[m]);
    for (int m = 0; m < 5; m++) {
        u64 fl, r;
        set_frm(m);
        r = fn[5](a, &fl);
        if (read_frm() != (u64)m || r != x->r[m] || fl != x->fl[m])
            x->dyn_ok = 0;
    }
    set_frm(0);
}

static void run3(fp3 const *fn, u64 a, u64 b, u64 c, struct fpres *x)
{
    x->dyn_ok = 1;
    for (int m = 0; m < 5; m++)
        x->r[m] = fn[m](a, b, c, &x->fl[m]);
    for (int m = 0; m < 5; m++) {
        u64 fl, r;
        set_frm(m);
        r = fn[5](a, b, c, &fl);
        if (read_frm() != (u64)m || r != x->r[m] || fl != x->fl[m])
            x->dyn_ok = 0;
    }
    set_frm(0);
}

static const struct { const char *name; int single; fp2 fn[6]; } fp2_ops[] = {
    { "fadd.d", 0, ARR(f2, d, fadd) }, { "fsub.d", 0, ARR(f2, d, fsub) },
    { "fmul.d", 0, ARR(f2, d, fmul) }, { "fdiv.d", 0, ARR(f2, d, fdiv) },
    { "fadd.s", 1, ARR(f2, s, fadd) }, { "fsub.s", 1, ARR(f2, s, fsub) },
    { "fmul.s", 1, ARR(f2, s, fmul) }, { "fdiv.s", 1, ARR(f2, s, fdiv) },
};
static const struct { const char *name; int single; fp3 fn[6]; } fp3_ops[] = {
    { "fmadd.d", 0, ARR(f3, d, fmadd) }, { "fmsub.d", 0, ARR(f3, d, fmsub) },
    { "fnmadd.d", 0, ARR(f3, d, fnmadd) }, { "fnmsub.d", 0, ARR(f3, d, fnmsub) },
    { "fmadd.s", 1, ARR(f3, s, fmadd) }, { "fmsub.s", 1, ARR(f3, s, fmsub) },
    { "fnmadd.s", 1, ARR(f3, s, fnmadd) }, { "fnmsub.s", 1, ARR(f3, s, fnmsub) },
};

static u64 fval(int single, unsigned i)
{
    return single ? sv[i] : dv[i];
}

static void test_fp_arith(void)
{
    struct fpres x;
    printf("== fp: arithmetic, result/fflags per static rounding mode; dyn checked against static\n");
    printf("   fflags bits: 10=NV 08=DZ 04=OF 02=UF 01=NX\n");
    for (unsigned k = 0; k < N(fp2_ops); k++) {
        int s = fp2_ops[k].single;
        for (unsigned i = 0; i < N(dv); i++)
            for (unsigned j = 0; j < N(dv); j++) {
                printf("%s ", fp2_ops[k].name);
                pr_val(s, fval(s, i)); printf(" "); pr_val(s, fval(s, j)); printf(":");
                run2(fp2_ops[k].fn, fval(s, i), fval(s, j), &x);
                pr_res(s, &x);
            }
    }
    static const fp1 sq_d[6] = ARR(f1, d, fsqrt), sq_s[6] = ARR(f1, s, fsqrt);
    static const u64 sqd_extra[] = { 0x4000000000000000ULL, 0x4008000000000000ULL, 0xc000000000000000ULL };
    static const u64 sqs_extra[] = { 0x40000000, 0x40400000, 0xc0000000 };
    for (unsigned i = 0; i < N(dv) + 3; i++) {
        u64 a = i < N(dv) ? dv[i] : sqd_extra[i - N(dv)];
        printf("fsqrt.d "); pr_val(0, a); printf(":");
        run1(sq_d, a, &x); pr_res(0, &x);
        a = i < N(sv) ? sv[i] : sqs_extra[i - N(sv)];
        printf("fsqrt.s "); pr_val(1, a); printf(":");
        run1(sq_s, a, &x); pr_res(1, &x);
    }
    /* fused ops: every triple over a small set, then hand-picked edge cases */
    static const unsigned pick[] = { 1, 3, 4, 5, 7, 10 }; /* -0 -1 1/3 1+ulp max inf */
    for (unsigned k = 0; k < N(fp3_ops); k++) {
        int s = fp3_ops[k].single;
        for (unsigned i = 0; i < N(pick); i++)
            for (unsigned j = 0; j < N(pick); j++)
                for (unsigned l = 0; l < N(pick); l++) {
                    u64 a = fval(s, pick[i]), b = fval(s, pick[j]), c = fval(s, pick[l]);
                    printf("%s ", fp3_ops[k].name);
                    pr_val(s, a); printf(" "); pr_val(s, b); printf(" "); pr_val(s, c); printf(":");
                    run3(fp3_ops[k].fn, a, b, c, &x);
                    pr_res(s, &x);
                }
    }
    static const u64 fmad[][3] = {
        { 0x7ff0000000000000ULL, 0, 0x7ff8000000000000ULL },           /* inf*0+qNaN: NV */
        { 0, 0x7ff0000000000000ULL, 0x7ff0000000000001ULL },           /* 0*inf+sNaN */
        { 0x7ff0000000000001ULL, 0x3ff0000000000000ULL, 0x3ff0000000000000ULL },
        { 0x3ff0000000000000ULL, 0x3ff0000000000000ULL, 0x7ff0000000000001ULL },
        { 0x3ff0000000000001ULL, 0x3fefffffffffffffULL, 0xbff0000000000000ULL }, /* fused residue */
        { 0x3fd5555555555555ULL, 0x4008000000000000ULL, 0xbff0000000000000ULL },
        { 0x3ff0000000000000ULL, 0x8000000000000000ULL, 0x0000000000000000ULL }, /* signed zero */
        { 0x3ff0000000000000ULL, 0x3ff0000000000000ULL, 0xbff0000000000000ULL }, /* exact zero */
        { 0x0010000000000000ULL, 0x3fe0000000000000ULL, 0 },                     /* to subnormal */
        { 0x0000000000000001ULL, 0x3fe0000000000000ULL, 0 },                     /* underflow to 0 */
        { 0x7fefffffffffffffULL, 0x4000000000000000ULL, 0xffefffffffffffffULL }, /* OF then back */
        { 0x7ff0000000000000ULL, 0x3ff0000000000000ULL, 0xfff0000000000000ULL }, /* inf-inf */
    };
    static const u64 fmas[][3] = {
        { 0x7f800000, 0, 0x7fc00000 }, { 0, 0x7f800000, 0x7f800001 },
        { 0x7f800001, 0x3f800000, 0x3f800000 }, { 0x3f800000, 0x3f800000, 0x7f800001 },
        { 0x3f800001, 0x3f7fffff, 0xbf800000 }, { 0x3eaaaaab, 0x40400000, 0xbf800000 },
        { 0x3f800000, 0x80000000, 0x00000000 }, { 0x3f800000, 0x3f800000, 0xbf800000 },
        { 0x00800000, 0x3f000000, 0 }, { 0x00000001, 0x3f000000, 0 },
        { 0x7f7fffff, 0x40000000, 0xff7fffff }, { 0x7f800000, 0x3f800000, 0xff800000 },
    };
    for (unsigned k = 0; k < N(fp3_ops); k++) {
        int s = fp3_ops[k].single;
        for (unsigned i = 0; i < N(fmad); i++) {
            const u64 *t = s ? fmas[i] : fmad[i];
            printf("%s ", fp3_ops[k].name);
            pr_val(s, t[0]); printf(" "); pr_val(s, t[1]); printf(" "); pr_val(s, t[2]); printf(":");
            run3(fp3_ops[k].fn, t[0], t[1], t[2], &x);
            pr_res(s, &x);
        }
    }
}

/* Operations without a rounding mode: one result per op */
#define NR2(T, MV, op) \
    static u64 n_##T##_##op(u64 a, u64 b, u64 *fl) \
    { u64 r, f; asm volatile(MV("ft0", "%2") MV("ft1", "%3") "csrw fflags, zero\n\t" \
        #op "." #T " ft2, ft0, ft1\n\tfmv.x.d %0, ft2\n\tfrflags %1" \
        : "=&r"(r), "=&r"(f) : "r"(a), "r"(b) : "ft0", "ft1", "ft2"); *fl = f; return r; }
#define NRC(T, MV, op) \
    static u64 n_##T##_##op(u64 a, u64 b, u64 *fl) \
    { u64 r, f; asm volatile(MV("ft0", "%2") MV("ft1", "%3") "csrw fflags, zero\n\t" \
        #op "." #T " %0, ft0, ft1\n\tfrflags %1" \
        : "=&r"(r), "=&r"(f) : "r"(a), "r"(b) : "ft0", "ft1"); *fl = f; return r; }
#define NR_LIST(T, MV) NR2(T, MV, fmin) NR2(T, MV, fmax) NR2(T, MV, fsgnj) NR2(T, MV, fsgnjn) \
    NR2(T, MV, fsgnjx) NRC(T, MV, feq) NRC(T, MV, flt) NRC(T, MV, fle)
NR_LIST(d, MVD)
NR_LIST(s, MVS)
typedef u64 (*nr2)(u64, u64, u64 *);
static const struct { const char *name; int single, isint; nr2 fn; } nr_ops[] = {
    { "fmin.d", 0, 0, n_d_fmin }, { "fmax.d", 0, 0, n_d_fmax }, { "fsgnj.d", 0, 0, n_d_fsgnj },
    { "fsgnjn.d", 0, 0, n_d_fsgnjn }, { "fsgnjx.d", 0, 0, n_d_fsgnjx }, { "feq.d", 0, 1, n_d_feq },
    { "flt.d", 0, 1, n_d_flt }, { "fle.d", 0, 1, n_d_fle },
    { "fmin.s", 1, 0, n_s_fmin }, { "fmax.s", 1, 0, n_s_fmax }, { "fsgnj.s", 1, 0, n_s_fsgnj },
    { "fsgnjn.s", 1, 0, n_s_fsgnjn }, { "fsgnjx.s", 1, 0, n_s_fsgnjx }, { "feq.s", 1, 1, n_s_feq },
    { "flt.s", 1, 1, n_s_flt }, { "fle.s", 1, 1, n_s_fle },
};

static void test_fp_misc(void)
{
    printf("== fp: min/max/sign-injection/compare (columns: second operand, result/fflags)\n");
    for (unsigned k = 0; k < N(nr_ops); k++) {
        int s = nr_ops[k].single;
        for (unsigned i = 0; i < N(dv); i++) {
            printf("%s ", nr_ops[k].name);
            pr_val(s, fval(s, i));
            printf(":");
            for (unsigned j = 0; j < N(dv); j++) {
                u64 fl, r = nr_ops[k].fn(fval(s, i), fval(s, j), &fl);
                printf(" ");
                if (nr_ops[k].isint)
                    printf("%lx", r);
                else
                    pr_fp(s, r);
                printf("/%lx", fl);
            }
            printf("\n");
        }
    }
    printf("== fp: fclass\n");
    for (unsigned i = 0; i < N(dv); i++) {
        u64 rd, rs;
        asm volatile("fmv.d.x ft0, %2\n\tfclass.d %0, ft0\n\tfmv.w.x ft1, %3\n\tfclass.s %1, ft1"
                     : "=&r"(rd), "=&r"(rs) : "r"(dv[i]), "r"((u64)sv[i]) : "ft0", "ft1");
        printf("fclass %016lx -> %03lx   %08x -> %03lx\n", dv[i], rd, sv[i], rs);
    }
    static const u64 more_d[] = { 0x800fffffffffffffULL, 0x8010000000000000ULL, 0x000fffffffffffffULL };
    for (unsigned i = 0; i < N(more_d); i++) {
        u64 rd;
        asm volatile("fmv.d.x ft0, %1\n\tfclass.d %0, ft0" : "=r"(rd) : "r"(more_d[i]) : "ft0");
        printf("fclass %016lx -> %03lx\n", more_d[i], rd);
    }
}

/* conversions */
#define CVT_FI(name, op, MV, rm) \
    static u64 c_##name##_##rm(u64 a, u64 *fl) \
    { u64 r, f; asm volatile(MV("ft0", "%2") "csrw fflags, zero\n\t" op " %0, ft0, " #rm "\n\tfrflags %1" \
        : "=&r"(r), "=&r"(f) : "r"(a) : "ft0"); *fl = f; return r; }
#define CVT_IF(name, op, rm) \
    static u64 c_##name##_##rm(u64 a, u64 *fl) \
    { u64 r, f; asm volatile("csrw fflags, zero\n\t" op " ft0, %2, " #rm "\n\tfmv.x.d %0, ft0\n\tfrflags %1" \
        : "=&r"(r), "=&r"(f) : "r"(a) : "ft0"); *fl = f; return r; }
#define CVT_FF(name, op, MV, rm) \
    static u64 c_##name##_##rm(u64 a, u64 *fl) \
    { u64 r, f; asm volatile(MV("ft0", "%2") "csrw fflags, zero\n\t" op " ft1, ft0, " #rm "\n\tfmv.x.d %0, ft1\n\tfrflags %1" \
        : "=&r"(r), "=&r"(f) : "r"(a) : "ft0", "ft1"); *fl = f; return r; }
/* binutils refuses a rounding mode on the exact conversions fcvt.d.w/.d.wu/.d.s; encode
 * them with .insn so each rm field value is still executed (the result must not depend on it) */
#define RMNUM_rne 0
#define RMNUM_rtz 1
#define RMNUM_rdn 2
#define RMNUM_rup 3
#define RMNUM_rmm 4
#define RMNUM_dyn 7
#define XSTR(x) STR(x)
#define STR(x) #x
#define CVT_IF_X(name, f7, rs2, rm) \
    static u64 c_##name##_##rm(u64 a, u64 *fl) \
    { u64 r, f; asm volatile("csrw fflags, zero\n\t.insn r 0x53, " XSTR(RMNUM_##rm) ", " #f7 ", ft0, %2, " #rs2 \
        "\n\tfmv.x.d %0, ft0\n\tfrflags %1" : "=&r"(r), "=&r"(f) : "r"(a) : "ft0"); *fl = f; return r; }
#define CVT_FF_X(name, f7, rs2, rm) \
    static u64 c_##name##_##rm(u64 a, u64 *fl) \
    { u64 r, f; asm volatile(MVS("ft0", "%2") "csrw fflags, zero\n\t.insn r 0x53, " XSTR(RMNUM_##rm) ", " #f7 ", ft1, ft0, " #rs2 \
        "\n\tfmv.x.d %0, ft1\n\tfrflags %1" : "=&r"(r), "=&r"(f) : "r"(a) : "ft0", "ft1"); *fl = f; return r; }
#define RM5(M, name, ...) M(name, __VA_ARGS__, rne) M(name, __VA_ARGS__, rtz) M(name, __VA_ARGS__, rdn) \
    M(name, __VA_ARGS__, rup) M(name, __VA_ARGS__, rmm) M(name, __VA_ARGS__, dyn)
RM5(CVT_FI, w_d, "fcvt.w.d", MVD) RM5(CVT_FI, wu_d, "fcvt.wu.d", MVD)
RM5(CVT_FI, l_d, "fcvt.l.d", MVD) RM5(CVT_FI, lu_d, "fcvt.lu.d", MVD)
RM5(CVT_FI, w_s, "fcvt.w.s", MVS) RM5(CVT_FI, wu_s, "fcvt.wu.s", MVS)
RM5(CVT_FI, l_s, "fcvt.l.s", MVS) RM5(CVT_FI, lu_s, "fcvt.lu.s", MVS)
RM5(CVT_IF_X, d_w, 0x69, x0) RM5(CVT_IF_X, d_wu, 0x69, x1)
RM5(CVT_IF, d_l, "fcvt.d.l") RM5(CVT_IF, d_lu, "fcvt.d.lu")
RM5(CVT_IF, s_w, "fcvt.s.w") RM5(CVT_IF, s_wu, "fcvt.s.wu")
RM5(CVT_IF, s_l, "fcvt.s.l") RM5(CVT_IF, s_lu, "fcvt.s.lu")
RM5(CVT_FF, s_d, "fcvt.s.d", MVD) RM5(CVT_FF_X, d_s, 0x21, f0)
#define CARR(name) { c_##name##_rne, c_##name##_rtz, c_##name##_rdn, c_##name##_rup, c_##name##_rmm, c_##name##_dyn }

static const u64 cvt_d_in[] = {
    0, 0x8000000000000000ULL, 0x3fe0000000000000ULL /* .5 */, 0x3ff8000000000000ULL /* 1.5 */,
    0x4004000000000000ULL /* 2.5 */, 0xbfe0000000000000ULL, 0xbff8000000000000ULL, 0xc004000000000000ULL,
    0xbff0000000000000ULL /* -1 */, 0xbfefffffffffffffULL /* -0.99.. */,
    0x41dfffffffe00000ULL /* 2^31-0.5 */, 0x41dfffffffffffffULL /* 2^31-tiny */,
    0x41e0000000000000ULL /* 2^31 */, 0xc1e0000000000000ULL /* -2^31 */, 0xc1e0000000200000ULL /* -2^31-1 */,
    0x41efffffffe00000ULL /* 2^32-1 */, 0x41efffffffff0000ULL /* 2^32-0.5 */, 0x41f0000000000000ULL /* 2^32 */,
    0x43dfffffffffffffULL /* 2^63-1024 */, 0x43e0000000000000ULL /* 2^63 */, 0xc3e0000000000000ULL /* -2^63 */,
    0x43efffffffffffffULL, 0x43f0000000000000ULL /* 2^64 */, 0x7fefffffffffffffULL, 0xffefffffffffffffULL,
    0x7ff0000000000000ULL, 0xfff0000000000000ULL, 0x7ff8000000000000ULL, 0xfff8000000000000ULL,
    0x7ff0000000000001ULL, 0x0000000000000001ULL, 0x4330000000000001ULL, 0x36a0000000000000ULL,
    0x47efffffe0000000ULL /* float max */, 0x47effffff0000000ULL /* rounds to inf in rne */,
};
static const u64 cvt_s_in[] = {
    0, 0x80000000, 0x3f000000, 0x3fc00000, 0x40200000, 0xbf000000, 0xbfc00000, 0xc0200000,
    0xbf800000, 0xbf7fffff, 0x4effffff, 0x4f000000, 0xcf000000, 0xcf000001, 0x4f7fffff, 0x4f800000,
    0x5effffff, 0x5f000000, 0xdf000000, 0xdf000001, 0x5f7fffff, 0x5f800000, 0x7f7fffff, 0xff7fffff,
    0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0x00000001, 0x4b000001,
};
static const u64 cvt_i_in[] = {
    0, 1, (u64)-1, 0x7fffffff, 0x80000000ULL, 0xffffffff80000000ULL, 0xffffffffULL,
    0x100000005ULL /* high bits ignored by .w/.wu */, 0x1000001, 0x1000003, 0x20000000000001ULL,
    0x20000000000003ULL, 0x7fffffffffffffffULL, 0x8000000000000000ULL, 0x8000000000000401ULL,
    0xfffffffffffffc01ULL, 0x123456789abcdef1ULL, 0xfffffffffffffffdULL,
};

typedef u64 (*cvt)(u64, u64 *);
static const struct { const char *name; int kind; cvt fn[6]; } cvt_ops[] = {
    /* kind: 0 = from double, 1 = from single, 2 = from integer to double, 3 = to single */
    { "fcvt.w.d", 0, CARR(w_d) }, { "fcvt.wu.d", 0, CARR(wu_d) }, { "fcvt.l.d", 0, CARR(l_d) },
    { "fcvt.lu.d", 0, CARR(lu_d) }, { "fcvt.s.d", 0, CARR(s_d) },
    { "fcvt.w.s", 1, CARR(w_s) }, { "fcvt.wu.s", 1, CARR(wu_s) }, { "fcvt.l.s", 1, CARR(l_s) },
    { "fcvt.lu.s", 1, CARR(lu_s) }, { "fcvt.d.s", 1, CARR(d_s) },
    { "fcvt.d.w", 2, CARR(d_w) }, { "fcvt.d.wu", 2, CARR(d_wu) }, { "fcvt.d.l", 2, CARR(d_l) },
    { "fcvt.d.lu", 2, CARR(d_lu) },
    { "fcvt.s.w", 3, CARR(s_w) }, { "fcvt.s.wu", 3, CARR(s_wu) }, { "fcvt.s.l", 3, CARR(s_l) },
    { "fcvt.s.lu", 3, CARR(s_lu) },
};

static void test_cvt(void)
{
    struct fpres x;
    printf("== fp: conversions (integer results in full 64-bit hex, incl. sign extension of .w)\n");
    for (unsigned k = 0; k < N(cvt_ops); k++) {
        const u64 *in;
        unsigned n;
        switch (cvt_ops[k].kind) {
        case 0: in = cvt_d_in; n = N(cvt_d_in); break;
        case 1: in = cvt_s_in; n = N(cvt_s_in); break;
        default: in = cvt_i_in; n = N(cvt_i_in); break;
        }
        /* results of fcvt.s.* are singles; of fcvt.d.* doubles; others integers */
        const char *nm = cvt_ops[k].name;
        int single_out = nm[5] == 's';
        for (unsigned i = 0; i < n; i++) {
            printf("%s %lx:", nm, in[i]);
            run1(cvt_ops[k].fn, in[i], &x);
            pr_res(single_out, &x);
        }
    }
}

static void test_nanbox(void)
{
    printf("== fp: NaN boxing and moves\n");
    static float fm[2] = { 1.5f, -2.0f };
    static u64 dm[2];
    u64 r, r2, fl;
    asm volatile("flw ft0, 0(%1)\n\tfmv.x.d %0, ft0" : "=r"(r) : "r"(fm) : "ft0", "memory");
    printf("flw 1.5 then fmv.x.d: %016lx\n", r);
    asm volatile("fmv.w.x ft0, %1\n\tfmv.x.d %0, ft0" : "=r"(r) : "r"(0x123456789abcdef0ULL) : "ft0");
    printf("fmv.w.x uses low 32 bits, boxes: %016lx\n", r);
    asm volatile("fmv.w.x ft0, %1\n\tfmv.x.w %0, ft0" : "=r"(r) : "r"(0x80000001ULL) : "ft0");
    printf("fmv.x.w sign-extends: %016lx\n", r);
    /* an improperly boxed single is a canonical NaN to arithmetic, fsgnj, fclass, compares */
    u64 bad = 0x000000003f800000ULL;
    asm volatile("fmv.d.x ft0, %2\n\tcsrw fflags, zero\n\tfadd.s ft1, ft0, ft0\n\tfmv.x.d %0, ft1\n\tfrflags %1"
                 : "=&r"(r), "=&r"(fl) : "r"(bad) : "ft0", "ft1");
    printf("fadd.s of unboxed 1.0: %016lx flags %lx\n", r, fl);
    asm volatile("fmv.d.x ft0, %1\n\tfsgnj.s ft1, ft0, ft0\n\tfmv.x.d %0, ft1" : "=r"(r) : "r"(bad) : "ft0", "ft1");
    printf("fsgnj.s of unboxed: %016lx\n", r);
    asm volatile("fmv.d.x ft0, %1\n\tfmv.w.x ft2, %2\n\tfsgnjn.s ft1, ft2, ft0\n\tfmv.x.d %0, ft1"
                 : "=r"(r) : "r"(bad), "r"(0x40000000ULL) : "ft0", "ft1", "ft2");
    printf("fsgnjn.s 2.0 with unboxed sign source: %016lx\n", r);
    asm volatile("fmv.d.x ft0, %1\n\tfclass.s %0, ft0" : "=r"(r) : "r"(bad) : "ft0");
    printf("fclass.s of unboxed: %lx\n", r);
    asm volatile("fmv.d.x ft0, %2\n\tcsrw fflags, zero\n\tfeq.s %0, ft0, ft0\n\tfrflags %1"
                 : "=&r"(r), "=&r"(fl) : "r"(bad) : "ft0");
    printf("feq.s unboxed: %lx flags %lx\n", r, fl);
    asm volatile("fmv.d.x ft0, %1\n\tfmv.x.w %0, ft0" : "=r"(r) : "r"(0x12345678bf800000ULL) : "ft0");
    printf("fmv.x.w of unboxed takes low bits: %016lx\n", r);
    asm volatile("fmv.d.x ft0, %1\n\tfsw ft0, 4(%0)" : : "r"(fm), "r"(0x12345678c0400000ULL) : "ft0", "memory");
    memcpy(&r, &fm[1], 4);
    printf("fsw of unboxed stores low bits: %08lx\n", r & 0xffffffffUL);
    asm volatile("fmv.d.x ft0, %1\n\tfcvt.d.s ft1, ft0\n\tfmv.x.d %0, ft1" : "=r"(r) : "r"(bad) : "ft0", "ft1");
    printf("fcvt.d.s of unboxed: %016lx\n", r);
    dm[0] = 0x400921fb54442d18ULL;
    asm volatile("fld ft0, 0(%2)\n\tfsd ft0, 8(%2)\n\tfmv.x.d %0, ft0\n\tld %1, 8(%2)"
                 : "=&r"(r), "=&r"(r2) : "r"(dm) : "ft0", "memory");
    printf("fld/fsd: %016lx %016lx\n", r, r2);
    /* canonical NaN outputs */
    asm volatile("fmv.d.x ft0, %1\n\tfadd.d ft1, ft0, ft0\n\tfmv.x.d %0, ft1" : "=r"(r) : "r"(0xfff8000000000123ULL) : "ft0", "ft1");
    printf("fadd.d of payload NaN: %016lx\n", r);
    asm volatile("fmv.d.x ft0, %1\n\tfcvt.s.d ft1, ft0\n\tfmv.x.d %0, ft1" : "=r"(r) : "r"(0xfff8000000000123ULL) : "ft0", "ft1");
    printf("fcvt.s.d of payload NaN: %016lx\n", r);
}

static void test_csr(void)
{
    printf("== csr: fcsr/frm/fflags\n");
    u64 a, b, c, d;
    asm volatile("fscsr %0, %1" : "=r"(a) : "r"(0xe5ULL));
    asm volatile("frcsr %0\n\tfrrm %1\n\tfrflags %2" : "=r"(b), "=r"(c), "=r"(d));
    printf("fscsr 0xe5: frcsr=%lx frrm=%lx frflags=%lx\n", b, c, d);
    asm volatile("fsflags %0, %1" : "=r"(a) : "r"(0x0aULL));
    asm volatile("frcsr %0" : "=r"(b));
    printf("fsflags 0x0a: old=%lx fcsr=%lx\n", a, b);
    asm volatile("fsrm %0, %1" : "=r"(a) : "r"(0x2ULL));
    asm volatile("frcsr %0" : "=r"(b));
    printf("fsrm 2: old=%lx fcsr=%lx\n", a, b);
    asm volatile("csrrsi %0, fflags, 0x11" : "=r"(a));
    asm volatile("csrrci %0, fflags, 0x02" : "=r"(b));
    asm volatile("csrrs %0, fcsr, zero" : "=r"(c));
    printf("csrrsi fflags 0x11: old=%lx; csrrci 0x02: old=%lx; fcsr=%lx\n", a, b, c);
    asm volatile("csrrwi %0, frm, 3" : "=r"(a));
    asm volatile("csrrc %0, fcsr, %1" : "=r"(b) : "r"(0x1fULL));
    asm volatile("frcsr %0" : "=r"(c));
    printf("csrrwi frm 3: old=%lx; csrrc fcsr 0x1f: old=%lx; now %lx\n", a, b, c);
    asm volatile("fsflagsi 0x1f\n\tfsrmi 7\n\tfrcsr %0" : "=r"(a));
    printf("fsflagsi 0x1f, fsrmi 7: fcsr=%lx\n", a);
    /* flags accumulate across operations */
    asm volatile("fscsr zero\n\t"
                 "fmv.d.x ft0, %1\n\tfmv.d.x ft1, zero\n\tfdiv.d ft2, ft0, ft1\n\t"
                 "fmv.d.x ft3, %2\n\tfmul.d ft2, ft3, ft3\n\tfrflags %0"
                 : "=&r"(a) : "r"(0x3ff0000000000000ULL), "r"(0x7fefffffffffffffULL) : "ft0", "ft1", "ft2", "ft3");
    printf("flags after 1/0 then max*max: %lx\n", a);
    asm volatile("fscsr zero");
    fesetround(FE_UPWARD);
    asm volatile("frrm %0" : "=r"(a));
    printf("fesetround(FE_UPWARD): frm=%lx fegetround()==FE_UPWARD: %d\n", a, fegetround() == FE_UPWARD);
    fesetround(FE_TONEAREST);
    feraiseexcept(FE_INEXACT | FE_DIVBYZERO);
    asm volatile("frflags %0" : "=r"(a));
    printf("feraiseexcept(NX|DZ): fflags=%lx fetestexcept=%d\n", a, fetestexcept(FE_ALL_EXCEPT));
    feclearexcept(FE_ALL_EXCEPT);

    /* counters: only their monotonicity is deterministic */
    u64 c0, t0, i0, c1, t1, i1, x = 1;
    asm volatile("rdcycle %0\n\trdtime %1\n\trdinstret %2" : "=r"(c0), "=r"(t0), "=r"(i0));
    for (int i = 0; i < 100000; i++)
        asm volatile("addi %0, %0, 1" : "+r"(x));
    asm volatile("rdcycle %0\n\trdtime %1\n\trdinstret %2" : "=r"(c1), "=r"(t1), "=r"(i1));
    printf("rdcycle monotonic: %s\n", c1 > c0 ? "ok" : "NO");
    printf("rdtime monotonic: %s\n", t1 >= t0 ? "ok" : "NO");
    printf("rdinstret advanced by >= 100000: %s\n", i1 - i0 >= 100000 ? "ok" : "NO");
    asm volatile("csrr %0, cycle\n\tcsrr %1, time\n\tcsrr %2, instret" : "=r"(c0), "=r"(t0), "=r"(i0));
    printf("csrr cycle/time/instret monotonic: %s\n", c0 >= c1 && t0 >= t1 && i0 > i1 ? "ok" : "NO");
}

int main(void)
{
    test_rr();
    test_ri();
    test_upper_and_jumps();
    test_branches();
    test_loadstore();
    test_amo();
    test_fp_arith();
    test_fp_misc();
    test_cvt();
    test_nanbox();
    test_csr();
    printf("isa: done\n");
    return 0;
}
