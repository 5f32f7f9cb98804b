//! The front end: fetch through the one-page micro-ITLB, and the decoded-instruction cache
//! keyed by physical page (an instruction is decoded once, then dispatched from its slot).

use std::collections::HashMap;

use mmu::{AccessType, GuestVirtAddr};

use super::tag::PageTag;
use super::{Hart, Step, NO_VPN};
use crate::decode::decode;
use crate::exit::Exit;
use crate::inst::Inst;

/// Instruction slots per decoded page (one per halfword).
pub(super) const SLOTS: usize = 2048;

/// The decoded instructions of one physical page, one slot per halfword.
pub(super) struct DecodedPage {
    ppn: u64,
    /// Slot `(pc & 0xfff) / 2`: the instruction decoded at that PC, if any yet.
    pub(super) slots: Box<[Option<Inst>; SLOTS]>,
}

/// Decoded instructions by physical page.
#[derive(Default)]
pub(super) struct DecodeCache {
    index: HashMap<u64, usize>,
    /// The decoded pages; the run loop indexes them by `Hart::fetch_slot`.
    pub(super) pages: Vec<DecodedPage>,
    spare: Vec<Box<[Option<Inst>; SLOTS]>>,
}

impl DecodeCache {
    fn get_or_insert(&mut self, ppn: u64) -> (usize, bool) {
        if let Some(&i) = self.index.get(&ppn) {
            return (i, false);
        }
        let slots = self.spare.pop().unwrap_or_else(|| Box::new([None; SLOTS]));
        self.pages.push(DecodedPage { ppn, slots });
        let i = self.pages.len() - 1;
        self.index.insert(ppn, i);
        (i, true)
    }

    fn remove(&mut self, ppn: u64) -> bool {
        let Some(i) = self.index.remove(&ppn) else {
            return false;
        };
        let mut page = self.pages.swap_remove(i);
        if let Some(moved) = self.pages.get(i) {
            self.index.insert(moved.ppn, i);
        }
        page.slots.fill(None);
        self.spare.push(page.slots);
        true
    }

    fn clear(&mut self) {
        for mut p in self.pages.drain(..) {
            p.slots.fill(None);
            self.spare.push(p.slots);
        }
        self.index.clear();
    }
}

impl<'m> Hart<'m> {
    /// `fence.i`: drops every decoded instruction. The OS also calls this when executable
    /// mappings change, as Linux flushes the icache when it maps text.
    pub fn flush_icache(&mut self) {
        self.dcache.clear();
        self.code_ppns.clear();
        self.inval_all = true;
        self.fetch_vpn = NO_VPN;
        self.fetch_page = None;
    }

    /// A store reached physical page `ppn`: if it holds decoded instructions, they are
    /// dropped (at the next fetch-page change, which this forces).
    pub(super) fn code_written(&mut self, ppn: u64) {
        if self.code_ppns.remove(&ppn) {
            self.inval_pages.push(ppn);
            self.fetch_vpn = NO_VPN;
            self.fetch_page = None;
        }
    }

    /// Applies the invalidations queued while `run` held the decoded-instruction cache.
    pub(super) fn apply_invalidations(&mut self, dc: &mut DecodeCache) {
        if self.inval_all {
            dc.clear();
            self.inval_all = false;
            self.inval_pages.clear();
        }
        for ppn in self.inval_pages.drain(..) {
            dc.remove(ppn);
        }
    }

    /// Points the front end at the page of `pc`: translates it for fetch (the micro-ITLB
    /// refill) and finds or creates its decoded page.
    ///
    /// # Errors
    /// The fetch's page or access fault.
    pub(super) fn refill_fetch(&mut self, dc: &mut DecodeCache, pc: u64) -> Step {
        let (page, tag) = self.translate_page(pc, AccessType::Fetch)?;
        // Zimt: the accesses of instructions on a tagcheck-exempt code page are unchecked
        // (a 32-bit instruction straddling into the next page takes this page's attribute,
        // where the draft's rule 5 would take the other page's).
        self.zimt.set_fetch_exempt(tag == PageTag::ExemptCode);
        let ppn = page.pa().ppn();
        let (slot, new) = dc.get_or_insert(ppn);
        if new {
            self.code_ppns.insert(ppn);
            // Stores to this page must now take the slow path, which invalidates it.
            self.revoke_fast_writes(ppn);
        }
        self.fetch_vpn = pc >> 12;
        self.fetch_slot = slot;
        self.fetch_page = Some(page);
        Ok(())
    }

    /// Decodes the instruction at `pc` (slot `off` of the current fetch page), caching it
    /// unless it straddles two pages.
    ///
    /// # Errors
    /// A fetch fault on the second page of a straddling instruction, or
    /// [`Exit::IllegalInstruction`].
    pub(super) fn fill_slot(
        &mut self,
        dc: &mut DecodeCache,
        pc: u64,
        off: usize,
    ) -> Result<Inst, Exit> {
        let page = self.fetch_page.ok_or(Exit::AccessFault {
            va: GuestVirtAddr(pc),
            access: AccessType::Fetch,
        })?;
        let o = (pc & 0xfff) as usize;
        let lo = page.load_u16(o).unwrap_or(0);
        let (bits, cacheable) = if lo & 3 != 3 {
            (u32::from(lo), true)
        } else if let Some(w) = page.load_u32(o) {
            (w, true)
        } else {
            // A 32-bit instruction straddling two pages: fetch the upper half through its
            // own translation every time (stval names the half that faults).
            let (next, _) = self.translate_page(pc + 2, AccessType::Fetch)?;
            let hi = next.load_u16(0).unwrap_or(0);
            (u32::from(lo) | (u32::from(hi) << 16), false)
        };
        let inst = decode(bits).map_err(|e| Exit::IllegalInstruction { bits: e.bits })?;
        self.decodes += 1;
        if cacheable {
            dc.pages[self.fetch_slot].slots[off] = Some(inst);
        }
        Ok(inst)
    }
}
