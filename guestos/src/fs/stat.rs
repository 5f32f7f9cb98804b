//! User-visible records: `struct stat` (include/uapi/asm-generic/stat.h, the riscv64
//! layout, 128 bytes), `struct statx` (include/uapi/linux/stat.h, 256 bytes) and
//! `struct linux_dirent64` (include/linux/dirent.h).

use super::inode::Timespec;

/// `STATX_TYPE | … | STATX_BLOCKS` (0x7ff): the fields of `struct stat`.
pub const STATX_BASIC_STATS: u32 = 0x7ff;
/// `stx_btime` is valid.
pub const STATX_BTIME: u32 = 0x800;
/// `stx_mnt_id` is valid.
pub const STATX_MNT_ID: u32 = 0x1000;
/// Reserved mask bit: asking for it is `EINVAL`.
pub const STATX_RESERVED: u32 = 0x8000_0000;

/// Kernel-side attributes of a file (`struct kstat`), whatever the object behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Kstat {
    /// Device of the file system, as `(major, minor)`.
    pub dev: (u32, u32),
    /// Inode number.
    pub ino: u64,
    /// `S_IFMT` type bits and permission bits.
    pub mode: u32,
    /// Hard links.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device a special file stands for, as `(major, minor)`.
    pub rdev: (u32, u32),
    /// Size in bytes.
    pub size: u64,
    /// Preferred I/O size in bytes.
    pub blksize: u32,
    /// Allocated space in 512-byte units.
    pub blocks: u64,
    /// Last access.
    pub atime: Timespec,
    /// Last data modification.
    pub mtime: Timespec,
    /// Last status change.
    pub ctime: Timespec,
    /// Creation.
    pub btime: Timespec,
    /// Mount id (`stx_mnt_id`).
    pub mnt_id: u64,
}

/// `new_encode_dev` (include/linux/kdev_t.h): the 32-bit `dev_t` user space sees, which
/// glibc's `major()`/`minor()` decode.
pub fn encode_dev((major, minor): (u32, u32)) -> u64 {
    u64::from((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12))
}

fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(off..off + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

impl Kstat {
    /// The asm-generic `struct stat` as `cp_new_stat` (fs/stat.c) fills it: `st_dev`@0,
    /// `st_ino`@8, `st_mode`@16, `st_nlink`@20, `st_uid`@24, `st_gid`@28, `st_rdev`@32,
    /// `__pad1`@40, `st_size`@48, `st_blksize`@56, `__pad2`@60, `st_blocks`@64,
    /// `st_atime`@72, `st_atime_nsec`@80, `st_mtime`@88, `st_mtime_nsec`@96,
    /// `st_ctime`@104, `st_ctime_nsec`@112, `__unused4/5`@120..128.
    pub fn to_stat_bytes(&self) -> [u8; 128] {
        let mut b = [0u8; 128];
        put(&mut b, 0, &encode_dev(self.dev).to_le_bytes());
        put(&mut b, 8, &self.ino.to_le_bytes());
        put(&mut b, 16, &self.mode.to_le_bytes());
        put(&mut b, 20, &self.nlink.to_le_bytes());
        put(&mut b, 24, &self.uid.to_le_bytes());
        put(&mut b, 28, &self.gid.to_le_bytes());
        put(&mut b, 32, &encode_dev(self.rdev).to_le_bytes());
        put(&mut b, 48, &self.size.to_le_bytes());
        put(&mut b, 56, &self.blksize.to_le_bytes());
        put(&mut b, 64, &self.blocks.to_le_bytes());
        for (off, t) in [(72, self.atime), (88, self.mtime), (104, self.ctime)] {
            put(&mut b, off, &t.sec.to_le_bytes());
            put(&mut b, off + 8, &u64::from(t.nsec).to_le_bytes());
        }
        b
    }

    /// `struct statx` as `cp_statx` (fs/stat.c) fills it: `stx_mask`@0, `stx_blksize`@4,
    /// `stx_attributes`@8, `stx_nlink`@16, `stx_uid`@20, `stx_gid`@24, `stx_mode`@28 (u16),
    /// `stx_ino`@32, `stx_size`@40, `stx_blocks`@48, `stx_attributes_mask`@56,
    /// `stx_atime`@64, `stx_btime`@80, `stx_ctime`@96, `stx_mtime`@112 (each
    /// `{i64 tv_sec; u32 tv_nsec; i32 __reserved}`), `stx_rdev_major`@128,
    /// `stx_rdev_minor`@132, `stx_dev_major`@136, `stx_dev_minor`@140, `stx_mnt_id`@144;
    /// the rest is zero. Every field is filled whatever was asked (Linux does the same for
    /// what is cheap); `stx_mask` reports basic stats, btime and mount id.
    pub fn to_statx_bytes(&self) -> [u8; 256] {
        let mut b = [0u8; 256];
        put(
            &mut b,
            0,
            &(STATX_BASIC_STATS | STATX_BTIME | STATX_MNT_ID).to_le_bytes(),
        );
        put(&mut b, 4, &self.blksize.to_le_bytes());
        put(&mut b, 16, &self.nlink.to_le_bytes());
        put(&mut b, 20, &self.uid.to_le_bytes());
        put(&mut b, 24, &self.gid.to_le_bytes());
        put(&mut b, 28, &(self.mode as u16).to_le_bytes());
        put(&mut b, 32, &self.ino.to_le_bytes());
        put(&mut b, 40, &self.size.to_le_bytes());
        put(&mut b, 48, &self.blocks.to_le_bytes());
        for (off, t) in [
            (64, self.atime),
            (80, self.btime),
            (96, self.ctime),
            (112, self.mtime),
        ] {
            put(&mut b, off, &t.sec.to_le_bytes());
            put(&mut b, off + 8, &t.nsec.to_le_bytes());
        }
        put(&mut b, 128, &self.rdev.0.to_le_bytes());
        put(&mut b, 132, &self.rdev.1.to_le_bytes());
        put(&mut b, 136, &self.dev.0.to_le_bytes());
        put(&mut b, 140, &self.dev.1.to_le_bytes());
        put(&mut b, 144, &self.mnt_id.to_le_bytes());
        b
    }
}

/// Offset of `d_name` in `struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen;
/// u8 d_type; char d_name[]; }`.
pub const DIRENT64_NAME_OFFSET: usize = 19;

/// Packs `struct linux_dirent64` records into a buffer of fixed capacity, as
/// `filldir64` (fs/readdir.c) does: `d_reclen = ALIGN(19 + namelen + 1, 8)`.
#[derive(Debug)]
pub struct DirentWriter {
    buf: Vec<u8>,
    capacity: usize,
}

impl DirentWriter {
    /// A writer for a user buffer of `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        DirentWriter {
            buf: Vec::new(),
            capacity,
        }
    }

    /// The record length for a name of `name_len` bytes.
    pub fn reclen(name_len: usize) -> usize {
        (DIRENT64_NAME_OFFSET + name_len + 1).next_multiple_of(8)
    }

    /// Appends one record; returns `false` (and writes nothing) if it does not fit.
    /// `next_off` is `d_off`: the position to `lseek` to for the entry after this one.
    pub fn push(&mut self, ino: u64, next_off: u64, d_type: u8, name: &[u8]) -> bool {
        let reclen = Self::reclen(name.len());
        if self.buf.len() + reclen > self.capacity || reclen > usize::from(u16::MAX) {
            return false;
        }
        let start = self.buf.len();
        self.buf.resize(start + reclen, 0);
        let rec = &mut self.buf[start..];
        put(rec, 0, &ino.to_le_bytes());
        put(rec, 8, &next_off.to_le_bytes());
        put(rec, 16, &(reclen as u16).to_le_bytes());
        put(rec, 18, &[d_type]);
        put(rec, DIRENT64_NAME_OFFSET, name);
        true
    }

    /// The bytes written so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(sec: i64, nsec: u32) -> Timespec {
        Timespec { sec, nsec }
    }

    fn sample() -> Kstat {
        Kstat {
            dev: (0, 0x1a),
            ino: 0x1122_3344_5566_7788,
            mode: 0o100644,
            nlink: 3,
            uid: 1000,
            gid: 100,
            rdev: (1, 0x105),
            size: 0x1234_5678,
            blksize: 4096,
            blocks: 0x40,
            atime: ts(1, 2),
            mtime: ts(3, 4),
            ctime: ts(5, 6),
            btime: ts(7, 8),
            mnt_id: 9,
        }
    }

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
    }

    fn u64_at(b: &[u8], off: usize) -> u64 {
        u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
    }

    #[test]
    fn encode_dev_matches_new_encode_dev() {
        // new_encode_dev(MKDEV(1, 3)) = 0x103; MKDEV(8, 0x123) = 0x23 | 0x800 | 0x100000.
        assert_eq!(encode_dev((1, 3)), 0x103);
        assert_eq!(encode_dev((8, 0x123)), 0x10_0823);
    }

    /// Offsets from include/uapi/asm-generic/stat.h, confirmed with `offsetof` by
    /// riscv64-linux-gnu-gcc against glibc's identical riscv64 `struct stat`.
    #[test]
    fn stat_layout() {
        let b = sample().to_stat_bytes();
        assert_eq!(b.len(), 128);
        assert_eq!(u64_at(&b, 0), 0x1a);
        assert_eq!(u64_at(&b, 8), 0x1122_3344_5566_7788);
        assert_eq!(u32_at(&b, 16), 0o100644);
        assert_eq!(u32_at(&b, 20), 3);
        assert_eq!(u32_at(&b, 24), 1000);
        assert_eq!(u32_at(&b, 28), 100);
        assert_eq!(u64_at(&b, 32), encode_dev((1, 0x105)));
        assert_eq!(u64_at(&b, 40), 0, "__pad1");
        assert_eq!(u64_at(&b, 48), 0x1234_5678);
        assert_eq!(u32_at(&b, 56), 4096);
        assert_eq!(u64_at(&b, 64), 0x40);
        assert_eq!((u64_at(&b, 72), u64_at(&b, 80)), (1, 2));
        assert_eq!((u64_at(&b, 88), u64_at(&b, 96)), (3, 4));
        assert_eq!((u64_at(&b, 104), u64_at(&b, 112)), (5, 6));
        assert_eq!(u64_at(&b, 120), 0);
    }

    /// Offsets from include/uapi/linux/stat.h, confirmed with `offsetof` by
    /// riscv64-linux-gnu-gcc (glibc's `struct statx`).
    #[test]
    fn statx_layout() {
        let b = sample().to_statx_bytes();
        assert_eq!(b.len(), 256);
        assert_eq!(u32_at(&b, 0), 0x1fff);
        assert_eq!(u32_at(&b, 4), 4096);
        assert_eq!(u64_at(&b, 8), 0, "stx_attributes");
        assert_eq!(u32_at(&b, 16), 3);
        assert_eq!(u32_at(&b, 20), 1000);
        assert_eq!(u32_at(&b, 24), 100);
        assert_eq!(u16::from_le_bytes([b[28], b[29]]), 0o100644);
        assert_eq!(u64_at(&b, 32), 0x1122_3344_5566_7788);
        assert_eq!(u64_at(&b, 40), 0x1234_5678);
        assert_eq!(u64_at(&b, 48), 0x40);
        assert_eq!((u64_at(&b, 64), u32_at(&b, 72)), (1, 2), "atime");
        assert_eq!((u64_at(&b, 80), u32_at(&b, 88)), (7, 8), "btime");
        assert_eq!((u64_at(&b, 96), u32_at(&b, 104)), (5, 6), "ctime");
        assert_eq!((u64_at(&b, 112), u32_at(&b, 120)), (3, 4), "mtime");
        assert_eq!((u32_at(&b, 128), u32_at(&b, 132)), (1, 0x105));
        assert_eq!((u32_at(&b, 136), u32_at(&b, 140)), (0, 0x1a));
        assert_eq!(u64_at(&b, 144), 9);
        assert!(b[152..].iter().all(|&x| x == 0));
    }

    #[test]
    fn dirent_records() {
        assert_eq!(DirentWriter::reclen(1), 24); // 19 + 1 + 1 = 21 -> 24
        assert_eq!(DirentWriter::reclen(4), 24); // 24 exactly
        assert_eq!(DirentWriter::reclen(5), 32);
        let mut w = DirentWriter::new(48);
        assert!(w.push(7, 1, 4, b"."));
        assert!(w.push(8, 2, 8, b"abcd"));
        assert!(
            !w.push(9, 3, 8, b"x"),
            "a third record does not fit in 48 bytes"
        );
        let b = w.bytes();
        assert_eq!(b.len(), 48);
        assert_eq!(u64_at(b, 0), 7);
        assert_eq!(u64_at(b, 8), 1);
        assert_eq!(u16::from_le_bytes([b[16], b[17]]), 24);
        assert_eq!(b[18], 4);
        assert_eq!(&b[19..21], b".\0");
        assert_eq!(u64_at(b, 24), 8);
        assert_eq!(&b[24 + 19..24 + 24], b"abcd\0");
    }
}
