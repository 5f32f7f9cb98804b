//! Criterion bench of memory tagging at the data seam: a hart under Sv39 streaming
//! `ld`/`sd` over one 4 KiB page, with tagging off, with tagging on but the page untagged
//! (the host-pointer fast path), and on a `PTE.MTAG` page with synchronous checks that
//! all pass (the masked loop's inline path, one tag load per access). The throughput line
//! reads as guest instructions per host second. Run: `cargo bench --bench zimt`.

use criterion::{criterion_main, Criterion, Throughput};
use devices::{GuestMemory, GuestPhysAddr};
use emu::{Exit, Hart, HartConfig};
use mmu::{Pte, PteFlags, Satp, SatpMode};

const RAM: u64 = 0x8000_0000;
const CODE_VA: u64 = 0x10000;
const DATA_VA: u64 = 0x20000;
/// Instructions per measured run.
const INSNS: u64 = 5_000_000;
/// `senvcfg` with PMLEN 16 and `MT_MODE` = 0b10.
const TAGGING_ON: u64 = (0b11 << 32) | (0b10 << 34);

/// `1: addi a0, a2, 0; 2: ld t0, 0(a0); sd t0, 8(a0); addi a0, a0, 16; bne a0, a1, 2b;
/// j 1b` (`riscv64-linux-gnu-as -march=rv64gc`, `.option norvc`): a0 walks the page
/// from a2 to a1 = a2 + 4096.
const STREAM: [u32; 6] = [
    0x0006_0513,
    0x0005_3283,
    0x0055_3423,
    0x0105_0513,
    0xfeb5_1ae3,
    0xfedf_f06f,
];

/// Guest RAM with `STREAM` at `CODE_VA` and the data page at `DATA_VA`, its PTE with
/// `MTAG` if `mtag` and its 256 granules tagged 3.
fn machine(mtag: bool) -> GuestMemory {
    let mem = GuestMemory::new(&[(GuestPhysAddr(RAM), 1 << 20)]).expect("guest RAM");
    let w = |pa: u64, v: u64| mem.write_u64(GuestPhysAddr(pa), v).expect("in RAM");
    w(RAM, Pte::new((RAM + 0x1000) >> 12, PteFlags::V).0);
    w(RAM + 0x1000, Pte::new((RAM + 0x2000) >> 12, PteFlags::V).0);
    let leaf = |va: u64, f: PteFlags, extra: u64| {
        let f = f | PteFlags::V | PteFlags::U | PteFlags::A | PteFlags::D;
        w(
            RAM + 0x2000 + ((va >> 12) & 0x1ff) * 8,
            Pte::new((RAM + va) >> 12, f).0 | extra,
        )
    };
    leaf(CODE_VA, PteFlags::R | PteFlags::X, 0);
    let mtag_bit = if mtag { Pte::MTAG_BIT } else { 0 };
    leaf(DATA_VA, PteFlags::R | PteFlags::W, mtag_bit);
    for (i, word) in STREAM.iter().enumerate() {
        mem.write_u32(GuestPhysAddr(RAM + CODE_VA + 4 * i as u64), *word)
            .expect("in RAM");
    }
    mem.tags()
        .set_tags(GuestPhysAddr(RAM + DATA_VA), 4096, 3)
        .expect("in RAM");
    mem
}

fn bench_zimt(c: &mut Criterion) {
    let mut g = c.benchmark_group("zimt");
    g.sample_size(10);
    g.throughput(Throughput::Elements(INSNS));
    // (name, tagged page, senvcfg, pointer tag)
    for (name, mtag, senvcfg, tag) in [
        ("tagging off", false, 0, 0u64),
        ("untagged page", false, TAGGING_ON, 0),
        ("tagged page, sync checks", true, TAGGING_ON, 3),
    ] {
        let mem = machine(mtag);
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut h = Hart::new(&mem, None, HartConfig::default());
                h.set_satp(Satp::new(SatpMode::Sv39, 1, RAM >> 12));
                h.set_senvcfg(senvcfg);
                h.pc = CODE_VA;
                h.x[12] = (tag << 60) | DATA_VA;
                h.x[11] = h.x[12] + 4096;
                assert_eq!(h.run(INSNS), Exit::BudgetExhausted);
                let checks = h.stats().tags.checks;
                assert_eq!(checks > 0, mtag, "{name}: {checks} checks");
            })
        });
    }
    g.finish();
}

// `criterion_group!` expands to an undocumented `pub fn`.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench_zimt);
}
use group::benches;
criterion_main!(benches);
