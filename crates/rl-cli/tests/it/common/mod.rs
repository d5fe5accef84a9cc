//! What the end-to-end test files share: running the `rl` binary and reading its output.

use std::process::{Command, Output};

/// Runs the `rl` binary built for these tests.
pub fn rl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rl"))
        .args(args)
        .output()
        .expect("the rl binary runs")
}

/// Its stdout then stderr, as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
