/*
 * fpgen: the oracle for dirtybit's F/D unit (emu/src/fpu.rs).
 *
 * Runs every RV64 F and D computation on a large set of inputs under every static rounding
 * mode and prints one line per execution:
 *
 *     <mnemonic> <rm> <rs1> <rs2> <rs3> -> <rd> <fflags>
 *
 * all in hex (no 0x). rs1..rs3 and rd are whole 64-bit register values: FP registers as bit
 * patterns (so single-precision inputs may be deliberately *improperly* NaN-boxed), integer
 * registers as they are. Unused operands print as 0. Ops without an rm field print rm 0.
 * fflags is cleared with fsflags before each instruction and read back with frflags right
 * after it, inside one asm block, so the compiler cannot move FP work in between.
 *
 * Build and run (see regen_fp_vectors.sh):
 *     riscv64-linux-gnu-gcc -O2 -static -o fpgen fpgen.c && qemu-riscv64 ./fpgen
 *
 * Inputs are deterministic (a fixed-seed xorshift generator), so re-running reproduces the
 * fixture byte for byte on the same qemu.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint64_t u64;
typedef uint32_t u32;
typedef void (*opfn)(u64 a, u64 b, u64 c, u64 *rd, u64 *fflags);

/* ---- instruction wrappers ------------------------------------------------------------ */

/* FP destination: the instruction writes ft3. Sources: ft0..ft2 hold a, b, c as raw bits;
 * %[a] is also available for integer-source instructions. */
#define FNF(name, INS)                                                                     \
    static void name(u64 a, u64 b, u64 c, u64 *rp, u64 *fp)                               \
    {                                                                                      \
        u64 r, f;                                                                          \
        __asm__ volatile("fmv.d.x ft0,%[a]\n\tfmv.d.x ft1,%[b]\n\tfmv.d.x ft2,%[c]\n\t"   \
                         "fmv.d.x ft3,zero\n\tfsflags zero\n\t" INS "\n\t"                 \
                         "frflags %[f]\n\tfmv.x.d %[r],ft3"                                \
                         : [r] "=r"(r), [f] "=r"(f)                                        \
                         : [a] "r"(a), [b] "r"(b), [c] "r"(c)                              \
                         : "ft0", "ft1", "ft2", "ft3");                                    \
        *rp = r;                                                                           \
        *fp = f;                                                                           \
    }

/* Integer destination: the instruction writes %[r]. */
#define FNX(name, INS)                                                                     \
    static void name(u64 a, u64 b, u64 c, u64 *rp, u64 *fp)                               \
    {                                                                                      \
        u64 r, f;                                                                          \
        __asm__ volatile("fmv.d.x ft0,%[a]\n\tfmv.d.x ft1,%[b]\n\tfmv.d.x ft2,%[c]\n\t"   \
                         "fsflags zero\n\t" INS "\n\tfrflags %[f]"                         \
                         : [r] "=&r"(r), [f] "=&r"(f)                                      \
                         : [a] "r"(a), [b] "r"(b), [c] "r"(c)                              \
                         : "ft0", "ft1", "ft2");                                           \
        *rp = r;                                                                           \
        *fp = f;                                                                           \
    }

