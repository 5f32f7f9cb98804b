//! Paging modes as traits of constants, and the `satp` CSR (*Priv §"satp"*).

/// A paging mode's geometry. Implemented by [`Sv39`] and [`Sv48`].
pub trait PagingMode {
    /// Number of page-table levels (LEVELS in the spec).
    const LEVELS: usize;
    /// Virtual-address width in bits.
    const VA_BITS: u32;
    /// The `satp.MODE` encoding.
    const SATP_MODE: u64;
    /// The name, as on the command line.
    const NAME: &'static str;
}

/// Sv39: 3 levels, 39-bit VAs, 4 KiB / 2 MiB / 1 GiB pages.
#[derive(Debug, Clone, Copy)]
pub struct Sv39;
impl PagingMode for Sv39 {
    const LEVELS: usize = 3;
    const VA_BITS: u32 = 39;
    const SATP_MODE: u64 = 8;
    const NAME: &'static str = "sv39";
}

/// Sv48: 4 levels, 48-bit VAs, 4 KiB / 2 MiB / 1 GiB / 512 GiB pages.
#[derive(Debug, Clone, Copy)]
pub struct Sv48;
impl PagingMode for Sv48 {
    const LEVELS: usize = 4;
    const VA_BITS: u32 = 48;
    const SATP_MODE: u64 = 9;
    const NAME: &'static str = "sv48";
}

/// `satp.MODE` decoded at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SatpMode {
    /// No translation.
    Bare,
    /// [`Sv39`].
    Sv39,
    /// [`Sv48`].
    Sv48,
}

impl SatpMode {
    /// Levels of the mode's page table (0 for Bare).
    pub const fn levels(self) -> usize {
        match self {
            SatpMode::Bare => 0,
            SatpMode::Sv39 => Sv39::LEVELS,
            SatpMode::Sv48 => Sv48::LEVELS,
        }
    }

    /// VA width in bits (64 for Bare).
    pub const fn va_bits(self) -> u32 {
        match self {
            SatpMode::Bare => 64,
            SatpMode::Sv39 => Sv39::VA_BITS,
            SatpMode::Sv48 => Sv48::VA_BITS,
        }
    }

    /// The `satp.MODE` encoding.
    pub const fn encoding(self) -> u64 {
        match self {
            SatpMode::Bare => 0,
            SatpMode::Sv39 => Sv39::SATP_MODE,
            SatpMode::Sv48 => Sv48::SATP_MODE,
        }
    }

    /// The lower-case name (`bare`, `sv39`, `sv48`).
    pub const fn name(self) -> &'static str {
        match self {
            SatpMode::Bare => "bare",
            SatpMode::Sv39 => Sv39::NAME,
            SatpMode::Sv48 => Sv48::NAME,
        }
    }
}

/// The `satp` CSR: MODE (63:60), ASID (59:44), PPN (43:0).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Satp(pub u64);

impl Satp {
    /// `satp` for `mode`, `asid` and the root page table's physical page number.
    pub const fn new(mode: SatpMode, asid: u16, root_ppn: u64) -> Self {
        Self((mode.encoding() << 60) | ((asid as u64) << 44) | (root_ppn & ((1 << 44) - 1)))
    }

    /// The mode, or `None` for an encoding this machine does not implement (a write of such
    /// a value to `satp` has no effect, per the spec's WARL rule).
    pub const fn mode(self) -> Option<SatpMode> {
        match self.0 >> 60 {
            0 => Some(SatpMode::Bare),
            8 => Some(SatpMode::Sv39),
            9 => Some(SatpMode::Sv48),
            _ => None,
        }
    }

    /// The 16-bit ASID.
    pub const fn asid(self) -> u16 {
        ((self.0 >> 44) & 0xffff) as u16
    }

    /// The root page table's physical page number.
    pub const fn root_ppn(self) -> u64 {
        self.0 & ((1 << 44) - 1)
    }
}

impl std::fmt::Debug for Satp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Satp({:?}, asid={}, root=PA:{:#x})",
            self.mode(),
            self.asid(),
            self.root_ppn() << 12
        )
    }
}
