//! Kernel access to user memory: the `copy_{from,to}_user` family.
//!
//! The system-call layer is written against [`UserAccess`] so it can be tested on a mock;
//! the real implementation is `impl UserAccess for Mm` (in `mm::uaccess`), which translates
//! through the hardware walker with S-mode + SUM, faults pages in with `handle_mm_fault`
//! and retries, and returns `EFAULT` where Linux's exception-table fixup would.

use crate::errno::KResult;

/// Bytes per memory-tag granule (`MTE_GRANULE_SIZE`, Zimt's 16).
const TAG_GRANULE: u64 = devices::TAG_GRANULE_BYTES;

/// Access to the current task's user memory.
pub trait UserAccess {
    /// Copies `buf.len()` bytes from user address `va`.
    ///
    /// # Errors
    /// `EFAULT` if any byte is not mapped readable (after trying to fault it in).
    fn copy_from_user(&mut self, va: u64, buf: &mut [u8]) -> KResult<()>;

    /// Copies `data` to user address `va`.
    ///
    /// # Errors
    /// `EFAULT` if any byte is not mapped writable (after trying to fault it in); bytes
    /// before the bad one may have been written, as in Linux.
    fn copy_to_user(&mut self, va: u64, data: &[u8]) -> KResult<()>;

    /// `untagged_addr()`: `va` without the pointer tag the caller's tagged-address ABI
    /// lets it carry (`PR_TAGGED_ADDR_ENABLE`), for the checks a system call makes on a
    /// pointer before it copies (`access_ok()`); the copies untag themselves. Unchanged
    /// where nothing is tagged.
    fn untagged_addr(&self, va: u64) -> u64 {
        va
    }

    /// Copies a NUL-terminated string of at most `max` bytes (NUL excluded) from `va`.
    ///
    /// # Errors
    /// `EFAULT` on a bad address; `ENAMETOOLONG` if no NUL is found within `max` bytes.
    fn strncpy_from_user(&mut self, va: u64, max: usize) -> KResult<Vec<u8>> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 64];
        let mut addr = va;
        loop {
            // Read up to the end of the page so a string ending just before an unmapped page
            // is still read (as Linux's do_strncpy_from_user does word by word).
            let to_page_end = (0x1000 - (addr & 0xfff)) as usize;
            let mut n = chunk.len().min(to_page_end);
            if self.copy_from_user(addr, &mut chunk[..n]).is_err() {
                // A string in tagged memory may end a granule before memory of another
                // tag, which a sync-checked read faults on: read to the end of this
                // 16-byte granule only (arm64's aligned word-at-a-time loop never reads
                // past the granule holding the NUL either).
                n = n.min((TAG_GRANULE - (addr % TAG_GRANULE)) as usize);
                self.copy_from_user(addr, &mut chunk[..n])?;
            }
            if let Some(z) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..z]);
                return if out.len() > max {
                    Err(crate::errno::Errno::ENAMETOOLONG)
                } else {
                    Ok(out)
                };
            }
            out.extend_from_slice(&chunk[..n]);
            if out.len() > max {
                return Err(crate::errno::Errno::ENAMETOOLONG);
            }
            addr = addr
                .checked_add(n as u64)
                .ok_or(crate::errno::Errno::EFAULT)?;
        }
    }

    /// Reads a little-endian `u64` at `va`.
    ///
    /// # Errors
    /// `EFAULT`.
    fn get_user_u64(&mut self, va: u64) -> KResult<u64> {
        let mut b = [0u8; 8];
        self.copy_from_user(va, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes a little-endian `u64` at `va`.
    ///
    /// # Errors
    /// `EFAULT`.
    fn put_user_u64(&mut self, va: u64, value: u64) -> KResult<()> {
        self.copy_to_user(va, &value.to_le_bytes())
    }
}

/// A flat in-memory [`UserAccess`] for unit tests: user addresses `[base, base+len)`.
#[cfg(test)]
pub(crate) struct MockUser {
    pub base: u64,
    pub mem: Vec<u8>,
}

#[cfg(test)]
impl UserAccess for MockUser {
    fn copy_from_user(&mut self, va: u64, buf: &mut [u8]) -> KResult<()> {
        let off = va
            .checked_sub(self.base)
            .ok_or(crate::errno::Errno::EFAULT)? as usize;
        let src = self
            .mem
            .get(off..off + buf.len())
            .ok_or(crate::errno::Errno::EFAULT)?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn copy_to_user(&mut self, va: u64, data: &[u8]) -> KResult<()> {
        let off = va
            .checked_sub(self.base)
            .ok_or(crate::errno::Errno::EFAULT)? as usize;
        let dst = self
            .mem
            .get_mut(off..off + data.len())
            .ok_or(crate::errno::Errno::EFAULT)?;
        dst.copy_from_slice(data);
        Ok(())
    }
}
