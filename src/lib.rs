//! The workspace's root package: it owns the top-level `examples/` (the lesson's
//! programs, run with `cargo run --release --example NAME`) and `tests/` (end-to-end
//! tests across the crates). The library itself lives in `crates/`: start at `rl-core`.
#![warn(missing_docs)]
