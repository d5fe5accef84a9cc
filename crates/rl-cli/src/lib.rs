//! rl-cli
