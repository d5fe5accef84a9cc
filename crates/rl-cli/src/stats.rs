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

/// One learner's summary over seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The learner.
    pub algo: String,
    /// Per seed, the episode at which the 100-episode mean first reaches the threshold.
    pub solved: Vec<Option<usize>>,
    /// Per seed, the mean return of the last 100 episodes.
    pub final_means: Vec<f64>,
    /// The mean over episodes of the across-seed standard deviation of the return.
    pub curve_std: f64,
}

/// Summarises the curves (one per seed) of a learner.
pub fn summarize(algo: &str, curves: &[Vec<f64>], window: usize, threshold: f64) -> Summary {
    let solved = curves
        .iter()
        .map(|c| first_reaching(c, window, threshold))
        .collect();
    let final_means = curves
        .iter()
        .map(|c| spread(&c[c.len().saturating_sub(window)..]).mean)
        .collect();
    let per_episode = across_seeds(curves);
    let curve_std =
        per_episode.iter().map(|s| s.std).sum::<f64>() / per_episode.len().max(1) as f64;
    Summary {
        algo: algo.to_string(),
        solved,
        final_means,
        curve_std,
    }
}

impl Summary {
    /// The median episode of reaching the threshold, counting "never" as later than any
    /// episode (so more than half "never" gives `None`).
    pub fn median_solved(&self) -> Option<f64> {
        let mut v: Vec<f64> = self
            .solved
            .iter()
            .map(|s| s.map_or(f64::INFINITY, |e| e as f64))
            .collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let m = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        m.is_finite().then_some(m)
    }

    /// The table cell for reaching the threshold: median, range of those that did, and
    /// how many never did.
    pub fn solved_cell(&self) -> String {
        let reached: Vec<usize> = self.solved.iter().flatten().copied().collect();
        let never = self.solved.len() - reached.len();
        let median = self
            .median_solved()
            .map_or("never".to_string(), |m| format!("{m:.0}"));
        let range = match (reached.iter().min(), reached.iter().max()) {
            (Some(lo), Some(hi)) => format!("{lo}-{hi}"),
            _ => "-".to_string(),
        };
        format!(
            "{median} (range {range}; never {never}/{})",
            self.solved.len()
        )
    }
}

/// The summary table as Markdown.
pub fn table(summaries: &[Summary], window: usize, threshold: f64) -> String {
    let mut s = format!(
        "| learner | seeds | episode the {window}-episode mean first reaches {threshold} (median) | final {window}-episode mean (mean ± std over seeds) | across-seed std of the return (mean over episodes) |\n| --- | --- | --- | --- | --- |\n"
    );
    for m in summaries {
        let f = spread(&m.final_means);
        s.push_str(&format!(
            "| {} | {} | {} | {:.1} ± {:.1} | {:.1} |\n",
            m.algo,
            m.solved.len(),
            m.solved_cell(),
            f.mean,
            f.std,
            m.curve_std
        ));
    }
    s
}

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

    #[test]
    fn summary_counts_never_honestly() {
        let curves = vec![vec![500.0; 4], vec![0.0, 500.0, 500.0, 500.0], vec![0.0; 4]];
        let s = summarize("x", &curves, 2, 475.0);
        assert_eq!(s.solved, vec![Some(2), Some(3), None]);
        assert_eq!(s.median_solved(), Some(3.0));
        assert_eq!(s.solved_cell(), "3 (range 2-3; never 1/3)");
        assert_eq!(s.final_means, vec![500.0, 500.0, 0.0]);
        let all_never = summarize("y", &[vec![0.0; 4], vec![0.0; 4]], 2, 475.0);
        assert_eq!(all_never.median_solved(), None);
        assert!(all_never.solved_cell().starts_with("never"));
        // Per-episode std across the three seeds, averaged: e0 std(500,0,0), e1..3 std(500,500,0).
        let e0 = spread(&[500.0, 0.0, 0.0]).std;
        let e1 = spread(&[500.0, 500.0, 0.0]).std;
        assert!((s.curve_std - (e0 + 3.0 * e1) / 4.0).abs() < 1e-9);
        assert!(
            table(&[s], 2, 475.0).contains("| x | 3 | 3 (range 2-3; never 1/3) | 333.3 ± 288.7 |")
        );
    }
}
