//! Checks on a saved network's (or optimiser's) bytes before Burn decodes them.
//!
//! Burn's recorders turn saved values into tensors and parameter ids with assertions,
//! not errors: a tensor whose bytes do not fit its shape, a tensor of another rank than
//! its parameter, or a malformed parameter id panics inside `Recorder::load`. A
//! checkpoint whose checksum is right can still carry such values (written by a buggy or
//! hostile program), so records are checked here first, as plain MessagePack:
//! [`check_network`] against the record of the network the configuration describes,
//! [`check_optimizer`] for an optimiser's per-parameter states.

use burn::module::ParamId;
use rmpv::Value;

/// The largest rank a saved tensor may have (Burn's optimiser records go to 8).
const MAX_RANK: usize = 8;

fn parse(bytes: &[u8]) -> Result<Value, String> {
    rmpv::decode::read_value(&mut &bytes[..])
        .map_err(|e| format!("the record is not valid MessagePack: {e}"))
}

fn get<'a>(map: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// A saved tensor: `(bytes, shape, dtype)`, if `v` is one.
fn as_tensor(v: &Value) -> Option<(&Value, &Value, &Value)> {
    let m = v.as_map()?;
    Some((get(m, "bytes")?, get(m, "shape")?, get(m, "dtype")?))
}

/// Checks that `bytes` (a saved network, Burn's named MessagePack) has the structure of
/// `reference` (the record of the network the configuration describes): the same
/// modules, every tensor f32 with the reference's shape and the bytes that shape needs,
/// every parameter id well formed.
pub fn check_network(bytes: &[u8], reference: &[u8]) -> Result<(), String> {
    let (saved, reference) = (parse(bytes)?, parse(reference)?);
    let item = |v: &Value| v.as_map().and_then(|m| get(m, "item")).cloned();
    match (item(&saved), item(&reference)) {
        (Some(s), Some(r)) => like(&s, &r, "network"),
        (None, _) => Err("the record holds no network".into()),
        (_, None) => unreachable!("a record Burn wrote has an item"),
    }
}

/// `saved` has `reference`'s structure below `path`.
fn like(saved: &Value, reference: &Value, path: &str) -> Result<(), String> {
    if let Some((_, shape, _)) = as_tensor(reference) {
        let want: Vec<u64> = shape
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        let got = check_tensor(saved, None)?;
        return if got == want {
            Ok(())
        } else {
            Err(format!(
                "the saved {path} has shape {got:?}, the configuration's {want:?}"
            ))
        };
    }
    match (saved, reference) {
        (Value::Map(s), Value::Map(r)) => {
            for (k, rv) in r {
                let key = k.as_str().unwrap_or("?");
                let sv = get(s, key).ok_or_else(|| format!("the saved {path} has no {key}"))?;
                if key == "id" {
                    check_id(sv)?;
                } else {
                    like(sv, rv, &format!("{path}.{key}"))?;
                }
            }
            Ok(())
        }
        (Value::Array(s), Value::Array(r)) if s.len() == r.len() => s
            .iter()
            .zip(r)
            .enumerate()
            .try_for_each(|(i, (s, r))| like(s, r, &format!("{path}.{i}"))),
        (Value::Array(s), Value::Array(r)) => Err(format!(
            "the saved {path} has {} entries, the configuration's {}",
            s.len(),
            r.len()
        )),
        (Value::Map(_) | Value::Array(_), _) | (_, Value::Map(_) | Value::Array(_)) => {
            Err(format!("the saved {path} is not the configuration's"))
        }
        // Scalars: Burn's decoder reports a wrong type as an error.
        _ => Ok(()),
    }
}

/// Checks that `bytes` (a saved optimiser) keys its states by well-formed parameter ids
/// and that every tensor is f32, holds the bytes of its shape, and has the rank of the
/// state it belongs to (`Rank1`, `Rank2`, ...).
pub fn check_optimizer(bytes: &[u8]) -> Result<(), String> {
    let saved = parse(bytes)?;
    let item = saved
        .as_map()
        .and_then(|m| get(m, "item"))
        .and_then(Value::as_map)
        .ok_or("the record holds no optimiser states")?;
    for (id, state) in item {
        check_id(id)?;
        states(state, None)?;
    }
    Ok(())
}

/// Every tensor below `v`, ranks as the enclosing `RankN` says.
fn states(v: &Value, rank: Option<usize>) -> Result<(), String> {
    if as_tensor(v).is_some() {
        return check_tensor(v, rank).map(drop);
    }
    match v {
        Value::Map(m) => m.iter().try_for_each(|(k, x)| {
            let rank = k
                .as_str()
                .and_then(|k| k.strip_prefix("Rank"))
                .and_then(|n| n.parse().ok())
                .or(rank);
            states(x, rank)
        }),
        Value::Array(a) => a.iter().try_for_each(|x| states(x, rank)),
        _ => Ok(()),
    }
}

