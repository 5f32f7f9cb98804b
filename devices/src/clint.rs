//! The core-local interruptor (CLINT): `mtime`, per-hart `mtimecmp` and `msip`.
//!
//! Register layout follows the SiFive CLINT used by QEMU `virt` and OpenSBI:
//! `msip[hart]` at `0x0000 + 4*hart`, `mtimecmp[hart]` at `0x4000 + 8*hart`,
//! `mtime` at `0xbff8`. The device sees offsets and byte slices only: it is a
//! [`BusDevice`], [`Clint::MMIO_BYTES`] long.
//!
//! The host side (the guest OS) raises and clears a hart's software interrupt with
//! [`Clint::set_msip`]; a running hart polls its own bit through an [`MsipLine`], which it
//! obtains once from [`Clint::msip_line`] and reads with a single atomic load.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use crate::bus::{reg_read, reg_write, BusDevice};

/// Frequency of `mtime` in Hz (10 MHz, as on QEMU `virt`; reported to the guest as the
/// `time` CSR's rate).
pub const CLINT_MTIME_HZ: u64 = 10_000_000;

const MSIP_BASE: u64 = 0x0000;
const MTIMECMP_BASE: u64 = 0x4000;
const MTIME: u64 = 0xbff8;

/// Where `mtime` comes from.
#[derive(Debug)]
pub enum ClockSource {
    /// Host monotonic time since the machine started, scaled to [`CLINT_MTIME_HZ`].
    Host(Instant),
    /// A virtual clock advanced explicitly by the machine (deterministic runs).
    Virtual(AtomicU64),
}

/// The CLINT device.
#[derive(Debug)]
pub struct Clint {
    clock: ClockSource,
    /// Added (wrapping) to the clock: what a store to `mtime` changed.
    mtime_offset: AtomicU64,
    /// One register per hart, each alone on its cache line: a hart polls its own bit
    /// every few thousand instructions, and a neighbour's raise or clear must not pull
    /// that line away from it.
    msip: Vec<MsipReg>,
    mtimecmp: Vec<AtomicU64>,
}

/// One hart's `msip` register, padded to a cache line of its own (the host's: 128 bytes
/// covers the line pairs x86 prefetches together).
#[derive(Debug, Default)]
#[repr(align(128))]
struct MsipReg(AtomicU32);

impl Clint {
    /// A CLINT for `harts` harts with the given clock. `mtimecmp` starts at `u64::MAX`
    /// (no timer pending), `msip` at 0.
    pub fn new(harts: usize, clock: ClockSource) -> Self {
        Self {
            clock,
            mtime_offset: AtomicU64::new(0),
            msip: (0..harts).map(|_| MsipReg::default()).collect(),
            mtimecmp: (0..harts).map(|_| AtomicU64::new(u64::MAX)).collect(),
        }
    }

    /// The current `mtime` value in ticks of [`CLINT_MTIME_HZ`]: the clock, plus whatever
    /// a [`Clint::set_mtime`] moved it by.
    pub fn mtime(&self) -> u64 {
        let clock = match &self.clock {
            ClockSource::Host(start) => {
                let ns = start.elapsed().as_nanos();
                (ns * u128::from(CLINT_MTIME_HZ) / 1_000_000_000) as u64
            }
            ClockSource::Virtual(t) => t.load(Ordering::Acquire),
        };
        clock.wrapping_add(self.mtime_offset.load(Ordering::Acquire))
    }

    /// Sets `mtime` to `ticks`, as a store to the register does (RISC-V Privileged §3.2.1:
    /// `mtime` is writable); it keeps counting from there.
    pub fn set_mtime(&self, ticks: u64) {
        let now = self.mtime();
        self.mtime_offset
            .fetch_add(ticks.wrapping_sub(now), Ordering::AcqRel);
    }

    /// Advances a virtual clock by `ticks`; no effect on a host clock.
    pub fn advance(&self, ticks: u64) {
        if let ClockSource::Virtual(t) = &self.clock {
            t.fetch_add(ticks, Ordering::AcqRel);
        }
    }

