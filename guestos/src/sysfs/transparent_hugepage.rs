//! `/sys/kernel/mm/transparent_hugepage/` (`mm/huge_memory.c` `hugepage_attr[]`,
//! `thpsize_attr_group`; `mm/khugepaged.c` `khugepaged_attr[]`; `mm/shmem.c`
//! `shmem_enabled_attr`; `Documentation/admin-guide/mm/transhuge.rst`): the machine's
//! [`ThpSettings`], read and written by the files below. A write changes the policy the
//! next fault reads ([`crate::mm::Mm::thp_vma_allowable`], `use_zero_page` in
//! `do_huge_pmd_anonymous_page()`).
//!
//! | file | mode | shows | accepts (else `EINVAL`) |
//! |---|---|---|---|
//! | `enabled` | 0644 | `always [madvise] never` | `always`, `madvise`, `never` (`sysfs_streq()`: one trailing newline allowed) |
//! | `defrag` | 0644 | `always defer defer+madvise [madvise] never` | those words (stored only: no compaction here) |
//! | `use_zero_page` | 0644 | `1` | `kstrtoul()` ≤ 1 |
//! | `hpage_pmd_size` | 0444 | `2097152` | — |
//! | `shmem_enabled` | 0644 | `always within_size advise [never] deny force` | those words (stored only: no shmem THPs) |
//! | `hugepages-2048kB/enabled` | 0644 | `always [inherit] madvise never` | those words |
//! | `hugepages-2048kB/shmem_enabled` | 0644 | `always [inherit] within_size advise never` | those words (stored only) |
//! | `khugepaged/defrag` | 0644 | `1` | `kstrtoul()` ≤ 1 |
//! | `khugepaged/max_ptes_none`, `max_ptes_swap`, `max_ptes_shared` | 0644 | `511`, `64`, `256` | `kstrtoul()` ≤ 511 |
//! | `khugepaged/pages_to_scan` | 0644 | `4096` | `kstrtouint()` ≥ 1 |
//! | `khugepaged/scan_sleep_millisecs`, `alloc_sleep_millisecs` | 0644 | `10000`, `60000` | `kstrtouint()` |
//! | `khugepaged/pages_collapsed`, `full_scans` | 0444 | `0` (no khugepaged thread) | — |
//!
//! Every value is followed by a newline. `use_zero_page` and `khugepaged/defrag` return
//! `kstrtoul()`'s own errno for a malformed number (`EINVAL`, or `ERANGE`).

use std::sync::atomic::Ordering;

use super::{kstrtoull, SysfsAttr};
use crate::errno::{Errno, KResult};
use crate::fs::{KernelNode, Vfs};
use crate::mm::huge_memory::{ThpMode, ThpSettings};
use crate::mm::{HPAGE_PMD_NR, HPAGE_PMD_SIZE};

/// The directory.
pub const THP_SYSFS: &str = "/sys/kernel/mm/transparent_hugepage";

/// One attribute file of [`THP_SYSFS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThpAttr {
    /// `enabled`.
    Enabled,
    /// `defrag`.
    Defrag,
    /// `use_zero_page`.
    UseZeroPage,
    /// `hpage_pmd_size`.
    HpagePmdSize,
    /// `shmem_enabled`.
    ShmemEnabled,
    /// `hugepages-2048kB/enabled`.
    PmdEnabled,
    /// `hugepages-2048kB/shmem_enabled`.
    PmdShmemEnabled,
    /// `khugepaged/defrag`.
    KhugepagedDefrag,
    /// `khugepaged/max_ptes_none`.
    MaxPtesNone,
    /// `khugepaged/max_ptes_swap`.
    MaxPtesSwap,
    /// `khugepaged/max_ptes_shared`.
    MaxPtesShared,
    /// `khugepaged/pages_to_scan`.
    PagesToScan,
    /// `khugepaged/scan_sleep_millisecs`.
    ScanSleepMillisecs,
    /// `khugepaged/alloc_sleep_millisecs`.
    AllocSleepMillisecs,
    /// `khugepaged/pages_collapsed`.
    PagesCollapsed,
    /// `khugepaged/full_scans`.
    FullScans,
}

