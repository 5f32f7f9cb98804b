//! Guest RAM: memory slots over `memmap2` anonymous mappings.
//!
//! This is the one module of the crate that uses `unsafe`. The model: a slot's mapping is
//! created in [`GuestMemory::new`] and unmapped only when the `GuestMemory` drops, so any
//! pointer into it that is bounds-checked against the slot and does not outlive a borrow
//! of the `GuestMemory` is valid. Guest RAM is shared by several host threads (harts, the
//! guest OS, async-PF workers), so every access goes through an atomic type: plain data
//! with `Ordering::Relaxed` (a plain `mov` on x86-64 and a plain `ld`/`ldr` elsewhere), PTEs,
//! LR/SC and AMOs with the orderings the caller chooses. Non-atomic `memcpy` over memory
//! another thread may write would be a data race; we never do it.
#![allow(unsafe_code)]

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{
    AtomicI32, AtomicI64, AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering,
};

use memmap2::{MmapMut, MmapOptions, UncheckedAdvice};

use crate::addr::{GuestPhysAddr, PAGE_SIZE};
use crate::tags::TagMemory;

/// Host failures of guest memory. Guest-visible faults are the MMU's business: these are
/// returned when a caller asks for something outside RAM or misaligned for an atomic.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// `[addr, addr+len)` is not entirely inside one memory slot.
    #[error("guest-physical range {addr:?}+{len:#x} is outside guest RAM")]
    OutOfRange {
        /// First byte of the access.
        addr: GuestPhysAddr,
        /// Length of the access in bytes.
        len: u64,
    },
    /// An atomic access whose address is not aligned to its size.
    #[error("atomic access at {addr:?} is not aligned to {size} bytes")]
    Misaligned {
        /// The address.
        addr: GuestPhysAddr,
        /// The access size in bytes.
        size: u64,
    },
    /// A slot that is empty, not page-aligned, or overlaps another.
    #[error("bad memory slot {base:?}+{len:#x}: {why}")]
    BadSlot {
        /// Slot base.
        base: GuestPhysAddr,
        /// Slot length in bytes.
        len: u64,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The host refused the mapping.
    #[error("cannot map {len:#x} bytes of guest RAM")]
    Map {
        /// Requested length in bytes.
        len: u64,
        /// The host error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias for guest-memory operations.
pub type Result<T> = std::result::Result<T, MemoryError>;

/// A read-modify-write operation of the RISC-V "A" extension (AMO*.W / AMO*.D).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmoOp {
    /// `AMOSWAP`: store the operand.
    Swap,
    /// `AMOADD`: two's-complement add.
    Add,
    /// `AMOXOR`.
    Xor,
    /// `AMOAND`.
    And,
    /// `AMOOR`.
    Or,
    /// `AMOMIN`: signed minimum.
    Min,
    /// `AMOMAX`: signed maximum.
    Max,
    /// `AMOMINU`: unsigned minimum.
    MinU,
    /// `AMOMAXU`: unsigned maximum.
    MaxU,
}

struct Slot {
    base: u64,
    len: u64,
    ptr: NonNull<u8>,
    _map: MmapMut,
}

/// Guest RAM: a set of non-overlapping memory slots (guest-physical range → host mapping),
/// like KVM's `kvm_userspace_memory_region`s.
///
/// Host memory is committed lazily: RSS grows with the pages the guest touches, not with
/// the configured size. All methods take `&self`; the type is `Send + Sync`.
pub struct GuestMemory {
    slots: Vec<Slot>,
    size_bytes: u64,
    tags: TagMemory,
}

// SAFETY: the raw pointers point into mappings owned by `GuestMemory` itself, valid until it
// drops, and every access through them is atomic, so sharing across threads is sound.
unsafe impl Send for GuestMemory {}
// SAFETY: as above; `&GuestMemory` hands out only atomic accesses.
unsafe impl Sync for GuestMemory {}

impl std::fmt::Debug for GuestMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = f.debug_list();
        for s in &self.slots {
            l.entry(&format_args!(
                "{:?}..{:?}",
                GuestPhysAddr(s.base),
                GuestPhysAddr(s.base + s.len)
            ));
        }
        l.finish()
    }
}

