//! `rl render` end to end: the GIF holds exactly the PNG frames, the episode is the one
//! `rl eval` plays first, and bad destinations are refused before anything is written.

use std::path::Path;

use crate::common::{rl, text};

fn train(args: &[&str], out: &Path) {
    let mut all = vec!["train"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", out.to_str().unwrap(), "--quiet"]);
    let o = rl(&all);
    assert!(o.status.success(), "{}", text(&o));
}

/// Every frame of an animated GIF, composed as a viewer shows it (RGB).
fn gif_frames(path: &Path) -> (u32, u32, Vec<Vec<u8>>, Vec<u16>) {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options
        .read_info(std::fs::File::open(path).unwrap())
        .unwrap();
    let (w, h) = (u32::from(decoder.width()), u32::from(decoder.height()));
    let mut canvas = vec![0_u8; (w * h * 3) as usize];
    let (mut frames, mut delays) = (Vec::new(), Vec::new());
    while let Some(f) = decoder.read_next_frame().unwrap() {
        for y in 0..usize::from(f.height) {
            for x in 0..usize::from(f.width) {
                let src = &f.buffer[(y * usize::from(f.width) + x) * 4..][..4];
                assert_eq!(src[3], 255, "no transparency is used");
                let (cx, cy) = (usize::from(f.left) + x, usize::from(f.top) + y);
                let dst = (cy * w as usize + cx) * 3;
                canvas[dst..dst + 3].copy_from_slice(&src[..3]);
            }
        }
        frames.push(canvas.clone());
        delays.push(f.delay);
    }
    (w, h, frames, delays)
}

fn png_rgb(path: &Path) -> (u32, u32, Vec<u8>) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgb).unwrap();
    assert_eq!(
        (info.color_type, info.bit_depth),
        (png::ColorType::Rgb, png::BitDepth::Eight)
    );
    rgb.truncate(info.buffer_size());
    (info.width, info.height, rgb)
}

/// The number `what` is followed by in `s` ("return -1234.56 ..." → -1234.56).
fn number_after(s: &str, what: &str) -> String {
    let rest = &s[s.find(what).unwrap_or_else(|| panic!("{what:?} in {s}")) + what.len()..];
    rest.split_whitespace().next().unwrap().to_string()
}

#[test]
fn the_gif_holds_the_png_frames_of_the_episode_eval_plays_first() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("pendulum");
    train(
        &[
            "--env",
            "pendulum-v1",
            "--algo",
            "ppo",
            "--no-preset",
            "--total-steps",
            "1024",
            "--hidden",
            "16",
        ],
        &run,
    );
    let gif = dir.path().join("episode.gif");
    let frames = dir.path().join("frames");
    let run_s = run.to_str().unwrap();
    let o = rl(&[
        "render",
        "--model",
        run_s,
        "--out",
        gif.to_str().unwrap(),
        "--seed",
        "7",
        "--frames",
        frames.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("201 frames at 30 fps"), "{}", text(&o));

    // The reset state and one frame per step: Pendulum's 200 steps.
    let (w, h, gif_frames, delays) = gif_frames(&gif);
    assert_eq!((w, h), (500, 500));
    assert_eq!(gif_frames.len(), 201);
    assert_eq!(delays[0], 3, "30 fps");
    assert_eq!(*delays.last().unwrap(), 100, "the last frame is held");
    let mut names: Vec<_> = std::fs::read_dir(&frames)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 201);
    assert_eq!(
        (names[0].as_str(), names[200].as_str()),
        ("00000.png", "00200.png")
    );
    // A GIF frame has at most 256 colours: a frame with no more is stored exactly; the
    // arrow's blends over the rod can make more, and those few pixels take the nearest
    // kept colour.
    let mut exact = 0;
    for (name, from_gif) in names.iter().zip(&gif_frames) {
        let (pw, ph, rgb) = png_rgb(&frames.join(name));
        assert_eq!((pw, ph), (500, 500));
        let colours: std::collections::HashSet<&[u8]> = rgb.chunks_exact(3).collect();
        if colours.len() <= 256 {
            assert!(
                rgb == *from_gif,
                "{name}: the GIF frame differs from the PNG"
            );
            exact += 1;
        } else {
            let far = rgb
                .chunks_exact(3)
                .zip(from_gif.chunks_exact(3))
                .filter(|(p, q)| p.iter().zip(*q).any(|(a, b)| a.abs_diff(*b) > 8))
                .count();
            assert!(far <= 500, "{name}: {far} pixels more than 8 levels off");
        }
    }
    assert!(exact > 0);
    // The torque arrow, black blended over the white background, is the only dark grey
    // in a Pendulum frame (anti-aliasing leaves at most a near-white 254): none on the
    // reset frame (no action yet), some once the sampled torques act.
    let grey = |name: &str| {
        let (_, _, rgb) = png_rgb(&frames.join(name));
        rgb.chunks_exact(3)
            .any(|p| p[0] == p[1] && p[1] == p[2] && (1..=200).contains(&p[0]))
    };
    assert!(!grey(&names[0]), "no arrow after the reset");
    assert!(names[1..].iter().any(|n| grey(n)), "the arrow is drawn");

    // The same seed plays the same episode as `rl eval`'s first.
    let o = rl(&["eval", "--model", run_s, "--episodes", "1", "--seed", "7"]);
    assert!(o.status.success(), "{}", text(&o));
    let render_out = rl(&[
        "render",
        "--model",
        run_s,
        "--out",
        dir.path().join("again.gif").to_str().unwrap(),
        "--seed",
        "7",
    ]);
    assert_eq!(
        number_after(&text(&render_out), "return "),
        number_after(&text(&o), "return ")
    );
    assert_eq!(
        std::fs::read(&gif).unwrap(),
        std::fs::read(dir.path().join("again.gif")).unwrap(),
        "same seed, same bytes"
    );
}

