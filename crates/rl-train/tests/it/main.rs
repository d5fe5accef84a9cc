//! rl-train's integration tests, in one binary: each file is a module, so a test keeps
//! its file's name as its path (`learning::...`, `ppo_goldens::...`), and the learner is
//! monomorphised, optimised and linked once instead of once per file (see the README's
//! "Tests").

mod common;

mod checkpoint_fuzz;
mod data_parallel;
mod goldens;
mod learning;
mod ppo_goldens;
mod resume;
mod spaces;
