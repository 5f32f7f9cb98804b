//! The in-memory file system (being written).
