//! Checkpoint decoding never panics: 100 000 and more mutated checkpoints of real learner
//! states (bit flips with and without a recomputed checksum, truncations, edited length
//! fields, and structural edits of the MessagePack inside: numbers, array lengths, and
//! the shapes and data of the network's and optimiser's tensors, each with a recomputed
//! checksum so that it reaches the decoder) each give a clear error or a learner that
//! works, never a panic.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rl_core::rng::{self, Rng, RngExt};
use rl_models::backend::{TrainBackend as B, device};
use rl_train::checkpoint::{decode, encode};
use rl_train::{Algo, Learner, LearnerState, TrainConfig};
use rmpv::Value;

const FORMAT: u32 = 1;

const HEADER: usize = 24;

/// Real states to mutate: a few updates of small learners of every kind.
fn states() -> Vec<Vec<u8>> {
    let small = |cfg: TrainConfig| TrainConfig {
        hidden: vec![3],
        ..cfg
    };
    let cfgs = [
        small(TrainConfig::default()),
        small(TrainConfig {
            n_envs: 2,
            steps_per_update: Some(8),
            minibatches: 2,
            epochs: 2,
            total_steps: Some(1000),
            ..TrainConfig::for_algo(Algo::Ppo)
        }),
        small(TrainConfig {
            env: "Pendulum-v1".into(),
            n_envs: 2,
            steps_per_update: Some(8),
            total_steps: Some(1000),
            ..TrainConfig::for_algo(Algo::A2c)
        }),
    ];
    cfgs.into_iter()
        .map(|cfg| {
            let mut l = Learner::<B>::new(cfg, device()).unwrap();
            for _ in 0..2 {
                l.update().unwrap();
            }
            encode(FORMAT, &l.state().unwrap()).unwrap()
        })
        .collect()
}

