//! Memory management (being written).
