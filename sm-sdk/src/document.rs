//! A document as it travels between host and manager: the JSON text of a
//! 5GTANGO descriptor, record or event content.
//!
//! Requests keep their document unparsed so a manager only pays for the parts
//! it reads; [`Document::value`] and [`Document::parse`] give typed access.

use serde::de::DeserializeOwned;

/// The JSON text of a 5GTANGO document (descriptor, record, event content).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Document(String);

impl Document {
    /// Wraps a JSON text. The text is not checked until it is parsed.
    pub fn from_json(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// Serializes a value into a document.
    pub fn from_value(value: &serde_json::Value) -> Self {
        Self(value.to_string())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Takes the JSON text out.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Parses the whole document as an untyped JSON value.
    pub fn value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    /// Parses the document into a typed view; unknown fields are ignored.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }
}
