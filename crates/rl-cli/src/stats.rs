//! Statistics of learning curves across seeds, for `rl compare`.

/// The trailing moving average: entry `i` is the mean of `x[i + 1 - w ..= i]`, over the
/// episodes available at the start (fewer than `w`).
pub fn moving_average(x: &[f64], w: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    let mut sum = 0.0;
    for i in 0..x.len() {
        sum += x[i];
        if i >= w {
            sum -= x[i - w];
        }
        out.push(sum / (i + 1).min(w) as f64);
    }
    out
}

/// The 1-based episode at which the mean of the last `w` episodes first reaches
/// `threshold` (a full window only, as Gym's "solved" criterion); `None` if never.
pub fn first_reaching(x: &[f64], w: usize, threshold: f64) -> Option<usize> {
    if x.len() < w {
        return None;
    }
    let mut sum: f64 = x[..w].iter().sum();
    if sum / w as f64 >= threshold {
        return Some(w);
    }
    for i in w..x.len() {
        sum += x[i] - x[i - w];
        if sum / w as f64 >= threshold {
            return Some(i + 1);
        }
    }
    None
}

/// Mean, sample standard deviation (n - 1; 0 for one seed), min and max.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
}

/// The spread of a sample.
pub fn spread(x: &[f64]) -> Spread {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let std = if x.len() > 1 {
        (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    let min = x.iter().copied().fold(f64::INFINITY, f64::min);
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Spread {
        mean,
        std,
        min,
        max,
    }
}

/// Per episode, the spread across seeds (over the episodes every seed has).
pub fn across_seeds(curves: &[Vec<f64>]) -> Vec<Spread> {
    let len = curves.iter().map(Vec::len).min().unwrap_or(0);
    (0..len)
        .map(|e| spread(&curves.iter().map(|c| c[e]).collect::<Vec<_>>()))
        .collect()
}

/// One run of a comparison, as its files hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The run's seed.
    pub seed: u64,
    /// Per episode, the return.
    pub returns: Vec<f64>,
    /// Per episode, the run's environment steps when it ended.
    pub steps: Vec<u64>,
    /// Per episode, seconds of training when it ended (`None` without a readable
    /// `timing.csv`).
    pub wall: Option<Vec<f64>>,
    /// The mean return of the final policy's greedy evaluation (`None` without a
    /// model).
    pub eval: Option<f64>,
}

/// One learner's summary over seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The learner.
    pub algo: String,
    /// Per seed, the episode at which the window's mean first reaches the threshold.
    pub solved: Vec<Option<usize>>,
    /// Per seed, the environment steps at that episode.
    pub solved_steps: Vec<Option<f64>>,
    /// Per seed, the seconds of training at that episode.
    pub solved_wall: Vec<Option<f64>>,
    /// Per seed, the mean return of the last `window` episodes.
    pub final_means: Vec<f64>,
    /// Per seed, the greedy evaluation of the final policy.
    pub evals: Vec<Option<f64>>,
    /// The mean over episodes of the across-seed standard deviation of the return.
    pub curve_std: f64,
}

/// Summarises the runs (one per seed) of a learner.
pub fn summarize(algo: &str, runs: &[Run], window: usize, threshold: f64) -> Summary {
    let solved: Vec<Option<usize>> = runs
        .iter()
        .map(|r| first_reaching(&r.returns, window, threshold))
        .collect();
    let at = |v: &[f64], e: Option<usize>| e.and_then(|e| v.get(e - 1).copied());
    let solved_steps = runs
        .iter()
        .zip(&solved)
        .map(|(r, &e)| e.and_then(|e| r.steps.get(e - 1).map(|&s| s as f64)))
        .collect();
    let solved_wall = runs
        .iter()
        .zip(&solved)
        .map(|(r, &e)| r.wall.as_deref().and_then(|w| at(w, e)))
        .collect();
    let final_means = runs
        .iter()
        .map(|r| spread(&r.returns[r.returns.len().saturating_sub(window)..]).mean)
        .collect();
    let curves: Vec<Vec<f64>> = runs.iter().map(|r| r.returns.clone()).collect();
    let per_episode = across_seeds(&curves);
    let curve_std =
        per_episode.iter().map(|s| s.std).sum::<f64>() / per_episode.len().max(1) as f64;
    Summary {
        algo: algo.to_string(),
        solved,
        solved_steps,
        solved_wall,
        final_means,
        evals: runs.iter().map(|r| r.eval).collect(),
        curve_std,
    }
}

/// The median of values where `None` ("never") counts as later than any value, so more
/// than half `None` gives `None`.
pub fn median_never_last(values: &[Option<f64>]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = values.iter().map(|s| s.unwrap_or(f64::INFINITY)).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let m = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    m.is_finite().then_some(m)
}

/// A cell for when the threshold was reached: the median, the range of those that did
/// and how many never did, with `fmt` for the values.
fn reached_cell(values: &[Option<f64>], fmt: impl Fn(f64) -> String) -> String {
    let reached: Vec<f64> = values.iter().flatten().copied().collect();
    let never = values.len() - reached.len();
    let median = median_never_last(values).map_or("never".to_string(), &fmt);
    let lo = reached.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = reached.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let range = if reached.is_empty() {
        "-".to_string()
    } else {
        format!("{}-{}", fmt(lo), fmt(hi))
    };
    format!("{median} (range {range}; never {never}/{})", values.len())
}

