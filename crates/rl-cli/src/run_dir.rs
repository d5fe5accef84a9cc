//! The files of a run folder:
//!
//! - `config.toml`: the resolved configuration, with the backend and versions;
//! - `metrics.csv`: one row per episode, the learning metrics only, so that the same run
//!   gives the same bytes every time;
//! - `timing.csv`: one row per episode, steps per second and wall time (these vary);
//! - `updates.csv`: one row per update, the learning rate, the loss terms and the
//!   diagnostics (CleanRL's `charts/*` and `losses/*` names, without the prefixes);
//! - `checkpoint.bin`: everything needed to resume exactly (see [`RunCheckpoint`]);
//! - `model.mpk`: the trained network, Burn's named MessagePack record at full precision;
//! - `normalization.json` (runs that normalise observations or rewards): the final
//!   statistics, which a trained policy's observations go through, frozen.
//!
//! Every file but the CSV logs is replaced atomically; the logs are rebuilt from the
//! checkpoint on resume, so rows written after it (by a run that was killed) are dropped
//! and written again, identically.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::prelude::Backend;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use rl_core::{EnvSpec, Normalizer};
use rl_models::ActorCritic;
use rl_train::checkpoint::{self, write_atomic};
use rl_train::{
    EnvSource, EpisodeRecord, LearnerState, Registry, TrainConfig, UpdateReport, model_config,
};
use serde::{Deserialize, Serialize};

/// The version of the run-folder format; a folder of another version is refused.
pub const FORMAT: u32 = 1;
/// The version of `checkpoint.bin`'s layout; a checkpoint of another is refused.
/// Version 2: the learner's state holds the minibatch generator and its optimiser's
/// kind, and the checkpoint holds `updates.csv`. Version 3: the environments are saved
/// as their vectorised environment's snapshot bytes (absent for environments that
/// cannot be saved).
pub const CHECKPOINT_FORMAT: u32 = 3;
const CONFIG: &str = "config.toml";
const METRICS: &str = "metrics.csv";
const TIMING: &str = "timing.csv";
const UPDATES: &str = "updates.csv";
const CHECKPOINT: &str = "checkpoint.bin";
const MODEL: &str = "model.mpk";
const NORMALIZATION: &str = "normalization.json";
const LOCK: &str = "rl.lock";

/// The files `rl train` writes into a run folder (and `--force` removes).
const RUN_FILES: [&str; 7] = [
    CONFIG,
    METRICS,
    TIMING,
    UPDATES,
    CHECKPOINT,
    MODEL,
    NORMALIZATION,
];

/// What `config.toml` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    /// [`FORMAT`].
    pub format: u32,
    /// The backend the run was trained on.
    pub backend: String,
    /// `rl` version.
    pub rl_version: String,
    /// Burn version.
    pub burn_version: String,
    /// The resolved training configuration.
    pub train: TrainConfig,
}

impl RunInfo {
    pub fn new(train: TrainConfig) -> Self {
        Self {
            format: FORMAT,
            backend: rl_models::backend::NAME.into(),
            rl_version: env!("CARGO_PKG_VERSION").into(),
            burn_version: "0.21.0".into(),
            train,
        }
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(CONFIG);
        let text = fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {}: is {} a run folder?",
                path.display(),
                dir.display()
            )
        })?;
        // The format first, so that a folder of another version says so rather than
        // failing on a field it does not know.
        #[derive(Deserialize)]
        struct Format {
            format: Option<u32>,
        }
        let format = toml::from_str::<Format>(&text).ok().and_then(|f| f.format);
        if let Some(f) = format
            && f != FORMAT
        {
            bail!(
                "{} has format version {f}, this rl reads version {FORMAT}",
                path.display()
            );
        }
        let info: RunInfo = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid run configuration", path.display()))?;
        info.train
            .validate()
            .with_context(|| format!("{}", path.display()))?;
        Ok(info)
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self).context("serialising the configuration")?;
        write_atomic(&dir.join(CONFIG), text.as_bytes())?;
        Ok(())
    }
}

/// Everything a run folder needs to continue: the learner's whole state and the two logs
/// as they stood, with the backend it was written by.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunCheckpoint {
    /// The backend of the run; resuming on another would not repeat it exactly.
    pub backend: String,
    /// `rl` version that wrote it.
    pub rl_version: String,
    /// The learner.
    pub learner: LearnerState,
    /// `metrics.csv` as it stood.
    pub metrics: String,
    /// `timing.csv` as it stood.
    pub timing: String,
    /// `updates.csv` as it stood.
    pub updates: String,
}

