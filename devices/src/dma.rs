//! DMA: devices reading and writing guest RAM by guest-physical address, and a small DMA
//! engine on the MMIO bus.
//!
//! [`Dma`] is a device's view of guest memory: bounds-checked byte copies by
//! [`GuestPhysAddr`], straight into [`GuestMemory`]. There is no MMU on this path (no
//! IOMMU either): nothing translates the address, nothing checks a PTE's permissions, and
//! nothing sets a PTE's A or D bit (RISC-V Privileged §12.3.2 step 9 is the hart's
//! walker, and a device never walks). That is why a kernel that pins user pages for DMA
//! cannot learn from the page tables that the device wrote them: it must mark them dirty
//! itself when it lets go, with `unpin_user_pages_dirty_lock(pages, npages, true)`
//! (`mm/gup.c`), or writeback and reclaim treat the DMA'd data as clean and may drop it.
//!
//! [`DmaEngine`] is a memcpy/memset engine in the style of a simple platform DMA
//! controller: the driver programs source, destination and length registers, rings a
//! doorbell, and gets an interrupt on completion.
//!
//! # Register map
//!
//! All registers are little-endian; accesses are 4 or 8 bytes, naturally aligned, and a
//! 64-bit register may be accessed as two 4-byte halves. Other offsets and widths read as
//! zero and ignore writes. The engine decodes [`DmaEngine::MMIO_BYTES`] (4 KiB).
//!
//! | offset | name     | width | access | meaning |
//! |--------|----------|-------|--------|---------|
//! | `0x00` | `SRC`    | 64    | RW     | source guest-physical address (`COPY`) |
//! | `0x08` | `DST`    | 64    | RW     | destination guest-physical address |
//! | `0x10` | `LEN`    | 64    | RW     | transfer length in bytes |
//! | `0x18` | `FILL`   | 32    | RW     | bits 7:0: the byte `FILL` stores; bits 31:8 read as zero |
//! | `0x1c` | `CTRL`   | 32    | RW     | [`DmaCtrl`]: bit 0 `IRQ_EN` |
//! | `0x20` | `CMD`    | 32    | W      | doorbell: [`DmaCmd`] `1` = `COPY`, `2` = `FILL`; reads as zero |
//! | `0x24` | `STATUS` | 32    | R/W1C  | [`DmaStatus`] in bits 2:0, [`DmaErrorCode`] in bits 15:8 |
//!
//! A write to `CMD` snapshots `SRC`, `DST`, `LEN` and `FILL`, clears `DONE`, `ERROR`
//! and the error code, sets `BUSY`, and runs the transfer; at the end `BUSY` clears and
//! `DONE` (or `ERROR` with a code) sets. Writing 1 to `DONE` or `ERROR` in `STATUS`
//! clears it (the code clears with `ERROR`); `BUSY` is read-only. A `CMD` write while
//! `BUSY` is ignored, so a driver waits for the interrupt or polls `BUSY`. Either range
//! outside guest RAM, or a `COPY` whose ranges overlap, fails before any byte moves.
//! `LEN = 0` completes with `DONE` and touches nothing.
//!
//! The interrupt is a level: the [`IrqLine`] is asserted while `CTRL.IRQ_EN` is set and
//! `STATUS` has `DONE` or `ERROR`, and deasserted when the driver clears them (or
//! `IRQ_EN`).
//!
//! The transfer runs synchronously inside the `CMD` write, on the thread that made it;
//! the register lock is dropped for its duration, so another hart reading `STATUS` then
//! sees `BUSY`. A real engine would run in the background and the driver would get the
//! interrupt later; nothing in the register protocol depends on which.

use std::sync::Arc;

use bitflags::bitflags;
use parking_lot::Mutex;

use crate::addr::GuestPhysAddr;
use crate::bus::{reg_read, reg_write, BusDevice, IrqLine};
use crate::ram::{GuestMemory, MemoryError};

