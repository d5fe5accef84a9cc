//! `rl render`: one episode of a trained policy as an animated GIF (and, with
//! `--frames`, one PNG per step), each frame drawn as Gymnasium's `rgb_array` mode
//! draws it (`rl_core::render`).
//!
//! Nothing is left half-written: the GIF and every PNG go to a temporary file beside
//! their destination and are renamed into place once complete.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::tensor::{Tensor, TensorData, activation::softmax};
use clap::Args;
use rl_core::render::Frame;
use rl_core::{VectorEnv, rng};
use rl_models::backend::{Backend, device};
use rl_train::{Agent, Registry};

use crate::{Failure, outln, run_dir, usage};

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The run folder written by `rl train`.
    #[arg(long)]
    model: PathBuf,
    /// The animated GIF to write.
    #[arg(long)]
    out: PathBuf,
    /// Seed of the episode and its action sampling (`rl eval --seed S` plays the same
    /// episode first).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Take the most likely action (the mean, clipped, for Gaussian policies) instead of
    /// sampling.
    #[arg(long)]
    greedy: bool,
    /// Also write every frame as DIR/00000.png, DIR/00001.png, ... (created if missing).
    #[arg(long, value_name = "DIR")]
    frames: Option<PathBuf>,
}

/// One played episode: its frames (the reset state, then one per step) and what the
/// policy scored.
pub struct Episode {
    pub frames: Vec<Frame>,
    pub episodic_return: f64,
    pub fps: u32,
}

/// Plays one episode of the run's policy from `seed`: the environment and the action
/// generator are seeded as `rl eval` seeds its first environment, so the episode is
/// the first one `rl eval --seed S` plays.
pub fn play(dir: &Path, registry: &Registry, seed: u64, greedy: bool) -> anyhow::Result<Episode> {
    let dev = device();
    let run = run_dir::load_run::<Backend>(dir, registry, &dev)?;
    let spec = run.spec.clone();
    let obs_dim = spec.observation_space.flat_dim();
    let norm = run.normalizer(dir)?;
    let mut env = run.envs(1)?;
    env.set_autoreset(false)
        .context("rl render plays one episode to its end")?;
    env.reset(Some(seed)).context("resetting the environment")?;
    // Where the environment draws the policy (the bandit's bars), its probability of
    // each action at the current observation.
    let probabilities = |obs: &[f32]| -> anyhow::Result<Option<Vec<f32>>> {
        if !matches!(spec.action_space, rl_core::Space::Discrete { .. }) {
            return Ok(None);
        }
        let mut seen = Vec::new();
        norm.normalize_obs(obs, &mut seen);
        let input = Tensor::<Backend, 2>::from_data(TensorData::new(seen, [1, obs_dim]), &dev);
        let probs = softmax(run.model.policy_forward(input), 1).into_data();
        let probs = probs
            .to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading the policy's probabilities: {e:?}"))?;
        Ok(Some(probs))
    };
    let draw = |env: &dyn VectorEnv| -> anyhow::Result<Frame> {
        let policy = probabilities(&env.observations()[..obs_dim])?;
        env.render(0, policy.as_deref())
            .with_context(|| format!("{} cannot be drawn", spec.id))
    };
    let mut frames = vec![draw(&*env)?];
    let mut agent = Agent::new(run.model.clone(), &spec, norm.clone());
    let mut r = rng::seeded(rng::stream(seed, 1));
    let episodic_return = loop {
        let actions = agent.act(env.observations(), env.action_masks(), &mut r, greedy, &dev);
        env.step(actions).context("stepping the environment")?;
        frames.push(draw(&*env)?);
        if let Some(end) = env.finished().first() {
            break end.episodic_return;
        }
    };
    Ok(Episode {
        frames,
        episodic_return,
        // Gymnasium's most common rate for an environment that does not say.
        fps: spec.render_fps.unwrap_or(30),
    })
}

