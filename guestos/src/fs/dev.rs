//! Character devices (`/dev/null`, `/dev/zero`, `/dev/urandom`, `/dev/userfaultfd`),
//! their file operations (drivers/char/mem.c `null_fops`, `zero_fops`;
//! drivers/char/random.c `urandom_fops`; fs/userfaultfd.c `userfaultfd_dev_fops`), and
//! the deterministic random number generator behind `/dev/urandom` and `AT_RANDOM`.
//!
//! Major/minor numbers are Linux's `mem` devices (drivers/char/mem.c, `devlist`).

use super::fops::{FileCtx, FileOperations, Kiocb, WriteSource};
use super::{IoResult, OpenFile};
use crate::errno::KResult;
use crate::mm::MmapOp;

/// A character device node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharDev {
    /// `/dev/null` (1:3): reads return 0 bytes, writes succeed and are discarded.
    Null,
    /// `/dev/zero` (1:5): reads return zeros, writes are discarded.
    Zero,
    /// `/dev/urandom` (1:9): reads return bytes from the VFS's seeded [`Prng`]; writes
    /// are accepted and ignored.
    Urandom,
    /// `/dev/userfaultfd` (a misc device: major 10, a dynamic minor in Linux, 126 here):
    /// its one operation is `USERFAULTFD_IOC_NEW` (`userfaultfd_dev_ioctl()`), a new
    /// userfaultfd as `userfaultfd(2)` makes it, which the system-call layer serves (it
    /// needs the caller's descriptor table and address space,
    /// [`super::USERFAULTFD_IOC_NEW`]); every other command is `EINVAL`, and `read`/
    /// `write` are `EINVAL` (no such operations).
    Userfaultfd,
}

impl CharDev {
    /// `(major, minor)` of the device (`st_rdev`).
    pub fn rdev(self) -> (u32, u32) {
        match self {
            CharDev::Null => (1, 3),
            CharDev::Zero => (1, 5),
            CharDev::Urandom => (1, 9),
            CharDev::Userfaultfd => (10, 126),
        }
    }

    /// The device's `file_operations` (`chrdev_open()` finding the driver's `fops`).
    pub(crate) fn file_operations(self) -> &'static dyn FileOperations {
        match self {
            CharDev::Null => &CharDev::Null,
            CharDev::Zero => &CharDev::Zero,
            CharDev::Urandom => &CharDev::Urandom,
            CharDev::Userfaultfd => &CharDev::Userfaultfd,
        }
    }
}

impl FileOperations for CharDev {
    /// `read_null()` (end of file), `read_iter_zero()`, `urandom_read_iter()`.
    fn read(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        _iocb: &mut Kiocb,
        buf: u64,
        len: usize,
    ) -> IoResult<usize> {
        if *self == CharDev::Userfaultfd {
            return Err(crate::errno::Errno::EINVAL.into());
        }
        let vfs = ctx.vfs();
        let dev = *self;
        let n = ctx.read_pieces(buf, len, &mut |_, chunk| {
            match dev {
                CharDev::Null | CharDev::Userfaultfd => return Ok(0),
                CharDev::Zero => chunk.fill(0),
                CharDev::Urandom => vfs.fill_random(chunk),
            }
            Ok(chunk.len())
        })?;
        Ok(n)
    }

    /// `write_null()`, `write_zero()` (the same), `random_write_iter()` (entropy that
    /// does not credit the pool): every byte is accepted and discarded, without reading
    /// it.
    fn write(
        &self,
        _file: &OpenFile,
        _ctx: &mut FileCtx<'_, '_>,
        _iocb: &mut Kiocb,
        _src: WriteSource<'_>,
        len: usize,
    ) -> IoResult<usize> {
        if *self == CharDev::Userfaultfd {
            return Err(crate::errno::Errno::EINVAL.into());
        }
        Ok(len)
    }

    /// `null_lseek()` (also `zero_lseek`): the position is always 0; `/dev/urandom` has
    /// `noop_llseek()`: the position stays.
    fn llseek(&self, _file: &OpenFile, _offset: i64, _whence: u32, pos: u64) -> KResult<u64> {
        Ok(match self {
            CharDev::Null | CharDev::Zero => 0,
            CharDev::Urandom | CharDev::Userfaultfd => pos,
        })
    }

    /// `/dev/userfaultfd`: every command but `USERFAULTFD_IOC_NEW` (served before it
    /// comes here) is `EINVAL`; the memory devices have none (`ENOTTY`).
    fn unlocked_ioctl(
        &self,
        _file: &OpenFile,
        _ctx: &mut FileCtx<'_, '_>,
        _cmd: u32,
        _arg: u64,
    ) -> KResult<u64> {
        Err(match self {
            CharDev::Userfaultfd => crate::errno::Errno::EINVAL,
            _ => crate::errno::Errno::ENOTTY,
        })
    }

    /// `mmap_zero()`: `/dev/zero` maps as anonymous memory; the others have no `mmap`.
    fn mmap(&self, _file: &OpenFile) -> MmapOp {
        match self {
            CharDev::Zero => MmapOp::AnonZero,
            CharDev::Null | CharDev::Urandom | CharDev::Userfaultfd => MmapOp::None,
        }
    }
}

/// xoshiro256** (Blackman & Vigna), seeded through splitmix64: fast, and the same seed
/// always gives the same stream, which keeps guest runs reproducible. Not cryptographic.
#[derive(Debug, Clone)]
pub struct Prng {
    s: [u64; 4],
}

impl Prng {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Prng {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let (mut a, mut b, mut c) = (Prng::new(1), Prng::new(1), Prng::new(2));
        let (mut x, mut y, mut z) = ([0u8; 37], [0u8; 37], [0u8; 37]);
        a.fill(&mut x);
        b.fill(&mut y);
        c.fill(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert!(x.iter().any(|&v| v != 0));
    }

    #[test]
    fn xoshiro_reference_vector() {
        // xoshiro256** with state {1, 2, 3, 4}: first outputs from the reference
        // implementation (prng.di.unimi.it/xoshiro256starstar.c).
        let mut p = Prng { s: [1, 2, 3, 4] };
        assert_eq!(p.next_u64(), 11520);
        assert_eq!(p.next_u64(), 0);
        assert_eq!(p.next_u64(), 1509978240);
        assert_eq!(p.next_u64(), 1215971899390074240);
    }
}
