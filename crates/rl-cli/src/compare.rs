//! `rl compare` (train several learners over several seeds, aggregate, plot) and
//! `rl plot` (aggregate and plot again from the CSVs, without training).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rl_core::EnvSpec;
use rl_train::{Algo, Registry, TrainConfig};

use crate::plot::{PlotData, Series, draw_all};
use crate::run_dir::RunInfo;
use crate::stats::{Axis, EVAL_EPISODES, Run, Summary, bands, spread, summarize, table};
use crate::train::{HyperArgs, LiveStats, execute};
use crate::{Failure, emit, usage};

/// The "solved" criterion of the summary: a mean return over 100 episodes.
const WINDOW: usize = 100;

/// The mean return at which the summary counts an environment solved: its
/// `reward_threshold` (Gymnasium's); for Pendulum-v1, which registers none, -200 (about
/// rl-zoo's tuned result less a third of its spread); without one, never.
fn threshold(spec: &EnvSpec) -> f64 {
    match (spec.reward_threshold, spec.id.as_str()) {
        (Some(t), _) => t,
        (None, "Pendulum-v1") => -200.0,
        (None, _) => f64::INFINITY,
    }
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The learners, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "reinforce,baseline")]
    algos: Vec<Algo>,
    /// Number of seeds: runs use seeds 0, 1, ..., N-1.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// The comparison folder: one run folder per (learner, seed), the aggregate CSV, the
    /// summary and the plots.
    #[arg(long)]
    out: PathBuf,
    /// A TOML file of hyperparameters, applied to every run.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Runs at a time [default: the number of cores].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    jobs: Option<u64>,
    /// Overwrite --out if it already holds a comparison.
    #[arg(long)]
    force: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Train only the I-th of N slices of the (learner, seed) grid, I from 0: every N-th
    /// run starting at the I-th. N processes (a Slurm array job, one task per slice)
    /// fill one --out folder; `rl plot OUT` then aggregates what is there.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<Shard>,
    #[command(flatten)]
    hyper: HyperArgs,
}

/// One slice of a comparison's grid: runs `index`, `index + count`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    let bad = || format!("{s:?} is not a shard: expected I/N with 0 <= I < N, e.g. 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let index: usize = i.trim().parse().map_err(|_| bad())?;
    let count: usize = n.trim().parse().map_err(|_| bad())?;
    if count == 0 || index >= count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// A folder written by `rl compare`.
    dir: PathBuf,
}

