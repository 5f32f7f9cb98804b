//! The core-local interruptor (CLINT): `mtime`, per-hart `mtimecmp` and `msip`.
//!
//! Register layout follows the SiFive CLINT used by QEMU `virt` and OpenSBI:
//! `msip[hart]` at `0x0000 + 4*hart`, `mtimecmp[hart]` at `0x4000 + 8*hart`,
//! `mtime` at `0xbff8`. The device sees offsets and byte slices only.
//!
//! The host side (the guest OS) raises and clears a hart's software interrupt with
//! [`Clint::set_msip`]; a running hart polls its own bit through an [`MsipLine`], which it
//! obtains once from [`Clint::msip_line`] and reads with a single atomic load.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

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
    msip: Vec<AtomicU32>,
    mtimecmp: Vec<AtomicU64>,
}

impl Clint {
    /// A CLINT for `harts` harts with the given clock. `mtimecmp` starts at `u64::MAX`
    /// (no timer pending), `msip` at 0.
    pub fn new(harts: usize, clock: ClockSource) -> Self {
        Self {
            clock,
            msip: (0..harts).map(|_| AtomicU32::new(0)).collect(),
            mtimecmp: (0..harts).map(|_| AtomicU64::new(u64::MAX)).collect(),
        }
    }

    /// The current `mtime` value in ticks of [`CLINT_MTIME_HZ`].
    pub fn mtime(&self) -> u64 {
        match &self.clock {
            ClockSource::Host(start) => {
                let ns = start.elapsed().as_nanos();
                (ns * u128::from(CLINT_MTIME_HZ) / 1_000_000_000) as u64
            }
            ClockSource::Virtual(t) => t.load(Ordering::Acquire),
        }
    }

    /// Advances a virtual clock by `ticks`; no effect on a host clock.
    pub fn advance(&self, ticks: u64) {
        if let ClockSource::Virtual(t) = &self.clock {
            t.fetch_add(ticks, Ordering::AcqRel);
        }
    }

    /// Whether hart `hart`'s machine timer interrupt is pending (`mtime >= mtimecmp`).
    pub fn timer_pending(&self, hart: usize) -> bool {
        self.mtimecmp
            .get(hart)
            .is_some_and(|c| self.mtime() >= c.load(Ordering::Acquire))
    }

    /// Whether hart `hart`'s software interrupt (`msip`) is pending. An out-of-range hart
    /// is never pending.
    pub fn ipi_pending(&self, hart: usize) -> bool {
        self.msip
            .get(hart)
            .is_some_and(|m| m.load(Ordering::Acquire) & 1 != 0)
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
            .is_some_and(|m| m.swap(u32::from(pending), Ordering::AcqRel) & 1 != 0)
    }

    /// Hart `hart`'s `msip` bit as an [`MsipLine`] a running hart can poll cheaply, or
    /// `None` for an out-of-range hart.
    pub fn msip_line(&self, hart: usize) -> Option<MsipLine<'_>> {
        self.msip.get(hart).map(|bit| MsipLine { bit })
    }

    /// A load of `data.len()` bytes (4 or 8) at `offset`. Unmapped offsets read as zero.
    pub fn read(&self, offset: u64, data: &mut [u8]) {
        let value: u64 = match offset {
            MTIME => self.mtime(),
            o if (MTIMECMP_BASE..MTIMECMP_BASE + 8 * self.mtimecmp.len() as u64).contains(&o) => {
                self.mtimecmp[((o - MTIMECMP_BASE) / 8) as usize].load(Ordering::Acquire)
            }
            o if (MSIP_BASE..MSIP_BASE + 4 * self.msip.len() as u64).contains(&o) => {
                u64::from(self.msip[((o - MSIP_BASE) / 4) as usize].load(Ordering::Acquire))
            }
            _ => 0,
        };
        let bytes = value.to_le_bytes();
        let n = data.len().min(8);
        data[..n].copy_from_slice(&bytes[..n]);
    }

    /// A store of `data` (4 or 8 bytes) at `offset`. Writes to `mtime` and unmapped offsets
    /// are ignored.
    pub fn write(&self, offset: u64, data: &[u8]) {
        let mut bytes = [0u8; 8];
        let n = data.len().min(8);
        bytes[..n].copy_from_slice(&data[..n]);
        let value = u64::from_le_bytes(bytes);
        match offset {
            o if (MTIMECMP_BASE..MTIMECMP_BASE + 8 * self.mtimecmp.len() as u64).contains(&o) => {
                self.mtimecmp[((o - MTIMECMP_BASE) / 8) as usize].store(value, Ordering::Release);
            }
            o if (MSIP_BASE..MSIP_BASE + 4 * self.msip.len() as u64).contains(&o) => {
                self.set_msip(((o - MSIP_BASE) / 4) as usize, value & 1 != 0);
            }
            _ => {}
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