pub fn checkpoint_path(dir: &Path) -> PathBuf {
    dir.join(CHECKPOINT)
}

impl RunCheckpoint {
    pub fn save(&self, dir: &Path) -> Result<()> {
        checkpoint::save(&checkpoint_path(dir), CHECKPOINT_FORMAT, self)?;
        Ok(())
    }

    /// The folder's checkpoint, refused if it was written by another backend.
    pub fn load(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            bail!("{} is not a folder: no run to resume", dir.display());
        }
        let c: RunCheckpoint = checkpoint::load(&checkpoint_path(dir), CHECKPOINT_FORMAT).map_err(|e| {
            match e {
                checkpoint::CheckpointError::Missing { .. } => anyhow::anyhow!(
                    "{} has no checkpoint ({CHECKPOINT} is missing): it is not a run folder, or its run never started",
                    dir.display()
                ),
                e => anyhow::Error::new(e),
            }
        })?;
        if c.backend != rl_models::backend::NAME {
            bail!(
                "{} was trained on the {} backend; this rl was built for {}: resume it with an rl built with `--features {}`",
                dir.display(),
                c.backend,
                rl_models::backend::NAME,
                c.backend
            );
        }
        Ok(c)
    }
}

/// An advisory lock on a run folder, held by the process training in it (so two
/// processes never write one run): an OS file lock (`flock`, or `LockFileEx` on Windows)
/// on `rl.lock`, which holds the holder's process id for the message the next one gets.
/// The lock ends with the process, however it ends; the file stays (removing a lock file
/// would let two processes lock two different files).
#[derive(Debug)]
pub struct RunLock {
    _file: fs::File,
}

impl RunLock {
    /// Takes the lock on `dir`, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        use std::io::{Read, Seek, Write};
        let path = dir.join(LOCK);
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                file.read_to_string(&mut holder).ok();
                let who = match holder.trim().parse::<u32>() {
                    Ok(pid) => format!("another rl process (pid {pid})"),
                    Err(_) => "another rl process".to_string(),
                };
                bail!(
                    "{} is in use by {who}: wait for it to finish or stop it before training there",
                    dir.display()
                );
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self { _file: file })
    }
}

