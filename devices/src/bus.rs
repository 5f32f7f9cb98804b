//! The MMIO bus: guest-physical ranges mapped to devices that see offsets and byte slices.
//!
//! This is Firecracker's and Cloud Hypervisor's `vm-device` bus (`BusDevice::read(base,
//! offset, &mut [u8])`), minus the `base` argument: a [`BusDevice`] is told the byte
//! offset of an access inside its own range and the bytes moved, never the CPU, the
//! address it was mapped at, or who made the access. Interrupts leave a device through an
//! [`IrqLine`]; a device that reads or writes guest RAM does so through
//! [`crate::Dma`], by guest-physical address.
//!
//! A [`Bus`] is a map of non-overlapping ranges `[base, base + len)` to
//! `Arc<dyn BusDevice>`, kept in a `BTreeMap` keyed by base (the same shape as Cloud
//! Hypervisor's `Bus`). [`Bus::insert`] refuses an empty, wrapping or overlapping range;
//! [`Bus::read`] and [`Bus::write`] refuse an address no device claims and an access that
//! runs past the end of the device's range (a bus error: on a RISC-V hart, a load or
//! store access fault, `mcause` 5 or 7, RISC-V Privileged §3.1.15).
//!
//! # Using the bus from the guest OS
//!
//! The bus is built when the machine is set up and is immutable afterwards: `insert` and
//! `remove` take `&mut self`, every access takes `&self`, and `Bus` is `Send + Sync`, so
//! harts and kernel threads share one `&Bus` (or `Arc<Bus>`) without a lock. A device the
//! kernel also drives directly is created as an `Arc` and inserted as a clone, e.g. for
//! the QEMU `virt` layout:
//!
//! ```
//! use std::sync::{atomic::AtomicU64, Arc};
//! use devices::{Bus, Clint, ClockSource, GuestPhysAddr};
//!
//! let clint = Arc::new(Clint::new(2, ClockSource::Virtual(AtomicU64::new(0))));
//! let mut bus = Bus::new();
//! bus.insert(GuestPhysAddr(0x0200_0000), Clint::MMIO_BYTES, clint.clone())?;
//! // A store to hart 1's msip raises its software interrupt, as `set_msip(1, true)` does.
//! bus.write(GuestPhysAddr(0x0200_0004), &1u32.to_le_bytes())?;
//! assert!(clint.ipi_pending(1));
//! # Ok::<(), devices::BusError>(())
//! ```
//!
//! The hart's load/store path does not consult the bus yet (user-mode programs never
//! touch MMIO); when it does, an access that misses guest RAM goes to `Bus::read` /
//! `Bus::write` with the access width as the slice length, and a [`BusError`] becomes an
//! access fault. A device with a lifetime (one that borrows the guest's
//! [`GuestMemory`](crate::GuestMemory), like [`crate::DmaEngine`]) lives on a `Bus<'m>`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::addr::GuestPhysAddr;

/// A device on the MMIO bus (Firecracker / Cloud Hypervisor `vm-device` `BusDevice`).
///
/// `offset` is the byte offset of the access inside the device's range; the slice length
/// is the access width in bytes (1, 2, 4 or 8 from a hart). A device that does not
/// implement an offset or a width reads it as zero and ignores the write (RAZ/WI), as
/// SiFive's and QEMU's devices do for reserved registers; it never panics on either.
///
/// Both methods take `&self`: harts and kernel threads access a device concurrently, so
/// its registers live behind atomics or a lock (interior mutability), and the trait
/// requires `Send + Sync`.
pub trait BusDevice: Send + Sync {
    /// A load of `data.len()` bytes at byte `offset` of the device; fills `data`
    /// (little-endian for multi-byte registers).
    fn read(&self, offset: u64, data: &mut [u8]);

    /// A store of `data` (little-endian for multi-byte registers) at byte `offset` of the
    /// device.
    fn write(&self, offset: u64, data: &[u8]);
}

/// An interrupt line from a device to an interrupt controller (a PLIC input, or a test
/// that counts). Levels, not edges: a device asserts its line while it has an interrupt
/// pending and deasserts it when the driver acknowledges.
///
/// A device calls [`IrqLine::set`] while holding its own register lock so that the level
/// seen outside follows the register state in order; an implementation must therefore
/// not call back into the device.
pub trait IrqLine: Send + Sync {
    /// Drives the line to `level` (`true` = asserted). Setting the level it already has
    /// is allowed and changes nothing.
    fn set(&self, level: bool);
}

