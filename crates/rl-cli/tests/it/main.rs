//! rl-cli's end-to-end tests of the `rl` binary, in one binary: each file is a module, so
//! a test keeps its file's name as its path (`cli::...`, `resume::...`), and they compile
//! and link once (see the README's "Tests"). They run in parallel, each on its own
//! temporary folders.

mod common;
mod tfevents;

mod bandit;
mod cli;
mod faulty;
mod lesson_unchanged;
mod malformed;
mod mpi;
mod render;
mod resume;