    /// Whether hart `hart`'s machine timer interrupt is pending (`mtime >= mtimecmp`).
    /// A hart checks this at every entry to its run loop; with `mtimecmp` at
    /// `u64::MAX` (disarmed: its reset value, and what OpenSBI's
    /// `clint_timer_event_stop()` writes) the clock is not read, since `mtime` would reach
    /// it only after 2^64 ticks (58,000 years at [`CLINT_MTIME_HZ`]).
    pub fn timer_pending(&self, hart: usize) -> bool {
        self.mtimecmp.get(hart).is_some_and(|c| {
            let cmp = c.load(Ordering::Acquire);
            cmp != u64::MAX && self.mtime() >= cmp
        })
    }

    /// Whether hart `hart`'s software interrupt (`msip`) is pending. An out-of-range hart
    /// is never pending.
    pub fn ipi_pending(&self, hart: usize) -> bool {
        self.msip
            .get(hart)
            .is_some_and(|m| m.0.load(Ordering::Acquire) & 1 != 0)
    }

    /// Raises (`pending = true`) or clears (`pending = false`) hart `hart`'s machine
    /// software interrupt, as a store of 1 or 0 to its `msip` register would; returns
    /// whether `msip` was set before. An out-of-range hart is ignored (the register is not
    /// implemented) and returns `false`.
    ///
    /// SiFive CLINT semantics: `msip` is a level, not an edge. Bit 0 of the hart's 32-bit
    /// `msip` register drives `mip.MSIP`, which stays pending until someone writes 0; the
    /// other 31 bits are hard-wired to zero. Several raises before the hart looks are one
    /// interrupt, so the IPI carries no payload: the sender writes its request (a TLB
    /// shootdown range, a signal, an exit) to shared memory *before* raising `msip`, and
    /// the receiver clears `msip` *before* reading the requests, so a raise that races
    /// with the clear is either seen now or leaves `msip` set for the next check. This is
    /// what Linux does on the CLINT (`drivers/clocksource/timer-clint.c`: `clint_send_ipi`
    /// writes 1; `clint_ipi_interrupt` calls `clint_clear_ipi` and only then
    /// `ipi_mux_process`).
    ///
    /// Ordering: the update is an atomic swap with `AcqRel`. A raise releases the
    /// sender's earlier writes to whoever observes the bit with `Acquire` (a hart's
    /// [`MsipLine::is_raised`], [`Clint::ipi_pending`]); a clear, being a read-modify-write,
    /// can never be ordered after a concurrent raise and then lose it, and acquires the
    /// writes of the raise it clears. A running hart notices a raise at its next
    /// interrupt check (see `emu::Hart::run`).
    pub fn set_msip(&self, hart: usize, pending: bool) -> bool {
        self.msip
            .get(hart)
            .is_some_and(|m| m.0.swap(u32::from(pending), Ordering::AcqRel) & 1 != 0)
    }

    /// Hart `hart`'s `msip` bit as an [`MsipLine`] a running hart can poll cheaply, or
    /// `None` for an out-of-range hart.
    pub fn msip_line(&self, hart: usize) -> Option<MsipLine<'_>> {
        self.msip.get(hart).map(|m| MsipLine { bit: &m.0 })
    }
}

/// A CLINT register, decoded from an MMIO offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reg {
    /// `msip[hart]`, 32 bits.
    Msip(usize),
    /// `mtimecmp[hart]`, 64 bits.
    Mtimecmp(usize),
    /// `mtime`, 64 bits.
    Mtime,
}

impl Clint {
    /// Bytes of guest-physical address space the CLINT decodes (`0x1_0000`, its size in
    /// QEMU `virt`'s memory map at `0x0200_0000`).
    pub const MMIO_BYTES: u64 = 0x1_0000;

    /// The register at `offset`, the byte offset of the access inside it and the
    /// register's width in bytes; `None` for a reserved offset or a hart this CLINT does
    /// not have. `msip` spans `0x0000..0x4000` and `mtimecmp` `0x4000..0xbff8`, so MMIO
    /// reaches harts 0..4095 only.
    fn decode(&self, offset: u64) -> Option<(Reg, u64, u64)> {
        let hart = |rel: u64, width: u64, harts: usize| {
            usize::try_from(rel / width)
                .ok()
                .filter(|&h| h < harts)
                .map(|h| (h, rel % width))
        };
        match offset {
            MTIME..=0xbfff => Some((Reg::Mtime, offset - MTIME, 8)),
            MTIMECMP_BASE..MTIME => hart(offset - MTIMECMP_BASE, 8, self.mtimecmp.len())
                .map(|(h, at)| (Reg::Mtimecmp(h), at, 8)),
            MSIP_BASE..MTIMECMP_BASE => {
                hart(offset - MSIP_BASE, 4, self.msip.len()).map(|(h, at)| (Reg::Msip(h), at, 4))
            }
            _ => None,
        }
    }
}