/// Host failures of the bus: a bad range at setup, or an access no device can take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// A range of zero bytes, or one that runs past the top of the address space.
    #[error("bus range {base:?}+{len:#x} is empty or wraps the address space")]
    InvalidRange {
        /// Requested base.
        base: GuestPhysAddr,
        /// Requested length in bytes.
        len: u64,
    },
    /// A range that overlaps one already on the bus.
    #[error("bus range {base:?}+{len:#x} overlaps the device at {other_base:?}+{other_len:#x}")]
    Overlap {
        /// Requested base.
        base: GuestPhysAddr,
        /// Requested length in bytes.
        len: u64,
        /// Base of the device already there.
        other_base: GuestPhysAddr,
        /// Length in bytes of the device already there.
        other_len: u64,
    },
    /// No device is mapped at the address.
    #[error("no device at {addr:?}")]
    Unmapped {
        /// First byte of the access.
        addr: GuestPhysAddr,
    },
    /// The access starts inside a device but runs past the end of its range.
    #[error("access at {addr:?}+{len:#x} leaves the device at {base:?}+{dev_len:#x}")]
    Straddle {
        /// First byte of the access.
        addr: GuestPhysAddr,
        /// Access length in bytes.
        len: u64,
        /// Base of the device.
        base: GuestPhysAddr,
        /// Length in bytes of the device's range.
        dev_len: u64,
    },
    /// [`Bus::remove`] of a base where no range starts.
    #[error("no device is mapped at base {base:?}")]
    NotFound {
        /// The base asked for.
        base: GuestPhysAddr,
    },
}

/// One mapping: the device and the last byte of its range (inclusive, so a range that
/// ends at the top of the address space needs no `2^64`).
struct Mapping<'d> {
    last: u64,
    device: Arc<dyn BusDevice + 'd>,
}

/// Guest-physical ranges mapped to [`BusDevice`]s (see the module docs).
///
/// `'d` bounds the devices' borrows: `Bus<'static>` for self-contained devices, `Bus<'m>`
/// for devices that borrow guest memory for `'m`.
#[derive(Default)]
pub struct Bus<'d> {
    /// Keyed by the range's base address.
    ranges: BTreeMap<u64, Mapping<'d>>,
}

impl fmt::Debug for Bus<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        for (&base, m) in &self.ranges {
            l.entry(&format_args!(
                "{:?}..={:?}",
                GuestPhysAddr(base),
                GuestPhysAddr(m.last)
            ));
        }
        l.finish()
    }
}

impl<'d> Bus<'d> {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `device` at `[base, base + len_bytes)`.
    ///
    /// # Errors
    /// [`BusError::InvalidRange`] for an empty range or one past the top of the address
    /// space; [`BusError::Overlap`] if any byte of it is already mapped (the bus is left
    /// unchanged).
    pub fn insert(
        &mut self,
        base: GuestPhysAddr,
        len_bytes: u64,
        device: Arc<dyn BusDevice + 'd>,
    ) -> Result<(), BusError> {
        let invalid = BusError::InvalidRange {
            base,
            len: len_bytes,
        };
        let last = len_bytes
            .checked_sub(1)
            .and_then(|n| base.raw().checked_add(n))
            .ok_or(invalid)?;
        // Ranges are disjoint and sorted, so the one with the highest base at or below
        // `last` also ends highest: if it ends before `base`, every other one does too.
        if let Some((&other, m)) = self.ranges.range(..=last).next_back() {
            if m.last >= base.raw() {
                return Err(BusError::Overlap {
                    base,
                    len: len_bytes,
                    other_base: GuestPhysAddr(other),
                    other_len: m.last - other + 1,
                });
            }
        }
        self.ranges.insert(base.raw(), Mapping { last, device });
        Ok(())
    }

