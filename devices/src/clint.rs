//! The core-local interruptor (CLINT): `mtime`, per-hart `mtimecmp` and `msip`.
//!
//! Register layout follows the SiFive CLINT used by QEMU `virt` and OpenSBI:
//! `msip[hart]` at `0x0000 + 4*hart`, `mtimecmp[hart]` at `0x4000 + 8*hart`,
//! `mtime` at `0xbff8`. The device sees offsets and byte slices only.

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

    /// Whether hart `hart`'s software interrupt (`msip`) is pending.
    pub fn ipi_pending(&self, hart: usize) -> bool {
        self.msip
            .get(hart)
            .is_some_and(|m| m.load(Ordering::Acquire) & 1 != 0)
    }

    /// Raises (`true`) or clears hart `hart`'s software interrupt (`msip` bit 0), as a
    /// store to its `msip` register does. No effect for a hart the CLINT does not have.
    pub fn set_msip(&self, hart: usize, pending: bool) {
        if let Some(m) = self.msip.get(hart) {
            m.store(u32::from(pending), Ordering::Release);
        }
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
                self.msip[((o - MSIP_BASE) / 4) as usize]
                    .store(value as u32 & 1, Ordering::Release);
            }
            _ => {}
        }
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
}
