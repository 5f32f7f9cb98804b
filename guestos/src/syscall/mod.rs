//! System calls: numbers, dispatch and the handlers that need no subsystem of their own.

pub mod fs;
pub mod misc;
pub mod nr;