impl Summary {
    /// The table cell for reaching the threshold: median, range of those that did, and
    /// how many never did.
    pub fn solved_cell(&self) -> String {
        let v: Vec<Option<f64>> = self.solved.iter().map(|s| s.map(|e| e as f64)).collect();
        reached_cell(&v, |e| format!("{e:.0}"))
    }

    /// The same for the environment steps at that episode.
    pub fn steps_cell(&self) -> String {
        reached_cell(&self.solved_steps, |s| format!("{s:.0}"))
    }

    /// The same for the seconds of training at that episode (`-` without timings).
    pub fn wall_cell(&self) -> String {
        if self.solved.iter().flatten().count() > self.solved_wall.iter().flatten().count() {
            return "-".into();
        }
        reached_cell(&self.solved_wall, |s| format!("{s:.2} s"))
    }

    /// The greedy evaluation: mean ± std over seeds, and how many seeds reach
    /// `threshold` (`-` where a run has no model).
    pub fn eval_cell(&self, threshold: f64) -> String {
        let evals: Vec<f64> = self.evals.iter().flatten().copied().collect();
        if evals.len() != self.evals.len() || evals.is_empty() {
            return "-".into();
        }
        let s = spread(&evals);
        let solved = evals.iter().filter(|&&e| e >= threshold).count();
        format!(
            "{:.1} ± {:.1} ({solved}/{} ≥ {threshold})",
            s.mean,
            s.std,
            evals.len()
        )
    }
}

/// The summary table as Markdown.
pub fn table(summaries: &[Summary], window: usize, threshold: f64) -> String {
    let mut s = format!(
        "| learner | seeds | final policy, greedy, {EVAL_EPISODES} episodes (mean ± std over seeds) | {window}-episode mean first ≥ {threshold}: episode (median) | env steps then (median) | training time then (median) | final {window}-episode mean (mean ± std over seeds) | across-seed std of the return (mean over episodes) |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n"
    );
    for m in summaries {
        let f = spread(&m.final_means);
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.1} ± {:.1} | {:.1} |\n",
            m.algo,
            m.solved.len(),
            m.eval_cell(threshold),
            m.solved_cell(),
            m.steps_cell(),
            m.wall_cell(),
            f.mean,
            f.std,
            m.curve_std
        ));
    }
    s
}

/// What a learning curve is plotted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// The episode's number (budgets in episodes: REINFORCE, the baseline).
    Episodes,
    /// The run's environment steps when the episode ended (budgets in steps: A2C, PPO).
    Steps,
}

impl Axis {
    /// The axis's name, as `aggregate.csv`'s column and the plots' label.
    pub fn name(self) -> &'static str {
        match self {
            Axis::Episodes => "episode",
            Axis::Steps => "env_steps",
        }
    }

    /// Where episode `i` (0-based) of `run` sits on this axis.
    pub fn x(self, run: &Run, i: usize) -> f64 {
        match self {
            Axis::Episodes => (i + 1) as f64,
            Axis::Steps => run.steps[i] as f64,
        }
    }
}

/// Points of the environment-steps axis where [`bands`] compares seeds.
const GRID: usize = 200;

/// The spread across seeds of each run's `window`-episode moving average: per episode
/// (over the episodes every run has), or at evenly spaced environment steps (over the
/// steps every run covers, each run's average as it stood at that step).
pub fn bands(runs: &[Run], axis: Axis, window: usize) -> Vec<(f64, Spread)> {
    let smoothed: Vec<Vec<f64>> = runs
        .iter()
        .map(|r| moving_average(&r.returns, window))
        .collect();
    match axis {
        Axis::Episodes => across_seeds(&smoothed)
            .into_iter()
            .enumerate()
            .map(|(e, s)| ((e + 1) as f64, s))
            .collect(),
        Axis::Steps => {
            let first = runs.iter().filter_map(|r| r.steps.first()).max();
            let last = runs.iter().filter_map(|r| r.steps.last()).min();
            let (Some(&lo), Some(&hi)) = (first, last) else {
                return Vec::new();
            };
            if hi < lo {
                return Vec::new();
            }
            let points = if hi == lo { 1 } else { GRID };
            (0..points)
                .map(|k| {
                    let x = lo as f64 + (hi - lo) as f64 * k as f64 / (points - 1).max(1) as f64;
                    let at: Vec<f64> = runs
                        .iter()
                        .zip(&smoothed)
                        .map(|(r, ma)| {
                            // The last episode that had ended by step x.
                            let i = r.steps.partition_point(|&s| s as f64 <= x);
                            ma[i.saturating_sub(1)]
                        })
                        .collect();
                    (x, spread(&at))
                })
                .collect()
        }
    }
}

