//! Data-parallel training: W workers, one run.
//!
//! Each worker steps its own slice of the run's environments, computes gradients on its
//! own rollout, and every minibatch the gradients are summed over the workers (one flat
//! buffer per step) and divided by W, so every worker applies the same optimiser step to
//! the same weights. A [`Collective`] is the engine that sums; this module holds what
//! the learner builds on it: gathers of variable-length data (episode records, learner
//! states), a broadcast from rank 0, and the parameter fingerprint that proves the
//! workers still hold the same weights.
//!
//! Everything travels as `f32` sums in which exactly one worker contributes each
//! non-zero element, so a gather is exact: bytes ride as 16-bit values (exact in `f32`),
//! `x + 0 = x`.

use std::fmt;

#[cfg(feature = "mpi")]
pub mod mpi;

/// What sums buffers over the workers of a run. Every worker calls [`sum`](Self::sum)
/// the same number of times, with buffers of the same length; every worker gets the
/// same bits back.
pub trait Collective: Send {
    /// This worker's rank, `0..workers`.
    fn rank(&self) -> usize;
    /// The number of workers.
    fn workers(&self) -> usize;
    /// The element-wise sum of `values` over every worker.
    fn sum(&mut self, values: Vec<f32>) -> Result<Vec<f32>, CollectiveError>;

    /// The exchanges made so far and the time spent in them (waiting for the other
    /// workers included), where the engine keeps count.
    fn spent(&self) -> Option<(u64, std::time::Duration)> {
        None
    }
}

/// A collective operation that failed: a worker is gone, or the workers disagree.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectiveError(pub String);

impl fmt::Display for CollectiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CollectiveError {}

/// `values` with `mine` in this worker's slot of `slot` elements, zeros elsewhere.
fn slotted(c: &dyn Collective, slot: usize, mine: &[f32]) -> Vec<f32> {
    let mut v = vec![0.0; slot * c.workers()];
    v[c.rank() * slot..][..mine.len()].copy_from_slice(mine);
    v
}

/// A `u64` as four 16-bit values, each exact in `f32`.
pub(crate) fn u64_to_f32s(x: u64) -> [f32; 4] {
    std::array::from_fn(|k| ((x >> (16 * k)) & 0xFFFF) as f32)
}

/// The inverse of [`u64_to_f32s`]; `None` if a value is not a 16-bit integer (a sum
/// that was not a gather).
pub(crate) fn f32s_to_u64(v: &[f32]) -> Option<u64> {
    let mut x = 0u64;
    for (k, &f) in v.iter().take(4).enumerate() {
        if !(0.0..65536.0).contains(&f) || f.fract() != 0.0 {
            return None;
        }
        x |= (f as u64) << (16 * k);
    }
    Some(x)
}

fn garbled() -> CollectiveError {
    CollectiveError("a gather returned values no worker sent (the workers are out of step)".into())
}

/// Every worker's `mine`, in rank order (the lengths may differ).
pub fn gather_f32(c: &mut dyn Collective, mine: &[f32]) -> Result<Vec<Vec<f32>>, CollectiveError> {
    let lens = c.sum(slotted(c, 4, &u64_to_f32s(mine.len() as u64)))?;
    let lens = lens
        .chunks(4)
        .map(|l| f32s_to_u64(l).map(|n| n as usize))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(garbled)?;
    let total = lens.iter().sum::<usize>();
    let offset = lens[..c.rank()].iter().sum::<usize>();
    let mut v = vec![0.0; total];
    v[offset..offset + mine.len()].copy_from_slice(mine);
    let all = c.sum(v)?;
    let mut out = Vec::with_capacity(lens.len());
    let mut at = 0;
    for n in lens {
        out.push(all[at..at + n].to_vec());
        at += n;
    }
    Ok(out)
}