impl GuestMemory {
    /// Maps guest RAM for `regions`, each `(base, len_bytes)`, page-aligned and
    /// non-overlapping.
    ///
    /// # Errors
    /// [`MemoryError::BadSlot`] for an empty, unaligned or overlapping region;
    /// [`MemoryError::Map`] if the host cannot reserve the mapping.
    pub fn new(regions: &[(GuestPhysAddr, u64)]) -> Result<Self> {
        let mut slots: Vec<Slot> = Vec::with_capacity(regions.len());
        for &(base, len) in regions {
            let bad = |why| MemoryError::BadSlot { base, len, why };
            if len == 0 {
                return Err(bad("empty"));
            }
            if !base.0.is_multiple_of(PAGE_SIZE) || len % PAGE_SIZE != 0 {
                return Err(bad("not page-aligned"));
            }
            let end = base
                .0
                .checked_add(len)
                .ok_or_else(|| bad("wraps the address space"))?;
            if slots
                .iter()
                .any(|s| base.0 < s.base + s.len && s.base < end)
            {
                return Err(bad("overlaps another slot"));
            }
            let host_len =
                usize::try_from(len).map_err(|_| bad("larger than the host address space"))?;
            let mut map = MmapOptions::new()
                .len(host_len)
                .map_anon()
                .map_err(|source| MemoryError::Map { len, source })?;
            let ptr = NonNull::new(map.as_mut_ptr()).ok_or_else(|| bad("null mapping"))?;
            slots.push(Slot {
                base: base.0,
                len,
                ptr,
                _map: map,
            });
        }
        slots.sort_by_key(|s| s.base);
        let size_bytes = slots.iter().map(|s| s.len).sum();
        let tags = TagMemory::new(slots.iter().map(|s| (GuestPhysAddr(s.base), s.len)))?;
        Ok(Self {
            slots,
            size_bytes,
            tags,
        })
    }

    /// The memory tags of this RAM (Zimt/MTE allocation tags, 4 bits per 16-byte granule;
    /// see [`TagMemory`]).
    #[inline]
    pub fn tags(&self) -> &TagMemory {
        &self.tags
    }

    /// Total guest RAM in bytes over all slots.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// The slots as `(base, len_bytes)`, sorted by base.
    pub fn regions(&self) -> Vec<(GuestPhysAddr, u64)> {
        self.slots
            .iter()
            .map(|s| (GuestPhysAddr(s.base), s.len))
            .collect()
    }

    /// Whether `[pa, pa+len)` lies inside one slot.
    pub fn contains(&self, pa: GuestPhysAddr, len: u64) -> bool {
        self.host_ptr(pa, len).is_ok()
    }

    /// Host pointer to `[pa, pa+len)`, bounds-checked against one slot.
    #[inline]
    fn host_ptr(&self, pa: GuestPhysAddr, len: u64) -> Result<*mut u8> {
        for s in &self.slots {
            if let Some(off) = pa.0.checked_sub(s.base) {
                if off < s.len && len <= s.len - off {
                    // SAFETY: `off + len <= s.len`, so the result stays inside the mapping.
                    return Ok(unsafe { s.ptr.as_ptr().add(off as usize) });
                }
            }
        }
        Err(MemoryError::OutOfRange { addr: pa, len })
    }

    #[inline]
    fn aligned_ptr(&self, pa: GuestPhysAddr, size: u64) -> Result<*mut u8> {
        if !pa.0.is_multiple_of(size) {
            return Err(MemoryError::Misaligned { addr: pa, size });
        }
        self.host_ptr(pa, size)
    }

    /// Copies `buf.len()` bytes of guest RAM at `pa` into `buf`.
    ///
    /// # Errors
    /// [`MemoryError::OutOfRange`] if the range leaves guest RAM; nothing is copied then.
    pub fn read_bytes(&self, pa: GuestPhysAddr, buf: &mut [u8]) -> Result<()> {
        let p = self.host_ptr(pa, buf.len() as u64)?;
        // SAFETY: `p..p+len` is inside a live mapping (checked by `host_ptr`).
        unsafe { atomic_copy_out(p, buf) };
        Ok(())
    }

    /// Copies `data` into guest RAM at `pa`.
    ///
    /// # Errors
    /// [`MemoryError::OutOfRange`] if the range leaves guest RAM; nothing is written then.
    pub fn write_bytes(&self, pa: GuestPhysAddr, data: &[u8]) -> Result<()> {
        let p = self.host_ptr(pa, data.len() as u64)?;
        // SAFETY: `p..p+len` is inside a live mapping (checked by `host_ptr`).
        unsafe { atomic_copy_in(p, data) };
        Ok(())
    }

    /// Sets `len` bytes at `pa` to `byte`.
    ///
    /// # Errors
    /// [`MemoryError::OutOfRange`] if the range leaves guest RAM.
    pub fn fill(&self, pa: GuestPhysAddr, len: u64, byte: u8) -> Result<()> {
        let p = self.host_ptr(pa, len)?;
        // SAFETY: `p..p+len` is inside a live mapping (checked by `host_ptr`).
        unsafe { atomic_fill(p, len as usize, byte) };
        Ok(())
    }