    /// Unmaps the range that starts at `base` and returns its device.
    ///
    /// # Errors
    /// [`BusError::NotFound`] if no range starts at `base`.
    pub fn remove(&mut self, base: GuestPhysAddr) -> Result<Arc<dyn BusDevice + 'd>, BusError> {
        self.ranges
            .remove(&base.raw())
            .map(|m| m.device)
            .ok_or(BusError::NotFound { base })
    }

    /// The device whose range contains `addr`, and `addr`'s byte offset inside it; `None`
    /// if no device claims `addr`.
    pub fn resolve(&self, addr: GuestPhysAddr) -> Option<(&Arc<dyn BusDevice + 'd>, u64)> {
        self.mapping(addr)
            .map(|(base, m)| (&m.device, addr.raw() - base))
    }

    /// The base and mapping of the range that contains `addr`.
    fn mapping(&self, addr: GuestPhysAddr) -> Option<(u64, &Mapping<'d>)> {
        let (&base, m) = self.ranges.range(..=addr.raw()).next_back()?;
        (addr.raw() <= m.last).then_some((base, m))
    }

    /// The mapped ranges as `(base, len_bytes)`, sorted by base (for a memory map such as
    /// `/proc/iomem` or a device tree).
    pub fn ranges(&self) -> impl Iterator<Item = (GuestPhysAddr, u64)> + '_ {
        // `last - base + 1` cannot overflow except for a range of all 2^64 bytes, which
        // reports as 0 (wrapping) rather than panicking.
        self.ranges
            .iter()
            .map(|(&base, m)| (GuestPhysAddr(base), (m.last - base).wrapping_add(1)))
    }

    /// The device and offset for an access of `len` bytes at `addr`, refusing one that
    /// leaves the device's range.
    fn route(&self, addr: GuestPhysAddr, len: usize) -> Result<(&dyn BusDevice, u64), BusError> {
        let (base, m) = self.mapping(addr).ok_or(BusError::Unmapped { addr })?;
        // Bytes from `addr` to the end of the range, minus one (no overflow: addr <= last).
        let room = m.last - addr.raw();
        if len as u64 > room.saturating_add(1) {
            return Err(BusError::Straddle {
                addr,
                len: len as u64,
                base: GuestPhysAddr(base),
                dev_len: (m.last - base).wrapping_add(1),
            });
        }
        Ok((&*m.device, addr.raw() - base))
    }

    /// A load of `data.len()` bytes at `addr` from the device that claims it.
    ///
    /// # Errors
    /// [`BusError::Unmapped`] if no device claims `addr`; [`BusError::Straddle`] if the
    /// access runs past the end of that device's range. The device is not called then.
    pub fn read(&self, addr: GuestPhysAddr, data: &mut [u8]) -> Result<(), BusError> {
        let (device, offset) = self.route(addr, data.len())?;
        device.read(offset, data);
        Ok(())
    }

    /// A store of `data` at `addr` to the device that claims it.
    ///
    /// # Errors
    /// As [`Bus::read`]; the device is not called then.
    pub fn write(&self, addr: GuestPhysAddr, data: &[u8]) -> Result<(), BusError> {
        let (device, offset) = self.route(addr, data.len())?;
        device.write(offset, data);
        Ok(())
    }
}

/// Reads the bytes `[at, at + data.len())` of a little-endian register `reg_bytes` wide
/// holding `value` into `data`. Only a naturally aligned access of a power-of-two width
/// that stays inside the register is decoded; anything else leaves `data` zeroed and
/// returns `false` (RAZ).
pub(crate) fn reg_read(value: u64, reg_bytes: u64, at: u64, data: &mut [u8]) -> bool {
    data.fill(0);
    let Some(shift) = reg_window(reg_bytes, at, data.len()) else {
        return false;
    };
    let bytes = (value >> shift).to_le_bytes();
    data.copy_from_slice(&bytes[..data.len()]);
    true
}

/// The value of a little-endian register `reg_bytes` wide that held `old` after a store of
/// `data` to its bytes `[at, at + data.len())`; `None` for an access [`reg_read`] would
/// not decode (WI).
pub(crate) fn reg_write(old: u64, reg_bytes: u64, at: u64, data: &[u8]) -> Option<u64> {
    let shift = reg_window(reg_bytes, at, data.len())?;
    let mut bytes = [0u8; 8];
    bytes[..data.len()].copy_from_slice(data);
    let field = u64::from_le_bytes(bytes);
    let mask = u64::MAX >> (64 - 8 * data.len() as u32);
    Some((old & !(mask << shift)) | (field << shift))
}

