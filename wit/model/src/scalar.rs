//! A scalar 5GTANGO writes either as text or as a number.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A version, option value or port, which 5GTANGO documents write as text
/// or as a number (`version: '1'`, `version: 1`, `port: 1883`): read either
/// way, compared and shown as text, written back as it was written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged, expecting = "expected text, a number or a boolean")]
pub enum Scalar {
    /// Written as text.
    Text(String),
    /// Written as a whole number.
    Integer(i64),
    /// Written as a number with a fraction.
    Float(f64),
    /// Written as a boolean.
    Flag(bool),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(text) => f.write_str(text),
            Self::Integer(number) => write!(f, "{number}"),
            Self::Float(number) => write!(f, "{number}"),
            Self::Flag(flag) => write!(f, "{flag}"),
        }
    }
}

/// Two scalars are equal when they read the same: `'1'` and `1` are.
impl PartialEq for Scalar {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl PartialEq<str> for Scalar {
    fn eq(&self, other: &str) -> bool {
        match self {
            Self::Text(text) => text == other,
            written => {
                let text = written.to_string();
                text.as_str() == other
            }
        }
    }
}

impl From<&str> for Scalar {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for Scalar {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

/// An amount (cores, a memory size) as written: `2` stays `2` and `0.5`
/// stays `0.5` when written back (tng-schema wants some amounts whole).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantity(serde_json::Number);

impl Quantity {
    /// The amount.
    pub fn value(&self) -> f64 {
        self.0.as_f64().unwrap_or_default()
    }
}

impl Default for Quantity {
    /// Nothing.
    fn default() -> Self {
        Self(0.into())
    }
}

impl From<i64> for Quantity {
    fn from(amount: i64) -> Self {
        Self(amount.into())
    }
}

impl From<f64> for Quantity {
    /// A whole amount is written whole; not a number is nothing.
    fn from(amount: f64) -> Self {
        if amount.fract() == 0.0 && amount.abs() < 9.0e15 {
            #[allow(clippy::cast_possible_truncation, reason = "whole and within i64")]
            return Self((amount as i64).into());
        }
        serde_json::Number::from_f64(amount).map_or_else(Self::default, Self)
    }
}