    /// Copies `len` bytes from `src` to `dst` inside guest RAM (ranges may not overlap).
    ///
    /// # Errors
    /// [`MemoryError::OutOfRange`] if either range leaves guest RAM.
    pub fn copy_within(&self, src: GuestPhysAddr, dst: GuestPhysAddr, len: u64) -> Result<()> {
        let mut buf = [0u8; 4096];
        let mut done = 0u64;
        self.host_ptr(src, len)?;
        self.host_ptr(dst, len)?;
        while done < len {
            let n = (len - done).min(buf.len() as u64);
            let chunk = &mut buf[..n as usize];
            self.read_bytes(GuestPhysAddr(src.0 + done), chunk)?;
            self.write_bytes(GuestPhysAddr(dst.0 + done), chunk)?;
            done += n;
        }
        Ok(())
    }

    /// Zeroes the 4 KiB page at `pa` (rounded down) and gives its host memory back to the
    /// host (`MADV_DONTNEED`), so freed guest frames stop counting in host RSS.
    ///
    /// # Errors
    /// [`MemoryError::OutOfRange`] if the page is outside guest RAM.
    pub fn discard_page(&self, pa: GuestPhysAddr) -> Result<()> {
        self.discard_range(pa.page_base(), PAGE_SIZE)
    }

    /// Zeroes the `len` bytes at `pa` and gives their host memory back to the host with
    /// one `MADV_DONTNEED`: the range reads back as zeros and costs no host memory until
    /// it is written again — a gigabyte zeroed without a gigabyte of stores.
    ///
    /// # Errors
    /// [`MemoryError::OutOfRange`] if the range leaves guest RAM (or one slot);
    /// [`MemoryError::Misaligned`] if `pa` or `len` is not a multiple of 4 KiB.
    pub fn discard_range(&self, pa: GuestPhysAddr, len: u64) -> Result<()> {
        if !pa.0.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
            return Err(MemoryError::Misaligned {
                addr: pa,
                size: PAGE_SIZE,
            });
        }
        self.host_ptr(pa, len)?;
        let slot = self
            .slots
            .iter()
            .find(|s| pa.0 >= s.base && pa.0 < s.base + s.len)
            .ok_or(MemoryError::OutOfRange { addr: pa, len })?;
        let off = (pa.0 - slot.base) as usize;
        // SAFETY: the range lies inside this slot's private anonymous mapping (checked by
        // `host_ptr`); after MADV_DONTNEED it reads back as zeros, which every user of a
        // discarded frame expects. No Rust reference into guest RAM exists (all access is
        // through raw atomics).
        let r = unsafe {
            slot._map
                .unchecked_advise_range(UncheckedAdvice::DontNeed, off, len as usize)
        };
        if r.is_err() {
            // Fall back to zeroing by hand: the content contract holds either way.
            self.fill(pa, len, 0)?;
        }
        Ok(())
    }

    /// A handle on the 4 KiB page containing `pa`, for the hart's host-pointer fast path.
    /// `None` if the page is outside guest RAM.
    #[inline]
    pub fn host_page(&self, pa: GuestPhysAddr) -> Option<HostPage<'_>> {
        let p = self.host_ptr(pa.page_base(), PAGE_SIZE).ok()?;
        Some(HostPage {
            ptr: NonNull::new(p)?,
            pa: pa.page_base(),
            _mem: PhantomData,
        })
    }
}

macro_rules! scalar_access {
    ($read:ident, $write:ident, $t:ty, $atomic:ty) => {
        /// Little-endian read (relaxed; any alignment).
        ///
        /// # Errors
        /// [`MemoryError::OutOfRange`] if the bytes leave guest RAM.
        #[inline]
        pub fn $read(&self, pa: GuestPhysAddr) -> Result<$t> {
            const N: u64 = std::mem::size_of::<$t>() as u64;
            let p = self.host_ptr(pa, N)?;
            if pa.0.is_multiple_of(N) {
                // SAFETY: in bounds (host_ptr) and naturally aligned (the mapping is
                // page-aligned and `pa` is a multiple of N).
                let a = unsafe { <$atomic>::from_ptr(p.cast()) };
                Ok(<$t>::from_le(a.load(Ordering::Relaxed)))
            } else {
                let mut b = [0u8; N as usize];
                // SAFETY: in bounds (host_ptr).
                unsafe { atomic_copy_out(p, &mut b) };
                Ok(<$t>::from_le_bytes(b))
            }
        }

        /// Little-endian write (relaxed; any alignment).
        ///
        /// # Errors
        /// [`MemoryError::OutOfRange`] if the bytes leave guest RAM.
        #[inline]
        pub fn $write(&self, pa: GuestPhysAddr, value: $t) -> Result<()> {
            const N: u64 = std::mem::size_of::<$t>() as u64;
            let p = self.host_ptr(pa, N)?;
            if pa.0.is_multiple_of(N) {
                // SAFETY: in bounds and naturally aligned, as in the read.
                unsafe { <$atomic>::from_ptr(p.cast()) }.store(value.to_le(), Ordering::Relaxed);
            } else {
                // SAFETY: in bounds (host_ptr).
                unsafe { atomic_copy_in(p, &value.to_le_bytes()) };
            }
            Ok(())
        }
    };
}

