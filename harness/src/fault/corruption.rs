//! How a `corrupt` fault damages its file: a [`Corruption`] with what its
//! mode needs, and the fields a scenario file gives it until they are checked.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

/// How a file is damaged, with what that takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Corruption {
    /// Flip `count` bits (1 or more) at offsets drawn from the run's seed.
    FlipBits { count: u32 },
    /// Overwrite `len` bytes at `offset` with zeros.
    Zero { offset: u64, len: u64 },
    /// Cut the file to `len` bytes.
    Truncate { len: u64 },
    /// Remove the file.
    Delete,
}

impl Corruption {
    /// The `mode` a scenario file names it by.
    pub fn mode(&self) -> CorruptionMode {
        match self {
            Corruption::FlipBits { .. } => CorruptionMode::FlipBits,
            Corruption::Zero { .. } => CorruptionMode::Zero,
            Corruption::Truncate { .. } => CorruptionMode::Truncate,
            Corruption::Delete => CorruptionMode::Delete,
        }
    }
}

/// How a file is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
#[serde(rename = "Corruption", rename_all = "snake_case")]
#[schemars(rename = "Corruption")]
pub enum CorruptionMode {
    /// Flip `count` bits at offsets drawn from the run's seed.
    FlipBits,
    /// Overwrite `len` bytes at `offset` with zeros.
    Zero,
    /// Cut the file to `len` bytes.
    Truncate,
    /// Remove the file.
    Delete,
}

/// A `corrupt` fault's mode and whichever of its fields a scenario file
/// gives, as written; [`CorruptionSpec::check`] makes a [`Corruption`] of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CorruptionSpec {
    pub mode: CorruptionMode,
    pub count: Option<u32>,
    pub offset: Option<u64>,
    pub len: Option<u64>,
}

impl CorruptionSpec {
    /// The corruption, when the file gives exactly the fields its mode
    /// needs (checked in the order `count`, `offset`, `len`).
    pub fn check(self) -> Result<Corruption, String> {
        let CorruptionSpec {
            mode,
            count,
            offset,
            len,
        } = self;
        Ok(match mode {
            CorruptionMode::FlipBits => {
                let count = needed(mode, "count", count)?;
                unused(mode, "offset", offset)?;
                unused(mode, "len", len)?;
                if count == 0 {
                    return Err("corrupt: count must be at least 1".to_string());
                }
                Corruption::FlipBits { count }
            }
            CorruptionMode::Zero => {
                unused(mode, "count", count)?;
                Corruption::Zero {
                    offset: needed(mode, "offset", offset)?,
                    len: needed(mode, "len", len)?,
                }
            }
            CorruptionMode::Truncate => {
                unused(mode, "count", count)?;
                unused(mode, "offset", offset)?;
                Corruption::Truncate {
                    len: needed(mode, "len", len)?,
                }
            }
            CorruptionMode::Delete => {
                unused(mode, "count", count)?;
                unused(mode, "offset", offset)?;
                unused(mode, "len", len)?;
                Corruption::Delete
            }
        })
    }
}

fn needed<T>(mode: CorruptionMode, field: &str, value: Option<T>) -> Result<T, String> {
    value.ok_or_else(|| format!("corrupt: mode {mode:?} needs `{field}`"))
}

fn unused<T>(mode: CorruptionMode, field: &str, value: Option<T>) -> Result<(), String> {
    match value {
        Some(_) => Err(format!(
            "corrupt: `{field}` has no meaning for mode {mode:?}"
        )),
        None => Ok(()),
    }
}

// The fields of a `corrupt` fault in a scenario file, and their schema.
// `expecting` words a short array form's error as serde does for the
// other kinds (`struct variant Fault::Kill with 1 element`).
#[derive(Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Fault::Corrupt with 6 elements"
)]
pub(super) struct CorruptFile {
    target: String,
    path: String,
    mode: CorruptionMode,
    /// Bits to flip (`flip_bits`).
    #[serde(default)]
    count: Option<u32>,
    /// First byte (`zero`).
    #[serde(default)]
    offset: Option<u64>,
    /// Bytes to zero (`zero`) or the length to keep (`truncate`).
    #[serde(default)]
    len: Option<u64>,
}

/// Reads the fields of [`super::Fault::Corrupt`] from a scenario file.
pub(super) fn read<'de, D, C>(d: D) -> Result<(String, String, C), D::Error>
where
    D: Deserializer<'de>,
    C: From<CorruptionSpec>,
{
    let f = CorruptFile::deserialize(d)?;
    let spec = CorruptionSpec {
        mode: f.mode,
        count: f.count,
        offset: f.offset,
        len: f.len,
    };
    Ok((f.target, f.path, C::from(spec)))
}
