#!/usr/bin/env python3
"""Regenerates emu/tests/data/objdump.txt, the GNU objdump oracle for emu's decoder and
disassembler (emu/tests/disasm_objdump.rs).

Needs the Debian cross toolchain (riscv64-linux-gnu-{as,gcc,objdump}, binutils 2.40).
Run from anywhere:  python3 emu/tests/data/gen_disasm.py
The output is deterministic (fixed random seed), so a regenerated file diffs cleanly.

Each fixture line is
    <pc hex> <encoding hex>|<expected>[|<objdump text of the compressed form>]
<expected> is either the objdump text ("mnemonic<TAB>operands", or just the mnemonic) that
`decode(enc).disasm_at(pc)` must print, or "!" followed by objdump's text when objdump
says the word is not an RV64GC instruction (.4byte/.2byte, c.unimp, or an instruction of
another extension such as uret/dret), in which case decode must return Err.

For compressed encodings the expected text is objdump's text for the *expanded* 32-bit
instruction: this script maps objdump's `c.` text to the 32-bit instruction the RVC
chapter of the spec gives as its expansion, assembles it with `.option norvc` at the
recorded pc, and disassembles it again. So the expansion oracle is binutils' decoding of
the RVC fields plus binutils' encoding and decoding of the 32-bit form.

Sections (in file order):
  asm       hand-written assembly: every RV64GC mnemonic, edge immediates, all
            registers, every rounding mode and aq/rl combination;
  csr       csrrs/csrrwi over all 4096 CSR numbers (checks the CSR name table);
  random32  seeded random 32-bit words for each 32-bit major opcode, including
            opcodes outside RV64GC, with reserved fields varied;
  rvc       every 16-bit encoding with bits[1:0] != 0b11 (all 49152 of them);
  static    the 32-bit instructions (unique encodings) of a static -O2 C program
            built with riscv64-linux-gnu-gcc (its compressed ones are all in `rvc`).
"""

import os
import random
import re
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "objdump.txt")
PROG_C = os.path.join(HERE, "static_prog.c")
AS = "riscv64-linux-gnu-as"
GCC = "riscv64-linux-gnu-gcc"
OBJDUMP = "riscv64-linux-gnu-objdump"
DUMP_FLAGS = ["-M", "no-aliases,numeric"]

# Base mnemonics of RV64GC (+ Zicsr, Zifencei, sret/mret/wfi/sfence.vma); A-extension
# mnemonics also appear with .aq/.rl/.aqrl suffixes, handled in `is_rv64gc`.
RV64GC = set("""
lui auipc jal jalr beq bne blt bge bltu bgeu lb lh lw ld lbu lhu lwu sb sh sw sd
addi slti sltiu xori ori andi slli srli srai add sub sll slt sltu xor srl sra or and
addiw slliw srliw sraiw addw subw sllw srlw sraw fence fence.tso fence.i ecall ebreak
csrrw csrrs csrrc csrrwi csrrsi csrrci
mul mulh mulhsu mulhu div divu rem remu mulw divw divuw remw remuw
lr.w sc.w amoswap.w amoadd.w amoxor.w amoand.w amoor.w amomin.w amomax.w amominu.w amomaxu.w
lr.d sc.d amoswap.d amoadd.d amoxor.d amoand.d amoor.d amomin.d amomax.d amominu.d amomaxu.d
flw fsw fmadd.s fmsub.s fnmsub.s fnmadd.s fadd.s fsub.s fmul.s fdiv.s fsqrt.s
fsgnj.s fsgnjn.s fsgnjx.s fmin.s fmax.s fcvt.w.s fcvt.wu.s fcvt.l.s fcvt.lu.s fmv.x.w
feq.s flt.s fle.s fclass.s fcvt.s.w fcvt.s.wu fcvt.s.l fcvt.s.lu fmv.w.x
fld fsd fmadd.d fmsub.d fnmsub.d fnmadd.d fadd.d fsub.d fmul.d fdiv.d fsqrt.d
fsgnj.d fsgnjn.d fsgnjx.d fmin.d fmax.d fcvt.s.d fcvt.d.s fcvt.w.d fcvt.wu.d fcvt.l.d
fcvt.lu.d fmv.x.d feq.d flt.d fle.d fclass.d fcvt.d.w fcvt.d.wu fcvt.d.l fcvt.d.lu fmv.d.x
sret mret wfi sfence.vma
""".split())