macro_rules! atomic_access {
    ($load:ident, $store:ident, $cas:ident, $amo:ident, $t:ty, $ut:ty, $it:ty, $iat:ty) => {
        /// Atomic load with `order` (PTEs, LR). `pa` must be naturally aligned.
        ///
        /// # Errors
        /// [`MemoryError::Misaligned`] or [`MemoryError::OutOfRange`].
        #[inline]
        pub fn $load(&self, pa: GuestPhysAddr, order: Ordering) -> Result<$t> {
            let p = self.aligned_ptr(pa, std::mem::size_of::<$t>() as u64)?;
            // SAFETY: in bounds and aligned (aligned_ptr).
            let a = unsafe { <$ut>::from_ptr(p.cast()) };
            Ok(<$t>::from_le(a.load(order)))
        }

        /// Atomic store with `order`. `pa` must be naturally aligned.
        ///
        /// # Errors
        /// [`MemoryError::Misaligned`] or [`MemoryError::OutOfRange`].
        #[inline]
        pub fn $store(&self, pa: GuestPhysAddr, value: $t, order: Ordering) -> Result<()> {
            let p = self.aligned_ptr(pa, std::mem::size_of::<$t>() as u64)?;
            // SAFETY: in bounds and aligned (aligned_ptr).
            unsafe { <$ut>::from_ptr(p.cast()) }.store(value.to_le(), order);
            Ok(())
        }

        /// Atomic compare-and-swap (AcqRel / Acquire): `Ok(Ok(current))` if the value was
        /// `current` and is now `new`, `Ok(Err(actual))` otherwise. Used for hardware A/D
        /// updates (RISC-V Privileged §12.3.2 step 9) and SC.
        ///
        /// # Errors
        /// [`MemoryError::Misaligned`] or [`MemoryError::OutOfRange`].
        #[inline]
        pub fn $cas(
            &self,
            pa: GuestPhysAddr,
            current: $t,
            new: $t,
        ) -> Result<std::result::Result<$t, $t>> {
            let p = self.aligned_ptr(pa, std::mem::size_of::<$t>() as u64)?;
            // SAFETY: in bounds and aligned (aligned_ptr).
            let a = unsafe { <$ut>::from_ptr(p.cast()) };
            Ok(a.compare_exchange(
                current.to_le(),
                new.to_le(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .map(<$t>::from_le)
            .map_err(<$t>::from_le))
        }

        /// Atomic read-modify-write (`AMO*`), sequentially consistent (aq+rl); returns the old
        /// value.
        ///
        /// # Errors
        /// [`MemoryError::Misaligned`] or [`MemoryError::OutOfRange`].
        #[inline]
        pub fn $amo(&self, pa: GuestPhysAddr, op: AmoOp, operand: $t) -> Result<$t> {
            let p = self.aligned_ptr(pa, std::mem::size_of::<$t>() as u64)?;
            // SAFETY: in bounds and aligned (aligned_ptr).
            let a = unsafe { <$ut>::from_ptr(p.cast()) };
            // SAFETY: same location, viewed as the signed type for AMOMIN/AMOMAX.
            let s = unsafe { <$iat>::from_ptr(p.cast()) };
            const SC: Ordering = Ordering::SeqCst;
            Ok(match op {
                AmoOp::Swap => a.swap(operand, SC),
                AmoOp::Add => a.fetch_add(operand, SC),
                AmoOp::Xor => a.fetch_xor(operand, SC),
                AmoOp::And => a.fetch_and(operand, SC),
                AmoOp::Or => a.fetch_or(operand, SC),
                AmoOp::MinU => a.fetch_min(operand, SC),
                AmoOp::MaxU => a.fetch_max(operand, SC),
                AmoOp::Min => s.fetch_min(operand as $it, SC) as $t,
                AmoOp::Max => s.fetch_max(operand as $it, SC) as $t,
            })
        }
    };
}

impl GuestMemory {
    scalar_access!(read_u8, write_u8, u8, AtomicU8);
    scalar_access!(read_u16, write_u16, u16, AtomicU16);
    scalar_access!(read_u32, write_u32, u32, AtomicU32);
    scalar_access!(read_u64, write_u64, u64, AtomicU64);
    atomic_access!(
        load_u32,
        store_u32,
        compare_exchange_u32,
        amo_u32,
        u32,
        AtomicU32,
        i32,
        AtomicI32
    );
    atomic_access!(
        load_u64,
        store_u64,
        compare_exchange_u64,
        amo_u64,
        u64,
        AtomicU64,
        i64,
        AtomicI64
    );
}

/// A private anonymous mapping of `len` bytes, zero-filled and committed lazily by the
/// host (untouched pages cost no host memory), seen as a slice of [`AtomicU8`]: the
/// backing store of [`TagMemory`]. Every access is atomic, so several host threads may
/// share it.
pub(crate) struct AtomicBytes {
    ptr: NonNull<AtomicU8>,
    len: usize,
    _map: MmapMut,
}

// SAFETY: the pointer points into the mapping this value owns, valid until it drops, and
// it is only ever read or written through `AtomicU8`.
unsafe impl Send for AtomicBytes {}
// SAFETY: as above; `&AtomicBytes` hands out only `&[AtomicU8]`.
unsafe impl Sync for AtomicBytes {}

impl AtomicBytes {
    /// Maps `len` zero bytes (`len` > 0).
    ///
    /// # Errors
    /// [`MemoryError::Map`] if the host refuses the mapping.
    pub(crate) fn new(len: usize) -> Result<Self> {
        let map_err = |source| MemoryError::Map {
            len: len as u64,
            source,
        };
        let mut map = MmapOptions::new().len(len).map_anon().map_err(map_err)?;
        let ptr = NonNull::new(map.as_mut_ptr().cast::<AtomicU8>())
            .ok_or_else(|| map_err(std::io::Error::other("the host returned a null mapping")))?;
        Ok(Self {
            ptr,
            len,
            _map: map,
        })
    }

    /// The bytes.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[AtomicU8] {
        // SAFETY: `ptr..ptr+len` is the live mapping this value owns (it outlives the
        // borrow); `AtomicU8` has the size and alignment of `u8`, and no non-atomic
        // reference to these bytes is ever created.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

/// A borrowed handle on one 4 KiB page of guest RAM: the hart's host-pointer fast path
/// (QEMU softmmu's TLB addend, made safe). Offsets are bounds-checked against the page;
/// every access is a relaxed atomic, so it never races with other harts' accesses in the
/// Rust memory model. The lifetime ties it to the [`GuestMemory`] it came from.
#[derive(Clone, Copy)]
pub struct HostPage<'m> {
    ptr: NonNull<u8>,
    pa: GuestPhysAddr,
    _mem: PhantomData<&'m GuestMemory>,
}

// SAFETY: a `HostPage` is a shared borrow of part of a `GuestMemory` (which is Sync) and
// only performs atomic accesses.
unsafe impl Send for HostPage<'_> {}
// SAFETY: as above.
unsafe impl Sync for HostPage<'_> {}

impl std::fmt::Debug for HostPage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HostPage({:?})", self.pa)
    }
}

