#!/usr/bin/env python3
"""Generate a random straight-line RV64GC test program for differential testing.

usage: randinsn.py --seed N [--count M] [-o FILE]

The output is an assembly file defining `rand_body` (called by src/randmain.c) and its
initial register tables. Deterministic: the same seed always gives the same file.

What the body contains
- integer RV64I register/immediate ops, RV64M, loads/stores of every width, AMOs of every
  kind (.w/.d, random aq/rl), explicit RVC instructions (`c.*` under `.option rvc`; all other
  instructions are assembled under `.option norvc` so their 32-bit encodings are used),
- F and D arithmetic with a random explicit rounding mode (rne rtz rdn rup rmm dyn),
  fused multiply-add, sqrt, sign injection, min/max, compares, fclass, every fcvt, fmv,
  FP loads/stores, and fcsr accesses that keep frm valid (fsrmi 0..4, fsflagsi, frflags...),
- short forward branches (all six conditions, c.beqz/c.bnez, jal x0, c.j) skipping 1-4
  instructions. No other control flow.

Register conventions inside the body
- x2 (sp) points into the scratch buffer (for c.lwsp/c.ldsp/c.swsp/... and c.addi4spn),
- x30 is the checkpoint trace pointer, x31 the scratch base; neither is ever written by
  random instructions, and sp, x30, x31 are never used as random sources;
- every memory address is built as `andi T, src, mask; add T, T, x31`, and T is turned back
  into an offset with `sub T, T, x31` right after the access, so no register ever keeps a
  host-dependent address (unless the access overwrote T with loaded data);
- f0-f15 mostly hold doubles and f16-f31 mostly singles; a few operations deliberately mix
  the two to exercise NaN-boxing.

Every CHECKPOINT instructions the body stores x1..x29, f0..f31 and fcsr to the trace; the
harness prints a hash per checkpoint and the final registers in full.
"""

import argparse
import random
import struct
import sys

CHECKPOINT = 250
SCRATCH_SIZE = 8192  # x31 = scratch + 2048, sp = scratch + 6144
XREGS = [1] + list(range(3, 30))  # usable integer registers (x0 added separately)
CREGS = list(range(8, 16))  # registers encodable in 3-bit RVC fields
RMS = ["rne", "rtz", "rdn", "rup", "rmm", "dyn"]

INTERESTING_X = [
    0, 1, 2, 0xFFFFFFFFFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0x7FFFFFFF,
    0x80000000, 0xFFFFFFFF, 0xFFFFFFFF80000000, 0x8000, 0xFFFF, 63, 64, 31, 32,
]
INTERESTING_D = [
    0.0, -0.0, 1.0, -1.0, 0.5, 3.0, 1e300, -1e300, 5e-324, 2.2250738585072014e-308,
    float("inf"), float("-inf"), 1.0 / 3.0, 2.0 ** 63, -(2.0 ** 31), 4294967295.5,
]
D_SPECIAL = [0x7FF8000000000000, 0x7FF0000000000001, 0xFFF8000000000042]
INTERESTING_S = [
    0.0, -0.0, 1.0, -1.0, 0.5, 3.0, 3.4e38, -3.4e38, 1.4e-45, 1.17549435e-38,
    float("inf"), float("-inf"), 1.0 / 3.0, 2.0 ** 31, -(2.0 ** 31), 16777217.0,
]
S_SPECIAL = [0x7FC00000, 0x7F800001, 0xFFC00042]


def dbits(v):
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def sbits(v):
    return struct.unpack("<I", struct.pack("<f", v))[0]


