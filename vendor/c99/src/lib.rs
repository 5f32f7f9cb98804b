//! `<stdint.h>`'s integer types and limits, as the upstream `c99` 0.1 crate exports them,
//! for `softfloat-sys` (Berkeley SoftFloat's bindings), which takes `uint_fast8_t`
//! rounding modes and returns `uint_fast32_t`/`int_fast64_t` values.
//!
//! Upstream generates this module at build time by compiling and running a C probe with
//! CMake; this replacement (wired in by `[patch.crates-io]` in the workspace manifest)
//! gives the same definitions from a table of the C libraries' own headers, so that
//! building dirtybit needs no CMake — only the Rust toolchain and the C compiler it links
//! with. The `fast` types are the only ones whose width differs between C libraries:
//!
//! | C library | `int_fast16_t` | `int_fast32_t` |
//! |---|---|---|
//! | glibc, 64-bit (`long`) | 64 | 64 |
//! | glibc, 32-bit (`int`) | 32 | 32 |
//! | musl (`int`) | 32 | 32 |
//! | Apple libc | 16 | 32 |
//! | MSVC (`int`) | 32 | 32 |
//!
//! `int_fast8_t` is 8 bits and `int_fast64_t` 64 bits everywhere; `least` types are the
//! exact-width ones; `intptr_t` follows the pointer width.

#![no_std]
#![allow(non_camel_case_types)]

pub type int8_t = i8;
pub type int16_t = i16;
pub type int32_t = i32;
pub type int64_t = i64;
pub type uint8_t = u8;
pub type uint16_t = u16;
pub type uint32_t = u32;
pub type uint64_t = u64;

pub type int_least8_t = i8;
pub type int_least16_t = i16;
pub type int_least32_t = i32;
pub type int_least64_t = i64;
pub type uint_least8_t = u8;
pub type uint_least16_t = u16;
pub type uint_least32_t = u32;
pub type uint_least64_t = u64;

pub type int_fast8_t = i8;
pub type uint_fast8_t = u8;
pub type int_fast64_t = i64;
pub type uint_fast64_t = u64;

#[cfg(all(target_env = "gnu", not(windows), target_pointer_width = "64"))]
mod fast {
    pub type int_fast16_t = i64;
    pub type uint_fast16_t = u64;
    pub type int_fast32_t = i64;
    pub type uint_fast32_t = u64;
}
#[cfg(target_vendor = "apple")]
mod fast {
    pub type int_fast16_t = i16;
    pub type uint_fast16_t = u16;
    pub type int_fast32_t = i32;
    pub type uint_fast32_t = u32;
}
#[cfg(not(any(
    all(target_env = "gnu", not(windows), target_pointer_width = "64"),
    target_vendor = "apple"
)))]
mod fast {
    pub type int_fast16_t = i32;
    pub type uint_fast16_t = u32;
    pub type int_fast32_t = i32;
    pub type uint_fast32_t = u32;
}
pub use fast::*;

pub type intmax_t = i64;
pub type uintmax_t = u64;
pub type intptr_t = isize;
pub type uintptr_t = usize;

macro_rules! limits {
    ($($min:ident $max:ident: $t:ty;)*) => {
        $(
            pub const $min: $t = <$t>::MIN;
            pub const $max: $t = <$t>::MAX;
        )*
    };
}
macro_rules! umax {
    ($($max:ident: $t:ty;)*) => {
        $( pub const $max: $t = <$t>::MAX; )*
    };
}

limits! {
    INT8_MIN INT8_MAX: int8_t;
    INT16_MIN INT16_MAX: int16_t;
    INT32_MIN INT32_MAX: int32_t;
    INT64_MIN INT64_MAX: int64_t;
    INT_FAST8_MIN INT_FAST8_MAX: int_fast8_t;
    INT_FAST16_MIN INT_FAST16_MAX: int_fast16_t;
    INT_FAST32_MIN INT_FAST32_MAX: int_fast32_t;
    INT_FAST64_MIN INT_FAST64_MAX: int_fast64_t;
    INT_LEAST8_MIN INT_LEAST8_MAX: int_least8_t;
    INT_LEAST16_MIN INT_LEAST16_MAX: int_least16_t;
    INT_LEAST32_MIN INT_LEAST32_MAX: int_least32_t;
    INT_LEAST64_MIN INT_LEAST64_MAX: int_least64_t;
    INTPTR_MIN INTPTR_MAX: intptr_t;
    INTMAX_MIN INTMAX_MAX: intmax_t;
}
umax! {
    UINT8_MAX: uint8_t;
    UINT16_MAX: uint16_t;
    UINT32_MAX: uint32_t;
    UINT64_MAX: uint64_t;
    UINT_FAST8_MAX: uint_fast8_t;
    UINT_FAST16_MAX: uint_fast16_t;
    UINT_FAST32_MAX: uint_fast32_t;
    UINT_FAST64_MAX: uint_fast64_t;
    UINT_LEAST8_MAX: uint_least8_t;
    UINT_LEAST16_MAX: uint_least16_t;
    UINT_LEAST32_MAX: uint_least32_t;
    UINT_LEAST64_MAX: uint_least64_t;
    UINTPTR_MAX: uintptr_t;
    UINTMAX_MAX: uintmax_t;
}