/// A parameter id as Burn writes it: the base32 (DNSSEC alphabet) of 8 bytes, which
/// Burn's own parser takes without panicking.
fn check_id(v: &Value) -> Result<(), String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("a saved parameter id is {v}, not text"))?;
    let well_formed = s.len() == 13
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'v').contains(&c))
        && ParamId::try_deserialize(s).is_some();
    if well_formed {
        Ok(())
    } else {
        Err(format!("a saved parameter id {s:?} is malformed"))
    }
}

/// Checks one saved tensor (f32, at most rank 8, or `rank` if given, with exactly the
/// bytes its shape needs) and returns its shape.
fn check_tensor(v: &Value, rank: Option<usize>) -> Result<Vec<u64>, String> {
    let Some((data, shape, dtype)) = as_tensor(v) else {
        return Err(format!("a saved value {v} is not a tensor"));
    };
    if dtype.as_str() != Some("F32") {
        return Err(format!("a saved tensor has element type {dtype}, not F32"));
    }
    let dims: Vec<u64> = shape
        .as_array()
        .and_then(|a| a.iter().map(Value::as_u64).collect())
        .ok_or_else(|| format!("a saved tensor's shape is {shape}, not a list of sizes"))?;
    let max = rank.unwrap_or(MAX_RANK);
    if dims.len() > MAX_RANK || rank.is_some_and(|r| r != dims.len()) {
        return Err(format!("a saved tensor has rank {}, not {max}", dims.len()));
    }
    let elements = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?))
        .ok_or_else(|| format!("a saved tensor's shape {shape} is too large"))?;
    let len = match data {
        Value::Binary(b) => b.len(),
        other => return Err(format!("a saved tensor's data is {other}, not bytes")),
    };
    if elements.checked_mul(4) != Some(len) {
        return Err(format!(
            "a saved tensor of shape {shape} holds {len} bytes, not the {} that shape needs",
            elements.saturating_mul(4)
        ));
    }
    Ok(dims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(item: Value) -> Vec<u8> {
        let v = Value::Map(vec![(Value::from("item"), item)]);
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, &v).unwrap();
        out
    }

    fn tensor(bytes: usize, shape: Vec<u64>, dtype: &str) -> Value {
        Value::Map(vec![
            (Value::from("bytes"), Value::Binary(vec![0; bytes])),
            (
                Value::from("shape"),
                Value::Array(shape.into_iter().map(Value::from).collect()),
            ),
            (Value::from("dtype"), Value::from(dtype)),
        ])
    }

    fn param(id: &str, t: Value) -> Value {
        Value::Map(vec![
            (Value::from("id"), Value::from(id)),
            (Value::from("param"), t),
        ])
    }

    const ID: &str = "2mqehgmrtth00";

    #[test]
    fn a_network_must_have_the_configurations_shapes_and_well_formed_ids() {
        let reference = record(param(ID, tensor(24, vec![2, 3], "F32")));
        assert!(check_network(&reference, &reference).is_ok());
        for (bad, want) in [
            (
                record(param(ID, tensor(20, vec![2, 3], "F32"))),
                "holds 20 bytes, not the 24",
            ),
            (
                record(param(ID, tensor(24, vec![3, 2], "F32"))),
                "shape [3, 2], the configuration's [2, 3]",
            ),
            (record(param(ID, tensor(24, vec![6], "F32"))), "shape [6]"),
            (
                record(param(ID, tensor(24, vec![2, 3], "F64"))),
                "element type",
            ),
            (
                record(param(ID, tensor(24, vec![u64::MAX, 3], "F32"))),
                "too large",
            ),
            (
                record(param("zzzzzzzzzzzzzzzzzzzz", tensor(24, vec![2, 3], "F32"))),
                "malformed",
            ),
            (record(Value::from(3)), "not the configuration's"),
            (vec![0x03], "holds no network"),
            (vec![0x92, 0x01], "not valid MessagePack"),
        ] {
            let e = check_network(&bad, &reference).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn optimiser_states_have_their_ranks_and_well_formed_ids() {
        let state = |rank: &str, t: Value| {
            record(Value::Map(vec![(
                Value::from(ID),
                Value::Map(vec![(
                    Value::from(rank),
                    Value::Map(vec![(Value::from("m"), t)]),
                )]),
            )]))
        };
        assert!(check_optimizer(&state("Rank2", tensor(24, vec![2, 3], "F32"))).is_ok());
        assert!(
            check_optimizer(&state("Rank1", tensor(24, vec![2, 3], "F32")))
                .unwrap_err()
                .contains("rank 2, not 1")
        );
        assert!(
            check_optimizer(&state("Rank2", tensor(8, vec![2, 3], "F32")))
                .unwrap_err()
                .contains("holds 8 bytes")
        );
        let bad_id = record(Value::Map(vec![(Value::from("nope"), Value::Nil)]));
        assert!(check_optimizer(&bad_id).unwrap_err().contains("malformed"));
    }
}
