//! The hart (being written).
#![allow(missing_docs)]
pub struct Hart;
pub struct HartConfig;
pub struct HartStats;
