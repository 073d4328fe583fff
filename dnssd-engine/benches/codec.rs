//! Codec benchmark (placeholder until the comparison lands).
fn main() {}
