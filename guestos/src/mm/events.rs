//! Kernel-primitive event counters (the role of Linux's `vm_event_states` /
//! `count_vm_event()`), and their cost in modelled cycles.
//!
//! Every primitive the mm code is built from counts itself here with one line: a PTE load
//! (`ptep_get()`), a PTE store (`set_pte()`), a PTE read-modify-write
//! (`ptep_get_and_clear()`, `ptep_cmpxchg()`, `ptep_set_wrprotect()`), an atomic
//! refcount update (`get_page()`, `put_page()`, `folio_put_refs()`, `page_ref_add()` in
//! `try_grab_folio()`), a frame allocation or free, a 4 KiB page zeroed or copied, an
//! `mmap_lock` acquire/release and a GUP call (`gup_fast()` / `__get_user_pages()` entry).
//! The counters live in the frame allocator ([`super::PageAlloc::events`], reachable as
//! [`super::PhysMem::events`]) because every primitive can reach it.
//!
//! # Modelled cycles of kernel work
//! [`KernelEventCounts::cycles`] prices a set of events with the `k_*` entries of the
//! [`CostModel`] (`dirtybit cost-table`, `--cost k_pte_load=…`). The kernel takes a
//! [`KernelEvents::snapshot`] before each system call and each page fault it handles and
//! charges the difference, priced, to the hart that trapped, after the handler returns
//! (`Hart::charge_cycles`): a guest reading `rdcycle` immediately before and after an
//! `ecall` sees trap entry + trap exit + the modelled cycles of the kernel work of that
//! call. Host time plays no part, so the numbers are deterministic and tests assert them.
//!
//! # Concurrency: per-CPU counters
//! The counters are per host thread — per hart, since each hart enters the kernel on its
//! own thread — like Linux's per-CPU `vm_event_states`: [`EventCounter::inc`] is a plain
//! add to a thread-local slot (no locked instruction on the GUP fast path), and
//! [`KernelEvents::snapshot`] reads the calling thread's slots. Every use is a difference
//! of two snapshots taken on one thread around work done on that thread (a system call, a
//! fault, a benchmark run), so the work of other harts — running at the same time, or
//! between the two halves of a call that dropped the kernel lock — never lands in it.
//! (All `KernelEvents` of one thread share its slots: snapshots count the thread's work,
//! whichever `PhysMem` it touched.)

use std::cell::Cell;

use emu::CostModel;

/// Slots of the per-thread counters (more than there are events).
const SLOTS: usize = 16;

thread_local! {
    static PERCPU: [Cell<u64>; SLOTS] = const { [const { Cell::new(0) }; SLOTS] };
}

/// One event counter: a slot of the calling thread's per-CPU counters (a
/// `vm_event_states` item in Linux).
#[derive(Debug)]
pub struct EventCounter(usize);

impl EventCounter {
    /// Counts one event on this thread.
    #[inline(always)]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Counts `n` events on this thread.
    #[inline(always)]
    pub fn add(&self, n: u64) {
        PERCPU.with(|c| {
            if let Some(slot) = c.get(self.0) {
                slot.set(slot.get().wrapping_add(n));
            }
        });
    }

    /// This thread's count so far.
    #[inline]
    pub fn get(&self) -> u64 {
        PERCPU.with(|c| c.get(self.0).map_or(0, Cell::get))
    }
}