macro_rules! page_access {
    ($load:ident, $store:ident, $t:ty, $atomic:ty) => {
        /// Little-endian relaxed load at byte `offset` of the page; `None` if the access
        /// would cross the end of the page.
        #[inline(always)]
        pub fn $load(&self, offset: usize) -> Option<$t> {
            const N: usize = std::mem::size_of::<$t>();
            if offset > PAGE_SIZE as usize - N {
                return None;
            }
            // SAFETY: offset + N <= 4096, inside the page this handle borrows.
            let p = unsafe { self.ptr.as_ptr().add(offset) };
            if offset.is_multiple_of(N) {
                // SAFETY: in bounds, and aligned because the page is 4 KiB aligned.
                let a = unsafe { <$atomic>::from_ptr(p.cast()) };
                Some(<$t>::from_le(a.load(Ordering::Relaxed)))
            } else {
                let mut b = [0u8; N];
                // SAFETY: in bounds.
                unsafe { atomic_copy_out(p, &mut b) };
                Some(<$t>::from_le_bytes(b))
            }
        }

        /// Little-endian relaxed store at byte `offset` of the page; `false` (and nothing
        /// written) if the access would cross the end of the page.
        #[inline(always)]
        pub fn $store(&self, offset: usize, value: $t) -> bool {
            const N: usize = std::mem::size_of::<$t>();
            if offset > PAGE_SIZE as usize - N {
                return false;
            }
            // SAFETY: offset + N <= 4096, inside the page this handle borrows.
            let p = unsafe { self.ptr.as_ptr().add(offset) };
            if offset.is_multiple_of(N) {
                // SAFETY: in bounds and aligned.
                unsafe { <$atomic>::from_ptr(p.cast()) }.store(value.to_le(), Ordering::Relaxed);
            } else {
                // SAFETY: in bounds.
                unsafe { atomic_copy_in(p, &value.to_le_bytes()) };
            }
            true
        }
    };
}

