//! System calls (being written: the dispatcher comes with the kernel).

pub mod fs;