/// Episodes of the greedy evaluation of each compared run's final policy.
pub const EVAL_EPISODES: u64 = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_average_by_hand() {
        assert_eq!(
            moving_average(&[1.0, 2.0, 3.0, 4.0], 2),
            vec![1.0, 1.5, 2.5, 3.5]
        );
        assert_eq!(moving_average(&[], 3), Vec::<f64>::new());
    }

    #[test]
    fn first_reaching_needs_a_full_window() {
        // Windows of 2: (1,5)=3, (5,5)=5 -> reaches 5 at episode 3.
        assert_eq!(first_reaching(&[1.0, 5.0, 5.0, 0.0], 2, 5.0), Some(3));
        assert_eq!(
            first_reaching(&[9.0], 2, 5.0),
            None,
            "one episode is not a window of two"
        );
        assert_eq!(first_reaching(&[6.0, 6.0], 2, 5.0), Some(2));
        assert_eq!(first_reaching(&[1.0, 1.0, 1.0], 2, 5.0), None);
    }

    #[test]
    fn spread_by_hand() {
        let s = spread(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!((s.mean, s.min, s.max), (2.5, 1.0, 4.0));
        assert!((s.std - (5.0_f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(spread(&[7.0]).std, 0.0);
    }

    #[test]
    fn across_seeds_by_hand() {
        let a = across_seeds(&[vec![1.0, 10.0, 5.0], vec![3.0, 20.0]]);
        assert_eq!(a.len(), 2, "only the episodes every seed has");
        assert_eq!((a[0].mean, a[0].min, a[0].max), (2.0, 1.0, 3.0));
        assert!((a[1].std - 50.0_f64.sqrt()).abs() < 1e-12);
    }

    fn runs(curves: Vec<Vec<f64>>) -> Vec<Run> {
        curves
            .into_iter()
            .enumerate()
            .map(|(i, returns)| Run {
                seed: i as u64,
                steps: (1..=returns.len() as u64).map(|e| 10 * e).collect(),
                wall: Some((1..=returns.len()).map(|e| e as f64 / 4.0).collect()),
                eval: Some(if returns[returns.len() - 1] > 0.0 {
                    500.0
                } else {
                    9.0
                }),
                returns,
            })
            .collect()
    }

    #[test]
    fn bands_compare_seeds_per_episode_or_at_the_same_step() {
        let rs = runs(vec![vec![1.0, 3.0, 5.0], vec![3.0, 5.0]]);
        let e = bands(&rs, Axis::Episodes, 1);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].0, e[0].1.mean, e[1].1.mean), (1.0, 2.0, 4.0));
        // Steps 10, 20(, 30): the grid spans 10..=20, where both runs have episodes.
        let mut rs = rs;
        rs[1].steps = vec![15, 20];
        let s = bands(&rs, Axis::Steps, 1);
        assert_eq!(s.len(), GRID);
        assert_eq!(s[0].0, 15.0);
        assert_eq!(s[GRID - 1].0, 20.0);
        // At step 15: run 0's latest episode is the first (1), run 1's the first (3).
        assert_eq!(s[0].1.mean, 2.0);
        // At step 20: 3 and 5.
        assert_eq!(s[GRID - 1].1.mean, 4.0);
    }

    #[test]
    fn summary_counts_never_honestly() {
        let curves = vec![vec![500.0; 4], vec![0.0, 500.0, 500.0, 500.0], vec![0.0; 4]];
        let s = summarize("x", &runs(curves), 2, 475.0);
        assert_eq!(s.solved, vec![Some(2), Some(3), None]);
        assert_eq!(median_never_last(&[Some(2.0), Some(3.0), None]), Some(3.0));
        assert_eq!(s.solved_cell(), "3 (range 2-3; never 1/3)");
        assert_eq!(s.final_means, vec![500.0, 500.0, 0.0]);
        let all_never = summarize("y", &runs(vec![vec![0.0; 4], vec![0.0; 4]]), 2, 475.0);
        assert_eq!(median_never_last(&[None, None]), None);
        assert!(all_never.solved_cell().starts_with("never"));
        // Per-episode std across the three seeds, averaged: e0 std(500,0,0), e1..3 std(500,500,0).
        let e0 = spread(&[500.0, 0.0, 0.0]).std;
        let e1 = spread(&[500.0, 500.0, 0.0]).std;
        assert!((s.curve_std - (e0 + 3.0 * e1) / 4.0).abs() < 1e-9);
        // Steps and seconds at the episode that reached it: 10 and 1/4 per episode here.
        assert_eq!(s.steps_cell(), "30 (range 20-30; never 1/3)");
        assert_eq!(s.wall_cell(), "0.75 s (range 0.50 s-0.75 s; never 1/3)");
        assert_eq!(s.eval_cell(475.0), "336.3 ± 283.5 (2/3 ≥ 475)");
        assert!(
            table(&[s], 2, 475.0).contains(
                "| x | 3 | 336.3 ± 283.5 (2/3 ≥ 475) | 3 (range 2-3; never 1/3) | 30 (range 20-30; never 1/3) | 0.75 s (range 0.50 s-0.75 s; never 1/3) | 333.3 ± 288.7 |"
            )
        );
    }
}