impl HostPage<'_> {
    page_access!(load_u8, store_u8, u8, AtomicU8);
    page_access!(load_u16, store_u16, u16, AtomicU16);
    page_access!(load_u32, store_u32, u32, AtomicU32);
    page_access!(load_u64, store_u64, u64, AtomicU64);

    /// Guest-physical address of the page.
    #[inline]
    pub fn pa(&self) -> GuestPhysAddr {
        self.pa
    }

    /// Copies bytes `offset..offset+buf.len()` of the page into `buf`; `false` if that
    /// crosses the end of the page.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> bool {
        if offset
            .checked_add(buf.len())
            .is_none_or(|e| e > PAGE_SIZE as usize)
        {
            return false;
        }
        // SAFETY: in bounds of the page.
        unsafe { atomic_copy_out(self.ptr.as_ptr().add(offset), buf) };
        true
    }
}

/// Copies `dst.len()` bytes from `src` with relaxed atomic loads (8 bytes at a time where
/// `src` is aligned).
///
/// # Safety
/// `src..src+dst.len()` must be inside a live guest-RAM mapping.
unsafe fn atomic_copy_out(src: *const u8, dst: &mut [u8]) {
    let mut i = 0;
    let n = dst.len();
    while i < n && !(src as usize + i).is_multiple_of(8) {
        // SAFETY: i < n, in bounds per the contract.
        dst[i] = unsafe { AtomicU8::from_ptr(src.add(i) as *mut u8) }.load(Ordering::Relaxed);
        i += 1;
    }
    while i + 8 <= n {
        // SAFETY: in bounds per the contract; 8-aligned by the loop above.
        let w = unsafe { AtomicU64::from_ptr(src.add(i) as *mut u64) }.load(Ordering::Relaxed);
        dst[i..i + 8].copy_from_slice(&w.to_ne_bytes());
        i += 8;
    }
    while i < n {
        // SAFETY: i < n, in bounds per the contract.
        dst[i] = unsafe { AtomicU8::from_ptr(src.add(i) as *mut u8) }.load(Ordering::Relaxed);
        i += 1;
    }
}

/// Copies `src` to `dst` with relaxed atomic stores.
///
/// # Safety
/// `dst..dst+src.len()` must be inside a live guest-RAM mapping.
unsafe fn atomic_copy_in(dst: *mut u8, src: &[u8]) {
    let mut i = 0;
    let n = src.len();
    while i < n && !(dst as usize + i).is_multiple_of(8) {
        // SAFETY: in bounds per the contract.
        unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(src[i], Ordering::Relaxed);
        i += 1;
    }
    while i + 8 <= n {
        let mut w = [0u8; 8];
        w.copy_from_slice(&src[i..i + 8]);
        // SAFETY: in bounds per the contract; 8-aligned by the loop above.
        unsafe { AtomicU64::from_ptr(dst.add(i) as *mut u64) }
            .store(u64::from_ne_bytes(w), Ordering::Relaxed);
        i += 8;
    }
    while i < n {
        // SAFETY: in bounds per the contract.
        unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(src[i], Ordering::Relaxed);
        i += 1;
    }
}

/// Sets `len` bytes at `dst` to `byte` with relaxed atomic stores.
///
/// # Safety
/// `dst..dst+len` must be inside a live guest-RAM mapping.
unsafe fn atomic_fill(dst: *mut u8, len: usize, byte: u8) {
    #[cfg(target_arch = "x86_64")]
    if len >= FAST_STRING_MIN_BYTES {
        // SAFETY: in bounds per the contract (see `fill_fast_string` for why it is a fill
        // of relaxed atomic byte stores).
        unsafe { fill_fast_string(dst, len, byte) };
        return;
    }
    let mut i = 0;
    while i < len && !(dst as usize + i).is_multiple_of(8) {
        // SAFETY: in bounds per the contract.
        unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(byte, Ordering::Relaxed);
        i += 1;
    }
    let w = u64::from_ne_bytes([byte; 8]);
    while i + 8 <= len {
        // SAFETY: in bounds per the contract; 8-aligned.
        unsafe { AtomicU64::from_ptr(dst.add(i) as *mut u64) }.store(w, Ordering::Relaxed);
        i += 8;
    }
    while i < len {
        // SAFETY: in bounds per the contract.
        unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(byte, Ordering::Relaxed);
        i += 1;
    }
}

/// From this many bytes on, [`atomic_fill`] stores with `rep stosb`: a frame zeroed for
/// the allocator (4 KiB at every anonymous fault) took 512 8-byte stores, 13–18% of the
/// host time of `dirtybit bench faults` (perf annotate of `PageAlloc::alloc_page`), where
/// the fast-string store writes whole cache lines at a time.
#[cfg(target_arch = "x86_64")]
const FAST_STRING_MIN_BYTES: usize = 256;