impl ThpAttr {
    /// Every attribute with its path under [`THP_SYSFS`].
    pub const ALL: [(ThpAttr, &'static str); 16] = [
        (ThpAttr::Enabled, "enabled"),
        (ThpAttr::Defrag, "defrag"),
        (ThpAttr::UseZeroPage, "use_zero_page"),
        (ThpAttr::HpagePmdSize, "hpage_pmd_size"),
        (ThpAttr::ShmemEnabled, "shmem_enabled"),
        (ThpAttr::PmdEnabled, "hugepages-2048kB/enabled"),
        (ThpAttr::PmdShmemEnabled, "hugepages-2048kB/shmem_enabled"),
        (ThpAttr::KhugepagedDefrag, "khugepaged/defrag"),
        (ThpAttr::MaxPtesNone, "khugepaged/max_ptes_none"),
        (ThpAttr::MaxPtesSwap, "khugepaged/max_ptes_swap"),
        (ThpAttr::MaxPtesShared, "khugepaged/max_ptes_shared"),
        (ThpAttr::PagesToScan, "khugepaged/pages_to_scan"),
        (
            ThpAttr::ScanSleepMillisecs,
            "khugepaged/scan_sleep_millisecs",
        ),
        (
            ThpAttr::AllocSleepMillisecs,
            "khugepaged/alloc_sleep_millisecs",
        ),
        (ThpAttr::PagesCollapsed, "khugepaged/pages_collapsed"),
        (ThpAttr::FullScans, "khugepaged/full_scans"),
    ];

    /// Whether the attribute has a `store()` (mode 0644, else 0444).
    pub fn writable(self) -> bool {
        !matches!(
            self,
            ThpAttr::HpagePmdSize | ThpAttr::PagesCollapsed | ThpAttr::FullScans
        )
    }

    /// `show()`: the file's text.
    pub fn show(self, s: &ThpSettings) -> String {
        let k = &s.khugepaged;
        let n = |a: &std::sync::atomic::AtomicU32| a.load(Ordering::Relaxed).to_string();
        let text = match self {
            ThpAttr::Enabled => show_mode(s.enabled.get()),
            ThpAttr::Defrag => show_mode(s.defrag.get()),
            ThpAttr::UseZeroPage => u8::from(s.use_zero_page()).to_string(),
            ThpAttr::HpagePmdSize => HPAGE_PMD_SIZE.to_string(),
            ThpAttr::ShmemEnabled => show_mode(s.shmem_enabled.get()),
            ThpAttr::PmdEnabled => show_mode(s.pmd_enabled.get()),
            ThpAttr::PmdShmemEnabled => show_mode(s.pmd_shmem_enabled.get()),
            ThpAttr::KhugepagedDefrag => u8::from(k.defrag.load(Ordering::Relaxed)).to_string(),
            ThpAttr::MaxPtesNone => n(&k.max_ptes_none),
            ThpAttr::MaxPtesSwap => n(&k.max_ptes_swap),
            ThpAttr::MaxPtesShared => n(&k.max_ptes_shared),
            ThpAttr::PagesToScan => n(&k.pages_to_scan),
            ThpAttr::ScanSleepMillisecs => n(&k.scan_sleep_millisecs),
            ThpAttr::AllocSleepMillisecs => n(&k.alloc_sleep_millisecs),
            ThpAttr::PagesCollapsed | ThpAttr::FullScans => "0".to_string(),
        };
        text + "\n"
    }

    /// `store()`: sets the attribute from the written bytes `buf` (see the module docs
    /// for what each accepts).
    ///
    /// # Errors
    /// `EINVAL` for a value the attribute refuses or an attribute without `store()`;
    /// `ERANGE` from `kstrtoul()` for `use_zero_page` and `khugepaged/defrag`.
    pub fn store(self, s: &ThpSettings, buf: &[u8]) -> KResult<()> {
        let k = &s.khugepaged;
        let max_ptes = HPAGE_PMD_NR - 1;
        match self {
            ThpAttr::Enabled => s.enabled.set(parse_mode(buf)?),
            ThpAttr::Defrag => s.defrag.set(parse_mode(buf)?),
            ThpAttr::ShmemEnabled => s.shmem_enabled.set(parse_mode(buf)?),
            ThpAttr::PmdEnabled => s.pmd_enabled.set(parse_mode(buf)?),
            ThpAttr::PmdShmemEnabled => s.pmd_shmem_enabled.set(parse_mode(buf)?),
            // single_hugepage_flag_store(): kstrtoul()'s errno, then > 1 is EINVAL.
            ThpAttr::UseZeroPage => s.use_zero_page.store(parse_flag(buf)?, Ordering::Relaxed),
            ThpAttr::KhugepagedDefrag => k.defrag.store(parse_flag(buf)?, Ordering::Relaxed),
            ThpAttr::MaxPtesNone | ThpAttr::MaxPtesSwap | ThpAttr::MaxPtesShared => {
                let v = kstrtoull(buf)
                    .ok()
                    .filter(|&v| v <= max_ptes)
                    .ok_or(Errno::EINVAL)? as u32;
                let a = match self {
                    ThpAttr::MaxPtesNone => &k.max_ptes_none,
                    ThpAttr::MaxPtesSwap => &k.max_ptes_swap,
                    _ => &k.max_ptes_shared,
                };
                a.store(v, Ordering::Relaxed);
            }
            ThpAttr::PagesToScan => {
                let v = parse_uint(buf).filter(|&v| v != 0).ok_or(Errno::EINVAL)?;
                k.pages_to_scan.store(v, Ordering::Relaxed);
            }
            ThpAttr::ScanSleepMillisecs => {
                let v = parse_uint(buf).ok_or(Errno::EINVAL)?;
                k.scan_sleep_millisecs.store(v, Ordering::Relaxed);
            }
            ThpAttr::AllocSleepMillisecs => {
                let v = parse_uint(buf).ok_or(Errno::EINVAL)?;
                k.alloc_sleep_millisecs.store(v, Ordering::Relaxed);
            }
            ThpAttr::HpagePmdSize | ThpAttr::PagesCollapsed | ThpAttr::FullScans => {
                return Err(Errno::EINVAL)
            }
        }
        Ok(())
    }
}

/// A mode file's text: every word, the current one in brackets, separated by spaces.
fn show_mode<M: ThpMode>(cur: M) -> String {
    M::ALL
        .iter()
        .map(|&m| {
            if m == cur {
                format!("[{}]", m.word())
            } else {
                m.word().to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `sysfs_streq()` against each word: the mode `buf` names (one trailing newline allowed,
/// the bytes ending at the first NUL).
///
/// # Errors
/// `EINVAL` if it names none.
fn parse_mode<M: ThpMode>(buf: &[u8]) -> KResult<M> {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let s = buf.get(..end).unwrap_or_default();
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    M::ALL
        .iter()
        .copied()
        .find(|m| m.word().as_bytes() == s)
        .ok_or(Errno::EINVAL)
}

/// `kstrtoul()` then "`value > 1` → `EINVAL`" (`single_hugepage_flag_store()`,
/// `khugepaged_defrag_store()`).
///
/// # Errors
/// `kstrtoul()`'s errno; `EINVAL` above 1.
fn parse_flag(buf: &[u8]) -> KResult<bool> {
    match kstrtoull(buf)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Errno::EINVAL),
    }
}

/// `kstrtouint()`: a number that fits 32 bits, or `None`.
fn parse_uint(buf: &[u8]) -> Option<u32> {
    kstrtoull(buf).ok().and_then(|v| u32::try_from(v).ok())
}

/// Creates [`THP_SYSFS`] and its files in `vfs` (`hugepage_init_sysfs()`, 0755
/// directories).
///
/// # Errors
/// As [`Vfs::add_kernel_file`].
pub fn register(vfs: &Vfs) -> KResult<()> {
    for (attr, path) in ThpAttr::ALL {
        let (dir, name) = match path.rsplit_once('/') {
            Some((sub, name)) => (format!("{THP_SYSFS}/{sub}"), name),
            None => (THP_SYSFS.to_string(), path),
        };
        let mode = if attr.writable() { 0o644 } else { 0o444 };
        vfs.add_kernel_file(
            dir.as_bytes(),
            0o755,
            name.as_bytes(),
            mode,
            KernelNode::Sysfs(SysfsAttr::Thp(attr)),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::huge_memory::ThpEnabled;
    use crate::mm::VmFlags;

    #[test]
    fn files_show_linux_text_and_store_what_linux_accepts() {
        let s = ThpSettings::default();
        let show = |a: ThpAttr| a.show(&s);
        assert_eq!(show(ThpAttr::Enabled), "always [madvise] never\n");
        assert_eq!(
            show(ThpAttr::Defrag),
            "always defer defer+madvise [madvise] never\n"
        );
        assert_eq!(show(ThpAttr::UseZeroPage), "1\n");
        assert_eq!(show(ThpAttr::HpagePmdSize), "2097152\n");
        assert_eq!(
            show(ThpAttr::ShmemEnabled),
            "always within_size advise [never] deny force\n"
        );
        assert_eq!(
            show(ThpAttr::PmdEnabled),
            "always [inherit] madvise never\n"
        );
        assert_eq!(
            show(ThpAttr::PmdShmemEnabled),
            "always [inherit] within_size advise never\n"
        );
        assert_eq!(show(ThpAttr::MaxPtesNone), "511\n");
        assert_eq!(show(ThpAttr::MaxPtesSwap), "64\n");
        assert_eq!(show(ThpAttr::MaxPtesShared), "256\n");
        assert_eq!(show(ThpAttr::PagesToScan), "4096\n");
        assert_eq!(show(ThpAttr::ScanSleepMillisecs), "10000\n");
        assert_eq!(show(ThpAttr::AllocSleepMillisecs), "60000\n");
        assert_eq!(show(ThpAttr::PagesCollapsed), "0\n");

        let advised = VmFlags::HUGEPAGE;
        assert!(s.anon_pmd_allowed(advised) && !s.anon_pmd_allowed(VmFlags::empty()));
        assert_eq!(ThpAttr::Enabled.store(&s, b"always\n"), Ok(()));
        assert_eq!(s.enabled.get(), ThpEnabled::Always);
        assert!(s.anon_pmd_allowed(VmFlags::empty()));
        assert_eq!(show(ThpAttr::Enabled), "[always] madvise never\n");
        assert_eq!(ThpAttr::Enabled.store(&s, b"never"), Ok(()));
        assert!(!s.anon_pmd_allowed(advised));
        // The PMD size's own setting wins over the inherited one.
        assert_eq!(ThpAttr::PmdEnabled.store(&s, b"madvise"), Ok(()));
        assert!(s.anon_pmd_allowed(advised) && !s.anon_pmd_allowed(VmFlags::empty()));
        for bad in [
            &b"Always"[..],
            b"always ",
            b"",
            b"\n",
            b"always\n\n",
            b"inherit",
        ] {
            assert_eq!(
                ThpAttr::Enabled.store(&s, bad),
                Err(Errno::EINVAL),
                "{bad:?}"
            );
        }
        assert_eq!(show(ThpAttr::Enabled), "always madvise [never]\n");
        assert_eq!(ThpAttr::Defrag.store(&s, b"defer+madvise\n"), Ok(()));
        assert_eq!(
            show(ThpAttr::Defrag),
            "always defer [defer+madvise] madvise never\n"
        );
        assert_eq!(ThpAttr::UseZeroPage.store(&s, b"0\n"), Ok(()));
        assert!(!s.use_zero_page());
        assert_eq!(ThpAttr::UseZeroPage.store(&s, b"2"), Err(Errno::EINVAL));
        assert_eq!(ThpAttr::UseZeroPage.store(&s, b"x"), Err(Errno::EINVAL));
        assert_eq!(
            ThpAttr::UseZeroPage.store(&s, b"99999999999999999999"),
            Err(Errno::ERANGE)
        );
        assert_eq!(ThpAttr::MaxPtesNone.store(&s, b"511"), Ok(()));
        assert_eq!(ThpAttr::MaxPtesNone.store(&s, b"512"), Err(Errno::EINVAL));
        assert_eq!(ThpAttr::MaxPtesShared.store(&s, b"0"), Ok(()));
        assert_eq!(show(ThpAttr::MaxPtesShared), "0\n");
        assert_eq!(ThpAttr::PagesToScan.store(&s, b"0"), Err(Errno::EINVAL));
        assert_eq!(
            ThpAttr::ScanSleepMillisecs.store(&s, b"4294967296"),
            Err(Errno::EINVAL)
        );
        assert_eq!(ThpAttr::HpagePmdSize.store(&s, b"4096"), Err(Errno::EINVAL));
    }

    #[test]
    fn the_tree_is_linuxs() {
        let vfs = Vfs::new(crate::fs::VfsConfig::default());
        register(&vfs).unwrap();
        let look = |p: &str| {
            vfs.lookup(
                &vfs.root(),
                b"/bin/x",
                crate::fs::Cred::default(),
                p.as_bytes(),
                true,
            )
            .unwrap()
        };
        let e = look("/sys/kernel/mm/transparent_hugepage/enabled");
        assert_eq!(e.mode(), 0o100644);
        assert_eq!(
            e.kernel_node(),
            Some(KernelNode::Sysfs(SysfsAttr::Thp(ThpAttr::Enabled)))
        );
        assert_eq!(
            look("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size").mode(),
            0o100444
        );
        assert_eq!(
            look("/sys/kernel/mm/transparent_hugepage/khugepaged/full_scans").mode(),
            0o100444
        );
        assert_eq!(
            look("/sys/kernel/mm/transparent_hugepage/hugepages-2048kB").mode(),
            0o040755
        );
        assert_eq!(register(&vfs), Err(Errno::EEXIST));
    }
}
