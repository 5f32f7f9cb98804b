//! The dirtybit command-line tool (being written).
fn main() {}
