//! Checkpoint files: any serialisable value in one self-checking file, written atomically.
//!
//! Layout (little-endian):
//!
//! ```text
//! magic  b"RLCKPT\0\n"   8 bytes
//! format u32             the caller's format version
//! length u64             payload bytes
//! crc32  u32             CRC-32 (IEEE) of the payload
//! payload                MessagePack
//! ```
//!
//! [`write_atomic`] writes a temporary file beside the target, syncs it, renames it over
//! the target and syncs the folder: a crash at any moment leaves the previous file or the
//! new one, never a torn one. [`load`] checks the magic, the version, the length and the
//! checksum before decoding anything, so a truncated or corrupt file is an error, never a
//! panic or a wrong state.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

const MAGIC: [u8; 8] = *b"RLCKPT\0\n";
const HEADER: usize = 8 + 4 + 8 + 4;

/// Why a checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// There is no file.
    #[error("no checkpoint at {}", path.display())]
    Missing {
        /// The file looked for.
        path: PathBuf,
    },
    /// Reading or writing failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is there but unusable.
    #[error("{} is not a usable checkpoint: {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: Problem,
    },
    /// The value could not be serialised.
    #[error("cannot serialise the checkpoint: {0}")]
    Encode(String),
}

/// What is wrong with a checkpoint's bytes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// It does not start with the checkpoint magic.
    #[error("it is not an rl checkpoint (wrong magic bytes)")]
    NotACheckpoint,
    /// It was written by a format this program does not read.
    #[error("it has format version {found}; this rl reads version {supported}")]
    Version {
        /// The file's version.
        found: u32,
        /// The version read here.
        supported: u32,
    },
    /// It is shorter (or longer) than its header says: a torn or truncated write.
    #[error("it is truncated: {found} bytes, the header promises {expected}")]
    Truncated {
        /// The file's size.
        found: usize,
        /// The size the header promises.
        expected: usize,
    },
    /// The payload does not match its checksum.
    #[error("it is corrupt (checksum mismatch)")]
    Corrupt,
    /// The payload checks out but does not decode into the expected state.
    #[error("it does not decode: {0}")]
    Decode(String),
}

/// `value` as checkpoint bytes of format `version`.
pub fn encode<T: Serialize>(version: u32, value: &T) -> Result<Vec<u8>, CheckpointError> {
    let payload =
        rmp_serde::to_vec_named(value).map_err(|e| CheckpointError::Encode(e.to_string()))?;
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// The value in checkpoint bytes of format `version`, every check done before decoding.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], version: u32) -> Result<T, Problem> {
    if !bytes.starts_with(&MAGIC) {
        // A file cut inside the magic (or empty) is a torn write, anything else a stranger.
        return Err(if MAGIC.starts_with(bytes) {
            Problem::Truncated {
                found: bytes.len(),
                expected: HEADER,
            }
        } else {
            Problem::NotACheckpoint
        });
    }
    if bytes.len() < HEADER {
        return Err(Problem::Truncated {
            found: bytes.len(),
            expected: HEADER,
        });
    }
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    let found = u32_at(8);
    if found != version {
        return Err(Problem::Version {
            found,
            supported: version,
        });
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let expected = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_add(HEADER))
        .unwrap_or(usize::MAX);
    if bytes.len() != expected {
        return Err(Problem::Truncated {
            found: bytes.len(),
            expected,
        });
    }
    let payload = &bytes[HEADER..];
    if crc32fast::hash(payload) != u32_at(20) {
        return Err(Problem::Corrupt);
    }
    rmp_serde::from_slice(payload).map_err(|e| Problem::Decode(e.to_string()))
}

/// Writes `value` to `path` atomically (see [`write_atomic`]).
pub fn save<T: Serialize>(path: &Path, version: u32, value: &T) -> Result<(), CheckpointError> {
    write_atomic(path, &encode(version, value)?)
}

/// Reads the value of format `version` at `path`.
pub fn load<T: DeserializeOwned>(path: &Path, version: u32) -> Result<T, CheckpointError> {
    let bytes = fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            CheckpointError::Missing { path: path.into() }
        } else {
            CheckpointError::Io {
                action: "read",
                path: path.into(),
                source,
            }
        }
    })?;
    decode(&bytes, version).map_err(|problem| CheckpointError::Invalid {
        path: path.into(),
        problem,
    })
}

/// Replaces `path` with `bytes` so that a crash at any moment leaves either the old
/// content or the new one: write `path.tmp`, sync it, rename it over `path`, sync the
/// folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        action: "write",
        path: path.into(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = fs::File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    fs::rename(&tmp, path).map_err(io)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // Syncing a folder makes the rename durable; not every platform can open one.
    if let Ok(d) = fs::File::open(dir) {
        d.sync_all().map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct State {
        step: u64,
        weights: Vec<f32>,
    }

    fn state() -> State {
        State {
            step: 7,
            weights: vec![0.1, -2.5, f32::MIN_POSITIVE],
        }
    }

    #[test]
    fn a_checkpoint_round_trips_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.bin");
        save(&path, 3, &state()).unwrap();
        assert_eq!(load::<State>(&path, 3).unwrap(), state());
        assert!(!dir.path().join("c.bin.tmp").exists());
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_detected() {
        let bytes = encode(1, &state()).unwrap();
        for n in 0..bytes.len() {
            let e = decode::<State>(&bytes[..n], 1).unwrap_err();
            assert!(matches!(e, Problem::Truncated { .. }), "cut at {n}: {e:?}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(decode::<State>(&b, 1).is_err(), "byte {i} flipped");
        }
        let e = decode::<State>(&bytes, 2).unwrap_err();
        assert_eq!(
            e,
            Problem::Version {
                found: 1,
                supported: 2
            }
        );
        assert_eq!(
            decode::<State>(b"step = 3\nweights = []\n", 1).unwrap_err(),
            Problem::NotACheckpoint
        );
        let other = encode(1, &"a string, not a state").unwrap();
        assert!(matches!(
            decode::<State>(&other, 1).unwrap_err(),
            Problem::Decode(_)
        ));
    }

    #[test]
    fn missing_files_and_unwritable_places_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = load::<State>(&dir.path().join("none.bin"), 1).unwrap_err();
        assert!(matches!(e, CheckpointError::Missing { .. }), "{e}");
        let e = save(&dir.path().join("no/such/dir/c.bin"), 1, &state()).unwrap_err();
        assert!(e.to_string().contains("cannot write"), "{e}");
    }
}