/// A failed DMA: which side of the transfer left guest RAM, or a copy onto itself.
#[derive(Debug, thiserror::Error)]
pub enum DmaError {
    /// The source range is not inside guest RAM.
    #[error("DMA source is outside guest RAM")]
    Source(#[source] MemoryError),
    /// The destination range is not inside guest RAM.
    #[error("DMA destination is outside guest RAM")]
    Destination(#[source] MemoryError),
    /// A copy whose source and destination ranges share bytes.
    #[error("DMA copy from {src:?} to {dst:?} of {len:#x} bytes overlaps itself")]
    Overlap {
        /// Source address.
        src: GuestPhysAddr,
        /// Destination address.
        dst: GuestPhysAddr,
        /// Length in bytes.
        len: u64,
    },
}

/// A device's handle on guest RAM: reads and writes by guest-physical address, with
/// bounds checks and no translation, permission check or PTE A/D update (see the module
/// docs for what that means for pinned pages).
///
/// Every access is atomic per byte or aligned word, as all guest-RAM accesses are, so a
/// DMA may run concurrently with harts; like real DMA it is not atomic as a whole.
#[derive(Debug, Clone, Copy)]
pub struct Dma<'m> {
    mem: &'m GuestMemory,
}

impl<'m> Dma<'m> {
    /// A DMA handle on `mem`.
    pub fn new(mem: &'m GuestMemory) -> Self {
        Self { mem }
    }

    /// Whether `[pa, pa + len_bytes)` is inside one slot of guest RAM (an empty range
    /// always is).
    pub fn contains(&self, pa: GuestPhysAddr, len_bytes: u64) -> bool {
        len_bytes == 0 || self.mem.contains(pa, len_bytes)
    }

    /// Reads `buf.len()` bytes of guest RAM at `pa` into `buf` (a device's read from
    /// memory).
    ///
    /// # Errors
    /// [`DmaError::Source`] if the range leaves guest RAM; `buf` is unchanged then.
    pub fn read(&self, pa: GuestPhysAddr, buf: &mut [u8]) -> Result<(), DmaError> {
        if buf.is_empty() {
            return Ok(());
        }
        self.mem.read_bytes(pa, buf).map_err(DmaError::Source)
    }

    /// Writes `data` into guest RAM at `pa` (a device's write to memory).
    ///
    /// # Errors
    /// [`DmaError::Destination`] if the range leaves guest RAM; nothing is written then.
    pub fn write(&self, pa: GuestPhysAddr, data: &[u8]) -> Result<(), DmaError> {
        if data.is_empty() {
            return Ok(());
        }
        self.mem
            .write_bytes(pa, data)
            .map_err(DmaError::Destination)
    }

    /// Sets `len_bytes` bytes of guest RAM at `pa` to `byte`.
    ///
    /// # Errors
    /// [`DmaError::Destination`] if the range leaves guest RAM; nothing is written then.
    pub fn fill(&self, pa: GuestPhysAddr, len_bytes: u64, byte: u8) -> Result<(), DmaError> {
        if len_bytes == 0 {
            return Ok(());
        }
        self.mem
            .fill(pa, len_bytes, byte)
            .map_err(DmaError::Destination)
    }

