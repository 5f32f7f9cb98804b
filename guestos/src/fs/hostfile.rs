//! Host files the machine takes as input (the image, `--file`), read with a bound on host
//! memory.
//!
//! Only regular files are read: a FIFO would block the host forever, `/dev/zero` never
//! ends, and a directory has no bytes — `execve` refuses all three with `EACCES`
//! (`do_open_execat` requires `S_ISREG`), and so does this. The type is decided with
//! `stat` before the file is opened (opening a FIFO for reading waits for a writer) and
//! checked again on the open descriptor. The caller reads a header first (an image is
//! refused after its first bytes), then the rest only if the whole file fits the budget
//! it gives: host memory never grows past that budget, whatever the file claims to be.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use thiserror::Error;

/// Why a host file was not read.
#[derive(Debug, Error)]
pub enum HostFileError {
    /// `stat`, `open` or `read` failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Not a regular file (`execve` gives `EACCES`).
    #[error("is {0}, not a regular file (EACCES)")]
    NotRegular(&'static str),
    /// The file is larger than the budget.
    #[error("its {len} bytes exceed the limit of {limit_bytes} bytes ({why})")]
    TooLarge {
        /// The file's size in bytes.
        len: u64,
        /// The budget in bytes.
        limit_bytes: u64,
        /// What the budget is.
        why: &'static str,
    },
}

/// An open regular host file, not yet read.
#[derive(Debug)]
pub struct HostInput {
    file: File,
    len: u64,
}

impl HostInput {
    /// Opens `path` (following symlinks) if it is a regular file.
    ///
    /// # Errors
    /// [`HostFileError::Io`] if it cannot be opened, [`HostFileError::NotRegular`] for a
    /// directory, FIFO, socket or device.
    pub fn open(path: &Path) -> Result<HostInput, HostFileError> {
        check_regular(&std::fs::metadata(path)?)?;
        let file = File::open(path)?;
        // It may have been replaced between the stat and the open.
        let meta = file.metadata()?;
        check_regular(&meta)?;
        Ok(HostInput {
            file,
            len: meta.len(),
        })
    }

    /// The file's size in bytes (`st_size` when opened).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads the first `n` bytes (fewer if the file is shorter), leaving the position
    /// after them.
    ///
    /// # Errors
    /// [`HostFileError::Io`].
    pub fn read_header(&mut self, n: usize) -> Result<Vec<u8>, HostFileError> {
        let mut header = Vec::with_capacity(n);
        (&mut self.file).take(n as u64).read_to_end(&mut header)?;
        Ok(header)
    }

    /// Reads the whole file into memory, `header` (what [`HostInput::read_header`]
    /// returned) first, if it is at most `limit_bytes` long; a file that grows while it is
    /// read is refused once it passes the limit, so at most `limit_bytes + 1` bytes are
    /// ever held.
    ///
    /// # Errors
    /// [`HostFileError::TooLarge`] (with `why` saying what the limit is),
    /// [`HostFileError::Io`].
    pub fn read_all(
        mut self,
        header: Vec<u8>,
        limit_bytes: u64,
        why: &'static str,
    ) -> Result<Vec<u8>, HostFileError> {
        let too_large = |len| HostFileError::TooLarge {
            len,
            limit_bytes,
            why,
        };
        if self.len > limit_bytes {
            return Err(too_large(self.len));
        }
        let mut data = header;
        data.reserve_exact(
            usize::try_from(self.len)
                .unwrap_or(0)
                .saturating_sub(data.len()),
        );
        let room = (limit_bytes + 1).saturating_sub(data.len() as u64);
        (&mut self.file).take(room).read_to_end(&mut data)?;
        if data.len() as u64 > limit_bytes {
            return Err(too_large(data.len() as u64));
        }
        Ok(data)
    }
}

/// Reads the regular host file at `path` if it is at most `limit_bytes` long.
///
/// # Errors
/// As [`HostInput::open`] and [`HostInput::read_all`].
pub fn read_host_file(
    path: &Path,
    limit_bytes: u64,
    why: &'static str,
) -> Result<Vec<u8>, HostFileError> {
    HostInput::open(path)?.read_all(Vec::new(), limit_bytes, why)
}

fn check_regular(meta: &std::fs::Metadata) -> Result<(), HostFileError> {
    let ft = meta.file_type();
    if ft.is_file() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return Err(HostFileError::NotRegular("a FIFO"));
        }
        if ft.is_socket() {
            return Err(HostFileError::NotRegular("a socket"));
        }
        if ft.is_char_device() {
            return Err(HostFileError::NotRegular("a character device"));
        }
        if ft.is_block_device() {
            return Err(HostFileError::NotRegular("a block device"));
        }
    }
    if ft.is_dir() {
        return Err(HostFileError::NotRegular("a directory"));
    }
    Err(HostFileError::NotRegular("not a file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_regular_files_are_refused_without_reading() {
        let e = HostInput::open(Path::new("/dev/zero")).unwrap_err();
        assert!(
            matches!(e, HostFileError::NotRegular("a character device")),
            "{e}"
        );
        let e = HostInput::open(Path::new("/")).unwrap_err();
        assert!(matches!(e, HostFileError::NotRegular("a directory")), "{e}");
        assert!(matches!(
            HostInput::open(Path::new("/nonexistent/x")),
            Err(HostFileError::Io(_))
        ));
    }

    #[test]
    fn reads_up_to_the_limit_and_refuses_past_it() {
        let dir = std::env::temp_dir().join(format!("dirtybit-hostfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let mut f = HostInput::open(&path).unwrap();
        assert_eq!(f.len(), 10);
        let header = f.read_header(4).unwrap();
        assert_eq!(header, b"0123");
        assert_eq!(f.read_all(header, 10, "test").unwrap(), b"0123456789");
        let e = read_host_file(&path, 9, "the test budget").unwrap_err();
        assert!(
            matches!(
                e,
                HostFileError::TooLarge {
                    len: 10,
                    limit_bytes: 9,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("the test budget"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
