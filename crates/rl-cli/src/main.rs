//! `rl`: train, evaluate, export and benchmark policy-gradient agents on the built-in
//! environments (the command line itself is `rl_cli`'s).

use std::process::ExitCode;

/// See the workspace Cargo.toml for why (measured with `rl bench`).
#[global_allocator]
static ALLOCATOR: rl_cli::Allocator = rl_cli::Allocator;

fn main() -> ExitCode {
    rl_cli::main(rl_train::Registry::builtin())
}