/// Every worker's `mine` bytes, in rank order.
pub fn gather_bytes(c: &mut dyn Collective, mine: &[u8]) -> Result<Vec<Vec<u8>>, CollectiveError> {
    // Two bytes per value, and the length first (an odd length pads one byte).
    let mut v = u64_to_f32s(mine.len() as u64).to_vec();
    v.extend(
        mine.chunks(2)
            .map(|p| f32::from(u16::from_le_bytes([p[0], *p.get(1).unwrap_or(&0)]))),
    );
    gather_f32(c, &v)?
        .into_iter()
        .map(|v| {
            let n = f32s_to_u64(&v).ok_or_else(garbled)? as usize;
            let mut bytes = Vec::with_capacity(n + 1);
            for &f in v.get(4..).unwrap_or_default() {
                if !(0.0..65536.0).contains(&f) || f.fract() != 0.0 {
                    return Err(garbled());
                }
                bytes.extend_from_slice(&(f as u16).to_le_bytes());
            }
            if bytes.len() < n {
                return Err(garbled());
            }
            bytes.truncate(n);
            Ok(bytes)
        })
        .collect()
}

/// Rank 0's bytes on every worker (`mine` is read on rank 0 only).
pub fn broadcast_bytes(c: &mut dyn Collective, mine: &[u8]) -> Result<Vec<u8>, CollectiveError> {
    let sent: &[u8] = if c.rank() == 0 { mine } else { &[] };
    Ok(gather_bytes(c, sent)?.swap_remove(0))
}

/// Checks that every worker holds the same `fingerprint` (of its parameters): a clear
/// error naming the first worker that differs from rank 0.
pub fn check_same(
    c: &mut dyn Collective,
    fingerprint: u64,
    what: &str,
) -> Result<(), CollectiveError> {
    let all = c.sum(slotted(c, 4, &u64_to_f32s(fingerprint)))?;
    let prints = all
        .chunks(4)
        .map(f32s_to_u64)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(garbled)?;
    match prints.iter().position(|&p| p != prints[0]) {
        None => Ok(()),
        Some(r) => Err(CollectiveError(format!(
            "the workers' {what} have diverged: rank {r} holds {:016x}, rank 0 {:016x}",
            prints[r], prints[0]
        ))),
    }
}

/// Whether `flag` is set on any worker.
pub fn any(c: &mut dyn Collective, flag: bool) -> Result<bool, CollectiveError> {
    Ok(c.sum(vec![f32::from(u8::from(flag))])?[0] > 0.0)
}