/// Refuses an `--out` that is a file, or a folder that already holds a run unless
/// `force`, or a folder another process trains in; then locks it and, with `force`,
/// removes the old run's files (and nothing else).
pub fn prepare_out(dir: &Path, force: bool) -> Result<RunLock> {
    if dir.exists() && !dir.is_dir() {
        bail!("--out {} is a file, not a folder", dir.display());
    }
    let held = || -> Vec<&str> {
        RUN_FILES
            .iter()
            .copied()
            .filter(|f| dir.join(f).exists())
            .collect()
    };
    if !held().is_empty() && !force {
        {
            let what = match RunInfo::load(dir) {
                Ok(info) => format!(
                    " ({} on {}, seed {})",
                    info.train.algo.name(),
                    info.train.env,
                    info.train.seed
                ),
                Err(_) => String::new(),
            };
            bail!(
                "{} already holds a run{what}: continue it with `rl train --resume {}`, choose another --out, or pass --force to overwrite it",
                dir.display(),
                dir.display()
            );
        }
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let lock = RunLock::acquire(dir)?;
    // Under the lock: the run's files, and any temporary file a killed write left behind.
    let held = held();
    if !held.is_empty() {
        let tmp: Vec<String> = RUN_FILES.iter().map(|f| format!("{f}.tmp")).collect();
        let stale = tmp
            .iter()
            .map(String::as_str)
            .filter(|f| dir.join(f).exists());
        for f in held.into_iter().chain(stale) {
            fs::remove_file(dir.join(f))
                .with_context(|| format!("cannot remove {}", dir.join(f).display()))?;
        }
        // The old run's TensorBoard files, which would otherwise show beside the new one.
        for f in crate::tensorboard::files(dir) {
            fs::remove_file(&f).with_context(|| format!("cannot remove {}", f.display()))?;
        }
    }
    Ok(lock)
}

/// The CSV headers, CleanRL's metric names.
pub const METRICS_HEADER: [&str; 7] = [
    "episode",
    "env_steps",
    "episodic_return",
    "episodic_length",
    "policy_loss",
    "value_loss",
    "entropy",
];
pub const TIMING_HEADER: [&str; 4] = ["episode", "env_steps", "sps", "wall_time"];
/// One row per update: CleanRL's `charts/learning_rate` and `losses/*`, plus the gradient
/// norm and the epochs run. A value a learner does not have is an empty cell.
pub const UPDATES_HEADER: [&str; 12] = [
    "update",
    "env_steps",
    "learning_rate",
    "policy_loss",
    "value_loss",
    "entropy",
    "old_approx_kl",
    "approx_kl",
    "clipfrac",
    "explained_variance",
    "grad_norm",
    "epochs",
];

/// `metrics.csv`, `timing.csv` and `updates.csv`, appended to as episodes finish and
/// updates end.
pub struct Metrics {
    dir: PathBuf,
    metrics: csv::Writer<fs::File>,
    timing: csv::Writer<fs::File>,
    updates: csv::Writer<fs::File>,
}

/// The logs as a checkpoint keeps them.
#[derive(Debug, Clone)]
pub struct Logs {
    pub metrics: String,
    pub timing: String,
    pub updates: String,
}

fn header_text(header: &[&str]) -> String {
    format!("{}\n", header.join(","))
}

impl Metrics {
    /// New logs holding their headers only.
    pub fn create(dir: &Path) -> Result<Self> {
        Self::restore(
            dir,
            &Logs {
                metrics: header_text(&METRICS_HEADER),
                timing: header_text(&TIMING_HEADER),
                updates: header_text(&UPDATES_HEADER),
            },
        )
    }

    /// The logs as a checkpoint holds them, reopened for appending.
    pub fn restore(dir: &Path, logs: &Logs) -> Result<Self> {
        let open = |name: &str, text: &str| -> Result<csv::Writer<fs::File>> {
            let path = dir.join(name);
            write_atomic(&path, text.as_bytes())?;
            let file = fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            Ok(csv::WriterBuilder::new().from_writer(file))
        };
        Ok(Self {
            dir: dir.into(),
            metrics: open(METRICS, &logs.metrics)?,
            timing: open(TIMING, &logs.timing)?,
            updates: open(UPDATES, &logs.updates)?,
        })
    }

    pub fn write(&mut self, r: &UpdateReport) -> Result<()> {
        for e in &r.episodes {
            let EpisodeRecord {
                episode,
                env_steps,
                episodic_return,
                episodic_length,
            } = *e;
            self.metrics.write_record([
                episode.to_string(),
                env_steps.to_string(),
                episodic_return.to_string(),
                episodic_length.to_string(),
                r.policy_loss.to_string(),
                r.value_loss.to_string(),
                r.entropy.to_string(),
            ])?;
            self.timing.write_record([
                episode.to_string(),
                env_steps.to_string(),
                format!("{:.1}", r.sps),
                format!("{:.4}", r.wall_time),
            ])?;
        }
        let opt = |v: Option<f32>| v.map_or(String::new(), |v| v.to_string());
        self.updates.write_record([
            r.update.to_string(),
            r.env_steps.to_string(),
            r.learning_rate.to_string(),
            r.policy_loss.to_string(),
            r.value_loss.to_string(),
            r.entropy.to_string(),
            opt(r.old_approx_kl),
            opt(r.approx_kl),
            opt(r.clipfrac),
            r.explained_variance
                .map_or(String::new(), |v| v.to_string()),
            opt(r.grad_norm),
            r.epochs.to_string(),
        ])?;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<()> {
        self.metrics.flush().context("writing metrics.csv")?;
        self.timing.flush().context("writing timing.csv")?;
        self.updates.flush().context("writing updates.csv")
    }

    /// The logs as they stand on disk, flushed first: what a checkpoint keeps.
    pub fn contents(&mut self) -> Result<Logs> {
        self.flush()?;
        let read = |name: &str| {
            let path = self.dir.join(name);
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
        };
        Ok(Logs {
            metrics: read(METRICS)?,
            timing: read(TIMING)?,
            updates: read(UPDATES)?,
        })
    }
}

/// The `episodic_return` column of the run's `metrics.csv`, found by its header (so
/// folders with other columns read too); a row without a number is an error naming it.
pub fn episodic_returns(dir: &Path) -> Result<Vec<f64>> {
    let path = dir.join(METRICS);
    let mut reader =
        csv::Reader::from_path(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let column = reader
        .headers()?
        .iter()
        .position(|h| h == "episodic_return")
        .with_context(|| format!("{} has no episodic_return column", path.display()))?;
    let mut returns = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        let v: f64 = row
            .get(column)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{}: row {} has no numeric return", path.display(), i + 2))?;
        returns.push(v);
    }
    Ok(returns)
}

pub fn model_path(dir: &Path) -> PathBuf {
    dir.join(MODEL)
}

/// Writes `model.mpk` atomically (the bytes `NamedMpkFileRecorder` writes and reads).
pub fn save_model<B: Backend>(dir: &Path, model: &ActorCritic<B>) -> Result<()> {
    let bytes = Recorder::<B>::record(
        &NamedMpkBytesRecorder::<FullPrecisionSettings>::new(),
        model.clone().into_record(),
        (),
    )
    .context("serialising the model")?;
    write_atomic(&model_path(dir), &bytes)?;
    Ok(())
}

/// Writes `normalization.json` atomically: the statistics a trained policy's inputs go
/// through (written before `model.mpk`, so a model always has its statistics).
pub fn save_normalizer(dir: &Path, norm: &Normalizer) -> Result<()> {
    let text = serde_json::to_string_pretty(norm).context("serialising the normalisation")?;
    write_atomic(&dir.join(NORMALIZATION), text.as_bytes())?;
    Ok(())
}

/// The frozen normalisation of a trained run: its `normalization.json` when the
/// configuration normalises, checked against the observation size; none otherwise.
pub fn load_normalizer(dir: &Path, cfg: &TrainConfig, obs_dim: usize) -> Result<Normalizer> {
    if !(cfg.normalize_obs || cfg.normalize_reward) {
        return Ok(rl_train::fresh_normalizer(cfg, obs_dim).freeze());
    }
    let path = dir.join(NORMALIZATION);
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {}, which a run that normalises its observations needs",
            path.display()
        )
    })?;
    let norm: Normalizer = serde_json::from_str(&text)
        .with_context(|| format!("cannot load {}: the file is corrupt", path.display()))?;
    norm.check(&rl_train::fresh_normalizer(cfg, obs_dim))
        .map_err(|e| anyhow::anyhow!("cannot load {}: {e}", path.display()))?;
    Ok(norm.freeze())
}

