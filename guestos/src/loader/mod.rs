//! ELF loading and the initial stack (being written).