pub fn run(args: RenderArgs, registry: &Registry) -> Result<(), Failure> {
    // Every destination is checked before the episode is played; the frames' folder
    // is created only once there is something to put in it.
    let gif_tmp = usage(temp_beside(&args.out, "--out"))?;
    if let Some(dir) = &args.frames {
        usage(check_frames_dir(dir))?;
    }
    let episode = usage(play(&args.model, registry, args.seed, args.greedy))?;
    if let Some(dir) = &args.frames {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the --frames folder {}", dir.display()))?;
        for (i, frame) in episode.frames.iter().enumerate() {
            write_png(frame, &dir.join(format!("{i:05}.png")))?;
        }
    }
    write_gif(&episode, gif_tmp, &args.out)?;
    outln!(
        "wrote {}: {} frames at {} fps, return {:.2} ({} actions, seed {}){}",
        args.out.display(),
        episode.frames.len(),
        episode.fps,
        episode.episodic_return,
        if args.greedy { "greedy" } else { "sampled" },
        args.seed,
        args.frames.as_ref().map_or(String::new(), |d| format!(
            "; PNG frames in {}",
            d.display()
        ))
    )
}

/// A temporary file in `path`'s folder, to be renamed onto `path` when complete; the
/// errors name `flag` and the path.
fn temp_beside(path: &Path, flag: &str) -> anyhow::Result<tempfile::NamedTempFile> {
    if path.is_dir() {
        bail!("{flag} {} is a folder, not a file", path.display());
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        bail!(
            "cannot write {flag} {}: its folder {} does not exist",
            path.display(),
            parent.display()
        );
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(".rl-render-");
    // A file created the usual way (0o666 less the umask), not the temporary file's
    // private 0o600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder
        .tempfile_in(parent)
        .with_context(|| format!("cannot write {flag} {}", path.display()))
}

/// `--frames DIR`: a file there is an error, and so is an existing folder that cannot
/// be written (a temporary file tells, and is gone at once).
fn check_frames_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("--frames {} is a file, not a folder", dir.display());
    }
    if dir.is_dir() {
        tempfile::tempfile_in(dir)
            .with_context(|| format!("cannot write into the --frames folder {}", dir.display()))?;
    }
    Ok(())
}

/// One lossless 8-bit RGB PNG, through a temporary file.
fn write_png(frame: &Frame, path: &Path) -> Result<(), Failure> {
    let mut tmp = temp_beside(path, "--frames").map_err(Failure::Runtime)?;
    let bytes = crate::png_file::encode_rgb(frame.rgb(), frame.width(), frame.height())?;
    tmp.write_all(&bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    persist(tmp, path)
}

fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> Result<(), Failure> {
    tmp.persist(path)
        .map(drop)
        .with_context(|| format!("cannot write {}", path.display()))
        .map_err(Failure::Runtime)
}

/// The episode as an animated GIF that loops, at the environment's frame rate, the
/// last frame held for a second. Each frame after the first stores only the rectangle
/// that changed (drawn over the previous one), in its own palette (see [`gif_frame`]).
fn write_gif(
    episode: &Episode,
    mut tmp: tempfile::NamedTempFile,
    out: &Path,
) -> Result<(), Failure> {
    let first = &episode.frames[0];
    let (w, h) = (gif_side(first.width())?, gif_side(first.height())?);
    let delay = (100.0 / f64::from(episode.fps)).round() as u16;
    let written = (|| -> anyhow::Result<()> {
        let file = BufWriter::new(tmp.as_file_mut());
        let mut encoder = gif::Encoder::new(file, w, h, &[])?;
        encoder.set_repeat(gif::Repeat::Infinite)?;
        // What a viewer shows so far: the previous frames as stored, colours mapped.
        let mut shown: Option<Vec<u8>> = None;
        for (i, frame) in episode.frames.iter().enumerate() {
            let rect = match &shown {
                None => Some(Rect::whole(frame)),
                Some(s) => Rect::changed(s, frame.rgb(), frame.width() as usize),
            };
            // An unchanged frame still takes its time: one pixel, redrawn as it was.
            let rect = rect.unwrap_or(Rect {
                x: 0,
                y: 0,
                w: 1,
                h: 1,
            });
            let shown = shown.get_or_insert_with(|| frame.rgb().to_vec());
            let mut f = gif_frame(frame, rect, shown);
            f.delay = if i + 1 == episode.frames.len() {
                100
            } else {
                delay
            };
            f.dispose = gif::DisposalMethod::Keep;
            encoder.write_frame(&f)?;
        }
        encoder.into_inner()?.flush()?;
        Ok(())
    })();
    written.with_context(|| format!("cannot write {}", out.display()))?;
    persist(tmp, out)
}

fn gif_side(n: u32) -> Result<u16, Failure> {
    u16::try_from(n).map_err(|_| {
        Failure::Runtime(anyhow::anyhow!(
            "a frame side of {n} px is too large for a GIF"
        ))
    })
}

/// A rectangle of a frame, in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    x: usize,
    y: usize,
    w: usize,
    h: usize,
}

