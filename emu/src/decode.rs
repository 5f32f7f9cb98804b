//! Instruction decoding: a pure function from encoding to [`Inst`].
//!
//! CONTRACT (being implemented): `decode(bits)` decodes a 32-bit encoding, or, when
//! `bits & 3 != 3`, the 16-bit RVC encoding in the low half; `decode_compressed` expands an
//! RVC encoding to the equivalent 32-bit `Inst` with `len = 2`. Reserved and illegal
//! encodings (including the all-zero halfword) are `Err`.

use crate::inst::Inst;

/// An encoding that is not a valid RV64GC instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal instruction {bits:#010x}")]
pub struct DecodeError {
    /// The encoding (16-bit ones zero-extended).
    pub bits: u32,
}

/// Decodes one instruction.
///
/// # Errors
/// [`DecodeError`] for reserved or unknown encodings.
pub fn decode(bits: u32) -> Result<Inst, DecodeError> {
    if bits & 3 != 3 {
        return decode_compressed(bits as u16);
    }
    Err(DecodeError { bits })
}

/// Decodes one RVC instruction.
///
/// # Errors
/// [`DecodeError`] for reserved or unknown encodings.
pub fn decode_compressed(bits: u16) -> Result<Inst, DecodeError> {
    Err(DecodeError {
        bits: u32::from(bits),
    })
}