class Gen:
    def __init__(self, seed, count):
        self.r = random.Random(seed)
        self.seed = seed
        self.count = count
        self.lines = []
        self.label = 0
        self.emitted = 0
        self.checkpoints = 0

    # ---- helpers
    def out(self, s):
        self.lines.append("\t" + s)

    def rvc(self, s):
        self.lines.append("\t.option rvc")
        self.out(s)
        self.lines.append("\t.option norvc")

    def xs(self):
        """a random integer source register (x0 allowed)"""
        return "x%d" % (0 if self.r.random() < 0.05 else self.r.choice(XREGS))

    def xd(self):
        """a random integer destination (x0 occasionally: the write is discarded)"""
        return "x%d" % (0 if self.r.random() < 0.02 else self.r.choice(XREGS))

    def fd(self, single):
        if self.r.random() < 0.05:  # deliberately cross the pools
            return "f%d" % self.r.randrange(32)
        return "f%d" % (self.r.randrange(16, 32) if single else self.r.randrange(0, 16))

    fs = fd

    def simm(self, bits):
        return self.r.randrange(-(1 << (bits - 1)), 1 << (bits - 1))

    def newlabel(self):
        self.label += 1
        return ".Lf%d" % self.label

    # ---- instruction groups; each returns after emitting one "unit"
    def int_rr(self):
        op = self.r.choice(["add", "sub", "sll", "slt", "sltu", "xor", "srl", "sra", "or", "and",
                            "addw", "subw", "sllw", "srlw", "sraw"])
        self.out("%s %s, %s, %s" % (op, self.xd(), self.xs(), self.xs()))

    def int_ri(self):
        op = self.r.choice(["addi", "slti", "sltiu", "xori", "ori", "andi", "slli", "srli", "srai",
                            "addiw", "slliw", "srliw", "sraiw", "lui"])
        if op == "lui":
            self.out("lui %s, 0x%x" % (self.xd(), self.r.randrange(1 << 20)))
            return
        if op in ("slli", "srli", "srai"):
            imm = self.r.randrange(64)
        elif op in ("slliw", "srliw", "sraiw"):
            imm = self.r.randrange(32)
        else:
            imm = self.simm(12)
        self.out("%s %s, %s, %d" % (op, self.xd(), self.xs(), imm))

    def int_m(self):
        op = self.r.choice(["mul", "mulh", "mulhsu", "mulhu", "div", "divu", "rem", "remu",
                            "mulw", "divw", "divuw", "remw", "remuw"])
        self.out("%s %s, %s, %s" % (op, self.xd(), self.xs(), self.xs()))

    def addr(self, size, compressed=False):
        """emit the address computation; return the temp register number"""
        t = self.r.choice(CREGS if compressed else XREGS)
        src = self.xs()
        mask = 0x7FF & ~(size - 1)
        self.out("andi x%d, %s, %d" % (t, src, mask))
        self.out("add x%d, x%d, x31" % (t, t))
        return t

    def unaddr(self, t, clobbered):
        if not clobbered:
            self.out("sub x%d, x%d, x31" % (t, t))

    def pick_not(self, t, pool=None):
        pool = pool or XREGS
        while True:
            v = self.r.choice(pool + [0])
            if v != t:
                return v

    def mem(self):
        kind = self.r.choice(["lb", "lh", "lw", "ld", "ld", "lbu", "lhu", "lwu", "lwu", "sb", "sh",
                              "sw", "sd", "flw", "fld", "fsw", "fsd"])
        size = {"b": 1, "h": 2, "w": 4, "d": 8}[kind[1] if kind[0] != "f" else kind[2]]
        t = self.addr(size)
        off = self.simm(12) & ~(size - 1)
        if kind[0] == "l":
            rd = self.xd()
            self.out("%s %s, %d(x%d)" % (kind, rd, off, t))
            self.unaddr(t, rd == "x%d" % t)
        elif kind[0] == "s":
            self.out("%s x%d, %d(x%d)" % (kind, self.pick_not(t), off, t))
            self.unaddr(t, False)
        else:
            single = kind[2] == "w"
            if kind[1] == "l":
                self.out("%s %s, %d(x%d)" % (kind, self.fd(single), off, t))
            else:
                self.out("%s %s, %d(x%d)" % (kind, self.fs(single), off, t))
            self.unaddr(t, False)

    def amo(self):
        op = self.r.choice(["amoswap", "amoadd", "amoxor", "amoand", "amoor", "amomin", "amomax",
                            "amominu", "amomaxu"])
        w = self.r.choice(["w", "d"])
        order = self.r.choice(["", ".aq", ".rl", ".aqrl"])
        t = self.addr(4 if w == "w" else 8)
        rd = self.xd()
        self.out("%s.%s%s %s, x%d, (x%d)" % (op, w, order, rd, self.pick_not(t), t))
        self.unaddr(t, rd == "x%d" % t)

    def compressed(self):
        r = self.r
        k = r.choice(["addi", "addiw", "li", "lui", "slli", "srli", "srai", "andi", "mv", "add",
                      "sub", "xor", "or", "and", "subw", "addw", "lw", "ld", "sw", "sd", "fld", "fsd",
                      "lwsp", "ldsp", "swsp", "sdsp", "fldsp", "fsdsp", "addi4spn", "nop"])
        rd = "x%d" % r.choice(XREGS)
        cd = "x%d" % r.choice(CREGS)
        cs = "x%d" % r.choice(CREGS)
        if k == "addi":
            self.rvc("c.addi %s, %d" % (rd, r.choice([i for i in range(-32, 32) if i])))
        elif k == "addiw":
            self.rvc("c.addiw %s, %d" % (rd, r.randrange(-32, 32)))
        elif k == "li":
            self.rvc("c.li %s, %d" % (rd, r.randrange(-32, 32)))
        elif k == "lui":
            imm = r.choice(list(range(1, 32)) + list(range(0xFFFE0, 0x100000)))
            self.rvc("c.lui %s, 0x%x" % (rd, imm))
        elif k == "slli":
            self.rvc("c.slli %s, %d" % (rd, r.randrange(1, 64)))
        elif k in ("srli", "srai"):
            self.rvc("c.%s %s, %d" % (k, cd, r.randrange(1, 64)))
        elif k == "andi":
            self.rvc("c.andi %s, %d" % (cd, r.randrange(-32, 32)))
        elif k in ("mv", "add"):
            self.rvc("c.%s %s, x%d" % (k, rd, r.choice(XREGS)))
        elif k in ("sub", "xor", "or", "and", "subw", "addw"):
            self.rvc("c.%s %s, %s" % (k, cd, cs))
        elif k in ("lw", "ld", "sw", "sd", "fld", "fsd"):
            size = 4 if k[1] == "w" else 8
            t = self.addr(size, compressed=True)
            off = r.randrange(0, 32) * size
            if k in ("lw", "ld"):
                d = r.choice(CREGS)
                self.rvc("c.%s x%d, %d(x%d)" % (k, d, off, t))
                self.unaddr(t, d == t)
            elif k in ("sw", "sd"):
                src = r.choice([c for c in CREGS if c != t])
                self.rvc("c.%s x%d, %d(x%d)" % (k, src, off, t))
                self.unaddr(t, False)
            else:
                self.rvc("c.%s f%d, %d(x%d)" % (k, r.choice(CREGS), off, t))
                self.unaddr(t, False)
        elif k in ("lwsp", "ldsp", "fldsp"):
            size = 4 if k == "lwsp" else 8
            off = r.randrange(0, 64) * size
            dst = rd if k != "fldsp" else "f%d" % r.randrange(16)
            self.rvc("c.%s %s, %d(sp)" % (k, dst, off))
        elif k in ("swsp", "sdsp", "fsdsp"):
            size = 4 if k == "swsp" else 8
            off = r.randrange(0, 64) * size
            src = ("x%d" % r.choice(XREGS)) if k != "fsdsp" else "f%d" % r.randrange(16)
            self.rvc("c.%s %s, %d(sp)" % (k, src, off))
        elif k == "addi4spn":
            self.rvc("c.addi4spn %s, sp, %d" % (cd, r.randrange(1, 256) * 4))
            self.out("sub %s, %s, sp" % (cd, cd))
        else:
            self.rvc("c.nop")

    def fp(self):
        r = self.r
        single = r.random() < 0.5
        t = "s" if single else "d"
        rm = r.choice(RMS)
        k = r.choice(["arith", "arith", "arith", "fma", "fma", "sqrt", "sgnj", "minmax", "cmp",
                      "class", "cvt_to_int", "cvt_from_int", "cvt_ff", "mv_to", "mv_from", "csr"])
        fd, fs = self.fd, self.fs
        if k == "arith":
            op = r.choice(["fadd", "fsub", "fmul", "fdiv"])
            self.out("%s.%s %s, %s, %s, %s" % (op, t, fd(single), fs(single), fs(single), rm))
        elif k == "fma":
            op = r.choice(["fmadd", "fmsub", "fnmadd", "fnmsub"])
            self.out("%s.%s %s, %s, %s, %s, %s" % (op, t, fd(single), fs(single), fs(single), fs(single), rm))
        elif k == "sqrt":
            self.out("fsqrt.%s %s, %s, %s" % (t, fd(single), fs(single), rm))
        elif k == "sgnj":
            op = r.choice(["fsgnj", "fsgnjn", "fsgnjx"])
            self.out("%s.%s %s, %s, %s" % (op, t, fd(single), fs(single), fs(single)))
        elif k == "minmax":
            op = r.choice(["fmin", "fmax"])
            self.out("%s.%s %s, %s, %s" % (op, t, fd(single), fs(single), fs(single)))
        elif k == "cmp":
            op = r.choice(["feq", "flt", "fle"])
            self.out("%s.%s %s, %s, %s" % (op, t, self.xd(), fs(single), fs(single)))
        elif k == "class":
            self.out("fclass.%s %s, %s" % (t, self.xd(), fs(single)))
        elif k == "cvt_to_int":
            it = r.choice(["w", "wu", "l", "lu"])
            self.out("fcvt.%s.%s %s, %s, %s" % (it, t, self.xd(), fs(single), rm))
        elif k == "cvt_from_int":
            it = r.choice(["w", "wu", "l", "lu"])
            if t == "d" and it in ("w", "wu"):  # exact: binutils takes no rounding mode
                self.out("fcvt.d.%s %s, %s" % (it, fd(False), self.xs()))
            else:
                self.out("fcvt.%s.%s %s, %s, %s" % (t, it, fd(single), self.xs(), rm))
        elif k == "cvt_ff":
            if single:
                self.out("fcvt.s.d %s, %s, %s" % (fd(True), fs(False), rm))
            else:
                self.out("fcvt.d.s %s, %s" % (fd(False), fs(True)))
        elif k == "mv_to":
            self.out("fmv.x.%s %s, %s" % ("w" if single else "d", self.xd(), fs(single)))
        elif k == "mv_from":
            self.out("fmv.%s.x %s, %s" % ("w" if single else "d", fd(single), self.xs()))
        else:
            c = r.choice(["fsrmi", "fsflagsi", "frflags", "frrm", "frcsr", "fsflags", "csrrsi", "csrrci"])
            if c == "fsrmi":
                self.out("fsrmi %s, %d" % (self.xd(), r.randrange(5)))
            elif c == "fsflagsi":
                self.out("fsflagsi %s, %d" % (self.xd(), r.randrange(32)))
            elif c in ("frflags", "frrm", "frcsr"):
                self.out("%s %s" % (c, self.xd()))
            elif c == "fsflags":
                self.out("fsflags %s, %s" % (self.xd(), self.xs()))
            else:
                self.out("%s %s, fflags, %d" % (c, self.xd(), r.randrange(32)))

    def branch(self):
        r = self.r
        lab = self.newlabel()
        k = r.choice(["b", "b", "b", "cb", "jal", "cj"])
        if k == "b":
            op = r.choice(["beq", "bne", "blt", "bge", "bltu", "bgeu"])
            self.out("%s %s, %s, %s" % (op, self.xs(), self.xs(), lab))
        elif k == "cb":
            self.rvc("c.%s x%d, %s" % (r.choice(["beqz", "bnez"]), r.choice(CREGS), lab))
        elif k == "jal":
            self.out("jal x0, %s" % lab)
        else:
            self.rvc("c.j %s" % lab)
        for _ in range(r.randrange(1, 5)):
            self.one(allow_branch=False)
        self.lines.append(lab + ":")

    def one(self, allow_branch=True):
        r = self.r.random()
        if r < 0.20:
            self.int_rr()
        elif r < 0.33:
            self.int_ri()
        elif r < 0.41:
            self.int_m()
        elif r < 0.58:
            self.mem()  # loads of random scratch bytes also keep the registers' entropy up
        elif r < 0.62:
            self.amo()
        elif r < 0.75:
            self.compressed()
        elif r < 0.96 or not allow_branch:
            self.fp()
        else:
            self.branch()
        self.emitted += 1

    def checkpoint(self):
        self.lines.append("\t/* checkpoint %d */" % self.checkpoints)
        self.lines.append("\tDUMP")
        self.checkpoints += 1

    # ---- whole file
    def init_tables(self):
        r = self.r
        xs = []
        for i in range(32):
            if i in (0, 2, 30, 31):
                xs.append(0)
            elif r.random() < 0.4:
                xs.append(r.choice(INTERESTING_X))
            elif r.random() < 0.5:
                xs.append(r.randrange(-4096, 4096) & (2 ** 64 - 1))
            else:
                xs.append(r.getrandbits(64))
        fs = []
        for i in range(32):
            if i < 16:
                c = r.random()
                if c < 0.4:
                    fs.append(dbits(r.choice(INTERESTING_D)))
                elif c < 0.5:
                    fs.append(r.choice(D_SPECIAL))
                else:
                    fs.append(dbits(r.uniform(-1000, 1000)))
            else:
                c = r.random()
                if c < 0.4:
                    b = sbits(r.choice(INTERESTING_S))
                elif c < 0.5:
                    b = r.choice(S_SPECIAL)
                else:
                    b = sbits(r.uniform(-1000, 1000))
                fs.append(0xFFFFFFFF00000000 | b)
        fcsr = r.randrange(5) << 5
        return xs, fs, fcsr

    def generate(self):
        xs, fs, fcsr = self.init_tables()
        while self.emitted < self.count:
            before = self.emitted
            self.one()
            if before // CHECKPOINT != self.emitted // CHECKPOINT:
                self.checkpoint()
        if self.emitted % CHECKPOINT:
            self.checkpoint()  # final state
        return xs, fs, fcsr


