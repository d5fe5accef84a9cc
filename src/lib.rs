//! The workspace's root package: the lesson's first two programs as small libraries
//! ([`bandit`], [`manual`]), which the top-level `examples/` run and `tests/` check. The
//! library itself lives in `crates/`: start at `rl-core`.
//!
//! Run the programs with `cargo run --release --example bandit`, `... cartpole_manual`
//! and `... reinforce_baseline`.
#![warn(missing_docs)]

pub mod bandit;
pub mod manual;