    /// Copies `len_bytes` bytes of guest RAM from `src` to `dst`.
    ///
    /// # Errors
    /// [`DmaError::Source`] or [`DmaError::Destination`] if a range leaves guest RAM
    /// (the source is checked first); [`DmaError::Overlap`] if the ranges share a byte.
    /// Nothing is written on error.
    pub fn copy(
        &self,
        src: GuestPhysAddr,
        dst: GuestPhysAddr,
        len_bytes: u64,
    ) -> Result<(), DmaError> {
        if len_bytes == 0 {
            return Ok(());
        }
        let outside = |addr| MemoryError::OutOfRange {
            addr,
            len: len_bytes,
        };
        if !self.mem.contains(src, len_bytes) {
            return Err(DmaError::Source(outside(src)));
        }
        if !self.mem.contains(dst, len_bytes) {
            return Err(DmaError::Destination(outside(dst)));
        }
        // Both ranges are inside RAM, so neither end overflows.
        if src.raw() < dst.raw() + len_bytes && dst.raw() < src.raw() + len_bytes {
            return Err(DmaError::Overlap {
                src,
                dst,
                len: len_bytes,
            });
        }
        self.mem
            .copy_within(src, dst, len_bytes)
            .map_err(DmaError::Destination)
    }
}

/// Byte offset of the `SRC` register (64-bit source guest-physical address).
pub const REG_SRC: u64 = 0x00;
/// Byte offset of the `DST` register (64-bit destination guest-physical address).
pub const REG_DST: u64 = 0x08;
/// Byte offset of the `LEN` register (64-bit transfer length in bytes).
pub const REG_LEN: u64 = 0x10;
/// Byte offset of the `FILL` register (32-bit; bits 7:0 the fill byte).
pub const REG_FILL: u64 = 0x18;
/// Byte offset of the `CTRL` register (32-bit [`DmaCtrl`]).
pub const REG_CTRL: u64 = 0x1c;
/// Byte offset of the `CMD` doorbell register (32-bit [`DmaCmd`], write-only).
pub const REG_CMD: u64 = 0x20;
/// Byte offset of the `STATUS` register (32-bit [`DmaStatus`] and [`DmaErrorCode`]).
pub const REG_STATUS: u64 = 0x24;
/// The first byte past the registers; the rest of the page is reserved (RAZ/WI).
const REGS_END: u64 = 0x28;

bitflags! {
    /// The `CTRL` register.
    #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct DmaCtrl: u32 {
        /// Assert the interrupt line while `STATUS` has `DONE` or `ERROR`.
        const IRQ_EN = 1 << 0;
    }
}

bitflags! {
    /// The flag bits (2:0) of the `STATUS` register.
    #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct DmaStatus: u32 {
        /// A transfer is running (read-only).
        const BUSY = 1 << 0;
        /// The last transfer completed (write 1 to clear).
        const DONE = 1 << 1;
        /// The last command failed; the code is in bits 15:8 (write 1 to clear both).
        const ERROR = 1 << 2;
    }
}

/// The commands the `CMD` doorbell takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum DmaCmd {
    /// Copy `LEN` bytes from `SRC` to `DST` (the ranges must not overlap).
    Copy = 1,
    /// Store `LEN` copies of the `FILL` byte at `DST`.
    Fill = 2,
}

impl DmaCmd {
    /// The command a `CMD` register value names, if any.
    fn from_reg(value: u64) -> Option<Self> {
        [Self::Copy, Self::Fill]
            .into_iter()
            .find(|&c| c as u64 == value)
    }
}

/// Why a command failed: `STATUS` bits 15:8 when `ERROR` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum DmaErrorCode {
    /// `CMD` was written with a value that is not a [`DmaCmd`].
    BadCommand = 1,
    /// `[SRC, SRC + LEN)` is not inside guest RAM.
    Source = 2,
    /// `[DST, DST + LEN)` is not inside guest RAM.
    Destination = 3,
    /// A `COPY` whose source and destination ranges overlap.
    Overlap = 4,
}

impl From<&DmaError> for DmaErrorCode {
    fn from(e: &DmaError) -> Self {
        match e {
            DmaError::Source(_) => Self::Source,
            DmaError::Destination(_) => Self::Destination,
            DmaError::Overlap { .. } => Self::Overlap,
        }
    }
}

/// The engine's registers, behind its lock.
#[derive(Debug, Default)]
struct Regs {
    src: u64,
    dst: u64,
    len: u64,
    fill: u8,
    ctrl: DmaCtrl,
    status: DmaStatus,
    error: Option<DmaErrorCode>,
}

impl Regs {
    /// The `STATUS` register value.
    fn status_reg(&self) -> u32 {
        self.status.bits() | self.error.map_or(0, |c| u32::from(c as u8) << 8)
    }

    /// The interrupt line's level for this state.
    fn irq_level(&self) -> bool {
        self.ctrl.contains(DmaCtrl::IRQ_EN)
            && self.status.intersects(DmaStatus::DONE | DmaStatus::ERROR)
    }

    /// Ends a command: `BUSY` off, `DONE` or `ERROR` with its code on.
    fn complete(&mut self, result: Result<(), DmaErrorCode>) {
        self.status.remove(DmaStatus::BUSY);
        match result {
            Ok(()) => self.status.insert(DmaStatus::DONE),
            Err(code) => {
                self.status.insert(DmaStatus::ERROR);
                self.error = Some(code);
            }
        }
    }
}