BRANCHES = {"beq", "bne", "blt", "bge", "bltu", "bgeu", "jal"}


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def is_rv64gc(mnemonic):
    base = re.sub(r"\.(aq|rl|aqrl)$", "", mnemonic)
    return base in RV64GC


def parse_dump(text):
    """Yields (pc, encoding, mnemonic, operands) for each instruction line of objdump -d,
    with symbolic branch targets `1c <sym+0x4>` normalised to `0x1c` and objdump's
    `# <address>` comments removed."""
    for line in text.splitlines():
        m = re.match(r"^\s*([0-9a-f]+):\t([0-9a-f]+) +\t([^\t]+)(?:\t(.*))?$", line)
        if not m:
            continue
        pc, enc, mnem, ops = m.group(1), m.group(2), m.group(3).strip(), m.group(4) or ""
        ops = re.sub(r"\s*#.*$", "", ops).strip()
        if mnem in BRANCHES or mnem.startswith("c.j") or mnem in ("c.beqz", "c.bnez"):
            ops = re.sub(r"(^|,)([0-9a-f]+) <[^>]*>$", r"\g<1>0x\2", ops)
        ops = re.sub(r" <[^>]*>$", "", ops)
        yield int(pc, 16), enc, mnem, ops


def text_of(mnem, ops):
    return mnem + ("\t" + ops if ops else "")


def dump_binary(blob):
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
        f.write(blob)
        path = f.name
    try:
        return run([OBJDUMP, "-D", "-b", "binary", "-m", "riscv:rv64"] + DUMP_FLAGS + [path])
    finally:
        os.unlink(path)


def assemble_and_dump(source, march="rv64gc"):
    with tempfile.TemporaryDirectory() as d:
        s, o = os.path.join(d, "t.s"), os.path.join(d, "t.o")
        with open(s, "w") as f:
            f.write(source)
        run([AS, "-march=" + march, "-mpriv-spec=1.12", "-mno-relax", s, "-o", o])
        return run([OBJDUMP, "-d"] + DUMP_FLAGS + [o])


def expect(mnem, ops):
    if mnem.startswith(".") or mnem == "c.unimp" or not is_rv64gc(mnem):
        return "!" + text_of(mnem, ops)
    return text_of(mnem, ops)


# ---------------------------------------------------------------------------------------
# asm: hand-written coverage of every mnemonic.
# ---------------------------------------------------------------------------------------

