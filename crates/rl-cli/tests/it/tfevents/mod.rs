//! A TensorBoard event-file reader written from the format's description, independent of
//! the writer (which uses prost and the crc32c crate): records, masked CRC-32C, and the
//! few `Event` fields `rl` writes, decoded by hand; and TensorBoard's purge on a
//! `SessionLog` START event.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

/// One decoded `Event`.
#[derive(Debug, Default, Clone)]
pub struct Event {
    pub wall_time: f64,
    pub step: i64,
    pub file_version: Option<String>,
    pub session_start: bool,
    /// `(tag, simple_value)` of a summary's scalar values.
    pub scalars: Vec<(String, f32)>,
    /// `(tag, plugin name, text)` of a summary's string tensors.
    pub texts: Vec<(String, String, String)>,
}

/// CRC-32C, bit by bit (polynomial 0x82F63B78, reflected).
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

// TensorFlow's formula, spelled out as its source writes it.
#[allow(clippy::manual_rotate)]
fn masked(data: &[u8]) -> u32 {
    let c = crc32c(data);
    ((c >> 15) | (c << 17)).wrapping_add(0xa282_ead8)
}

/// A protobuf field: number and value.
enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = buf[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return v;
        }
    }
    panic!("varint too long");
}

fn fields(buf: &[u8]) -> Vec<(u64, Field<'_>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos);
        let (number, wire) = (key >> 3, key & 7);
        let field = match wire {
            0 => Field::Varint(varint(buf, &mut pos)),
            1 => {
                let v = u64::from_le_bytes(buf[pos..pos + 8].try_into().unwrap());
                pos += 8;
                Field::Fixed64(v)
            }
            2 => {
                let n = varint(buf, &mut pos) as usize;
                let v = &buf[pos..pos + n];
                pos += n;
                Field::Bytes(v)
            }
            5 => {
                let v = u32::from_le_bytes(buf[pos..pos + 4].try_into().unwrap());
                pos += 4;
                Field::Fixed32(v)
            }
            w => panic!("wire type {w}"),
        };
        out.push((number, field));
    }
    out
}

fn string(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("UTF-8")
}

fn decode_value(buf: &[u8], e: &mut Event) {
    let (mut tag, mut simple, mut plugin, mut text) = (String::new(), None, None, None);
    for (n, f) in fields(buf) {
        match (n, f) {
            (1, Field::Bytes(b)) => tag = string(b),
            (2, Field::Fixed32(v)) => simple = Some(f32::from_bits(v)),
            (8, Field::Bytes(t)) => {
                for (n, f) in fields(t) {
                    if let (8, Field::Bytes(s)) = (n, f) {
                        text = Some(string(s));
                    }
                }
            }
            (9, Field::Bytes(m)) => {
                for (n, f) in fields(m) {
                    if let (1, Field::Bytes(p)) = (n, f) {
                        for (n, f) in fields(p) {
                            if let (1, Field::Bytes(name)) = (n, f) {
                                plugin = Some(string(name));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    match (simple, text) {
        (Some(v), _) => e.scalars.push((tag, v)),
        (None, Some(t)) => e.texts.push((tag, plugin.unwrap_or_default(), t)),
        (None, None) => panic!("a value without a scalar or a text: {tag}"),
    }
}

/// Every event of one file, each whole record's length and data checked against its CRC.
pub fn read(path: &Path) -> Vec<Event> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut pos = 0;
    // A process killed mid-write leaves a torn last record, which TensorBoard's reader
    // leaves unread; so does this one.
    while pos + 12 <= bytes.len() {
        let len_bytes = &bytes[pos..pos + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        if bytes.len() - pos < 16 + len {
            break;
        }
        let crc = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
        assert_eq!(crc, masked(len_bytes), "length CRC at byte {pos}");
        let data = &bytes[pos + 12..pos + 12 + len];
        let crc = u32::from_le_bytes(bytes[pos + 12 + len..pos + 16 + len].try_into().unwrap());
        assert_eq!(crc, masked(data), "data CRC at byte {pos}");
        pos += 16 + len;
        let mut e = Event::default();
        for (n, f) in fields(data) {
            match (n, f) {
                (1, Field::Fixed64(v)) => e.wall_time = f64::from_bits(v),
                (2, Field::Varint(v)) => e.step = v as i64,
                (3, Field::Bytes(b)) => e.file_version = Some(string(b)),
                (5, Field::Bytes(s)) => {
                    for (n, f) in fields(s) {
                        if let (1, Field::Bytes(v)) = (n, f) {
                            decode_value(v, &mut e);
                        }
                    }
                }
                // `session_log` (6 is the deprecated `log_message`).
                (7, Field::Bytes(s)) => {
                    for (n, f) in fields(s) {
                        if let (1, Field::Varint(1)) = (n, f) {
                            e.session_start = true;
                        }
                    }
                }
                _ => {}
            }
        }
        out.push(e);
    }
    out
}

/// The event files of a run folder, in name order (TensorBoard's reading order).
pub fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut f: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
        })
        .collect();
    f.sort();
    f
}

/// The scalar series TensorBoard shows for a run folder: every file in order, each
/// `SessionLog` START at step `s` dropping the points at `s` or later read before it
/// (TensorBoard's `purge_orphaned_data`, on by default, for `brain.Event:2` files).
pub fn series(dir: &Path) -> BTreeMap<String, Vec<(i64, f32)>> {
    let mut out: BTreeMap<String, Vec<(i64, f32)>> = BTreeMap::new();
    for file in files(dir) {
        let events = read(&file);
        // A file that holds anything starts with its version (one a process killed at
        // once may hold nothing).
        if let Some(first) = events.first() {
            assert_eq!(
                first.file_version.as_deref(),
                Some("brain.Event:2"),
                "{} starts with its version",
                file.display()
            );
        }
        for e in events {
            if e.session_start {
                for points in out.values_mut() {
                    points.retain(|&(step, _)| step < e.step);
                }
            }
            for (tag, v) in e.scalars {
                out.entry(tag).or_default().push((e.step, v));
            }
        }
    }
    out
}