/// FNV-1a over the bits of `values`: a cheap fingerprint of a worker's parameters.
pub fn fingerprint(values: impl IntoIterator<Item = f32>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in values {
        for b in v.to_bits().to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Workers in threads of one process, summing through shared memory: the reference the
/// network engines are tested against, and what the learner's own tests use.
pub mod threads {
    use std::sync::{Arc, Barrier, Mutex};

    use super::{Collective, CollectiveError};

    #[derive(Debug)]
    struct Shared {
        barrier: Barrier,
        slots: Mutex<Vec<Vec<f32>>>,
        result: Mutex<Vec<f32>>,
    }

    /// One worker of a [`team`].
    #[derive(Debug)]
    pub struct ThreadCollective {
        rank: usize,
        workers: usize,
        shared: Arc<Shared>,
    }

    /// `workers` connected workers, to be moved to one thread each.
    pub fn team(workers: usize) -> Vec<ThreadCollective> {
        let shared = Arc::new(Shared {
            barrier: Barrier::new(workers),
            slots: Mutex::new(vec![Vec::new(); workers]),
            result: Mutex::new(Vec::new()),
        });
        (0..workers)
            .map(|rank| ThreadCollective {
                rank,
                workers,
                shared: shared.clone(),
            })
            .collect()
    }

    impl Collective for ThreadCollective {
        fn rank(&self) -> usize {
            self.rank
        }

        fn workers(&self) -> usize {
            self.workers
        }

        fn sum(&mut self, values: Vec<f32>) -> Result<Vec<f32>, CollectiveError> {
            let s = &self.shared;
            s.slots.lock().expect("not poisoned")[self.rank] = values;
            if s.barrier.wait().is_leader() {
                let slots = s.slots.lock().expect("not poisoned");
                let n = slots[0].len();
                if slots.iter().any(|v| v.len() != n) {
                    *s.result.lock().expect("not poisoned") = Vec::new();
                } else {
                    // In rank order, as a two-worker network sum (a + b = b + a).
                    let mut out = slots[0].clone();
                    for v in &slots[1..] {
                        for (o, x) in out.iter_mut().zip(v) {
                            *o += x;
                        }
                    }
                    *s.result.lock().expect("not poisoned") = out;
                }
            }
            s.barrier.wait();
            let out = s.result.lock().expect("not poisoned").clone();
            let n = s.slots.lock().expect("not poisoned")[self.rank].len();
            s.barrier.wait();
            if out.len() != n {
                return Err(CollectiveError(
                    "the workers summed buffers of different lengths".into(),
                ));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::threads::team;
    use super::*;

    fn on_team<T: Send + 'static>(
        workers: usize,
        f: impl Fn(&mut dyn Collective) -> T + Send + Sync + 'static,
    ) -> Vec<T> {
        let f = std::sync::Arc::new(f);
        let handles: Vec<_> = team(workers)
            .into_iter()
            .map(|mut c| {
                let f = f.clone();
                std::thread::spawn(move || f(&mut c))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }

    #[test]
    fn u64s_survive_the_f32_encoding() {
        for x in [0, 1, 65535, 65536, u64::MAX, 0x0123_4567_89ab_cdef] {
            assert_eq!(f32s_to_u64(&u64_to_f32s(x)), Some(x));
        }
        assert_eq!(f32s_to_u64(&[0.5, 0.0, 0.0, 0.0]), None);
        assert_eq!(f32s_to_u64(&[65536.0, 0.0, 0.0, 0.0]), None);
    }

    #[test]
    fn gathers_are_exact_and_in_rank_order() {
        let out = on_team(3, |c| {
            let r = c.rank();
            let mine: Vec<u8> = (0..(r * 5 + 1) as u8).map(|b| b.wrapping_mul(37)).collect();
            let bytes = gather_bytes(c, &mine).unwrap();
            let floats = gather_f32(c, &vec![f32::MIN_POSITIVE * r as f32; r]).unwrap();
            let root = broadcast_bytes(c, format!("from {r}").as_bytes()).unwrap();
            (bytes, floats, root)
        });
        for (bytes, floats, root) in out {
            for (r, b) in bytes.iter().enumerate() {
                let want: Vec<u8> = (0..(r * 5 + 1) as u8).map(|b| b.wrapping_mul(37)).collect();
                assert_eq!(b, &want);
                assert_eq!(floats[r], vec![f32::MIN_POSITIVE * r as f32; r]);
            }
            assert_eq!(root, b"from 0");
        }
    }

    #[test]
    fn a_diverged_worker_is_named() {
        let out = on_team(3, |c| {
            let print = if c.rank() == 2 { 7 } else { 5 };
            (check_same(c, 5, "weights"), check_same(c, print, "weights"))
        });
        for (same, differ) in out {
            assert_eq!(same, Ok(()));
            let e = differ.unwrap_err().0;
            assert!(e.contains("rank 2"), "{e}");
        }
        let flags = on_team(2, |c| {
            let second = c.rank() == 1;
            (any(c, false).unwrap(), any(c, second).unwrap())
        });
        assert!(flags.iter().all(|&(a, b)| !a && b));
    }

    #[test]
    fn the_fingerprint_sees_every_bit() {
        assert_ne!(fingerprint([0.0]), fingerprint([-0.0]));
        assert_ne!(fingerprint([1.0, 2.0]), fingerprint([2.0, 1.0]));
        assert_eq!(fingerprint([1.5, 2.5]), fingerprint(vec![1.5, 2.5]));
    }
}