impl Rect {
    fn whole(f: &Frame) -> Self {
        Rect {
            x: 0,
            y: 0,
            w: f.width() as usize,
            h: f.height() as usize,
        }
    }

    /// The smallest rectangle holding every pixel where `b` differs from `a` (RGB
    /// pictures `w` pixels wide).
    fn changed(a: &[u8], b: &[u8], w: usize) -> Option<Self> {
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        for (y, (ra, rb)) in a.chunks_exact(w * 3).zip(b.chunks_exact(w * 3)).enumerate() {
            if ra == rb {
                continue;
            }
            let first = ra
                .chunks_exact(3)
                .zip(rb.chunks_exact(3))
                .position(|(p, q)| p != q);
            let last = ra
                .chunks_exact(3)
                .zip(rb.chunks_exact(3))
                .rposition(|(p, q)| p != q);
            if let (Some(f), Some(l)) = (first, last) {
                (x0, x1, y0, y1) = (x0.min(f), x1.max(l), y0.min(y), y1.max(y));
            }
        }
        (x0 != usize::MAX).then(|| Rect {
            x: x0,
            y: y0,
            w: x1 - x0 + 1,
            h: y1 - y0 + 1,
        })
    }
}

/// The GIF frame of `rect` of `frame`. Its colours make the palette exactly when there
/// are at most 256 of them; beyond that (the Pendulum arrow's blends over the rod) the
/// 256 most frequent are kept exactly and every other colour takes its nearest.
/// `shown`, the picture a viewer shows, is updated with the stored colours.
fn gif_frame(frame: &Frame, rect: Rect, shown: &mut [u8]) -> gif::Frame<'static> {
    let width = frame.width() as usize;
    let pixels = || {
        frame.rgb()[rect.y * width * 3..(rect.y + rect.h) * width * 3]
            .chunks_exact(width * 3)
            .flat_map(|row| row[rect.x * 3..(rect.x + rect.w) * 3].chunks_exact(3))
            .map(|p| [p[0], p[1], p[2]])
    };
    let mut counts: HashMap<[u8; 3], u32> = HashMap::new();
    for c in pixels() {
        *counts.entry(c).or_default() += 1;
    }
    let mut colours: Vec<([u8; 3], u32)> = counts.into_iter().collect();
    // Most frequent first; ties by colour, so the palette does not depend on hashing.
    colours.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let kept = &colours[..colours.len().min(256)];
    let mut index: HashMap<[u8; 3], u8> = kept
        .iter()
        .enumerate()
        .map(|(i, (c, _))| (*c, i as u8))
        .collect();
    for (c, _) in &colours[kept.len()..] {
        let nearest = kept
            .iter()
            .enumerate()
            .min_by_key(|(_, (k, _))| {
                k.iter()
                    .zip(c)
                    .map(|(a, b)| (i32::from(*a) - i32::from(*b)).pow(2))
                    .sum::<i32>()
            })
            .map_or(0, |(i, _)| i as u8);
        index.insert(*c, nearest);
    }
    let palette: Vec<u8> = kept.iter().flat_map(|(c, _)| *c).collect();
    let mut last: Option<([u8; 3], u8)> = None;
    let indices: Vec<u8> = pixels()
        .map(|c| match last {
            // Runs of one colour (the white background) skip the lookup.
            Some((lc, li)) if lc == c => li,
            _ => {
                let i = index[&c];
                last = Some((c, i));
                i
            }
        })
        .collect();
    for (k, &i) in indices.iter().enumerate() {
        let (x, y) = (rect.x + k % rect.w, rect.y + k / rect.w);
        let at = (y * width + x) * 3;
        let colour = usize::from(i) * 3;
        shown[at..at + 3].copy_from_slice(&palette[colour..colour + 3]);
    }
    let mut f =
        gif::Frame::from_palette_pixels(rect.w as u16, rect.h as u16, indices, palette, None);
    (f.left, f.top) = (rect.x as u16, rect.y as u16);
    f
}
