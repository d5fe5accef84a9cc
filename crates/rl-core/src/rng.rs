//! The project's one random number generator.
//!
//! `Xoshiro256PlusPlus` rather than `StdRng`: its algorithm is fixed (StdRng's may change
//! between rand releases, which would silently change every seeded result), it is a few
//! nanoseconds per draw, and its state is serialisable, which exact resume needs.

pub use rand::rngs::Xoshiro256PlusPlus as Rng;
pub use rand::{RngExt, SeedableRng};

/// A generator seeded from `seed`. Streams for different purposes (environments, action
/// sampling, weight initialisation) are split with [`stream`] so they never overlap.
pub fn seeded(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// The seed of sub-stream `stream` of the run seeded with `seed`, e.g. `stream(seed, 1)`
/// for action sampling. A SplitMix64 finaliser mixes the two so nearby seeds and streams
/// give unrelated generators.
pub fn stream(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `low + (high - low) * u` with `u` uniform in `[0, 1)`: numpy's `uniform(low, high)`.
pub fn uniform(rng: &mut Rng, low: f64, high: f64) -> f64 {
    low + (high - low) * rng.random::<f64>()
}

/// A generator seeded from the operating system, for an environment reset without ever
/// being given a seed (Gymnasium does the same). Seeded runs never call this.
pub fn from_entropy() -> Rng {
    Rng::from_rng(&mut rand::rng())
}