def asm_section():
    X = [f"x{i}" for i in range(32)]
    F = [f"f{i}" for i in range(32)]
    regs3 = [(1, 2, 3), (0, 0, 0), (31, 30, 29), (5, 31, 0), (10, 11, 12)]
    imm12 = [-2048, -2047, -1, 0, 1, 2, 100, 2046, 2047]
    rms = ["rne", "rtz", "rdn", "rup", "rmm", "dyn", None]
    lines = [".option norvc", "start:"]
    add = lines.append
    for u in ["0x0", "0x1", "0x7ffff", "0x80000", "0xfffff", "0x12345"]:
        add(f"lui x1,{u}")
        add(f"auipc x31,{u}")
    for off in [0, 4, -4, 2, 1048574, -1048576, 2048, -2048, 4094, -4096]:
        if -4096 <= off <= 4094:
            for b in ["beq", "bne", "blt", "bge", "bltu", "bgeu"]:
                add(f"{b} x1,x31,.{off:+d}")
        add(f"jal x1,.{off:+d}")
        add(f"jal x0,.{off:+d}")
    for i in imm12:
        add(f"jalr x1,{i}(x2)")
        for op in ["lb", "lh", "lw", "ld", "lbu", "lhu", "lwu"]:
            add(f"{op} x3,{i}(x4)")
        for op in ["sb", "sh", "sw", "sd"]:
            add(f"{op} x5,{i}(x6)")
        add(f"flw f7,{i}(x8)")
        add(f"fld f31,{i}(x9)")
        add(f"fsw f10,{i}(x11)")
        add(f"fsd f0,{i}(x31)")
        for op in ["addi", "slti", "sltiu", "xori", "ori", "andi", "addiw"]:
            add(f"{op} x12,x13,{i}")
    for sh in range(64):
        for op in ["slli", "srli", "srai"]:
            add(f"{op} x{sh % 32},x{(sh * 7) % 32},{sh}")
        if sh < 32:
            for op in ["slliw", "srliw", "sraiw"]:
                add(f"{op} x{sh},x{31 - sh},{sh}")
    rops = ("add sub sll slt sltu xor srl sra or and addw subw sllw srlw sraw "
            "mul mulh mulhsu mulhu div divu rem remu mulw divw divuw remw remuw").split()
    for op in rops:
        for d, a, b in regs3:
            add(f"{op} {X[d]},{X[a]},{X[b]}")
    for i in range(32):
        add(f"add x{i},x{(i + 1) % 32},x{(i + 2) % 32}")
        add(f"fadd.d f{i},f{(i + 3) % 32},f{(i + 5) % 32}")
    for pred in ["i", "o", "r", "w", "rw", "iorw", "io", "ow", "ir"]:
        for succ in ["iorw", "w", "r", "rw", "io"]:
            add(f"fence {pred},{succ}")
    add("fence")
    add("fence.tso")
    add("fence.i")
    add("ecall")
    add("ebreak")
    add("sret")
    add("mret")
    add("wfi")
    add("sfence.vma x0,x0")
    add("sfence.vma x1,x0")
    add("sfence.vma x0,x2")
    add("sfence.vma x31,x30")
    for csr in ["0x000", "0x001", "0x002", "0x003", "0x100", "0x180", "0x300", "0x305",
                "0x341", "0x7c0", "0xc00", "0xc01", "0xc02", "0xfff", "0x800"]:
        for op in ["csrrw", "csrrs", "csrrc"]:
            add(f"{op} x1,{csr},x2")
            add(f"{op} x0,{csr},x31")
        for op in ["csrrwi", "csrrsi", "csrrci"]:
            add(f"{op} x3,{csr},0")
            add(f"{op} x31,{csr},31")
    amos = "swap add xor and or min max minu maxu".split()
    for w in ["w", "d"]:
        for sfx in ["", ".aq", ".rl", ".aqrl"]:
            add(f"lr.{w}{sfx} x1,(x2)")
            add(f"sc.{w}{sfx} x3,x4,(x5)")
            for a in amos:
                add(f"amo{a}.{w}{sfx} x6,x7,(x8)")
                add(f"amo{a}.{w}{sfx} x0,x31,(x30)")
    for t in ["s", "d"]:
        for rm in rms:
            r = f",{rm}" if rm else ""
            for op in ["fmadd", "fmsub", "fnmsub", "fnmadd"]:
                add(f"{op}.{t} f1,f2,f3,f4{r}")
                add(f"{op}.{t} f31,f0,f15,f16{r}")
            for op in ["fadd", "fsub", "fmul", "fdiv"]:
                add(f"{op}.{t} f5,f6,f7{r}")
            add(f"fsqrt.{t} f8,f9{r}")
            for i in ["w", "wu", "l", "lu"]:
                add(f"fcvt.{i}.{t} x10,f11{r}")
                if not (t == "d" and i in ("w", "wu")):
                    add(f"fcvt.{t}.{i} f12,x13{r}")
        for op in ["fsgnj", "fsgnjn", "fsgnjx", "fmin", "fmax"]:
            add(f"{op}.{t} f14,f15,f16")
        for op in ["feq", "flt", "fle"]:
            add(f"{op}.{t} x17,f18,f19")
        add(f"fclass.{t} x20,f21")
    for rm in rms:
        add(f"fcvt.s.d f22,f23{',' + rm if rm else ''}")
    add("fcvt.d.s f24,f25")
    add("fcvt.d.w f26,x27")
    add("fcvt.d.wu f28,x29")
    add("fmv.x.w x1,f2")
    add("fmv.w.x f3,x4")
    add("fmv.x.d x5,f6")
    add("fmv.d.x f7,x8")
    # RVC forms assembled explicitly (expanded again below like the exhaustive sweep).
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# RVC expansion: objdump's c.<op> text -> the 32-bit instruction it expands to.
# ---------------------------------------------------------------------------------------