macro_rules! kernel_events {
    ($( $(#[doc = $doc:literal])* $name:ident => $cost:ident ),* $(,)?
     ; $( $(#[doc = $udoc:literal])* $uname:ident ),* $(,)?) => {
        /// The live counters, one per kernel primitive (see the module docs).
        #[derive(Debug)]
        pub struct KernelEvents {
            $( $(#[doc = $doc])* pub $name: EventCounter, )*
            $( $(#[doc = $udoc])* pub $uname: EventCounter, )*
        }

        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        enum Slot { $( $name, )* $( $uname, )* Count }

        const _: () = assert!((Slot::Count as usize) <= SLOTS, "more events than slots");

        impl Default for KernelEvents {
            fn default() -> Self {
                Self {
                    $( $name: EventCounter(Slot::$name as usize), )*
                    $( $uname: EventCounter(Slot::$uname as usize), )*
                }
            }
        }

        /// A copy of the counters at one instant, or the difference of two.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct KernelEventCounts {
            $( $(#[doc = $doc])* pub $name: u64, )*
            $( $(#[doc = $udoc])* pub $uname: u64, )*
        }

        impl KernelEvents {
            /// The counts now.
            pub fn snapshot(&self) -> KernelEventCounts {
                KernelEventCounts {
                    $( $name: self.$name.get(), )*
                    $( $uname: self.$uname.get(), )*
                }
            }
        }

        impl KernelEventCounts {
            /// How many counters there are, priced and not ([`KernelEventCounts::to_array`]).
            pub const COUNT: usize = Slot::Count as usize;

            /// The counts in table order, priced then unpriced: for storage as an array
            /// (the kernel's per-hart statistics); [`KernelEventCounts::from_array`]
            /// turns it back.
            pub fn to_array(&self) -> [u64; Self::COUNT] {
                [$( self.$name, )* $( self.$uname, )*]
            }

            /// The counts of an array in [`KernelEventCounts::to_array`]'s order.
            pub fn from_array(a: [u64; Self::COUNT]) -> Self {
                let [$( $name, )* $( $uname, )*] = a;
                Self { $( $name, )* $( $uname, )* }
            }

            /// `self - earlier`, per counter (wrapping, so a snapshot pair always gives
            /// the events in between).
            pub fn since(&self, earlier: &KernelEventCounts) -> KernelEventCounts {
                KernelEventCounts {
                    $( $name: self.$name.wrapping_sub(earlier.$name), )*
                    $( $uname: self.$uname.wrapping_sub(earlier.$uname), )*
                }
            }

            /// Adds `other` to `self`, per counter.
            pub fn accumulate(&mut self, other: &KernelEventCounts) {
                $( self.$name = self.$name.wrapping_add(other.$name); )*
                $( self.$uname = self.$uname.wrapping_add(other.$uname); )*
            }

            /// Modelled cycles of these events: each count times its `k_*` entry of `cost`.
            pub fn cycles(&self, cost: &CostModel) -> u64 {
                0 $( + self.$name.wrapping_mul(u64::from(cost.$cost)) )*
            }

            /// `(name, count, cost entry, modelled cycles)` per priced counter, in table order
            /// (for `--stats` and `dirtybit bench pin`).
            pub fn rows(&self, cost: &CostModel) -> Vec<(&'static str, u64, &'static str, u64)> {
                vec![$( (
                    stringify!($name),
                    self.$name,
                    stringify!($cost),
                    self.$name.wrapping_mul(u64::from(cost.$cost)),
                ), )*]
            }
        }
    };
}

kernel_events! {
    /// PTE loads by a software page-table walk (`ptep_get()`, any level).
    pte_loads => k_pte_load,
    /// Plain PTE stores (`set_pte()`).
    pte_stores => k_pte_store,
    /// Atomic PTE read-modify-writes (`ptep_get_and_clear()`, `ptep_cmpxchg()`,
    /// `ptep_set_wrprotect()`).
    pte_rmws => k_pte_rmw,
    /// Atomic refcount/pincount updates on page metadata (`get_page()`, `put_page()`,
    /// `folio_put_refs()`, `page_ref_add()`; a pin is one update of
    /// `GUP_PIN_COUNTING_BIAS`).
    refcount_ops => k_atomic,
    /// Frames taken off the free list (`alloc_page()`).
    page_allocs => k_page_alloc,
    /// Frames returned to the free list (`free_unref_page()`).
    page_frees => k_page_free,
    /// 4 KiB pages zeroed (`clear_page()`, `__GFP_ZERO`).
    page_zeroes => k_page_zero,
    /// 4 KiB pages copied (`copy_user_highpage()` on COW, fork copies of pinned pages, the
    /// kernel copying a whole page to user memory).
    page_copies => k_page_copy,
    /// Sleeping-lock acquire/release pairs (`mmap_read_lock()` … `mmap_read_unlock()`).
    lock_ops => k_lock,
    /// Entries into a GUP walk (`gup_fast()`, `__get_user_pages()`): the fixed cost of a
    /// call (`local_irq_save()`/`restore()`, range checks, the call itself).
    gup_calls => k_gup_call,
    /// Pages read from swap (`swap_read_folio()`: `pswpin`).
    swap_ins => k_swap_read,
    /// Pages written to swap (`swap_writepage()`: `pswpout`).
    swap_outs => k_swap_write,
    ;
    /// Kernel warnings printed (`WARN()`: a kernel self-check failed). Not priced.
    warnings,
}

impl KernelEventCounts {
    /// The total number of priced events of every kind.
    pub fn total(&self) -> u64 {
        self.rows(&CostModel::default())
            .iter()
            .map(|r| r.1)
            .fold(0u64, u64::wrapping_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_since_and_cycles() {
        let e = KernelEvents::default();
        let a = e.snapshot();
        e.pte_loads.add(3);
        e.refcount_ops.inc();
        e.page_zeroes.inc();
        let d = e.snapshot().since(&a);
        assert_eq!((d.pte_loads, d.refcount_ops, d.page_zeroes), (3, 1, 1));
        assert_eq!(d.total(), 5);
        let c = CostModel::default();
        assert_eq!(
            d.cycles(&c),
            3 * u64::from(c.k_pte_load) + u64::from(c.k_atomic) + u64::from(c.k_page_zero)
        );
        let mut acc = KernelEventCounts::default();
        acc.accumulate(&d);
        acc.accumulate(&d);
        assert_eq!(acc.pte_loads, 6);
        assert_eq!(KernelEventCounts::from_array(acc.to_array()), acc);
        assert_eq!(acc.to_array()[0], 6, "pte_loads first");
        let rows = d.rows(&c);
        assert_eq!(
            rows[0],
            ("pte_loads", 3, "k_pte_load", 3 * u64::from(c.k_pte_load))
        );
    }
}