/// The memcpy/memset DMA engine (see the module docs for its register map).
pub struct DmaEngine<'m> {
    dma: Dma<'m>,
    irq: Arc<dyn IrqLine + 'm>,
    regs: Mutex<Regs>,
}

impl std::fmt::Debug for DmaEngine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaEngine")
            .field("regs", &*self.regs.lock())
            .finish_non_exhaustive()
    }
}

impl<'m> DmaEngine<'m> {
    /// Bytes of guest-physical address space the engine decodes (one 4 KiB page).
    pub const MMIO_BYTES: u64 = 0x1000;

    /// An idle engine that moves data through `dma` and signals completion on `irq`.
    /// All registers start at zero (interrupts disabled).
    pub fn new(dma: Dma<'m>, irq: Arc<dyn IrqLine + 'm>) -> Self {
        Self {
            dma,
            irq,
            regs: Mutex::new(Regs::default()),
        }
    }

    /// Drives the interrupt line from `regs` (called with the lock held, so levels leave
    /// in the order the state changed).
    fn update_irq(&self, regs: &Regs) {
        self.irq.set(regs.irq_level());
    }

    /// The doorbell: starts `cmd` from the registers' snapshot, runs it without the lock,
    /// and completes it.
    fn ring(&self, value: u64) {
        let job = {
            let mut r = self.regs.lock();
            if r.status.contains(DmaStatus::BUSY) {
                return;
            }
            r.status.remove(DmaStatus::DONE | DmaStatus::ERROR);
            r.error = None;
            let Some(cmd) = DmaCmd::from_reg(value) else {
                r.complete(Err(DmaErrorCode::BadCommand));
                self.update_irq(&r);
                return;
            };
            r.status.insert(DmaStatus::BUSY);
            self.update_irq(&r);
            (cmd, r.src, r.dst, r.len, r.fill)
        };
        let (cmd, src, dst, len, fill) = job;
        let result = match cmd {
            DmaCmd::Copy => self.dma.copy(GuestPhysAddr(src), GuestPhysAddr(dst), len),
            DmaCmd::Fill => self.dma.fill(GuestPhysAddr(dst), len, fill),
        };
        let mut r = self.regs.lock();
        r.complete(result.map_err(|e| DmaErrorCode::from(&e)));
        self.update_irq(&r);
    }
}