/* One wrapper per static rounding mode, rm = 0..4. */
#define R5(T, id, INS)                                                                     \
    T(id##_0, INS ",rne") T(id##_1, INS ",rtz") T(id##_2, INS ",rdn") T(id##_3, INS ",rup") \
        T(id##_4, INS ",rmm")
#define FN5(id) { id##_0, id##_1, id##_2, id##_3, id##_4 }
#define FN1(id) { id, 0, 0, 0, 0 }

#define FMA(p, id, m) R5(FNF, id, m " ft3,ft0,ft1,ft2")
#define ARITH2(id, m) R5(FNF, id, m " ft3,ft0,ft1")

/* Single precision */
FMA(s, fmadd_s, "fmadd.s")
FMA(s, fmsub_s, "fmsub.s")
FMA(s, fnmsub_s, "fnmsub.s")
FMA(s, fnmadd_s, "fnmadd.s")
ARITH2(fadd_s, "fadd.s")
ARITH2(fsub_s, "fsub.s")
ARITH2(fmul_s, "fmul.s")
ARITH2(fdiv_s, "fdiv.s")
R5(FNF, fsqrt_s, "fsqrt.s ft3,ft0")
FNF(fsgnj_s, "fsgnj.s ft3,ft0,ft1")
FNF(fsgnjn_s, "fsgnjn.s ft3,ft0,ft1")
FNF(fsgnjx_s, "fsgnjx.s ft3,ft0,ft1")
FNF(fmin_s, "fmin.s ft3,ft0,ft1")
FNF(fmax_s, "fmax.s ft3,ft0,ft1")
R5(FNX, fcvt_w_s, "fcvt.w.s %[r],ft0")
R5(FNX, fcvt_wu_s, "fcvt.wu.s %[r],ft0")
R5(FNX, fcvt_l_s, "fcvt.l.s %[r],ft0")
R5(FNX, fcvt_lu_s, "fcvt.lu.s %[r],ft0")
FNX(fmv_x_w, "fmv.x.w %[r],ft0")
FNX(feq_s, "feq.s %[r],ft0,ft1")
FNX(flt_s, "flt.s %[r],ft0,ft1")
FNX(fle_s, "fle.s %[r],ft0,ft1")
FNX(fclass_s, "fclass.s %[r],ft0")
R5(FNF, fcvt_s_w, "fcvt.s.w ft3,%[a]")
R5(FNF, fcvt_s_wu, "fcvt.s.wu ft3,%[a]")
R5(FNF, fcvt_s_l, "fcvt.s.l ft3,%[a]")
R5(FNF, fcvt_s_lu, "fcvt.s.lu ft3,%[a]")
FNF(fmv_w_x, "fmv.w.x ft3,%[a]")

/* Double precision */
FMA(d, fmadd_d, "fmadd.d")
FMA(d, fmsub_d, "fmsub.d")
FMA(d, fnmsub_d, "fnmsub.d")
FMA(d, fnmadd_d, "fnmadd.d")
ARITH2(fadd_d, "fadd.d")
ARITH2(fsub_d, "fsub.d")
ARITH2(fmul_d, "fmul.d")
ARITH2(fdiv_d, "fdiv.d")
R5(FNF, fsqrt_d, "fsqrt.d ft3,ft0")
FNF(fsgnj_d, "fsgnj.d ft3,ft0,ft1")
FNF(fsgnjn_d, "fsgnjn.d ft3,ft0,ft1")
FNF(fsgnjx_d, "fsgnjx.d ft3,ft0,ft1")
FNF(fmin_d, "fmin.d ft3,ft0,ft1")
FNF(fmax_d, "fmax.d ft3,ft0,ft1")
R5(FNF, fcvt_s_d, "fcvt.s.d ft3,ft0")
FNF(fcvt_d_s, "fcvt.d.s ft3,ft0") /* exact: no rm operand */
R5(FNX, fcvt_w_d, "fcvt.w.d %[r],ft0")
R5(FNX, fcvt_wu_d, "fcvt.wu.d %[r],ft0")
R5(FNX, fcvt_l_d, "fcvt.l.d %[r],ft0")
R5(FNX, fcvt_lu_d, "fcvt.lu.d %[r],ft0")
FNX(fmv_x_d, "fmv.x.d %[r],ft0")
FNX(feq_d, "feq.d %[r],ft0,ft1")
FNX(flt_d, "flt.d %[r],ft0,ft1")
FNX(fle_d, "fle.d %[r],ft0,ft1")
FNX(fclass_d, "fclass.d %[r],ft0")
FNF(fcvt_d_w, "fcvt.d.w ft3,%[a]") /* exact */
FNF(fcvt_d_wu, "fcvt.d.wu ft3,%[a]") /* exact */
R5(FNF, fcvt_d_l, "fcvt.d.l ft3,%[a]")
R5(FNF, fcvt_d_lu, "fcvt.d.lu ft3,%[a]")
FNF(fmv_d_x, "fmv.d.x ft3,%[a]")

/* ---- the op table -------------------------------------------------------------------- */

/* How an op's inputs are chosen. */
enum cls {
    C_FMA,    /* three FP sources, rounding */
    C_ARITH,  /* two FP sources, rounding (add, sub, mul, div) */
    C_BIN,    /* two FP sources, no rounding (sgnj, min, max, compares) */
    C_UNARY,  /* one FP source (sqrt, class, fmv.x.*, fcvt between formats) */
    C_TOINT,  /* one FP source, integer result (fcvt.{w,wu,l,lu}.*) */
    C_FROMINT /* one integer source (fcvt.*.{w,wu,l,lu}, fmv.*.x) */
};

/* Source format: 's' single, 'd' double, 'x' integer register. */
struct op {
    const char *name;
    enum cls cls;
    char src; /* format of the FP (or integer) sources */
    int has_rm;
    opfn fn[5];
};

static const struct op OPS[] = {
    { "fmadd.s", C_FMA, 's', 1, FN5(fmadd_s) },
    { "fmsub.s", C_FMA, 's', 1, FN5(fmsub_s) },
    { "fnmsub.s", C_FMA, 's', 1, FN5(fnmsub_s) },
    { "fnmadd.s", C_FMA, 's', 1, FN5(fnmadd_s) },
    { "fadd.s", C_ARITH, 's', 1, FN5(fadd_s) },
    { "fsub.s", C_ARITH, 's', 1, FN5(fsub_s) },
    { "fmul.s", C_ARITH, 's', 1, FN5(fmul_s) },
    { "fdiv.s", C_ARITH, 's', 1, FN5(fdiv_s) },
    { "fsqrt.s", C_UNARY, 's', 1, FN5(fsqrt_s) },
    { "fsgnj.s", C_BIN, 's', 0, FN1(fsgnj_s) },
    { "fsgnjn.s", C_BIN, 's', 0, FN1(fsgnjn_s) },
    { "fsgnjx.s", C_BIN, 's', 0, FN1(fsgnjx_s) },
    { "fmin.s", C_BIN, 's', 0, FN1(fmin_s) },
    { "fmax.s", C_BIN, 's', 0, FN1(fmax_s) },
    { "fcvt.w.s", C_TOINT, 's', 1, FN5(fcvt_w_s) },
    { "fcvt.wu.s", C_TOINT, 's', 1, FN5(fcvt_wu_s) },
    { "fcvt.l.s", C_TOINT, 's', 1, FN5(fcvt_l_s) },
    { "fcvt.lu.s", C_TOINT, 's', 1, FN5(fcvt_lu_s) },
    { "fmv.x.w", C_UNARY, 's', 0, FN1(fmv_x_w) },
    { "feq.s", C_BIN, 's', 0, FN1(feq_s) },
    { "flt.s", C_BIN, 's', 0, FN1(flt_s) },
    { "fle.s", C_BIN, 's', 0, FN1(fle_s) },
    { "fclass.s", C_UNARY, 's', 0, FN1(fclass_s) },
    { "fcvt.s.w", C_FROMINT, 'x', 1, FN5(fcvt_s_w) },
    { "fcvt.s.wu", C_FROMINT, 'x', 1, FN5(fcvt_s_wu) },
    { "fcvt.s.l", C_FROMINT, 'x', 1, FN5(fcvt_s_l) },
    { "fcvt.s.lu", C_FROMINT, 'x', 1, FN5(fcvt_s_lu) },
    { "fmv.w.x", C_FROMINT, 'x', 0, FN1(fmv_w_x) },
    { "fmadd.d", C_FMA, 'd', 1, FN5(fmadd_d) },
    { "fmsub.d", C_FMA, 'd', 1, FN5(fmsub_d) },
    { "fnmsub.d", C_FMA, 'd', 1, FN5(fnmsub_d) },
    { "fnmadd.d", C_FMA, 'd', 1, FN5(fnmadd_d) },
    { "fadd.d", C_ARITH, 'd', 1, FN5(fadd_d) },
    { "fsub.d", C_ARITH, 'd', 1, FN5(fsub_d) },
    { "fmul.d", C_ARITH, 'd', 1, FN5(fmul_d) },
    { "fdiv.d", C_ARITH, 'd', 1, FN5(fdiv_d) },
    { "fsqrt.d", C_UNARY, 'd', 1, FN5(fsqrt_d) },
    { "fsgnj.d", C_BIN, 'd', 0, FN1(fsgnj_d) },
    { "fsgnjn.d", C_BIN, 'd', 0, FN1(fsgnjn_d) },
    { "fsgnjx.d", C_BIN, 'd', 0, FN1(fsgnjx_d) },
    { "fmin.d", C_BIN, 'd', 0, FN1(fmin_d) },
    { "fmax.d", C_BIN, 'd', 0, FN1(fmax_d) },
    { "fcvt.s.d", C_UNARY, 'd', 1, FN5(fcvt_s_d) },
    { "fcvt.d.s", C_UNARY, 's', 0, FN1(fcvt_d_s) },
    { "fcvt.w.d", C_TOINT, 'd', 1, FN5(fcvt_w_d) },
    { "fcvt.wu.d", C_TOINT, 'd', 1, FN5(fcvt_wu_d) },
    { "fcvt.l.d", C_TOINT, 'd', 1, FN5(fcvt_l_d) },
    { "fcvt.lu.d", C_TOINT, 'd', 1, FN5(fcvt_lu_d) },
    { "fmv.x.d", C_UNARY, 'd', 0, FN1(fmv_x_d) },
    { "feq.d", C_BIN, 'd', 0, FN1(feq_d) },
    { "flt.d", C_BIN, 'd', 0, FN1(flt_d) },
    { "fle.d", C_BIN, 'd', 0, FN1(fle_d) },
    { "fclass.d", C_UNARY, 'd', 0, FN1(fclass_d) },
    { "fcvt.d.w", C_FROMINT, 'x', 0, FN1(fcvt_d_w) },
    { "fcvt.d.wu", C_FROMINT, 'x', 0, FN1(fcvt_d_wu) },
    { "fcvt.d.l", C_FROMINT, 'x', 1, FN5(fcvt_d_l) },
    { "fcvt.d.lu", C_FROMINT, 'x', 1, FN5(fcvt_d_lu) },
    { "fmv.d.x", C_FROMINT, 'x', 0, FN1(fmv_d_x) },
};

/* ---- inputs -------------------------------------------------------------------------- */

static u64 rng_state = 0x9e3779b97f4a7c15ull;

static u64 rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static u64 box(u32 x) { return 0xffffffff00000000ull | x; }

static u64 f2bits(float f) { u32 u; memcpy(&u, &f, 4); return box(u); }
static u64 d2bits(double d) { u64 u; memcpy(&u, &d, 8); return u; }
static float bits2f(u64 b) { u32 u = (u32)b; float f; memcpy(&f, &u, 4); return f; }
static double bits2d(u64 b) { double d; memcpy(&d, &b, 8); return d; }

/* Specials used in every combination (kept short: pairs and triples multiply). */
static const u32 S_CORE[] = {
    0x00000000, 0x80000000, /* ±0 */
    0x3f800000, 0xbf800000, /* ±1 */
    0x00000001, 0x807fffff, /* min subnormal, -max subnormal */
    0x00800000, 0x3f7fffff, /* min normal, 1 - 2^-24 (product lands just below min normal) */
    0x7f7fffff, 0xff7fffff, /* ±max normal */
    0x7f800000, 0xff800000, /* ±inf */
    0x7fc00000, 0xffc12345, /* canonical qNaN, negative qNaN with payload */
    0x7f800001, 0xffa00000, /* sNaN, negative sNaN */
    0x3fc00000, 0x40400000, /* 1.5, 3 */
    0x3f800001, 0x3dcccccd, /* 1 + ulp, 0.1 */
};
static const u64 D_CORE[] = {
    0x0000000000000000ull, 0x8000000000000000ull, 0x3ff0000000000000ull, 0xbff0000000000000ull,
    0x0000000000000001ull, 0x800fffffffffffffull, 0x0010000000000000ull, 0x3fefffffffffffffull,
    0x7fefffffffffffffull, 0xffefffffffffffffull, 0x7ff0000000000000ull, 0xfff0000000000000ull,
    0x7ff8000000000000ull, 0xfff8000000012345ull, 0x7ff0000000000001ull, 0xfff4000000000000ull,
    0x3ff8000000000000ull, 0x4008000000000000ull, 0x3ff0000000000001ull, 0x3fb999999999999aull,
};
/* Single-precision register values that are NOT properly NaN-boxed: each must read as the
 * canonical NaN. The first would be 1.0 and the second +inf if the box were ignored. */
static const u64 S_BADBOX[] = {
    0x000000003f800000ull, 0xfffffffe7f800000ull, 0x7ff8000000000000ull, 0x00000000ffc00000ull,
};
/* Small FMA set: 7^3 triples (-0 with ±1 still gives both signs of an exact zero sum). */
static const u32 S_FMA[] = { 0x80000000, 0x3f800000, 0xbf800000, 0x7f7fffff,
                             0x7f800000, 0x7fc00000, 0x7f800001 };
static const u64 D_FMA[] = { 0x8000000000000000ull, 0x3ff0000000000000ull, 0xbff0000000000000ull,
                             0x7fefffffffffffffull, 0x7ff0000000000000ull, 0x7ff8000000000000ull,
                             0x7ff0000000000001ull };

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A random value of the given format with an exponent drawn towards the interesting
 * places: subnormal, near 1, near overflow, or anywhere. */
static u64 rand_fp(char fmt)
{
    u64 r = rnd();
    int ebits = fmt == 's' ? 8 : 11, mbits = fmt == 's' ? 23 : 52;
    u64 emax = (1ull << ebits) - 1, bias = emax >> 1;
    u64 sign = rnd() & 1, mant = rnd() & ((1ull << mbits) - 1), exp;
    switch (r % 8) {
    case 0: exp = rnd() % 3; break;                           /* subnormal or tiny */
    case 1: exp = emax - 1 - rnd() % 3; break;                /* near overflow */
    case 2: exp = bias - 4 + rnd() % 9; break;                /* near 1 */
    case 3: /* few mantissa bits: exact-ish, ties */
        exp = rnd() % emax;
        mant &= rnd() & rnd() & rnd();
        break;
    case 4: /* long runs of ones */
        exp = rnd() % emax;
        mant = ((1ull << mbits) - 1) >> (rnd() % 8);
        break;
    case 5: exp = rnd() % (emax + 1); break;                  /* anywhere, incl. inf/NaN */
    default: exp = rnd() % emax; break;
    }
    u64 bits = (sign << (ebits + mbits)) | (exp << mbits) | mant;
    return fmt == 's' ? box((u32)bits) : bits;
}

/* Re-exponent a value so that a product or quotient lands where we want. */
static u64 with_exp(char fmt, u64 v, long exp)
{
    int mbits = fmt == 's' ? 23 : 52, ebits = fmt == 's' ? 8 : 11;
    long emax = (1l << ebits) - 2;
    if (exp < 0) exp = 0;
    if (exp > emax) exp = emax;
    u64 emask = ((1ull << ebits) - 1) << mbits;
    u64 raw = fmt == 's' ? (u32)v : v;
    raw = (raw & ~emask) | ((u64)exp << mbits);
    return fmt == 's' ? box((u32)raw) : raw;
}

static long exp_of(char fmt, u64 v)
{
    return fmt == 's' ? (long)(((u32)v >> 23) & 0xff) : (long)((v >> 52) & 0x7ff);
}

static u64 core_at(char fmt, unsigned i) { return fmt == 's' ? box(S_CORE[i]) : D_CORE[i]; }

/* ---- running ------------------------------------------------------------------------- */

static unsigned long lines;

static void run(const struct op *op, u64 a, u64 b, u64 c)
{
    int nrm = op->has_rm ? 5 : 1;
    for (int rm = 0; rm < nrm; rm++) {
        u64 r, f;
        op->fn[rm](a, b, c, &r, &f);
        printf("%s %d %lx %lx %lx -> %lx %lx\n", op->name, rm, a, b, c, r, f);
        lines++;
    }
}

/* Two related operands: independent, nearly equal (cancellation, compares), or scaled so
 * that a product/quotient lands near underflow or overflow. */
static void rand_pair(const struct op *op, u64 *a, u64 *b)
{
    char f = op->src;
    long bias = f == 's' ? 127 : 1023, emaxn = f == 's' ? 254 : 2046;
    int div = strncmp(op->name, "fdiv", 4) == 0;
    *a = rand_fp(f);
    *b = rand_fp(f);
    switch (rnd() % 5) {
    case 0: break;
    case 1: /* nearly equal magnitude, random signs */
        *b = *a ^ (rnd() & 0xf) ^ ((rnd() & 1) << (f == 's' ? 31 : 63));
        break;
    case 2: { /* result near the subnormal boundary */
        long ea = 1 + rnd() % (emaxn - 1);
        long target = 1 - (long)(rnd() % 3);
        long eb = div ? ea - target + bias : target - ea + bias;
        *a = with_exp(f, *a, ea);
        *b = with_exp(f, *b, eb);
        break;
    }
    case 3: { /* result near overflow */
        long ea = 1 + rnd() % (emaxn - 1);
        long target = emaxn - 1 + (long)(rnd() % 3);
        long eb = div ? ea - target + bias : target - ea + bias;
        *a = with_exp(f, *a, ea);
        *b = with_exp(f, *b, eb);
        break;
    }
    default: /* exponents close together */
        *b = with_exp(f, *b, exp_of(f, *a) + (long)(rnd() % 5) - 2);
        break;
    }
}

static void gen_fma(const struct op *op, int nrand)
{
    char f = op->src;
    unsigned n = f == 's' ? N(S_FMA) : N(D_FMA);
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < n; j++)
            for (unsigned k = 0; k < n; k++) {
                if (f == 's')
                    run(op, box(S_FMA[i]), box(S_FMA[j]), box(S_FMA[k]));
                else
                    run(op, D_FMA[i], D_FMA[j], D_FMA[k]);
            }
    run(op, S_BADBOX[0], box(0x3f800000), box(0x3f800000));
    run(op, box(0x3f800000), box(0x3f800000), S_BADBOX[1]);
    for (int i = 0; i < nrand; i++) {
        u64 a, b, c;
        rand_pair(op, &a, &b);
        switch (rnd() % 3) {
        case 0: c = rand_fp(f); break;
        case 1: /* c close to -(a*b) (or +(a*b)): massive cancellation; only a fused
                 * multiply-add gets these right */
            if (f == 's') {
                float p = bits2f(a) * bits2f(b);
                c = f2bits((rnd() & 1) ? -p : p) ^ (rnd() & 3);
            } else {
                double p = bits2d(a) * bits2d(b);
                c = d2bits((rnd() & 1) ? -p : p) ^ (rnd() & 3);
            }
            break;
        default: /* tiny addend */
            c = with_exp(f, rand_fp(f), rnd() % 4);
            break;
        }
        run(op, a, b, c);
    }
}

static void gen_pairs(const struct op *op, int nrand)
{
    char f = op->src;
    for (unsigned i = 0; i < N(S_CORE); i++)
        for (unsigned j = 0; j < N(S_CORE); j++)
            run(op, core_at(f, i), core_at(f, j), 0);
    if (f == 's')
        for (unsigned i = 0; i < N(S_BADBOX); i++) {
            run(op, S_BADBOX[i], box(0x3f800000), 0);
            run(op, box(0xbf800000), S_BADBOX[i], 0);
        }
    for (int i = 0; i < nrand; i++) {
        u64 a, b;
        rand_pair(op, &a, &b);
        run(op, a, b, 0);
    }
}

/* Doubles around the single-precision limits, for fcvt.s.d. */
static const double D_TO_S[] = {
    0x1.fffffep127,  /* max float */
    0x1.fffffefffffffp127, 0x1.ffffffp127, 0x1.ffffff00001p127, /* below/at/above RNE overflow */
    0x1p128, -0x1.ffffffp127,
    0x1p-126, 0x1.fffffffffffffp-127,                 /* min normal, just below it */
    0x1.fffffep-127, 0x1.ffffffp-127, 0x1.fffffe8p-127, /* tininess after rounding edges */
    0x1.ffffff8p-127, -0x1.ffffffp-127,
    0x1p-149, 0x1p-150, 0x1.0000000001p-150, 0x1.8p-150, 0x1p-151, -0x1p-150, /* min subnormal */
    0x1.000001p0, 0x1.0000008p0, 0x1.0000018p0, 0x1.0000010000001p0,          /* ties */
    3.14159265358979, 1e-40, -1e-45, 1e39,
};

/* FP values around the integer conversion boundaries, for fcvt.{w,wu,l,lu}.* (given as
 * doubles; single-precision ops use the nearest float). */
static const double D_TO_INT[] = {
    0.0, -0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0, 1.5, 2.5, 3.5, -0.25, -0.5, -0.6, -1.0, -1.5,
    -2.5, -0.9999999, 0x1p-1074, -0x1p-1074, 0x1p-149,
    2147483647.0, 2147483647.4, 2147483647.5, 2147483647.6, 2147483648.0, 2147483648.5,
    -2147483648.0, -2147483648.4, -2147483648.5, -2147483648.6, -2147483649.0,
    4294967295.0, 4294967295.4, 4294967295.5, 4294967296.0, -4294967296.0,
    0x1.fffffffffffffp62, 0x1p63, 0x1.0000000000001p63, -0x1p63, -0x1.0000000000001p63,
    0x1.fffffffffffffp63, 0x1p64, -0x1p64, 0x1.fffffep30, 0x1p31, 0x1.fffffep62, 0x1.fffffep63,
    -0x1.000002p31, -0x1.000002p63, 123456789.125, -123456789.875, 1e300, -1e300,
};

static void gen_unary(const struct op *op, int nrand)
{
    char f = op->src;
    int to_s = strcmp(op->name, "fcvt.s.d") == 0;
    for (unsigned i = 0; i < N(S_CORE); i++) run(op, core_at(f, i), 0, 0);
    if (f == 's')
        for (unsigned i = 0; i < N(S_BADBOX); i++) run(op, S_BADBOX[i], 0, 0);
    if (to_s) {
        for (unsigned i = 0; i < N(D_TO_S); i++) run(op, d2bits(D_TO_S[i]), 0, 0);
        /* NaN payloads do not survive: the result is the canonical NaN. */
        run(op, 0x7ff80000deadbeefull, 0, 0);
        run(op, 0xfff0000100000000ull, 0, 0);
    }
    if (strncmp(op->name, "fmv.x", 5) == 0) {
        /* The move ignores the box and sign-extends bit 31 (fmv.x.w). */
        run(op, 0x12345678f0000000ull, 0, 0);
        run(op, 0x0000000070000000ull, 0, 0);
    }
    for (int i = 0; i < nrand; i++) {
        u64 a = rand_fp(f);
        if (to_s && (rnd() & 1)) {
            /* Land in and around the single-precision range, incl. its subnormals. */
            if (rnd() & 1)
                a = with_exp(f, a, 1023 - 152 + (long)(rnd() % 32));
            else
                a = with_exp(f, a, 1023 + 120 + (long)(rnd() % 10));
        }
        run(op, a, 0, 0);
    }
}

static void gen_toint(const struct op *op, int nrand)
{
    char f = op->src;
    for (unsigned i = 0; i < N(S_CORE); i++) run(op, core_at(f, i), 0, 0);
    if (f == 's')
        for (unsigned i = 0; i < N(S_BADBOX); i++) run(op, S_BADBOX[i], 0, 0);
    for (unsigned i = 0; i < N(D_TO_INT); i++)
        run(op, f == 's' ? f2bits((float)D_TO_INT[i]) : d2bits(D_TO_INT[i]), 0, 0);
    if (f == 's') {
        /* Single-precision neighbours of the boundaries. */
        static const u32 b[] = { 0x4effffff, 0x4f000000, 0xcf000000, 0xcf000001, 0x4f7fffff,
                                 0x4f800000, 0x5effffff, 0x5f000000, 0xdf000000, 0xdf000001,
                                 0x5f7fffff, 0x5f800000, 0xbf7fffff, 0xbe800000 };
        for (unsigned i = 0; i < N(b); i++) run(op, box(b[i]), 0, 0);
    }
    for (int i = 0; i < nrand; i++) {
        u64 a = rand_fp(f);
        /* Mostly magnitudes from 2^-2 to 2^66, where the rounding and range checks act. */
        if (rnd() % 4) a = with_exp(f, a, (f == 's' ? 127 : 1023) - 2 + (long)(rnd() % 69));
        run(op, a, 0, 0);
    }
}

static void gen_fromint(const struct op *op, int nrand)
{
    static const u64 ints[] = {
        0, 1, 2, 3, 0xffffffffffffffffull, 0xfffffffffffffffeull, 0x7fffffff, 0x80000000,
        0xffffffff, 0x100000000ull, 0xffffffff80000000ull, 0xffffffff7fffffffull,
        0x7fffffffffffffffull, 0x8000000000000000ull, 0x8000000000000001ull,
        0x1000001, 0x1000003, 0x1000002, 0x2000003, 0xfffffffffeffffffull, 0xff000001ull,
        0x20000000000001ull, 0x20000000000003ull, 0x7ffffffffffffdffull, 0x7ffffffffffffe00ull,
        0xfffffffffffff7ffull, 0xfffffffffffff800ull, 0x123456789abcdef0ull,
        0x0000000080000001ull, 0xdeadbeef00000000ull, 0x000000007f800001ull,
    };
    for (unsigned i = 0; i < N(ints); i++) run(op, ints[i], 0, 0);
    for (int i = 0; i < nrand; i++) {
        u64 v = rnd();
        switch (rnd() % 3) {
        case 0: break;                                     /* full width, garbage high bits */
        case 1: v >>= rnd() % 64; break;                    /* random bit length */
        default: v = (u64)(-(int64_t)(v >> (rnd() % 64))); /* negative */
        }
        run(op, v, 0, 0);
    }
}

int main(void)
{
    for (unsigned i = 0; i < N(OPS); i++) {
        const struct op *op = &OPS[i];
        switch (op->cls) {
        case C_FMA: gen_fma(op, 130); break;
        case C_ARITH: gen_pairs(op, 110); break;
        case C_BIN: gen_pairs(op, 120); break;
        case C_UNARY: gen_unary(op, op->has_rm ? 120 : 150); break;
        case C_TOINT: gen_toint(op, 60); break;
        case C_FROMINT: gen_fromint(op, op->has_rm ? 60 : 80); break;
        }
    }
    fprintf(stderr, "fpgen: %lu vectors\n", lines);
    return 0;
}
