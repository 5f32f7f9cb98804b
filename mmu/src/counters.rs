//! Per-hart MMU event counters.

/// What the MMU did, per hart. All counts are events, not cycles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MmuCounters {
    /// Translations served by the TLB.
    pub tlb_hits: u64,
    /// TLB lookups that missed (including a store hitting an entry cached with D=0).
    pub tlb_misses: u64,
    /// Page-table walks started (a re-walk after a failed A/D compare-and-swap counts again).
    pub walks: u64,
    /// PTEs loaded from guest RAM by the walker.
    pub pte_loads: u64,
    /// Successful hardware A/D compare-and-swap updates (Svadu).
    pub ad_updates: u64,
    /// Page faults raised (instruction, load, and store/AMO page faults).
    pub page_faults: u64,
}

impl MmuCounters {
    /// Adds `other` into `self` (for totals over harts).
    pub fn accumulate(&mut self, other: &MmuCounters) {
        self.tlb_hits += other.tlb_hits;
        self.tlb_misses += other.tlb_misses;
        self.walks += other.walks;
        self.pte_loads += other.pte_loads;
        self.ad_updates += other.ad_updates;
        self.page_faults += other.page_faults;
    }
}