impl BusDevice for DmaEngine<'_> {
    fn read(&self, offset: u64, data: &mut [u8]) {
        data.fill(0);
        if !matches!(data.len(), 4 | 8) {
            return;
        }
        let r = self.regs.lock();
        let (value, base, width) = match offset {
            REG_SRC..REG_DST => (r.src, REG_SRC, 8),
            REG_DST..REG_LEN => (r.dst, REG_DST, 8),
            REG_LEN..REG_FILL => (r.len, REG_LEN, 8),
            REG_FILL..REG_CTRL => (u64::from(r.fill), REG_FILL, 4),
            REG_CTRL..REG_CMD => (u64::from(r.ctrl.bits()), REG_CTRL, 4),
            REG_STATUS..REGS_END => (u64::from(r.status_reg()), REG_STATUS, 4),
            _ => return,
        };
        reg_read(value, width, offset - base, data);
    }

    fn write(&self, offset: u64, data: &[u8]) {
        if !matches!(data.len(), 4 | 8) {
            return;
        }
        let mut guard = self.regs.lock();
        let r = &mut *guard;
        let field = |old: u64, base: u64, width: u64| reg_write(old, width, offset - base, data);
        match offset {
            REG_SRC..REG_DST => r.src = field(r.src, REG_SRC, 8).unwrap_or(r.src),
            REG_DST..REG_LEN => r.dst = field(r.dst, REG_DST, 8).unwrap_or(r.dst),
            REG_LEN..REG_FILL => r.len = field(r.len, REG_LEN, 8).unwrap_or(r.len),
            REG_FILL..REG_CTRL => {
                if let Some(v) = field(0, REG_FILL, 4) {
                    r.fill = v as u8;
                }
            }
            REG_CTRL..REG_CMD => {
                if let Some(v) = field(0, REG_CTRL, 4) {
                    r.ctrl = DmaCtrl::from_bits_truncate(v as u32);
                    self.update_irq(r);
                }
            }
            REG_CMD..REG_STATUS => {
                if let Some(cmd) = field(0, REG_CMD, 4) {
                    drop(guard);
                    self.ring(cmd);
                }
            }
            REG_STATUS..REGS_END => {
                if let Some(v) = field(0, REG_STATUS, 4) {
                    let w1c = DmaStatus::from_bits_truncate(v as u32)
                        & (DmaStatus::DONE | DmaStatus::ERROR);
                    r.status.remove(w1c);
                    if w1c.contains(DmaStatus::ERROR) {
                        r.error = None;
                    }
                    self.update_irq(r);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::tests::CountingIrq;
    use crate::bus::Bus;
    use proptest::prelude::*;

    const RAM: GuestPhysAddr = GuestPhysAddr(0x8000_0000);
    const RAM_BYTES: u64 = 0x4000;
    const MMIO: u64 = 0x1000_1000;

    fn ram() -> GuestMemory {
        GuestMemory::new(&[(RAM, RAM_BYTES)]).unwrap()
    }

    /// A bus with the engine at `MMIO`, its interrupt counted.
    fn machine(mem: &GuestMemory) -> (Bus<'_>, Arc<CountingIrq>) {
        let irq = Arc::new(CountingIrq::default());
        let engine = DmaEngine::new(Dma::new(mem), irq.clone());
        let mut bus = Bus::new();
        bus.insert(GuestPhysAddr(MMIO), DmaEngine::MMIO_BYTES, Arc::new(engine))
            .unwrap();
        (bus, irq)
    }

    fn w64(bus: &Bus<'_>, reg: u64, v: u64) {
        bus.write(GuestPhysAddr(MMIO + reg), &v.to_le_bytes())
            .unwrap();
    }

    fn w32(bus: &Bus<'_>, reg: u64, v: u32) {
        bus.write(GuestPhysAddr(MMIO + reg), &v.to_le_bytes())
            .unwrap();
    }

    fn r32(bus: &Bus<'_>, reg: u64) -> u32 {
        let mut b = [0u8; 4];
        bus.read(GuestPhysAddr(MMIO + reg), &mut b).unwrap();
        u32::from_le_bytes(b)
    }

    fn pa(off: u64) -> GuestPhysAddr {
        GuestPhysAddr(RAM.raw() + off)
    }

    const DONE: u32 = DmaStatus::DONE.bits();
    const ERROR: u32 = DmaStatus::ERROR.bits();

    fn error_status(code: DmaErrorCode) -> u32 {
        ERROR | u32::from(code as u8) << 8
    }

    #[test]
    fn copy_then_interrupt_then_acknowledge() {
        let mem = ram();
        let (bus, irq) = machine(&mem);
        let data: Vec<u8> = (0..0x1800u32).map(|i| (i * 7 + 3) as u8).collect();
        mem.write_bytes(pa(0x10), &data).unwrap();
        w32(&bus, REG_CTRL, DmaCtrl::IRQ_EN.bits());
        w64(&bus, REG_SRC, pa(0x10).raw());
        // The destination written as two 32-bit halves, as an RV32 driver would.
        w32(&bus, REG_DST, pa(0x2003).raw() as u32);
        w32(&bus, REG_DST + 4, (pa(0x2003).raw() >> 32) as u32);
        w64(&bus, REG_LEN, data.len() as u64);
        assert!(!irq.level());
        w32(&bus, REG_CMD, DmaCmd::Copy as u32);
        let mut back = vec![0u8; data.len()];
        mem.read_bytes(pa(0x2003), &mut back).unwrap();
        assert_eq!(back, data);
        assert_eq!(mem.read_u8(pa(0x2002)).unwrap(), 0, "no byte before DST");
        assert_eq!(
            mem.read_u8(pa(0x2003 + 0x1800)).unwrap(),
            0,
            "none past LEN"
        );
        assert_eq!(r32(&bus, REG_STATUS), DONE);
        assert!(irq.level() && irq.raises() == 1);
        // The registers read back; CMD reads as zero.
        let mut b8 = [0u8; 8];
        bus.read(GuestPhysAddr(MMIO + REG_DST), &mut b8).unwrap();
        assert_eq!(u64::from_le_bytes(b8), pa(0x2003).raw());
        assert_eq!(r32(&bus, REG_CMD), 0);
        // Writing 0 clears nothing; writing DONE clears it and drops the line.
        w32(&bus, REG_STATUS, 0);
        assert!(irq.level());
        w32(&bus, REG_STATUS, DONE);
        assert_eq!(r32(&bus, REG_STATUS), 0);
        assert!(!irq.level());
    }

    #[test]
    fn fill_and_level_interrupt() {
        let mem = ram();
        let (bus, irq) = machine(&mem);
        w64(&bus, REG_DST, pa(0x100).raw());
        w64(&bus, REG_LEN, 0x31);
        w32(&bus, REG_FILL, 0xffff_ff5a);
        assert_eq!(r32(&bus, REG_FILL), 0x5a, "bits 31:8 read as zero");
        w32(&bus, REG_CMD, DmaCmd::Fill as u32);
        assert_eq!(r32(&bus, REG_STATUS), DONE);
        assert!(!irq.level(), "IRQ_EN is clear");
        let mut back = [0u8; 0x33];
        mem.read_bytes(pa(0xff), &mut back).unwrap();
        assert_eq!(back[0], 0);
        assert!(back[1..0x32].iter().all(|&b| b == 0x5a));
        assert_eq!(back[0x32], 0);
        // A level: enabling interrupts with DONE pending asserts the line at once.
        w32(&bus, REG_CTRL, DmaCtrl::IRQ_EN.bits());
        assert!(irq.level() && irq.raises() == 1);
        // The next command clears DONE first, so each completion is a new edge.
        w32(&bus, REG_CMD, DmaCmd::Fill as u32);
        assert_eq!(irq.raises(), 2);
        w32(&bus, REG_CTRL, 0);
        assert!(!irq.level());
    }

    #[test]
    fn errors_move_no_byte() {
        let mem = ram();
        let (bus, irq) = machine(&mem);
        w32(&bus, REG_CTRL, DmaCtrl::IRQ_EN.bits());
        mem.fill(RAM, RAM_BYTES, 0xee).unwrap();
        let untouched = |mem: &GuestMemory| {
            let mut all = vec![0u8; RAM_BYTES as usize];
            mem.read_bytes(RAM, &mut all).unwrap();
            all.iter().all(|&b| b == 0xee)
        };
        let cases = [
            // (cmd, src, dst, len, status)
            (
                7,
                pa(0),
                pa(0x1000),
                8,
                error_status(DmaErrorCode::BadCommand),
            ),
            (
                DmaCmd::Copy as u32,
                GuestPhysAddr(0x7fff_fff8),
                pa(0x1000),
                0x10,
                error_status(DmaErrorCode::Source),
            ),
            (
                DmaCmd::Copy as u32,
                pa(0),
                pa(RAM_BYTES - 8),
                0x10,
                error_status(DmaErrorCode::Destination),
            ),
            (
                DmaCmd::Copy as u32,
                pa(0x100),
                pa(0x10f),
                0x10,
                error_status(DmaErrorCode::Overlap),
            ),
            (
                DmaCmd::Fill as u32,
                pa(0),
                GuestPhysAddr(u64::MAX - 3),
                0x10,
                error_status(DmaErrorCode::Destination),
            ),
            (
                DmaCmd::Copy as u32,
                GuestPhysAddr(0),
                GuestPhysAddr(0),
                0,
                DONE,
            ),
        ];
        for (i, (cmd, src, dst, len, status)) in cases.into_iter().enumerate() {
            w64(&bus, REG_SRC, src.raw());
            w64(&bus, REG_DST, dst.raw());
            w64(&bus, REG_LEN, len);
            w32(&bus, REG_CMD, cmd);
            assert_eq!(r32(&bus, REG_STATUS), status, "case {i}");
            assert!(untouched(&mem), "case {i} wrote guest RAM");
            assert_eq!(irq.raises(), i as u32 + 1, "case {i} interrupts");
        }
        // Clearing ERROR clears its code too.
        w64(&bus, REG_LEN, 1);
        w32(&bus, REG_CMD, 0);
        w32(&bus, REG_STATUS, ERROR);
        assert_eq!(r32(&bus, REG_STATUS), 0);
        assert!(!irq.level());
    }

    #[test]
    fn odd_widths_and_offsets_are_raz_wi() {
        let mem = ram();
        let (bus, irq) = machine(&mem);
        w64(&bus, REG_SRC, 0x1234);
        bus.write(GuestPhysAddr(MMIO + REG_SRC), &[0xff; 2])
            .unwrap();
        bus.write(GuestPhysAddr(MMIO + REG_SRC + 2), &[0xff; 4])
            .unwrap();
        let mut b2 = [0xffu8; 2];
        bus.read(GuestPhysAddr(MMIO + REG_SRC), &mut b2).unwrap();
        assert_eq!(b2, [0, 0]);
        let mut b8 = [0u8; 8];
        bus.read(GuestPhysAddr(MMIO + REG_SRC), &mut b8).unwrap();
        assert_eq!(u64::from_le_bytes(b8), 0x1234);
        // An 8-byte access to a 32-bit register, and the reserved space past STATUS.
        bus.write(GuestPhysAddr(MMIO + REG_CMD), &1u64.to_le_bytes())
            .unwrap();
        w32(&bus, 0x28, DmaCmd::Fill as u32);
        w32(&bus, 0xffc, DmaCmd::Fill as u32);
        assert_eq!(r32(&bus, REG_STATUS), 0, "no command ran");
        assert_eq!(r32(&bus, 0xffc), 0);
        assert_eq!(irq.raises(), 0);
    }

    #[test]
    fn doorbell_while_busy_is_ignored_and_registers_are_snapshotted() {
        // A second hart programs the engine while a long copy runs on the first. The
        // copy's registers were snapshotted at the doorbell, and the second doorbell is
        // ignored. Whether the second hart catches BUSY is up to the host scheduler, so
        // the run is repeated until it does.
        const BIG: u64 = 8 << 20;
        let mem = GuestMemory::new(&[(RAM, 4 * BIG)]).unwrap();
        let big = |i: u64| GuestPhysAddr(RAM.raw() + i * BIG);
        mem.fill(big(0), BIG, 0x11).unwrap();
        for attempt in 0..50 {
            let (bus, irq) = machine(&mem);
            mem.fill(big(1), BIG, 0).unwrap();
            mem.fill(big(2), 0x10, 0).unwrap();
            w32(&bus, REG_CTRL, DmaCtrl::IRQ_EN.bits());
            w64(&bus, REG_SRC, big(0).raw());
            w64(&bus, REG_DST, big(1).raw());
            w64(&bus, REG_LEN, BIG);
            let caught_busy = std::thread::scope(|s| {
                s.spawn(|| w32(&bus, REG_CMD, DmaCmd::Copy as u32));
                loop {
                    let status = r32(&bus, REG_STATUS);
                    if status & DmaStatus::BUSY.bits() != 0 {
                        w64(&bus, REG_DST, big(2).raw());
                        w64(&bus, REG_LEN, 0x10);
                        w32(&bus, REG_FILL, 0x77);
                        w32(&bus, REG_CMD, DmaCmd::Fill as u32);
                        break true;
                    }
                    if status & DONE != 0 {
                        break false;
                    }
                    std::hint::spin_loop();
                }
            });
            assert_eq!(r32(&bus, REG_STATUS), DONE, "attempt {attempt}");
            assert_eq!(irq.raises(), 1);
            assert_eq!(mem.read_u64(big(2)).unwrap(), 0, "the FILL was ignored");
            assert_eq!(
                mem.read_u64(GuestPhysAddr(big(2).raw() - 8)).unwrap(),
                0x1111_1111_1111_1111,
                "the copy went to the DST of its doorbell, in full"
            );
            if caught_busy {
                return;
            }
        }
        panic!("the copy never ran long enough to be seen BUSY");
    }

    /// A PTE with V, R, W and A set and D clear, as a kernel maps a page it has only read.
    const CLEAN_PTE: u64 = (0x80003 << 10) | 0b0100_0111;

    #[test]
    fn dma_writes_set_no_dirty_bit() {
        // The page table's PTE for the target frame is in guest RAM; a DMA to the frame
        // leaves it exactly as it was (no walk, so no PTE.D), which is why the kernel
        // must dirty pinned pages itself on unpin.
        let mem = ram();
        let pte_pa = pa(0x1008);
        mem.store_u64(pte_pa, CLEAN_PTE, std::sync::atomic::Ordering::Release)
            .unwrap();
        let dma = Dma::new(&mem);
        dma.write(pa(0x3000), &[1; 64]).unwrap();
        dma.fill(pa(0x3040), 64, 2).unwrap();
        dma.copy(pa(0x3000), pa(0x3800), 128).unwrap();
        assert_eq!(mem.read_u64(pte_pa).unwrap(), CLEAN_PTE);
        assert_eq!(mem.read_u8(pa(0x3800 + 64)).unwrap(), 2);
        let mut b = [0u8; 4];
        assert!(matches!(
            dma.read(pa(RAM_BYTES - 2), &mut b),
            Err(DmaError::Source(MemoryError::OutOfRange { .. }))
        ));
        assert!(dma.read(GuestPhysAddr(0), &mut []).is_ok(), "empty");
        assert!(dma.contains(pa(0), RAM_BYTES) && !dma.contains(pa(1), RAM_BYTES));
    }

    proptest! {
        /// The engine's COPY against a model of guest RAM as a byte vector.
        #[test]
        fn copy_matches_a_model(
            src in 0u64..RAM_BYTES + 0x100,
            dst in 0u64..RAM_BYTES + 0x100,
            len in 0u64..0x1200,
            below in any::<bool>(),
            near in proptest::option::of((any::<bool>(), -2i64..=2)),
        ) {
            let mem = ram();
            let (bus, irq) = machine(&mem);
            let mut model: Vec<u8> = (0..RAM_BYTES).map(|i| (i * 13 + i / 251) as u8).collect();
            mem.write_bytes(RAM, &model).unwrap();
            // `below` puts the source before RAM (the low edge); `near` puts the
            // destination `len + adjust` bytes after or before the source, where a copy
            // just overlaps or just does not.
            let src_pa = if below { RAM.raw().wrapping_sub(src) } else { RAM.raw() + src };
            let dst_pa = match near {
                Some((after, adjust)) => {
                    let gap = (len as i64 + adjust).max(0);
                    src_pa.wrapping_add_signed(if after { gap } else { -gap })
                }
                None => RAM.raw() + dst,
            };
            w32(&bus, REG_CTRL, DmaCtrl::IRQ_EN.bits());
            w64(&bus, REG_SRC, src_pa);
            w64(&bus, REG_DST, dst_pa);
            w64(&bus, REG_LEN, len);
            w32(&bus, REG_CMD, DmaCmd::Copy as u32);
            let inside = |a: u64| a >= RAM.raw() && a - RAM.raw() + len <= RAM_BYTES;
            let want = if len == 0 {
                DONE
            } else if !inside(src_pa) {
                error_status(DmaErrorCode::Source)
            } else if !inside(dst_pa) {
                error_status(DmaErrorCode::Destination)
            } else if src_pa < dst_pa + len && dst_pa < src_pa + len {
                error_status(DmaErrorCode::Overlap)
            } else {
                let s = (src_pa - RAM.raw()) as usize;
                model.copy_within(s..s + len as usize, (dst_pa - RAM.raw()) as usize);
                DONE
            };
            prop_assert_eq!(r32(&bus, REG_STATUS), want);
            prop_assert_eq!(irq.raises(), 1);
            let mut got = vec![0u8; RAM_BYTES as usize];
            mem.read_bytes(RAM, &mut got).unwrap();
            prop_assert!(got == model, "guest RAM differs from the model");
        }
    }
}
