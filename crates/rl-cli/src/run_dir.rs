//! The files of a run folder: `config.toml` (the resolved configuration, with the
//! backend and versions), `metrics.csv` (one row per episode) and `model.mpk` (the
//! trained network, Burn's named MessagePack record at full precision).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::prelude::Backend;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use rl_core::EnvId;
use rl_models::ActorCritic;
use rl_train::{EpisodeRecord, TrainConfig, UpdateReport, model_config};
use serde::{Deserialize, Serialize};

/// The version of the run-folder format; a folder of another version is refused.
pub const FORMAT: u32 = 1;
const CONFIG: &str = "config.toml";
const METRICS: &str = "metrics.csv";
const MODEL: &str = "model";

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
        let info: RunInfo = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid run configuration", path.display()))?;
        if info.format != FORMAT {
            bail!(
                "{} has format version {}, this rl reads version {FORMAT}",
                path.display(),
                info.format
            );
        }
        info.train
            .validate()
            .with_context(|| format!("{}", path.display()))?;
        Ok(info)
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self).context("serialising the configuration")?;
        fs::write(dir.join(CONFIG), text)
            .with_context(|| format!("cannot write {}", dir.join(CONFIG).display()))
    }
}

/// Refuses an `--out` folder that already holds a run unless `force`.
pub fn prepare_out(dir: &Path, force: bool) -> Result<()> {
    if dir.join(CONFIG).exists() && !force {
        bail!(
            "{} already holds a run: choose another --out, or pass --force to overwrite it",
            dir.display()
        );
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// `metrics.csv`: one row per episode.
pub struct Metrics {
    writer: csv::Writer<fs::File>,
}

/// The CSV header, CleanRL's metric names.
pub const METRICS_HEADER: [&str; 9] = [
    "episode",
    "env_steps",
    "episodic_return",
    "episodic_length",
    "policy_loss",
    "value_loss",
    "entropy",
    "sps",
    "wall_time",
];

impl Metrics {
    pub fn create(dir: &Path) -> Result<Self> {
        let path = dir.join(METRICS);
        let mut writer = csv::Writer::from_path(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        writer.write_record(METRICS_HEADER)?;
        Ok(Self { writer })
    }

    pub fn write(&mut self, r: &UpdateReport) -> Result<()> {
        for e in &r.episodes {
            let EpisodeRecord {
                episode,
                env_steps,
                episodic_return,
                episodic_length,
            } = *e;
            self.writer.write_record([
                episode.to_string(),
                env_steps.to_string(),
                episodic_return.to_string(),
                episodic_length.to_string(),
                r.policy_loss.to_string(),
                r.value_loss.to_string(),
                r.entropy.to_string(),
                format!("{:.1}", r.sps),
                format!("{:.4}", r.wall_time),
            ])?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<()> {
        self.writer.flush().context("writing metrics.csv")
    }
}

fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::new()
}

pub fn model_path(dir: &Path) -> PathBuf {
    dir.join(format!("{MODEL}.mpk"))
}

pub fn save_model<B: Backend>(dir: &Path, model: &ActorCritic<B>) -> Result<()> {
    model
        .clone()
        .save_file(dir.join(MODEL), &recorder())
        .with_context(|| format!("cannot write {}", model_path(dir).display()))
}

/// The run's configuration, its environment and its trained network on backend `B`.
pub fn load_run<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(RunInfo, EnvId, ActorCritic<B>)> {
    let info = RunInfo::load(dir)?;
    let env_id = info.train.validate()?;
    let path = model_path(dir);
    if !path.exists() {
        bail!(
            "{} has no trained model ({} is missing)",
            dir.display(),
            path.display()
        );
    }
    let model = model_config(&info.train, env_id)
        .init::<B>(device)
        .load_file(dir.join(MODEL), &recorder(), device)
        .with_context(|| {
            format!(
                "cannot load {}: the file is corrupt or from another network",
                path.display()
            )
        })?;
    Ok((info, env_id, model))
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
        let env_id = cfg.validate().unwrap();
        let dev = device();
        let model = model_config(&cfg, env_id).init_seeded::<B>(&mut rl_core::rng::seeded(4), &dev);
        RunInfo::new(cfg).save(dir.path()).unwrap();
        save_model(dir.path(), &model).unwrap();
        let (_, _, loaded) = load_run::<B>(dir.path(), &dev).unwrap();
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
            load_run::<B>(dir.path(), &device())
                .unwrap_err()
                .to_string()
                .contains("no trained model")
        );
        fs::write(model_path(dir.path()), b"not a model").unwrap();
        assert!(
            load_run::<B>(dir.path(), &device())
                .unwrap_err()
                .to_string()
                .contains("corrupt")
        );
    }
}
