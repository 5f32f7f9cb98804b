//! A swap device: a block device of 4 KiB slots that the guest kernel pages anonymous
//! memory out to (Linux's swap partition or swap file, `mm/swapfile.c`'s
//! `swap_info_struct->bdev`).
//!
//! The store is either an anonymous `memmap2` mapping (`--swap SIZE`: host memory is
//! touched only for the slots written, like guest RAM) or a host file (`--swap-file PATH`,
//! read and written with `pread`/`pwrite`, so nothing about the file needs to be mapped).
//! Slot 0 is the swap header in Linux (`union swap_header`) and is never handed out; the
//! device itself does not care: it reads and writes whole slots by index, bounds-checked.
//!
//! The device has no notion of latency: the guest kernel prices each read and write in
//! modelled cycles (`k_swap_read`, `k_swap_write`) and may add a host delay.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use memmap2::{MmapMut, MmapOptions};
use parking_lot::Mutex;

use crate::addr::PAGE_SIZE;

/// A failed swap-device operation.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    /// The size is zero or not a whole number of 4 KiB slots, or under two slots (the
    /// header and one page).
    #[error("swap size {0} bytes: must be a multiple of 4096 and at least 8192")]
    BadSize(u64),
    /// A slot index at or past the end of the device.
    #[error("swap slot {slot} out of range (the device has {slots} slots)")]
    OutOfRange {
        /// The slot asked for.
        slot: u64,
        /// Slots on the device.
        slots: u64,
    },
    /// The host refused the mapping or the file I/O.
    #[error("swap device I/O: {0}")]
    Io(#[from] std::io::Error),
}

enum Store {
    Anon(Mutex<MmapMut>),
    File(File),
}

/// A swap device of [`SwapDevice::slots`] 4 KiB slots.
pub struct SwapDevice {
    store: Store,
    slots: u64,
}

impl std::fmt::Debug for SwapDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.store {
            Store::Anon(_) => "anon",
            Store::File(_) => "file",
        };
        f.debug_struct("SwapDevice")
            .field("store", &kind)
            .field("slots", &self.slots)
            .finish()
    }
}

fn check_size(bytes: u64) -> Result<u64, SwapError> {
    if bytes < 2 * PAGE_SIZE || !bytes.is_multiple_of(PAGE_SIZE) {
        return Err(SwapError::BadSize(bytes));
    }
    Ok(bytes / PAGE_SIZE)
}

impl SwapDevice {
    /// A device of `bytes` bytes over an anonymous host mapping (zero-filled, touched
    /// lazily).
    ///
    /// # Errors
    /// [`SwapError::BadSize`], or [`SwapError::Io`] if the host cannot map it.
    pub fn anonymous(bytes: u64) -> Result<Self, SwapError> {
        let slots = check_size(bytes)?;
        let len = usize::try_from(bytes).map_err(|_| SwapError::BadSize(bytes))?;
        let map = MmapOptions::new().len(len).map_anon()?;
        Ok(Self {
            store: Store::Anon(Mutex::new(map)),
            slots,
        })
    }

    /// A device of `bytes` bytes stored in the host file at `path`, created or truncated
    /// to that size (`mkswap` on a file of that size).
    ///
    /// # Errors
    /// [`SwapError::BadSize`], or [`SwapError::Io`] if the file cannot be created or
    /// sized.
    pub fn file(path: &Path, bytes: u64) -> Result<Self, SwapError> {
        let slots = check_size(bytes)?;
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.set_len(bytes)?;
        Ok(Self {
            store: Store::File(file),
            slots,
        })
    }

    /// The number of 4 KiB slots (slot 0 included).
    pub fn slots(&self) -> u64 {
        self.slots
    }

    fn offset(&self, slot: u64) -> Result<u64, SwapError> {
        if slot >= self.slots {
            return Err(SwapError::OutOfRange {
                slot,
                slots: self.slots,
            });
        }
        Ok(slot * PAGE_SIZE)
    }

    /// Reads slot `slot` into `buf` (one page).
    ///
    /// # Errors
    /// [`SwapError::OutOfRange`], or [`SwapError::Io`] from the host file.
    pub fn read_slot(
        &self,
        slot: u64,
        buf: &mut [u8; PAGE_SIZE as usize],
    ) -> Result<(), SwapError> {
        let off = self.offset(slot)?;
        match &self.store {
            Store::Anon(map) => {
                let map = map.lock();
                let at = off as usize;
                buf.copy_from_slice(&map[at..at + PAGE_SIZE as usize]);
            }
            Store::File(f) => f.read_exact_at(buf, off)?,
        }
        Ok(())
    }

    /// Writes `buf` (one page) to slot `slot`.
    ///
    /// # Errors
    /// [`SwapError::OutOfRange`], or [`SwapError::Io`] from the host file.
    pub fn write_slot(&self, slot: u64, buf: &[u8; PAGE_SIZE as usize]) -> Result<(), SwapError> {
        let off = self.offset(slot)?;
        match &self.store {
            Store::Anon(map) => {
                let mut map = map.lock();
                let at = off as usize;
                map[at..at + PAGE_SIZE as usize].copy_from_slice(buf);
            }
            Store::File(f) => f.write_all_at(buf, off)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(dev: &SwapDevice) {
        let mut page = [0u8; PAGE_SIZE as usize];
        page[0] = 0xa5;
        page[4095] = 0x5a;
        dev.write_slot(3, &page).unwrap();
        let mut back = [0u8; PAGE_SIZE as usize];
        dev.read_slot(3, &mut back).unwrap();
        assert_eq!(back[..], page[..]);
        dev.read_slot(2, &mut back).unwrap();
        assert!(
            back.iter().all(|&b| b == 0),
            "an unwritten slot reads zeros"
        );
        assert!(matches!(
            dev.read_slot(dev.slots(), &mut back),
            Err(SwapError::OutOfRange { .. })
        ));
    }

    #[test]
    fn slots_round_trip_in_memory_and_in_a_file() {
        round_trip(&SwapDevice::anonymous(16 * PAGE_SIZE).unwrap());
        let path = std::env::temp_dir().join(format!("dirtybit-swap-{}", std::process::id()));
        round_trip(&SwapDevice::file(&path, 16 * PAGE_SIZE).unwrap());
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn sizes_must_be_whole_slots() {
        assert!(matches!(
            SwapDevice::anonymous(4096),
            Err(SwapError::BadSize(4096))
        ));
        assert!(matches!(
            SwapDevice::anonymous(10000),
            Err(SwapError::BadSize(10000))
        ));
    }
}