pub fn compare(args: CompareArgs, registry: &Registry) -> Result<(), Failure> {
    if args.hyper.algo.is_some() || args.hyper.seed.is_some() {
        return Err(Failure::Usage(anyhow!(
            "rl compare takes --algos and --seeds, not --algo or --seed"
        )));
    }
    if args.out.join("summary.md").exists() && !args.force {
        return Err(Failure::Usage(anyhow!(
            "{} already holds a comparison: choose another --out, or pass --force to overwrite it",
            args.out.display()
        )));
    }
    let mut algos = args.algos.clone();
    algos.dedup();
    // A flag applies to the compared learners that use it; one that none uses is a
    // mistake, not a no-op.
    for flag in args.hyper.given() {
        if !algos.iter().any(|a| a.uses(flag)) {
            let names: Vec<_> = algos.iter().map(|a| a.name()).collect();
            return Err(Failure::Usage(anyhow!(
                "--{} is not used by {} (see rl train --help)",
                flag.replace('_', "-"),
                names.join(" or ")
            )));
        }
    }
    // Each learner from its own defaults and preset, then the file and the flags.
    let mut runs: Vec<(TrainConfig, PathBuf)> = Vec::new();
    for &algo in &algos {
        let mut base = args
            .hyper
            .resolve_for(registry, args.config.as_deref(), Some(algo))?;
        args.hyper.apply(&mut base, true);
        for seed in 0..args.seeds {
            let cfg = TrainConfig {
                seed,
                ..base.clone()
            };
            cfg.validate().map_err(|e| Failure::Usage(e.into()))?;
            runs.push((cfg, args.out.join(format!("{}-seed{seed}", algo.name()))));
        }
    }

    let grid = runs.len();
    if let Some(Shard { index, count }) = args.shard {
        runs = runs.into_iter().skip(index).step_by(count).collect();
    }

    // Train every (learner, seed) pair, up to `jobs` at a time. Each run is exactly
    // `rl train` with its seed: runs share nothing (weights are drawn from the run's own
    // generator, never from the backend's process-wide one).
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| j as usize,
    );
    // One bar per run in progress, with its live statistics, above a total that each
    // run advances by its fraction of its own budget, in per-mille.
    let total = 1000 * runs.len() as u64;
    let bars = MultiProgress::new();
    if args.quiet {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let bar = bars.add(ProgressBar::new(total));
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {percent}% of {msg}  [{elapsed_precise}]")
            .expect("a valid template"),
    );
    bar.set_message(format!("{} runs", runs.len()));
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.min(runs.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((cfg, dir)) = runs.get(i) else { break };
                    let (budget, unit) = cfg.budget();
                    let budget = budget.max(1);
                    let run_bar = bars.insert_before(&bar, ProgressBar::new(budget));
                    run_bar.set_style(
                        ProgressStyle::with_template(&format!(
                            "{{prefix:>16}} {{bar:20}} {{pos}}/{{len}} {unit}  {{msg}}"
                        ))
                        .expect("a valid template"),
                    );
                    run_bar.set_prefix(format!("{} seed {}", cfg.algo.name(), cfg.seed));
                    let mut live = LiveStats::new(Vec::new());
                    let mut shown = 0;
                    let result = execute(registry, cfg, dir, args.force, |report, progress| {
                        run_bar.set_position(progress);
                        run_bar.set_message(live.observe(report));
                        let now = (1000 * progress.min(budget)) / budget;
                        bar.inc(now - shown);
                        shown = now;
                    });
                    run_bar.finish_and_clear();
                    bars.remove(&run_bar);
                    if let Err(e) = result {
                        failures
                            .lock()
                            .expect("no worker panics")
                            .push((dir.clone(), e));
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    if let Some((dir, e)) = failures
        .into_inner()
        .expect("no worker panics")
        .into_iter()
        .next()
    {
        return Err(e.context(format!("run {}", dir.display())));
    }
    match args.shard {
        None => report(&args.out, registry),
        // Other slices may still be training: aggregating is `rl plot`'s job.
        Some(Shard { index, count }) => emit(&format!(
            "shard {index}/{count}: trained {} of the {grid} runs into {}; when every shard \
             has finished, `rl plot {}` aggregates and plots them\n",
            runs.len(),
            args.out.display(),
            args.out.display()
        )),
    }
}

pub fn plot(args: PlotArgs, registry: &Registry) -> Result<(), Failure> {
    report(&args.dir, registry)
}

/// A CSV column's values, found by its header; `None` if the file or the column is
/// missing, an error if a row does not parse.
fn column<T: std::str::FromStr>(path: &Path, name: &str) -> anyhow::Result<Option<Vec<T>>> {
    let Ok(mut reader) = csv::Reader::from_path(path) else {
        return Ok(None);
    };
    let Some(i) = reader.headers()?.iter().position(|h| h == name) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for (row, rec) in reader.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), row + 2))?;
        let v = rec.get(i).and_then(|v| v.parse().ok()).with_context(|| {
            format!("{}: row {} has no numeric {name}", path.display(), row + 2)
        })?;
        out.push(v);
    }
    Ok(Some(out))
}