#[test]
fn the_bandit_renders_its_pull_as_a_bar_chart() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("bandit");
    train(
        &["--env", "bandit", "--algo", "reinforce", "--episodes", "50"],
        &run,
    );
    let gif = dir.path().join("bandit.gif");
    let o = rl(&[
        "render",
        "--model",
        run.to_str().unwrap(),
        "--out",
        gif.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let (w, h, frames, _) = gif_frames(&gif);
    assert_eq!((w, h, frames.len()), (600, 400, 2));
    // After the pull, one bar is orange.
    let orange = |f: &Vec<u8>| f.chunks_exact(3).any(|p| p == [202, 152, 101]);
    assert!(!orange(&frames[0]) && orange(&frames[1]));
}

#[test]
fn bad_destinations_and_runs_are_refused_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("cart");
    train(
        &[
            "--env",
            "cartpole-v1",
            "--algo",
            "reinforce",
            "--episodes",
            "2",
        ],
        &run,
    );
    let run_s = run.to_str().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let gif = out_dir.join("ep.gif");
    let gif_s = gif.to_str().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let a_file = out_dir.join("a-file");
    std::fs::write(&a_file, "keep me").unwrap();
    let missing_parent = dir.path().join("no/such/folder/ep.gif");
    let frames = out_dir.join("frames");
    let frames_s = frames.to_str().unwrap();

    let cases: [(Vec<&str>, &str); 4] = [
        (
            vec![
                "--model",
                empty.to_str().unwrap(),
                "--out",
                gif_s,
                "--frames",
                frames_s,
            ],
            "empty",
        ),
        (
            vec!["--model", run_s, "--out", missing_parent.to_str().unwrap()],
            "does not exist",
        ),
        (
            vec!["--model", run_s, "--out", out_dir.to_str().unwrap()],
            "is a folder",
        ),
        (
            vec![
                "--model",
                run_s,
                "--out",
                gif_s,
                "--frames",
                a_file.to_str().unwrap(),
            ],
            "is a file",
        ),
    ];
    for (args, says) in cases {
        let mut all = vec!["render"];
        all.extend_from_slice(&args);
        let o = rl(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(says), "{args:?}: {}", text(&o));
        assert!(!text(&o).contains("panicked"), "{}", text(&o));
        // Nothing written: no GIF, no temporary file, the file untouched.
        let mut left: Vec<_> = std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["a-file"], "{args:?}");
        assert_eq!(std::fs::read_to_string(&a_file).unwrap(), "keep me");
    }
    assert!(!missing_parent.exists());

    // A read-only destination folder: refused by the temporary file, exit code 2.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
        let probe = locked.join("probe");
        // Root writes anywhere; the check only means something for other users.
        if std::fs::write(&probe, "").is_err() {
            let target = locked.join("ep.gif");
            let o = rl(&[
                "render",
                "--model",
                run_s,
                "--out",
                target.to_str().unwrap(),
            ]);
            assert_eq!(o.status.code(), Some(2), "{}", text(&o));
            assert!(text(&o).contains("cannot write --out"), "{}", text(&o));
        }
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}
