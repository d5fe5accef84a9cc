//! TensorBoard event files: what `tensorboard --logdir runs` reads.
//!
//! A file `events.out.tfevents.<seconds>.<host>` is a sequence of records (the length as
//! a little-endian u64, its masked CRC-32C, the data, the data's masked CRC-32C), each
//! an `Event` protobuf message. The first event names the format (`brain.Event:2`);
//! then scalars (a `Summary` of one `simple_value` per tag) and text (a string tensor
//! with the `text` plugin's metadata), at the environment step.
//!
//! A resumed run writes a new file that starts with a `SessionLog` START event at the
//! step after its checkpoint: TensorBoard then drops every point at that step or later
//! from the files before it (the points a killed run wrote after its checkpoint, which
//! the resumed run writes again), so no point is shown twice or lost.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use prost::Message;

/// The prefix of every event file's name.
pub const PREFIX: &str = "events.out.tfevents.";

/// `tensorflow.Event`, the fields written here.
#[derive(Clone, PartialEq, Message)]
struct Event {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(oneof = "What", tags = "3, 5, 7")]
    what: Option<What>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum What {
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
    // 6 is the deprecated `log_message`.
    #[prost(message, tag = "7")]
    SessionLog(SessionLog),
}

#[derive(Clone, PartialEq, Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<Value>,
}

#[derive(Clone, PartialEq, Message)]
struct Value {
    #[prost(string, tag = "1")]
    tag: String,
    #[prost(message, optional, tag = "9")]
    metadata: Option<SummaryMetadata>,
    #[prost(oneof = "Kind", tags = "2, 8")]
    kind: Option<Kind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Kind {
    #[prost(float, tag = "2")]
    SimpleValue(f32),
    #[prost(message, tag = "8")]
    Tensor(TensorProto),
}

#[derive(Clone, PartialEq, Message)]
struct SummaryMetadata {
    #[prost(message, optional, tag = "1")]
    plugin_data: Option<PluginData>,
}

#[derive(Clone, PartialEq, Message)]
struct PluginData {
    #[prost(string, tag = "1")]
    plugin_name: String,
}

/// A scalar string tensor (`DT_STRING`, no dimensions).
#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int32, tag = "1")]
    dtype: i32,
    #[prost(message, optional, tag = "2")]
    tensor_shape: Option<TensorShape>,
    #[prost(bytes = "vec", repeated, tag = "8")]
    string_val: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorShape {}

#[derive(Clone, PartialEq, Message)]
struct SessionLog {
    #[prost(int32, tag = "1")]
    status: i32,
}

const DT_STRING: i32 = 7;
const SESSION_START: i32 = 1;

/// CRC-32C as TensorFlow's record format masks it.
fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// An event file being written.
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    file: BufWriter<fs::File>,
}

impl EventWriter {
    /// A new event file in `dir`. `resumed_at`: the environment step of the checkpoint a
    /// resumed run continues from (the points after it in earlier files are superseded).
    pub fn create(dir: &Path, resumed_at: Option<u64>) -> Result<Self> {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        // A second file within the same second (a quick resume) gets a suffix, as
        // TensorBoard's own writers do with theirs; files are read in name order.
        let base = format!("{PREFIX}{secs:010}.{host}");
        let path = (0..)
            .map(|i| match i {
                0 => dir.join(&base),
                i => dir.join(format!("{base}.{i}")),
            })
            .find(|p| !p.exists())
            .expect("some name is free");
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut w = Self {
            path,
            file: BufWriter::new(file),
        };
        w.event(0, What::FileVersion("brain.Event:2".into()))?;
        if let Some(step) = resumed_at {
            let start = What::SessionLog(SessionLog {
                status: SESSION_START,
            });
            w.event(step + 1, start)?;
        }
        // On disk at once: the purge applies even if this process is killed before its
        // first checkpoint.
        w.flush()?;
        Ok(w)
    }

    fn event(&mut self, step: u64, what: What) -> Result<()> {
        let wall_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let data = Event {
            wall_time,
            step: step as i64,
            what: Some(what),
        }
        .encode_to_vec();
        let len = (data.len() as u64).to_le_bytes();
        let mut record = Vec::with_capacity(data.len() + 16);
        record.extend_from_slice(&len);
        record.extend_from_slice(&masked_crc(&len).to_le_bytes());
        record.extend_from_slice(&data);
        record.extend_from_slice(&masked_crc(&data).to_le_bytes());
        self.file
            .write_all(&record)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Scalars at `step`, one event per tag (as TensorBoard's writers do).
    pub fn scalars(&mut self, step: u64, values: &[(&str, f64)]) -> Result<()> {
        for &(tag, v) in values {
            let value = Value {
                tag: tag.into(),
                metadata: None,
                kind: Some(Kind::SimpleValue(v as f32)),
            };
            self.event(step, What::Summary(Summary { value: vec![value] }))?;
        }
        Ok(())
    }

    /// Markdown text under `tag` at `step` (TensorBoard's Text tab).
    pub fn text(&mut self, step: u64, tag: &str, text: &str) -> Result<()> {
        let value = Value {
            tag: tag.into(),
            metadata: Some(SummaryMetadata {
                plugin_data: Some(PluginData {
                    plugin_name: "text".into(),
                }),
            }),
            kind: Some(Kind::Tensor(TensorProto {
                dtype: DT_STRING,
                tensor_shape: Some(TensorShape {}),
                string_val: vec![text.as_bytes().to_vec()],
            })),
        };
        self.event(step, What::Summary(Summary { value: vec![value] }))
    }

    /// Writes what is buffered to the file.
    pub fn flush(&mut self) -> Result<()> {
        self.file
            .flush()
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// The event files in `dir`, in name order (TensorBoard's reading order).
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(PREFIX))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // TensorFlow's formula, spelled out as its source writes it.
    #[allow(clippy::manual_rotate)]
    fn the_mask_is_tensorflows() {
        // TensorFlow's crc32c.h: masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8, and
        // CRC-32C("123456789") = 0xe3069283.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        let crc = 0xe306_9283u32;
        let want = ((crc >> 15) | (crc << 17)).wrapping_add(0xa282_ead8);
        assert_eq!(masked_crc(b"123456789"), want);
    }
}