/// Reads every run of a comparison folder: the learner, seed, per-episode returns, steps
/// and times of each, and the greedy evaluation of its final policy.
pub fn load(dir: &Path, registry: &Registry) -> anyhow::Result<PlotData> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut env: Option<String> = None;
    let mut series: Vec<Series> = Vec::new();
    let mut steps_budget = false;
    let mut subdirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("config.toml").exists())
        .collect();
    subdirs.sort();
    for run in subdirs {
        let info = RunInfo::load(&run)?;
        let id = registry.get(&info.train.env)?.id();
        match &env {
            Some(e) if e != id => bail!(
                "{} trains {id}, the others {e}: one environment per comparison",
                run.display()
            ),
            _ => env = Some(id.to_string()),
        }
        steps_budget |= info.train.algo.counts_steps();
        let returns = crate::run_dir::episodic_returns(&run)?;
        if returns.is_empty() {
            bail!("{} holds no episode", run.join("metrics.csv").display());
        }
        let metrics = run.join("metrics.csv");
        let steps: Vec<u64> = column(&metrics, "env_steps")?
            .with_context(|| format!("{} has no env_steps column", metrics.display()))?;
        let wall: Option<Vec<f64>> = column(&run.join("timing.csv"), "wall_time")
            .ok()
            .flatten()
            .filter(|w: &Vec<f64>| w.len() == returns.len());
        let eval = run
            .join("model.mpk")
            .exists()
            .then(|| crate::eval::returns(&run, registry, EVAL_EPISODES, 0, true))
            .transpose()?
            .map(|r| spread(&r).mean);
        let algo = info.train.algo.name().to_string();
        let r = Run {
            seed: info.train.seed,
            returns,
            steps,
            wall,
            eval,
        };
        match series.iter_mut().find(|s| s.algo == algo) {
            Some(s) => s.runs.push(r),
            None => series.push(Series {
                algo,
                runs: vec![r],
            }),
        }
    }
    let env = env.with_context(|| format!("{} holds no run (no */config.toml)", dir.display()))?;
    for s in &mut series {
        s.runs.sort_by_key(|r| r.seed);
    }
    let axis = if steps_budget {
        Axis::Steps
    } else {
        Axis::Episodes
    };
    Ok(PlotData { env, axis, series })
}

/// Aggregates, summarises and plots a comparison folder.
fn report(dir: &Path, registry: &Registry) -> Result<(), Failure> {
    let data = usage(load(dir, registry))?;
    let mut csv_out =
        csv::Writer::from_path(dir.join("aggregate.csv")).context("cannot create aggregate.csv")?;
    csv_out
        .write_record([
            "algo",
            data.axis.name(),
            "mean",
            "std",
            "min",
            "max",
            "seeds",
        ])
        .context("writing aggregate.csv")?;
    let spec = usage(
        registry
            .get(&data.env)
            .and_then(|s| s.spec(&TrainConfig::default()))
            .map_err(anyhow::Error::from),
    )?;
    let threshold = threshold(&spec);
    let mut summaries: Vec<Summary> = Vec::new();
    for s in &data.series {
        for (x, st) in bands(&s.runs, data.axis, WINDOW) {
            csv_out
                .write_record([
                    s.algo.clone(),
                    x.to_string(),
                    st.mean.to_string(),
                    st.std.to_string(),
                    st.min.to_string(),
                    st.max.to_string(),
                    s.runs.len().to_string(),
                ])
                .context("writing aggregate.csv")?;
        }
        summaries.push(summarize(&s.algo, &s.runs, WINDOW, threshold));
    }
    csv_out.flush().context("writing aggregate.csv")?;
    let text = format!("# {}\n\n{}", data.env, table(&summaries, WINDOW, threshold));
    fs::write(dir.join("summary.md"), &text).context("writing summary.md")?;
    let files = draw_all(&data, dir)?;
    let mut out = format!(
        "{text}\nwrote {} and {}\n",
        dir.join("aggregate.csv").display(),
        dir.join("summary.md").display()
    );
    for f in files {
        out += &format!("wrote {}\n", f.display());
    }
    emit(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_task_is_counted_solved_at_its_own_line() {
        let lines: Vec<f64> = rl_core::Builtin::ALL
            .into_iter()
            .map(|b| threshold(&b.make().spec()))
            .collect();
        // Bandit, CartPole, Acrobot, MountainCar, MountainCarContinuous, Pendulum.
        assert_eq!(lines, [f64::INFINITY, 475.0, -100.0, -110.0, 90.0, -200.0]);
    }
}
