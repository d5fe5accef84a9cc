//! rl-core's integration tests, in one binary: each file is a module, so a test keeps its
//! file's name as its path (`conformance::...`, `render::...`), and the crate's tests
//! compile and link once instead of once per file (see the README's "Tests").

mod conformance;
mod render;