/// A trained run, ready to act: its configuration, where its environments come from,
/// their spaces and rules, and its network on backend `B`.
#[derive(Debug)]
pub struct LoadedRun<B: Backend> {
    pub info: RunInfo,
    pub source: EnvSource,
    pub spec: EnvSpec,
    pub model: ActorCritic<B>,
}

impl<B: Backend> LoadedRun<B> {
    /// `n` of the run's environments (not reset yet).
    pub fn envs(&self, n: usize) -> Result<Box<dyn rl_core::VectorEnv>> {
        Ok(self.source.make(&self.info.train, n)?)
    }

    /// The frozen normalisation the policy's observations go through.
    pub fn normalizer(&self, dir: &Path) -> Result<Normalizer> {
        load_normalizer(
            dir,
            &self.info.train,
            self.spec.observation_space.flat_dim(),
        )
    }
}

/// The run in `dir` (its environment one of `registry`'s) with its trained network on
/// backend `B`. Nothing is checked against this machine's memory: a policy trained on a
/// larger machine evaluates and exports here.
pub fn load_run<B: Backend>(
    dir: &Path,
    registry: &Registry,
    device: &B::Device,
) -> Result<LoadedRun<B>> {
    let info = RunInfo::load(dir)?;
    let source = registry.get(&info.train.env)?.clone();
    let spec = source.spec(&info.train)?;
    info.train.check_with(&spec)?;
    let path = model_path(dir);
    if !path.exists() {
        let hint = if checkpoint_path(dir).exists() {
            format!(
                ": its training has not finished; continue it with `rl train --resume {}`",
                dir.display()
            )
        } else {
            String::new()
        };
        bail!(
            "{} has no trained model ({} is missing){hint}",
            dir.display(),
            path.display()
        );
    }
    let corrupt = || {
        format!(
            "cannot load {}: the file is corrupt or from another network",
            path.display()
        )
    };
    let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let fresh = model_config(&info.train, &spec).init::<B>(device);
    let rec = NamedMpkBytesRecorder::<FullPrecisionSettings>::new();
    let reference = Recorder::<B>::record(&rec, fresh.clone().into_record(), ())
        .context("recording the configuration's network")?;
    // Checked before Burn decodes it: Burn panics on a tensor that does not fit.
    rl_models::record::check_network(&bytes, &reference)
        .map_err(anyhow::Error::msg)
        .with_context(corrupt)?;
    let record = Recorder::<B>::load(&rec, bytes, device).with_context(corrupt)?;
    let model = fresh
        .load_record_checked(record)
        .map_err(anyhow::Error::msg)
        .with_context(corrupt)?;
    Ok(LoadedRun {
        info,
        source,
        spec,
        model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;
    use rl_models::backend::{Backend as B, device};

    #[test]
    fn a_saved_model_loads_back_with_the_same_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig {
            hidden: vec![8, 8],
            ..TrainConfig::default()
        };
        let dev = device();
        let spec = rl_core::Builtin::CartPole.make().spec();
        let model = model_config(&cfg, &spec).init_seeded::<B>(&mut rl_core::rng::seeded(4), &dev);
        RunInfo::new(cfg).save(dir.path()).unwrap();
        save_model(dir.path(), &model).unwrap();
        let loaded = load_run::<B>(dir.path(), &Registry::builtin(), &dev)
            .unwrap()
            .model;
        let obs =
            Tensor::<B, 2>::random([5, 4], burn::tensor::Distribution::Normal(0.0, 1.0), &dev);
        let (a, va) = model.forward(obs.clone());
        let (b, vb) = loaded.forward(obs);
        assert_eq!(a.into_data(), b.into_data());
        assert_eq!(va.unwrap().into_data(), vb.unwrap().into_data());
    }

    #[test]
    fn corrupt_and_foreign_run_folders_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            RunInfo::load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("a run folder?")
        );
        fs::write(dir.path().join(CONFIG), "format = 1\nbackend = 3\n").unwrap();
        assert!(RunInfo::load(dir.path()).is_err());
        let mut info = RunInfo::new(TrainConfig::default());
        info.format = 99;
        info.save(dir.path()).unwrap();
        assert!(
            RunInfo::load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("format version 99")
        );
        RunInfo::new(TrainConfig::default())
            .save(dir.path())
            .unwrap();
        assert!(
            load_run::<B>(dir.path(), &Registry::builtin(), &device())
                .unwrap_err()
                .to_string()
                .contains("no trained model")
        );
        fs::write(model_path(dir.path()), b"not a model").unwrap();
        assert!(
            load_run::<B>(dir.path(), &Registry::builtin(), &device())
                .unwrap_err()
                .to_string()
                .contains("corrupt")
        );
    }

    #[test]
    fn normalisation_statistics_round_trip_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig {
            normalize_obs: true,
            ..TrainConfig::for_algo(rl_train::Algo::Ppo)
        };
        // None needed, none read.
        let plain = TrainConfig::for_algo(rl_train::Algo::Ppo);
        assert!(!load_normalizer(dir.path(), &plain, 4).unwrap().is_active());
        let e = load_normalizer(dir.path(), &cfg, 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("normalization.json"), "{e}");
        // The f64 statistics come back exactly, frozen.
        let mut n = rl_train::fresh_normalizer(&cfg, 4);
        n.observe(
            &[0.1, -0.2, 1.0 / 3.0, 7.0, 2.5, 0.0, -1e-7, 3.0],
            &mut Vec::new(),
        );
        save_normalizer(dir.path(), &n).unwrap();
        let back = load_normalizer(dir.path(), &cfg, 4).unwrap();
        assert_eq!(back, n.clone().freeze());
        // Another size, another configuration, a damaged file.
        assert!(load_normalizer(dir.path(), &cfg, 3).is_err());
        let both = TrainConfig {
            normalize_reward: true,
            ..cfg.clone()
        };
        let e = load_normalizer(dir.path(), &both, 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not match"), "{e}");
        fs::write(dir.path().join(NORMALIZATION), "{\"obs\": 3}").unwrap();
        let e = load_normalizer(dir.path(), &cfg, 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("corrupt"), "{e}");
    }

    #[test]
    fn a_checkpoint_of_another_backend_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut learner = rl_train::Learner::<rl_models::backend::TrainBackend>::new(
            TrainConfig::default(),
            device(),
        )
        .unwrap();
        let mut ckpt = RunCheckpoint {
            backend: "wgpu".into(),
            rl_version: "0.1.0".into(),
            learner: learner.state().unwrap(),
            metrics: String::new(),
            timing: String::new(),
            updates: String::new(),
        };
        if rl_models::backend::NAME == "wgpu" {
            ckpt.backend = "ndarray".into();
        }
        ckpt.save(dir.path()).unwrap();
        let e = RunCheckpoint::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(&format!("trained on the {} backend", ckpt.backend)),
            "{e}"
        );
        ckpt.backend = rl_models::backend::NAME.into();
        ckpt.save(dir.path()).unwrap();
        assert!(RunCheckpoint::load(dir.path()).is_ok());
    }
}
