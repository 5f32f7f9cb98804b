//! `/proc/meminfo` (`fs/proc/meminfo.c` `meminfo_proc_show()` with `mm/hugetlb.c`
//! `hugetlb_report_meminfo()`): the machine's memory in Linux's layout — each line a
//! 16-column label and a value right-aligned in 8 columns with ` kB`, the `HugePages_*`
//! counts in 5 columns without a unit.
//!
//! Only the lines this kernel can fill with what it knows are printed: `MemTotal` (the
//! frames the allocator manages), `MemFree` (frames on the free lists: the hugetlb pool's
//! free pages are not among them, as in Linux), `MemAvailable` (here the same as
//! `MemFree`: the page cache's clean pages are not estimated), `SwapCached` (0: no page
//! stays in a swap cache here), `SwapTotal` and `SwapFree` (the `--swap` area's slots,
//! the header excluded), and the hugetlb lines
//! (`HugePages_Total`, `_Free`, `_Rsvd`, `_Surp`, `Hugepagesize`: the default 2 MiB
//! pool's; `Hugetlb`: the memory of every pool, 1 GiB pages included). Programs
//! look lines up by label (`vm_util.c`'s `read_meminfo()`-style scans), so the missing
//! ones are not needed by anything that runs here.

use devices::PAGE_SIZE;

use crate::errno::KResult;
use crate::fs::{FileCtx, FileOperations, IoResult, Kiocb, OpenFile};
use crate::mm::PhysMem;

/// `meminfo_proc_show()`: the file's text for the machine whose memory is `phys`.
pub fn meminfo_proc_show(phys: &PhysMem) -> String {
    let kb = |pages: u64| pages * (PAGE_SIZE >> 10);
    // show_val_kb(): the label padded to 16 columns by the caller's string, the value
    // in 8.
    let line = |label: &str, v: u64| format!("{:<16}{:>8} kB\n", format!("{label}:"), v);
    let free = phys.pages.nr_free();
    let h = phys.pages.default_hstate().counts();
    // hugetlb_report_meminfo(): `Hugetlb` sums every pool, the rest is default_hstate's.
    let hugetlb_kb: u64 = phys
        .pages
        .hstates()
        .iter()
        .map(|h| h.counts().nr_huge_pages * (h.huge_page_size() >> 10))
        .sum();
    let mut out = String::new();
    out += &line("MemTotal", kb(phys.pages.nr_total()));
    out += &line("MemFree", kb(free));
    out += &line("MemAvailable", kb(free));
    // si_swapinfo(): the swap area's slots; nothing stays in a swap cache here.
    let (swap_total, swap_free) = phys.swap().map_or((0, 0), |si| {
        (si.total_pages(), si.total_pages() - si.inuse_pages())
    });
    out += &line("SwapCached", 0);
    out += &line("SwapTotal", kb(swap_total));
    out += &line("SwapFree", kb(swap_free));
    out += &format!("HugePages_Total:   {:>5}\n", h.persistent());
    out += &format!("HugePages_Free:    {:>5}\n", h.free_huge_pages);
    out += &format!("HugePages_Rsvd:    {:>5}\n", h.resv_huge_pages);
    out += &format!("HugePages_Surp:    {:>5}\n", h.surplus_huge_pages);
    out += &line(
        "Hugepagesize",
        phys.pages.default_hstate().huge_page_size() >> 10,
    );
    out += &line("Hugetlb", hugetlb_kb);
    out
}

/// The operations of one open of a machine-wide procfs text file rendered from the
/// machine's memory (`single_open()` with a `show` function: `/proc/meminfo` with
/// [`meminfo_proc_show`], `/proc/vmstat` with [`vmstat_show`]): read-only; the text is
/// rendered again at each read.
#[derive(Debug)]
pub struct ProcPhysShowFile(pub fn(&PhysMem) -> String);

impl FileOperations for ProcPhysShowFile {
    fn read(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        buf: u64,
        len: usize,
    ) -> IoResult<usize> {
        let text = crate::sysfs::with_phys(ctx, self.0)?;
        crate::sysfs::read_text(ctx, iocb, buf, len, text.as_bytes())
    }

    fn can_write(&self) -> bool {
        false
    }

    fn llseek(&self, _file: &OpenFile, offset: i64, whence: u32, pos: u64) -> KResult<u64> {
        crate::fs::seq_lseek(offset, whence, pos)
    }
}

/// `vmstat_show()` (`mm/vmstat.c`): one `name value` line per counter this kernel keeps —
/// `nr_free_pages`, and the swap events `pgmajfault` (faults that read a page from
/// swap), `pswpin` and `pswpout` (pages read from and written to swap), all
/// machine-wide. Programs look lines up by name, so the counters Linux has and this
/// kernel does not are left out rather than printed as 0.
pub fn vmstat_show(phys: &PhysMem) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let (pgmajfault, pswpin, pswpout) = phys.swap().map_or((0, 0, 0), |si| {
        let e = &si.events;
        (
            e.pgmajfault.load(Relaxed),
            e.pswpin.load(Relaxed),
            e.pswpout.load(Relaxed),
        )
    });
    format!(
        "nr_free_pages {}\npgmajfault {pgmajfault}\npswpin {pswpin}\npswpout {pswpout}\n",
        phys.pages.nr_free()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::{GuestMemory, GuestPhysAddr};

    #[test]
    fn meminfo_has_linuxs_layout_and_the_pool() {
        let ram = GuestMemory::new(&[(GuestPhysAddr(0x8000_0000), 32 << 20)]).unwrap();
        let phys = PhysMem::new(ram).unwrap();
        phys.pages
            .set_max_huge_pages(phys.pages.default_hstate(), &phys.ram, 3);
        let text = meminfo_proc_show(&phys);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "MemTotal:          32768 kB");
        assert!(lines[1].starts_with("MemFree:        ") && lines[1].ends_with(" kB"));
        assert!(text.contains("\nHugePages_Total:       3\nHugePages_Free:        3\n"));
        assert!(text.contains("HugePages_Rsvd:        0\nHugePages_Surp:        0\n"));
        assert!(text.contains("\nHugepagesize:       2048 kB\nHugetlb:            6144 kB\n"));
    }
}