/// The CLINT's MMIO registers, as QEMU's `riscv_aclint` models them: 4- and 8-byte
/// naturally aligned accesses (only 4-byte ones reach an `msip`), 4-byte halves of the
/// 64-bit `mtimecmp` and `mtime` allowed (an RV32 driver writes them that way). Reserved
/// offsets, other widths and absent harts read as zero and ignore writes.
impl BusDevice for Clint {
    fn read(&self, offset: u64, data: &mut [u8]) {
        data.fill(0);
        let Some((reg, at, width)) = self.decode(offset).filter(|_| matches!(data.len(), 4 | 8))
        else {
            return;
        };
        let value = match reg {
            Reg::Msip(h) => self
                .msip
                .get(h)
                .map_or(0, |m| u64::from(m.0.load(Ordering::Acquire))),
            Reg::Mtimecmp(h) => self
                .mtimecmp
                .get(h)
                .map_or(0, |c| c.load(Ordering::Acquire)),
            Reg::Mtime => self.mtime(),
        };
        reg_read(value, width, at, data);
    }

    fn write(&self, offset: u64, data: &[u8]) {
        let Some((reg, at, width)) = self.decode(offset).filter(|_| matches!(data.len(), 4 | 8))
        else {
            return;
        };
        match reg {
            Reg::Msip(h) => {
                if let Some(v) = reg_write(0, width, at, data) {
                    self.set_msip(h, v & 1 != 0);
                }
            }
            Reg::Mtimecmp(h) => {
                if let Some(c) = self.mtimecmp.get(h) {
                    // A read-modify-write, so a 4-byte store to one half cannot lose a
                    // concurrent store to the other.
                    let _ = c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                        reg_write(old, width, at, data)
                    });
                }
            }
            Reg::Mtime => {
                if let Some(v) = reg_write(self.mtime(), width, at, data) {
                    self.set_mtime(v);
                }
            }
        }
    }
}

/// One hart's `msip` bit, read-only: what the hart's interrupt check looks at.
///
/// Obtained from [`Clint::msip_line`] once, when the hart is built, so that polling costs
/// one atomic load and no bounds check. Only [`Clint::set_msip`] (or an MMIO store to the
/// register) changes the bit.
#[derive(Debug, Clone, Copy)]
pub struct MsipLine<'c> {
    bit: &'c AtomicU32,
}