/// Sets the header's length and checksum to fit the payload.
fn seal(bytes: &mut [u8]) {
    let payload_len = bytes.len().saturating_sub(HEADER) as u64;
    if bytes.len() >= HEADER {
        bytes[12..20].copy_from_slice(&payload_len.to_le_bytes());
        let crc = crc32fast::hash(&bytes[HEADER..]);
        bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Visits every node of a MessagePack value, descending into binary blobs that are
/// MessagePack themselves (Burn's records inside the state): `f` sees each node and
/// may replace it.
fn mutate_nth(v: &mut Value, target: usize, seen: &mut usize, f: &mut dyn FnMut(&mut Value)) {
    if *seen == target {
        f(v);
    }
    *seen += 1;
    match v {
        Value::Array(a) => {
            for x in a {
                mutate_nth(x, target, seen, f);
            }
        }
        Value::Map(m) => {
            for (_, x) in m {
                mutate_nth(x, target, seen, f);
            }
        }
        Value::Binary(b) => {
            if let Ok(mut inner) = rmpv::decode::read_value(&mut &b[..]) {
                let before = *seen;
                mutate_nth(&mut inner, target, seen, f);
                if target >= before && target < *seen {
                    let mut out = Vec::new();
                    rmpv::encode::write_value(&mut out, &inner).unwrap();
                    *b = out;
                }
            }
        }
        _ => {}
    }
}

fn count(v: &Value) -> usize {
    let mut n = 0;
    mutate_nth(&mut v.clone(), usize::MAX, &mut n, &mut |_| {});
    n
}

/// A value that is likely to trouble a decoder: extremes, zero, wrong types.
fn nasty(rng: &mut Rng) -> Value {
    match rng.random_range(0..10) {
        0 => Value::from(0),
        1 => Value::from(u64::MAX),
        2 => Value::from(i64::MIN),
        3 => Value::from(rng.random_range(0..100_000u64)),
        4 => Value::from(f64::NAN),
        5 => Value::from(-1),
        6 => Value::Array(vec![Value::from(1u64 << 40), Value::from(1u64 << 40)]),
        7 => Value::Array(Vec::new()),
        8 => Value::from("x"),
        _ => Value::Nil,
    }
}

/// One structural edit of the payload: a node replaced, an array shortened or grown, or
/// an integer nudged (tensor shapes and lengths are arrays of integers).
fn structural(payload: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = rmpv::decode::read_value(&mut &payload[..]).unwrap();
    let n = count(&v);
    let target = rng.random_range(0..n);
    let kind = rng.random_range(0..4);
    let mut r = rng.clone();
    let mut seen = 0;
    mutate_nth(
        &mut v,
        target,
        &mut seen,
        &mut |node| match (kind, &mut *node) {
            (0, _) => *node = nasty(&mut r),
            (1, Value::Array(a)) if !a.is_empty() => {
                a.pop();
            }
            (1 | 2, Value::Array(a)) => a.push(nasty(&mut r)),
            (_, Value::Integer(i)) => {
                let x = i.as_i64().unwrap_or(0);
                *node = Value::from(
                    x.wrapping_add(r.random_range(-3..=3))
                        .wrapping_mul(r.random_range(1..4)),
                );
            }
            _ => *node = nasty(&mut r),
        },
    );
    *rng = r;
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &v).unwrap();
    out
}

/// A case for a [`Resumer`]: its number, the mutated checkpoint bytes, and the
/// configuration of the state they were made from.
type Case = (usize, Vec<u8>, TrainConfig);

/// What became of a case: whether it decoded into a state, and the panic it caused (its
/// message and where it happened), if any.
type Outcome = (bool, Option<String>);

thread_local! {
    /// Where the last panic on this thread happened (the panic hook writes it).
    static WHERE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Decodes and resumes checkpoints on a thread of its own, so that an update that never
/// ends is reported instead of hanging the test. Cases go through one after another (a
/// thread per case spent a third of the test's time starting and stopping threads); the
/// test keeps one resumer per core busy.
struct Resumer {
    cases: std::sync::mpsc::Sender<Case>,
    outcomes: std::sync::mpsc::Receiver<Outcome>,
    /// The case sent and not yet answered.
    pending: Option<usize>,
}

impl Resumer {
    fn new() -> Self {
        let (cases, inbox) = std::sync::mpsc::channel::<Case>();
        let (outbox, outcomes) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for (_, bytes, original) in inbox {
                let r = catch_unwind(AssertUnwindSafe(|| resume(&bytes, &original)));
                let outcome = match r {
                    Ok(decoded) => (decoded, None),
                    Err(p) => {
                        let message = p
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        let at = WHERE.with(|w| w.borrow_mut().take()).unwrap_or_default();
                        (true, Some(format!("at {at}: {message}")))
                    }
                };
                if outbox.send(outcome).is_err() {
                    break;
                }
            }
        });
        Self {
            cases,
            outcomes,
            pending: None,
        }
    }

    fn send(&mut self, case: Case) {
        self.pending = Some(case.0);
        self.cases.send(case).expect("the resuming thread runs");
    }

    /// The outcome of the pending case, if there is one: `Err` for an update that does
    /// not end (the thread stuck in it is left behind, and a new one takes the next cases).
    fn receive(&mut self) -> Option<(usize, Result<Outcome, String>)> {
        let case = self.pending.take()?;
        match self
            .outcomes
            .recv_timeout(std::time::Duration::from_secs(60))
        {
            Ok(outcome) => Some((case, Ok(outcome))),
            Err(_) => {
                *self = Self::new();
                Some((case, Err("an update did not end within 60 s".to_string())))
            }
        }
    }
}

/// Decodes and resumes; whether the bytes decoded into a state. A state that loads with
/// its original configuration must also train an update (one whose configuration was
/// edited into another valid one may ask for any amount of work: a billion epochs is a
/// valid, slow configuration, not a decoding problem).
fn resume(bytes: &[u8], original: &TrainConfig) -> bool {
    let Ok(state) = decode::<LearnerState>(bytes, FORMAT) else {
        return false;
    };
    let same = &state.config == original;
    if let Ok(mut l) = Learner::<B>::from_state(state, device())
        && same
    {
        let _ = l.update();
    }
    true
}