def render(g, xs, fs, fcsr):
    o = []
    o.append("/* Generated by gen/randinsn.py --seed %d --count %d. Do not edit. */" % (g.seed, g.count))
    o.append("/* Random RV64GC instruction sequence; see gen/randinsn.py for the rules. */")
    o.append("")
    o.append("\t.equ RAND_SEED, %d" % g.seed)
    o.append("\t.equ RAND_CHECKPOINTS, %d" % g.checkpoints)
    o.append("\t.section .rodata")
    o.append("\t.globl rand_seed, rand_count, rand_checkpoints, rand_xinit, rand_finit, rand_fcsr_init")
    o.append("\t.balign 8")
    o.append("rand_seed:\t.quad %d" % g.seed)
    o.append("rand_count:\t.quad %d" % g.emitted)
    o.append("rand_checkpoints:\t.quad %d" % g.checkpoints)
    o.append("rand_fcsr_init:\t.quad 0x%x" % fcsr)
    o.append("rand_xinit:")
    for v in xs:
        o.append("\t.quad 0x%016x" % v)
    o.append("rand_finit:")
    for v in fs:
        o.append("\t.quad 0x%016x" % v)
    o.append("")
    o.append("\t.bss")
    o.append("\t.globl rand_scratch, rand_trace")
    o.append("\t.balign 4096")
    o.append("rand_scratch:\t.zero %d" % SCRATCH_SIZE)
    o.append("rand_host:\t.zero %d" % (8 * 32))
    o.append("\t.balign 8")
    o.append("rand_trace:\t.zero %d" % (8 * 66 * g.checkpoints))
    o.append("")
    # checkpoint: x1..x29 (sp, x30, x31 stored as zero), f0..f31, fcsr
    dump = ["\t.macro DUMP", "\tsd zero, 0(x30)", "\tsd x1, 8(x30)", "\tsd zero, 16(x30)"]
    dump += ["\tsd x%d, %d(x30)" % (i, 8 * i) for i in range(3, 30)]
    dump += ["\tsd zero, 240(x30)", "\tsd zero, 248(x30)"]
    dump += ["\tfsd f%d, %d(x30)" % (i, 256 + 8 * i) for i in range(32)]
    dump += ["\tfrcsr x5", "\tsd x5, 512(x30)", "\tld x5, 40(x30)", "\tsd zero, 520(x30)",
             "\taddi x30, x30, 528", "\t.endm"]
    o += dump
    o.append("")
    o.append("\t.text")
    o.append("\t.globl rand_body")
    o.append("\t.balign 4")
    o.append("rand_body:")
    o.append("\t.option push")
    o.append("\t.option norelax")
    o.append("\t.option norvc")
    o.append("\tlla t0, rand_host")
    saves = [("ra", 0), ("sp", 8), ("gp", 16), ("tp", 24)] + [("s%d" % i, 32 + 8 * i) for i in range(12)]
    for reg, off in saves:
        o.append("\tsd %s, %d(t0)" % (reg, off))
    for i in range(12):
        o.append("\tfsd fs%d, %d(t0)" % (i, 128 + 8 * i))
    o.append("\tlla x31, rand_scratch")
    o.append("\tli t1, 6144")
    o.append("\tadd sp, x31, t1")
    o.append("\taddi x31, x31, 2047")
    o.append("\taddi x31, x31, 1")
    o.append("\tlla x30, rand_trace")
    o.append("\tlla t0, rand_fcsr_init")
    o.append("\tld t1, 0(t0)")
    o.append("\tfscsr t1")
    o.append("\tlla t0, rand_finit")
    for i in range(32):
        o.append("\tfld f%d, %d(t0)" % (i, 8 * i))
    o.append("\tlla t0, rand_xinit")
    for i in [1] + [i for i in range(3, 30) if i != 5] + [5]:
        o.append("\tld x%d, %d(t0)" % (i, 8 * i))
    o.append("/* ---- random body */")
    o += g.lines
    o.append("/* ---- restore the caller's state */")
    o.append("\tlla t0, rand_host")
    for reg, off in saves:
        o.append("\tld %s, %d(t0)" % (reg, off))
    for i in range(12):
        o.append("\tfld fs%d, %d(t0)" % (i, 128 + 8 * i))
    o.append("\tfscsr zero")
    o.append("\tret")
    o.append("\t.option pop")
    o.append("\t.section .note.GNU-stack,\"\",@progbits")
    return "\n".join(o) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("-o", "--output")
    a = ap.parse_args()
    g = Gen(a.seed, a.count)
    xs, fs, fcsr = g.generate()
    text = render(g, xs, fs, fcsr)
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
