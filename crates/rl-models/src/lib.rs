//! rl-models