#[test]
fn a_hundred_thousand_mutated_checkpoints_are_errors_never_panics() {
    let states = states();
    let configs: Vec<TrainConfig> = states
        .iter()
        .map(|b| decode::<LearnerState>(b, FORMAT).unwrap().config)
        .collect();
    let mut rng = rng::seeded(
        std::env::var("RL_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(7),
    );
    let total: usize = std::env::var("RL_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    // Panics are caught and reported, not printed (RL_FUZZ_ONLY=N replays case N with
    // its backtrace).
    let only: Option<usize> = std::env::var("RL_FUZZ_ONLY")
        .ok()
        .and_then(|s| s.parse().ok());
    if only.is_none() {
        std::panic::set_hook(Box::new(|info| {
            let at = info.location().map(|l| l.to_string());
            WHERE.with(|w| *w.borrow_mut() = at);
        }));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut resumers: Vec<Resumer> = (0..cores).map(|_| Resumer::new()).collect();
    let mut kinds = vec![""; total];
    let mut panics = Vec::new();
    let mut reached = 0;
    let mut record =
        |(case, outcome): (usize, Result<Outcome, String>), kinds: &[&str]| match outcome {
            Ok((decoded, panic)) => {
                reached += usize::from(decoded);
                if let Some(p) = panic {
                    panics.push((case, format!("case {case} ({}) {p}", kinds[case])));
                }
            }
            Err(e) => panics.push((case, format!("case {case} ({}): {e}", kinds[case]))),
        };
    for i in 0..total {
        let base = &states[i % states.len()];
        let mut b = base.clone();
        let what = match i % 10 {
            // A flipped bit: the checksum catches it.
            0 => {
                let k = rng.random_range(0..b.len() * 8);
                b[k / 8] ^= 1 << (k % 8);
                "bit flip"
            }
            // Flipped bits in the payload with a recomputed checksum: the decoder sees them.
            1 | 2 => {
                for _ in 0..rng.random_range(1..4) {
                    let k = rng.random_range(HEADER * 8..b.len() * 8);
                    b[k / 8] ^= 1 << (k % 8);
                }
                seal(&mut b);
                "sealed bit flips"
            }
            // Cut short, with or without a header that agrees.
            3 => {
                b.truncate(rng.random_range(0..b.len()));
                if rng.random() {
                    seal(&mut b);
                }
                "truncation"
            }
            // The length field edited.
            4 => {
                let len = match rng.random_range(0..3) {
                    0 => u64::MAX,
                    1 => rng.random_range(0..(b.len() as u64 * 2)),
                    _ => (b.len() - HEADER) as u64 + 1,
                };
                b[12..20].copy_from_slice(&len.to_le_bytes());
                "length field"
            }
            // Structural edits, sealed.
            _ => {
                let payload = structural(&b[HEADER..], &mut rng);
                b.truncate(HEADER);
                b.extend_from_slice(&payload);
                seal(&mut b);
                "structural edit"
            }
        };
        if only.is_some_and(|o| o != i) {
            continue;
        }
        kinds[i] = what;
        // The resumer that took case i - cores before: answered by now, or soon.
        let resumer = &mut resumers[i % cores];
        if let Some(done) = resumer.receive() {
            record(done, &kinds);
        }
        resumer.send((i, b, configs[i % states.len()].clone()));
    }
    for resumer in &mut resumers {
        if let Some(done) = resumer.receive() {
            record(done, &kinds);
        }
    }
    let _ = std::panic::take_hook();
    panics.sort();
    let panics: Vec<String> = panics.into_iter().map(|(_, p)| p).collect();
    println!(
        "{total} mutated checkpoints, {reached} decoded into a state, {} panics",
        panics.len()
    );
    assert!(
        panics.is_empty(),
        "{} of {total} mutated checkpoints panicked, e.g.:\n{}",
        panics.len(),
        panics
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