def expand_rvc(mnem, ops, pc):
    """Returns the assembly of the 32-bit expansion (Unprivileged §16.3-16.7), with
    pc-relative targets written as `.+off` so it can be assembled anywhere."""
    a = ops.split(",") if ops else []
    op = mnem[2:]
    same = {"fld": "fld", "lw": "lw", "ld": "ld", "fsd": "fsd", "sw": "sw", "sd": "sd",
            "fldsp": "fld", "lwsp": "lw", "ldsp": "ld", "fsdsp": "fsd", "swsp": "sw",
            "sdsp": "sd"}
    if op in same:
        return f"{same[op]} {ops}"
    if op == "addi4spn":
        return f"addi {a[0]},{a[1]},{a[2]}"
    if op in ("addi", "addiw", "andi", "srli", "srai", "slli"):
        return f"{op} {a[0]},{a[0]},{a[1]}"
    if op in ("srli64", "srai64", "slli64"):
        return f"{op[:-2]} {a[0]},{a[0]},0"
    if op == "nop":
        return "addi x0,x0,0"
    if op == "li":
        return f"addi {a[0]},x0,{a[1]}"
    if op == "addi16sp":
        return f"addi {a[0]},{a[0]},{a[1]}"
    if op == "lui":
        return f"lui {a[0]},{a[1]}"
    if op in ("sub", "xor", "or", "and", "subw", "addw", "add"):
        return f"{op} {a[0]},{a[0]},{a[1]}"
    if op == "mv":
        return f"add {a[0]},x0,{a[1]}"
    if op == "j":
        return f"jal x0,.{int(a[0], 16) - pc:+d}"
    if op in ("beqz", "bnez"):
        return f"{op[:3]} {a[0]},x0,.{int(a[1], 16) - pc:+d}"
    if op == "jr":
        return f"jalr x0,0({a[0]})"
    if op == "jalr":
        return f"jalr x1,0({a[0]})"
    if op == "ebreak":
        return "ebreak"
    raise ValueError(f"no expansion for {mnem} {ops}")


def rvc_lines(entries):
    """entries: (pc, enc, mnem, ops) of compressed instructions. Returns fixture lines."""
    out = []
    expansions = []
    for pc, enc, mnem, ops in entries:
        if not mnem.startswith("c.") or mnem == "c.unimp":
            out.append([pc, enc, "!" + text_of(mnem, ops)])
        else:
            out.append(None)
            expansions.append((len(out) - 1, pc, enc, mnem, ops))
    # Expanded instruction k sits at 4*k in one assembled file.
    src = [".option norvc"]
    for k, (_, pc, enc, mnem, ops) in enumerate(expansions):
        src.append(expand_rvc(mnem, ops, pc))
    dumped = list(parse_dump(assemble_and_dump("\n".join(src) + "\n")))
    if len(dumped) != len(expansions):
        sys.exit(f"expansion count mismatch: {len(dumped)} != {len(expansions)}")
    for (slot, _, enc, mnem, ops), (epc, _, emnem, eops) in zip(expansions, dumped):
        out[slot] = [epc, enc, text_of(emnem, eops), text_of(mnem, ops)]
    return out


# ---------------------------------------------------------------------------------------
# Sections.
# ---------------------------------------------------------------------------------------

def section_asm():
    return [[pc, enc, expect(m, o)] for pc, enc, m, o in parse_dump(assemble_and_dump(asm_section()))]


