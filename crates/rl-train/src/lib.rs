//! rl-train