impl MsipLine<'_> {
    /// Whether the software interrupt is pending (`msip` bit 0 set). An `Acquire` load:
    /// when it returns `true`, the writes the raiser made before [`Clint::set_msip`] are
    /// visible to this thread.
    #[inline(always)]
    pub fn is_raised(&self) -> bool {
        self.bit.load(Ordering::Acquire) & 1 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_timer_and_ipi() {
        let clint = Clint::new(2, ClockSource::Virtual(AtomicU64::new(0)));
        assert!(!clint.timer_pending(0));
        clint.write(MTIMECMP_BASE + 8, &100u64.to_le_bytes());
        clint.advance(99);
        assert!(!clint.timer_pending(1));
        clint.advance(1);
        assert!(clint.timer_pending(1));
        assert!(!clint.timer_pending(0));
        clint.write(MSIP_BASE + 4, &1u32.to_le_bytes());
        assert!(clint.ipi_pending(1) && !clint.ipi_pending(0));
        let mut b = [0u8; 8];
        clint.read(MTIME, &mut b);
        assert_eq!(u64::from_le_bytes(b), 100);
        assert!(
            !clint.timer_pending(7),
            "out-of-range hart is never pending"
        );
    }

    #[test]
    fn set_msip_is_a_level_and_reports_the_old_value() {
        let clint = Clint::new(2, ClockSource::Virtual(AtomicU64::new(0)));
        let line = clint.msip_line(1).unwrap();
        assert!(!line.is_raised());
        assert!(!clint.set_msip(1, true), "was clear");
        assert!(
            clint.set_msip(1, true),
            "a second raise coalesces with the first"
        );
        assert!(line.is_raised() && clint.ipi_pending(1) && !clint.ipi_pending(0));
        let mut b = [0u8; 4];
        clint.read(MSIP_BASE + 4, &mut b);
        assert_eq!(
            u32::from_le_bytes(b),
            1,
            "the MMIO register shows the raise"
        );
        assert!(
            clint.set_msip(1, false),
            "the clear returns the pending raise"
        );
        assert!(!line.is_raised() && !clint.ipi_pending(1));
        assert!(!clint.set_msip(1, false));
        // An MMIO store keeps only bit 0 and goes through the same path.
        clint.write(MSIP_BASE, &0xffff_fffeu32.to_le_bytes());
        assert!(!clint.ipi_pending(0));
        clint.write(MSIP_BASE, &3u32.to_le_bytes());
        clint.read(MSIP_BASE, &mut b);
        assert_eq!(u32::from_le_bytes(b), 1);
        assert!(clint.msip_line(0).unwrap().is_raised());
        assert!(!clint.set_msip(2, true), "out-of-range hart");
        assert!(clint.msip_line(2).is_none());
        assert!(!clint.ipi_pending(2));
    }

    #[test]
    fn mmio_registers_at_sifive_offsets() {
        let clint = Clint::new(2, ClockSource::Virtual(AtomicU64::new(0)));
        let r = |offset: u64, len: usize| {
            let mut b = [0xffu8; 8];
            clint.read(offset, &mut b[..len]);
            let mut v = [0u8; 8];
            v[..len].copy_from_slice(&b[..len]);
            u64::from_le_bytes(v)
        };
        // mtimecmp[1] as two 32-bit halves (how an RV32 driver programs it).
        clint.write(0x4008, &0x10u32.to_le_bytes());
        assert_eq!(r(0x4008, 8), 0xffff_ffff_0000_0010, "low half only");
        clint.write(0x400c, &0u32.to_le_bytes());
        assert_eq!(r(0x4008, 8), 0x10);
        assert_eq!(r(0x400c, 4), 0);
        assert_eq!(r(0x4000, 8), u64::MAX, "mtimecmp[0] untouched");
        clint.advance(0x10);
        assert!(clint.timer_pending(1) && !clint.timer_pending(0));
        // mtime is writable and keeps counting from the value written.
        clint.write(MTIME, &0x1_0000_0000u64.to_le_bytes());
        assert_eq!(clint.mtime(), 0x1_0000_0000);
        clint.advance(5);
        assert_eq!(r(MTIME, 8), 0x1_0000_0005);
        assert_eq!(r(MTIME + 4, 4), 1, "high half of mtime");
        clint.write(MTIME + 4, &0u32.to_le_bytes());
        assert_eq!(clint.mtime(), 5);
        // Widths QEMU's CLINT does not decode, absent harts and reserved offsets are
        // RAZ/WI: an 8-byte access to the 32-bit msip, 1- and 2-byte accesses,
        // misaligned ones, hart 2's registers, the space past mtime.
        clint.write(MSIP_BASE, &1u64.to_le_bytes());
        clint.write(MSIP_BASE, &[1]);
        clint.write(MSIP_BASE + 8, &1u32.to_le_bytes());
        assert!(!clint.ipi_pending(0) && !clint.ipi_pending(1));
        clint.set_msip(0, true);
        assert_eq!(r(MSIP_BASE, 8), 0);
        assert_eq!(r(MSIP_BASE, 2), 0);
        assert_eq!(r(MSIP_BASE, 4), 1);
        clint.write(0x4004, &7u64.to_le_bytes());
        assert_eq!(r(0x4000, 8), u64::MAX);
        clint.write(0x4010, &0u64.to_le_bytes());
        assert_eq!(r(0x4010, 8), 0);
        assert!(!clint.timer_pending(2));
        assert_eq!(r(0xc000, 8), 0);
        assert_eq!(r(0xbff4, 4), 0, "last mtimecmp slot of a 2-hart CLINT");
    }

    #[test]
    fn raise_publishes_earlier_writes() {
        // Message passing through msip: the request written before the raise is seen by
        // the thread that observes the raise.
        let clint = Clint::new(1, ClockSource::Virtual(AtomicU64::new(0)));
        let request = AtomicU64::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                request.store(42, Ordering::Relaxed);
                clint.set_msip(0, true);
            });
            let line = clint.msip_line(0).unwrap();
            while !line.is_raised() {
                std::hint::spin_loop();
            }
            assert!(clint.set_msip(0, false));
            assert_eq!(request.load(Ordering::Relaxed), 42);
        });
    }
}