def section_csr():
    words = []
    for n in range(4096):
        words.append(0x00002073 | (n << 20) | (1 << 7))  # csrrs x1,n,x0
        words.append(0x0000D073 | (n << 20) | (n & 31) << 15 | (2 << 7))  # csrrwi x2,n,uimm
    return dump_words(words)


def dump_words(words):
    blob = b"".join(struct.pack("<I", w) for w in words)
    rows = [[pc, enc, expect(m, o)] for pc, enc, m, o in parse_dump(dump_binary(blob))]
    if len(rows) != len(words):
        sys.exit(f"objdump lost sync: {len(rows)} lines for {len(words)} words")
    return rows


def section_random32(rng):
    words = []
    for major in range(32):
        if major & 7 == 7:
            continue  # bits[4:2] = 111: 48-bit and longer encodings
        base = (major << 2) | 3
        for _ in range(600):
            w = rng.getrandbits(32)
            # Bias towards defined encodings: often clear funct7/rs2 high bits so the
            # defined funct7 values (0, 0x20, 1, FP funct7s) come up.
            r = rng.random()
            if r < 0.3:
                w &= ~(0x3e << 25)
            elif r < 0.5:
                w = (w & ~(0x7f << 25)) | (rng.choice([0, 0x20, 1, 0x21, 0x2c, 0x2d, 0x50, 0x51,
                                                       0x60, 0x61, 0x68, 0x69, 0x70, 0x71,
                                                       0x78, 0x79, 0x10, 0x11, 0x14, 0x15,
                                                       0x20, 0x21, 0x09, 0x18]) << 25)
            elif r < 0.6:
                w &= ~(0x1f << 20)
            words.append((w & ~0x7f) | base)
    # System and misc-mem: near-exact encodings with one field perturbed.
    for w0 in [0x00000073, 0x00100073, 0x10200073, 0x30200073, 0x10500073, 0x12000073,
               0x0ff0000f, 0x8330000f, 0x0000100f]:
        for bit in range(7, 32):
            words.append(w0 ^ (1 << bit))
    return dump_words(words)


def section_rvc():
    halves = [h for h in range(0x10000) if h & 3 != 3]
    blob = b"".join(struct.pack("<H", h) for h in halves)
    entries = list(parse_dump(dump_binary(blob)))
    if len(entries) != len(halves):
        sys.exit(f"objdump lost sync on RVC: {len(entries)} != {len(halves)}")
    return rvc_lines(entries)


def section_static():
    with tempfile.TemporaryDirectory() as d:
        exe = os.path.join(d, "prog")
        run([GCC, "-O2", "-static", "-o", exe, PROG_C, "-lm"])
        text = run([OBJDUMP, "-d", "-j", ".text"] + DUMP_FLAGS + [exe])
    seen = set()
    rows = []
    total = compressed = 0
    for pc, enc, m, o in parse_dump(text):
        total += 1
        if len(enc) == 4:
            compressed += 1
            continue
        if enc in seen:
            continue
        seen.add(enc)
        rows.append([pc, enc, expect(m, o)])
    print(f"static: {total} instructions, {compressed} compressed, "
          f"{len(rows)} unique 32-bit encodings kept", file=sys.stderr)
    return rows


def main():
    rng = random.Random(20240601)
    version = run([OBJDUMP, "--version"]).splitlines()[0]
    sections = [
        ("asm", section_asm()),
        ("csr", section_csr()),
        ("random32", section_random32(rng)),
        ("rvc", section_rvc()),
        ("static", section_static()),
    ]
    with open(OUT, "w") as f:
        f.write(f"# Generated by gen_disasm.py with {version}; do not edit.\n")
        f.write("# <pc> <encoding>|<expected text, or ! and objdump's text>[|<c. text>]\n")
        for name, rows in sections:
            f.write(f"# section {name}\n")
            for row in rows:
                f.write(f"{row[0]:x} {row[1]}|" + "|".join(row[2:]) + "\n")
            print(f"{name}: {len(rows)} lines", file=sys.stderr)


if __name__ == "__main__":
    main()