/// Sets `len` bytes at `dst` to `byte` with one `rep stosb` (x86's fast-string store,
/// `ERMSB`). Each byte is stored once by a single-copy-atomic byte store of the hardware,
/// in no particular order: a relaxed [`AtomicU8`] store per byte, as the Rust memory model
/// sees it — what [`atomic_fill`]'s contract promises, and what no plain `write_bytes`
/// (a non-atomic write the compiler may split, merge or repeat) could.
///
/// # Safety
/// `dst..dst+len` must be inside a live guest-RAM mapping.
#[cfg(target_arch = "x86_64")]
unsafe fn fill_fast_string(dst: *mut u8, len: usize, byte: u8) {
    // SAFETY: `rep stosb` writes exactly `rcx` bytes from `rdi` upwards (the direction
    // flag is clear at every Rust function boundary, as the SysV ABI requires), all inside
    // the caller's range; it touches no stack and leaves the flags alone.
    unsafe {
        std::arch::asm!(
            "rep stosb",
            inout("rcx") len => _,
            inout("rdi") dst => _,
            in("al") byte,
            options(nostack, preserves_flags),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BASE: GuestPhysAddr = GuestPhysAddr(0x8000_0000);

    fn mem() -> GuestMemory {
        GuestMemory::new(&[(BASE, 64 * 1024)]).unwrap()
    }

    #[test]
    fn scalar_round_trip_and_bounds() {
        let m = mem();
        m.write_u64(GuestPhysAddr(0x8000_0003), 0x1122_3344_5566_7788)
            .unwrap();
        assert_eq!(
            m.read_u64(GuestPhysAddr(0x8000_0003)).unwrap(),
            0x1122_3344_5566_7788
        );
        assert_eq!(
            m.read_u8(GuestPhysAddr(0x8000_0003)).unwrap(),
            0x88,
            "little-endian"
        );
        assert!(matches!(
            m.read_u32(GuestPhysAddr(0x7fff_fffe)),
            Err(MemoryError::OutOfRange { .. })
        ));
        assert!(matches!(
            m.read_u32(GuestPhysAddr(0x8000_fffe)),
            Err(MemoryError::OutOfRange { .. })
        ));
        assert!(m.read_u32(GuestPhysAddr(0x8000_fffc)).is_ok());
        assert!(matches!(
            m.load_u64(GuestPhysAddr(0x8000_0004), Ordering::Acquire),
            Err(MemoryError::Misaligned { .. })
        ));
    }

    #[test]
    fn slots_validate() {
        assert!(GuestMemory::new(&[(BASE, 0)]).is_err());
        assert!(GuestMemory::new(&[(GuestPhysAddr(0x10), 4096)]).is_err());
        assert!(GuestMemory::new(&[(BASE, 8192), (GuestPhysAddr(0x8000_1000), 4096)]).is_err());
        let m = GuestMemory::new(&[(BASE, 4096), (GuestPhysAddr(0x1000), 4096)]).unwrap();
        assert_eq!(m.size_bytes(), 8192);
        assert!(
            !m.contains(GuestPhysAddr(0x1ff0), 0x20),
            "a range may not span two slots"
        );
    }

    #[test]
    fn cas_and_amo() {
        let m = mem();
        let pa = GuestPhysAddr(0x8000_0100);
        m.store_u64(pa, 5, Ordering::Release).unwrap();
        assert_eq!(m.compare_exchange_u64(pa, 4, 9).unwrap(), Err(5));
        assert_eq!(m.compare_exchange_u64(pa, 5, 9).unwrap(), Ok(5));
        assert_eq!(m.amo_u64(pa, AmoOp::Add, 1).unwrap(), 9);
        assert_eq!(m.amo_u64(pa, AmoOp::Min, (-3i64) as u64).unwrap(), 10);
        assert_eq!(m.read_u64(pa).unwrap(), (-3i64) as u64);
        assert_eq!(m.amo_u64(pa, AmoOp::MinU, 7).unwrap(), (-3i64) as u64);
        assert_eq!(m.read_u64(pa).unwrap(), 7);
        m.store_u32(pa, 0xffff_fff0, Ordering::Relaxed).unwrap();
        assert_eq!(m.amo_u32(pa, AmoOp::Max, 1).unwrap(), 0xffff_fff0);
        assert_eq!(m.load_u32(pa, Ordering::Relaxed).unwrap(), 1);
    }

    #[test]
    fn host_page_and_discard() {
        let m = mem();
        let pg = m.host_page(GuestPhysAddr(0x8000_1234)).unwrap();
        assert_eq!(pg.pa(), GuestPhysAddr(0x8000_1000));
        assert!(pg.store_u32(0xffc, 0xdead_beef));
        assert!(!pg.store_u32(0xffd, 1), "crossing the page end is refused");
        assert_eq!(pg.load_u64(0xffa), None);
        assert_eq!(m.read_u32(GuestPhysAddr(0x8000_1ffc)).unwrap(), 0xdead_beef);
        assert_eq!(
            pg.load_u16(0xffd),
            Some(0xadbe),
            "misaligned within the page"
        );
        m.discard_page(GuestPhysAddr(0x8000_1ffc)).unwrap();
        assert_eq!(m.read_u32(GuestPhysAddr(0x8000_1ffc)).unwrap(), 0);
        assert!(m.host_page(GuestPhysAddr(0x9000_0000)).is_none());
        // A range: every page of it zero, its neighbours kept; whole pages only.
        for pa in [0x8000_2000u64, 0x8000_3ff8, 0x8000_4000] {
            m.write_u64(GuestPhysAddr(pa), 7).unwrap();
        }
        m.discard_range(GuestPhysAddr(0x8000_2000), 0x2000).unwrap();
        assert_eq!(m.read_u64(GuestPhysAddr(0x8000_2000)).unwrap(), 0);
        assert_eq!(m.read_u64(GuestPhysAddr(0x8000_3ff8)).unwrap(), 0);
        assert_eq!(m.read_u64(GuestPhysAddr(0x8000_4000)).unwrap(), 7);
        assert!(matches!(
            m.discard_range(GuestPhysAddr(0x8000_2008), 0x1000),
            Err(MemoryError::Misaligned { .. })
        ));
        assert!(matches!(
            m.discard_range(GuestPhysAddr(0x8000_2000), 1 << 40),
            Err(MemoryError::OutOfRange { .. })
        ));
    }

    /// Resident set size of this process in bytes (Linux `/proc/self/statm`).
    fn rss_bytes() -> Option<u64> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        Some(pages * 4096)
    }

    #[test]
    fn host_memory_is_committed_lazily() {
        let Some(before) = rss_bytes() else { return };
        let m = GuestMemory::new(&[(BASE, 8 << 30)]).unwrap();
        for gib in 0..8u64 {
            m.write_u64(GuestPhysAddr(BASE.0 + (gib << 30) + 8), gib)
                .unwrap();
            // Tag storage (256 MiB of it here) is as lazy: clearing untouched tags writes
            // nothing, and a tag store commits one host page of tags.
            m.tags()
                .clear_page_tags(GuestPhysAddr(BASE.0 + (gib << 30)))
                .unwrap();
            m.tags()
                .store_tag(GuestPhysAddr(BASE.0 + (gib << 30) + 16), 3)
                .unwrap();
        }
        let after = rss_bytes().unwrap();
        assert!(
            after.saturating_sub(before) < 64 << 20,
            "an 8 GiB guest with 8 touched pages grew RSS by {} MiB",
            after.saturating_sub(before) >> 20
        );
        m.discard_page(GuestPhysAddr(BASE.0 + 8)).unwrap();
        assert_eq!(
            m.read_u64(GuestPhysAddr(BASE.0 + 8)).unwrap(),
            0,
            "a discarded page reads as zero"
        );
    }

    proptest! {
        #[test]
        fn bytes_round_trip(off in 0u64..60_000, data in proptest::collection::vec(any::<u8>(), 0..4000)) {
            let m = mem();
            let pa = GuestPhysAddr(BASE.0 + off);
            let fits = off + data.len() as u64 <= 64 * 1024;
            prop_assert_eq!(m.write_bytes(pa, &data).is_ok(), fits);
            if fits {
                let mut back = vec![0u8; data.len()];
                m.read_bytes(pa, &mut back).unwrap();
                prop_assert_eq!(back, data);
            }
        }

        /// `fill` sets exactly `[off, off+len)`, short fills (byte and word stores) and
        /// long ones (the fast-string store) alike, and nothing around it.
        #[test]
        fn fill_sets_exactly_its_range(off in 1u64..20_000, len in 0u64..9000, byte in 1u8..) {
            let m = mem();
            m.write_bytes(BASE, &[0xa5; 32 * 1024]).unwrap();
            m.fill(GuestPhysAddr(BASE.0 + off), len, byte).unwrap();
            let mut back = vec![0u8; 32 * 1024];
            m.read_bytes(BASE, &mut back).unwrap();
            for (i, b) in back.iter().enumerate() {
                let inside = (off..off + len).contains(&(i as u64));
                prop_assert_eq!(*b, if inside { byte } else { 0xa5 }, "byte {}", i);
            }
        }
    }
}