/// The bit shift of an access of `len` bytes at byte `at` of a register `reg_bytes` wide,
/// or `None` unless `len` is 1, 2, 4 or 8, `at` is a multiple of it and the access stays
/// inside the register.
fn reg_window(reg_bytes: u64, at: u64, len: usize) -> Option<u32> {
    let len = len as u64;
    let fits = matches!(len, 1 | 2 | 4 | 8)
        && reg_bytes <= 8
        && at.is_multiple_of(len)
        && at.checked_add(len).is_some_and(|end| end <= reg_bytes);
    fits.then(|| 8 * at as u32)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use parking_lot::Mutex;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    /// A test [`IrqLine`]: the current level and the number of rising edges.
    #[derive(Debug, Default)]
    pub(crate) struct CountingIrq {
        level: AtomicBool,
        raises: AtomicU32,
    }

    impl CountingIrq {
        /// Whether the line is asserted now.
        pub(crate) fn level(&self) -> bool {
            self.level.load(Ordering::Acquire)
        }

        /// How many times the line went from deasserted to asserted.
        pub(crate) fn raises(&self) -> u32 {
            self.raises.load(Ordering::Acquire)
        }
    }

    impl IrqLine for CountingIrq {
        fn set(&self, level: bool) {
            if !self.level.swap(level, Ordering::AcqRel) && level {
                self.raises.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// A device that records every access as `(is_write, offset, len)` and reads back
    /// `0xa0 + i` in byte `i`.
    #[derive(Default)]
    struct Recorder {
        log: Mutex<Vec<(bool, u64, usize)>>,
    }

    impl BusDevice for Recorder {
        fn read(&self, offset: u64, data: &mut [u8]) {
            self.log.lock().push((false, offset, data.len()));
            for (i, b) in data.iter_mut().enumerate() {
                *b = 0xa0 + i as u8;
            }
        }

        fn write(&self, offset: u64, data: &[u8]) {
            self.log.lock().push((true, offset, data.len()));
        }
    }

    #[test]
    fn accesses_reach_the_device_at_their_offset() {
        let dev = Arc::new(Recorder::default());
        let mut bus = Bus::new();
        bus.insert(GuestPhysAddr(0x1000_0000), 0x100, dev.clone())
            .unwrap();
        let mut b = [0u8; 4];
        bus.read(GuestPhysAddr(0x1000_0010), &mut b).unwrap();
        assert_eq!(b, [0xa0, 0xa1, 0xa2, 0xa3]);
        bus.write(GuestPhysAddr(0x1000_00f8), &[0; 8]).unwrap();
        assert_eq!(*dev.log.lock(), vec![(false, 0x10, 4), (true, 0xf8, 8)]);

        // The last byte of the range is in; one past it is not; a straddle is refused
        // before the device sees it.
        bus.write(GuestPhysAddr(0x1000_00ff), &[1]).unwrap();
        assert_eq!(
            bus.write(GuestPhysAddr(0x1000_0100), &[1]),
            Err(BusError::Unmapped {
                addr: GuestPhysAddr(0x1000_0100)
            })
        );
        assert_eq!(
            bus.read(GuestPhysAddr(0x1000_00fc), &mut [0; 8]),
            Err(BusError::Straddle {
                addr: GuestPhysAddr(0x1000_00fc),
                len: 8,
                base: GuestPhysAddr(0x1000_0000),
                dev_len: 0x100
            })
        );
        assert_eq!(
            bus.read(GuestPhysAddr(0x0fff_ffff), &mut [0; 1]),
            Err(BusError::Unmapped {
                addr: GuestPhysAddr(0x0fff_ffff)
            })
        );
        assert_eq!(dev.log.lock().len(), 3, "refused accesses never reach it");
    }

    #[test]
    fn insert_refuses_bad_and_overlapping_ranges() {
        let dev: Arc<dyn BusDevice> = Arc::new(Recorder::default());
        let mut bus = Bus::new();
        assert!(matches!(
            bus.insert(GuestPhysAddr(0x1000), 0, dev.clone()),
            Err(BusError::InvalidRange { .. })
        ));
        assert!(matches!(
            bus.insert(GuestPhysAddr(u64::MAX), 2, dev.clone()),
            Err(BusError::InvalidRange { .. })
        ));
        // A range ending exactly at the top of the address space is fine.
        bus.insert(GuestPhysAddr(u64::MAX - 0xfff), 0x1000, dev.clone())
            .unwrap();
        bus.write(GuestPhysAddr(u64::MAX), &[0]).unwrap();
        assert!(matches!(
            bus.write(GuestPhysAddr(u64::MAX), &[0, 0]),
            Err(BusError::Straddle { .. })
        ));
        bus.insert(GuestPhysAddr(0x2000), 0x1000, dev.clone())
            .unwrap();
        for (base, len) in [(0x2fff, 1), (0x1000, 0x1001), (0x2800, 0x10), (0, 0x10000)] {
            assert_eq!(
                bus.insert(GuestPhysAddr(base), len, dev.clone()),
                Err(BusError::Overlap {
                    base: GuestPhysAddr(base),
                    len,
                    other_base: GuestPhysAddr(0x2000),
                    other_len: 0x1000
                })
            );
        }
        // Touching ranges on either side do not overlap.
        bus.insert(GuestPhysAddr(0x1000), 0x1000, dev.clone())
            .unwrap();
        bus.insert(GuestPhysAddr(0x3000), 0x1000, dev.clone())
            .unwrap();
        assert_eq!(
            bus.ranges().collect::<Vec<_>>(),
            [
                (GuestPhysAddr(0x1000), 0x1000),
                (GuestPhysAddr(0x2000), 0x1000),
                (GuestPhysAddr(0x3000), 0x1000),
                (GuestPhysAddr(u64::MAX - 0xfff), 0x1000),
            ]
        );
        assert!(bus.remove(GuestPhysAddr(0x2000)).is_ok());
        assert!(bus.resolve(GuestPhysAddr(0x2000)).is_none());
        assert_eq!(
            bus.remove(GuestPhysAddr(0x2000)).err(),
            Some(BusError::NotFound {
                base: GuestPhysAddr(0x2000)
            })
        );
        bus.insert(GuestPhysAddr(0x2800), 0x800, dev).unwrap();
        assert_eq!(
            bus.resolve(GuestPhysAddr(0x2fff)).map(|(_, off)| off),
            Some(0x7ff)
        );
    }

    #[test]
    fn register_windows() {
        let mut b4 = [0u8; 4];
        assert!(reg_read(0x1122_3344_5566_7788, 8, 4, &mut b4));
        assert_eq!(u32::from_le_bytes(b4), 0x1122_3344, "high half");
        assert!(
            !reg_read(0x1122_3344_5566_7788, 8, 2, &mut b4),
            "misaligned"
        );
        assert_eq!(b4, [0; 4], "RAZ");
        assert!(
            !reg_read(1, 4, 0, &mut [0xff; 8]),
            "wider than the register"
        );
        assert!(!reg_read(1, 8, 0, &mut [0; 3]), "not a power of two");
        assert_eq!(
            reg_write(0x1122_3344_5566_7788, 8, 4, &0xdead_beefu32.to_le_bytes()),
            Some(0xdead_beef_5566_7788)
        );
        assert_eq!(
            reg_write(0x1122_3344_5566_7788, 8, 1, &[0xab]),
            Some(0x1122_3344_5566_ab88)
        );
        assert_eq!(reg_write(0, 8, 0, &u64::MAX.to_le_bytes()), Some(u64::MAX));
        assert_eq!(reg_write(0, 8, 6, &[0; 4]), None, "leaves the register");
        assert_eq!(reg_write(0, 8, u64::MAX, &[0]), None, "offset overflow");
    }

    /// The range map against a model: a list of disjoint `(base, len)` pairs.
    fn model_overlap(model: &[(u64, u64)], base: u64, len: u64) -> Option<(u64, u64)> {
        model
            .iter()
            .copied()
            .find(|&(b, l)| base < b + l && b < base + len)
    }

    proptest! {
        #[test]
        fn range_map_matches_a_model(
            inserts in proptest::collection::vec((0u64..0x400, 1u64..0x40), 1..40),
            probes in proptest::collection::vec((0u64..0x480, 1usize..9), 1..60),
        ) {
            let dev: Arc<dyn BusDevice> = Arc::new(Recorder::default());
            let mut bus = Bus::new();
            let mut model: Vec<(u64, u64)> = Vec::new();
            for (base, len) in inserts {
                let got = bus.insert(GuestPhysAddr(base), len, dev.clone());
                match model_overlap(&model, base, len) {
                    None => {
                        prop_assert_eq!(got, Ok(()));
                        model.push((base, len));
                    }
                    Some(_) => prop_assert!(
                        matches!(got, Err(BusError::Overlap { other_base, other_len, .. })
                            if model.contains(&(other_base.raw(), other_len))
                                && model_overlap(&[(other_base.raw(), other_len)], base, len).is_some()),
                        "insert {:#x}+{:#x} over {:?}", base, len, model
                    ),
                }
            }
            model.sort_unstable();
            prop_assert_eq!(
                bus.ranges().map(|(b, l)| (b.raw(), l)).collect::<Vec<_>>(),
                model.clone()
            );
            for (addr, len) in probes {
                let owner = model.iter().copied().find(|&(b, l)| b <= addr && addr < b + l);
                prop_assert_eq!(
                    bus.resolve(GuestPhysAddr(addr)).map(|(_, off)| off),
                    owner.map(|(b, _)| addr - b)
                );
                let got = bus.read(GuestPhysAddr(addr), &mut vec![0u8; len]);
                let want = match owner {
                    None => Err(BusError::Unmapped { addr: GuestPhysAddr(addr) }),
                    Some((b, l)) if addr + len as u64 > b + l => Err(BusError::Straddle {
                        addr: GuestPhysAddr(addr),
                        len: len as u64,
                        base: GuestPhysAddr(b),
                        dev_len: l,
                    }),
                    Some(_) => Ok(()),
                };
                prop_assert_eq!(got, want);
            }
        }
    }
}
