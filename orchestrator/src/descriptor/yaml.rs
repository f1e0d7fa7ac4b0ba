//! Reading descriptor YAML that may be hostile.
//!
//! Descriptors arrive from whoever onboards a package, so parsing runs under
//! explicit serde-saphyr budgets: a size cap on the input, a depth cap, caps
//! on events, nodes and aliases (against alias bombs), and one document per
//! file. The result is a small tree that keeps the line of every node, so
//! that validation can point at the line a problem comes from.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{
    Budget, DuplicateKeyPolicy, Error, MessageFormatter, NonFiniteFloatPolicy, Options, Spanned, UserMessageFormatter,
};

use super::problem::{Issue, Problem};

/// The largest descriptor accepted, in bytes. Real descriptors are a few KB.
pub const MAX_DESCRIPTOR_BYTES: usize = 1 << 20;

/// Deepest nesting of mappings and sequences accepted; tng-schema needs ~8.
const MAX_DEPTH: usize = 32;
/// Most parser events (scalars, collection starts and ends) in one file.
const MAX_EVENTS: usize = 200_000;
/// Most nodes (scalars and collections) in one file, aliases expanded.
const MAX_NODES: usize = 100_000;
/// Most aliases (`*name`) in one file; descriptors rarely use any.
const MAX_ALIASES: usize = 1_000;
/// Most events replayed through aliases, which bounds what aliases expand to.
const MAX_REPLAYED_EVENTS: usize = 50_000;

/// One YAML node and the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// 1-based line, when the parser knew it.
    pub(crate) line: Option<usize>,
    /// The node's content.
    pub(crate) content: Content,
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Content {
    Null,
    Bool(bool),
    Integer(i64),
    Float(f64),
    Text(String),
    List(Vec<Node>),
    /// Entries in document order; keys are the scalar keys' text.
    Map(Vec<(String, Node)>),
}

/// Parses one YAML document under the descriptor budgets. A document
/// that is not YAML, or that the budgets refuse, is one problem with the
/// whole document.
pub(crate) fn parse(bytes: &[u8]) -> Result<Node, Problem> {
    let whole_document = |line, issue| Problem {
        path: String::new(),
        line,
        issue,
    };
    if bytes.len() > MAX_DESCRIPTOR_BYTES {
        return Err(whole_document(
            None,
            Issue::TooLarge {
                limit: MAX_DESCRIPTOR_BYTES,
            },
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|error| whole_document(None, Issue::Unreadable(format!("not UTF-8 text: {error}"))))?;
    serde_saphyr::from_str_with_options::<Node>(text, options()).map_err(|error| {
        let line = error
            .location()
            .and_then(|location| usize::try_from(location.line()).ok())
            .filter(|line| *line > 0);
        let error = innermost(&error);
        let message = match error {
            Error::Budget { breach, .. } => refusal(breach),
            Error::AliasReplayLimitExceeded { .. }
            | Error::AliasExpansionLimitExceeded { .. }
            | Error::AliasReplayStackDepthExceeded { .. }
            | Error::AliasReplayCounterOverflow { .. } => refusal_of_aliases(),
            _ => UserMessageFormatter.format_message(error).into_owned(),
        };
        whole_document(line, Issue::Unreadable(message))
    })
}

/// The error itself, without the snippet or alias context around it.
fn innermost(mut error: &Error) -> &Error {
    while let Error::AliasError { error: inner, .. } | Error::WithSnippet { error: inner, .. } = error {
        error = inner;
    }
    error
}

/// Says which budget a document broke, in the operator's terms.
fn refusal(breach: &BudgetBreach) -> String {
    match breach {
        BudgetBreach::Depth { .. } => format!("refused: nested deeper than {MAX_DEPTH} levels"),
        BudgetBreach::Aliases { .. }
        | BudgetBreach::Anchors { .. }
        | BudgetBreach::AliasAnchorRatio { .. }
        | BudgetBreach::RecordedAnchorEvents { .. }
        | BudgetBreach::RecordedAnchorBytes { .. } => refusal_of_aliases(),
        BudgetBreach::Events { .. } | BudgetBreach::Nodes { .. } | BudgetBreach::ScalarBytes { .. } => {
            format!("refused: more than {MAX_NODES} nodes or {MAX_DESCRIPTOR_BYTES} bytes of text")
        }
        BudgetBreach::Documents { .. } => "refused: a descriptor file holds one YAML document".to_owned(),
        other => format!("refused: over a parsing budget ({other:?})"),
    }
}

fn refusal_of_aliases() -> String {
    format!("refused: anchors and aliases expand beyond {MAX_REPLAYED_EVENTS} events (an alias bomb?)")
}

/// The budgets, every one set on purpose rather than left to the defaults.
/// (The input size is checked before parsing: [`parse`] takes bytes already
/// read, which serde-saphyr's reader budget does not see.)
fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.flow_nesting_limit = MAX_DEPTH;
    budget.max_events = MAX_EVENTS;
    budget.max_nodes = MAX_NODES;
    budget.max_aliases = MAX_ALIASES;
    budget.max_anchors = MAX_ALIASES;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = MAX_DESCRIPTOR_BYTES;
    budget.max_recorded_anchor_events = MAX_REPLAYED_EVENTS;
    budget.max_recorded_anchor_bytes = MAX_DESCRIPTOR_BYTES;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.duplicate_keys = DuplicateKeyPolicy::Error;
    // YAML 1.2 booleans only: `y`, `no` or `on` stay strings (a cp named `y`).
    options.strict_booleans = true;
    // JSON, which keeps the fields the model does not type, has no NaN.
    options.non_finite_float_policy = NonFiniteFloatPolicy::Reject;
    options.alias_limits.max_total_replayed_events = MAX_REPLAYED_EVENTS;
    options
}

impl Node {
    /// A short name of the node's type, for messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self.content {
            Content::Null => "nothing",
            Content::Bool(_) => "a boolean",
            Content::Integer(_) | Content::Float(_) => "a number",
            Content::Text(_) => "a string",
            Content::List(_) => "a list",
            Content::Map(_) => "a mapping",
        }
    }

    /// The node as JSON, for the fields the model keeps without typing them.
    /// (The parser refuses the non-finite floats JSON cannot hold.)
    pub(crate) fn to_json(&self) -> Value {
        match &self.content {
            Content::Null => Value::Null,
            Content::Bool(flag) => Value::Bool(*flag),
            Content::Integer(number) => Value::Number((*number).into()),
            Content::Float(number) => Number::from_f64(*number).map_or(Value::Null, Value::Number),
            Content::Text(text) => Value::String(text.clone()),
            Content::List(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Content::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(key, value)| (key.clone(), value.to_json()))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Content>::deserialize(deserializer)?;
        let line = usize::try_from(spanned.referenced.line()).ok().filter(|line| *line > 0);
        Ok(Self {
            line,
            content: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ContentVisitor)
    }
}

struct ContentVisitor;

impl<'de> Visitor<'de> for ContentVisitor {
    type Value = Content;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any YAML node")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Content, E> {
        Ok(Content::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Content, E> {
        Ok(Content::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Content, D::Error> {
        Content::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Content, E> {
        Ok(Content::Bool(flag))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Content, E> {
        Ok(Content::Integer(number))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Content, E> {
        Ok(i64::try_from(number).map_or(Content::Float(number as f64), Content::Integer))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Content, E> {
        Ok(Content::Float(number))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Content, E> {
        Ok(Content::Text(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Content, E> {
        Ok(Content::Text(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Content::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Content, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let key = key
                .scalar_text()
                .ok_or_else(|| de::Error::custom(format!("a mapping key must be a scalar, not {}", key.type_name())))?;
            entries.push((key, map.next_value::<Node>()?));
        }
        Ok(Content::Map(entries))
    }
}

impl Node {
    /// The text of a scalar as 5GTANGO tools read it: strings as they are,
    /// numbers and booleans spelled out (`version: 0.9` means `"0.9"`).
    pub(crate) fn scalar_text(&self) -> Option<String> {
        match &self.content {
            Content::Text(text) => Some(text.clone()),
            Content::Integer(number) => Some(number.to_string()),
            Content::Float(number) => Some(number.to_string()),
            Content::Bool(flag) => Some(flag.to_string()),
            Content::Null | Content::List(_) | Content::Map(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn refusal_of(text: &str) -> Problem {
        let started = Instant::now();
        let problem = parse(text.as_bytes()).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "refusing took {:?}",
            started.elapsed()
        );
        problem
    }

    #[test]
    fn nodes_keep_their_lines() {
        let node = parse(b"a: 1\nb:\n  - x\n  - y: 2\n").unwrap();
        let Content::Map(entries) = node.content else {
            panic!("not a map")
        };
        assert_eq!(entries[0].1.line, Some(1));
        let Content::List(items) = &entries[1].1.content else {
            panic!("not a list")
        };
        assert_eq!(items[0].line, Some(3));
        assert_eq!(items[1].line, Some(4));
    }

    #[test]
    fn scalars_keep_their_yaml_types() {
        let node = parse(b"[1, 0.5, 'x', true, ~]").unwrap();
        let Content::List(items) = node.content else {
            panic!("not a list")
        };
        let contents: Vec<Content> = items.into_iter().map(|item| item.content).collect();
        assert_eq!(
            contents,
            [
                Content::Integer(1),
                Content::Float(0.5),
                Content::Text("x".into()),
                Content::Bool(true),
                Content::Null
            ]
        );
    }

    #[test]
    fn an_alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..10 {
            let items = vec![format!("*a{}", level - 1); 10].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        let problem = refusal_of(&text);
        assert!(problem.to_string().contains("alias bomb"), "{problem}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        for text in ["[".repeat(100_000), "- ".repeat(100_000), "{a: ".repeat(100_000)] {
            let problem = refusal_of(&text);
            assert!(matches!(problem.issue, Issue::Unreadable(_)), "{problem}");
        }
        assert!(
            refusal_of(&"- ".repeat(40))
                .to_string()
                .contains("nested deeper than 32")
        );
    }

    #[test]
    fn a_large_file_is_refused_before_parsing() {
        let problem = refusal_of(&"a: b\n".repeat(MAX_DESCRIPTOR_BYTES));
        assert_eq!(
            problem.issue,
            Issue::TooLarge {
                limit: MAX_DESCRIPTOR_BYTES
            }
        );
    }

    #[test]
    fn duplicate_keys_broken_yaml_and_extra_documents_name_their_line() {
        for (text, line) in [
            ("a: 1\nb: 2\na: 3\n", 3),
            ("a: [1, 2\nb: 3\n", 2),
            ("a: 1\n---\nb: 2\n", 2),
        ] {
            let problem = refusal_of(text);
            assert_eq!(problem.line, Some(line), "{problem}");
            assert!(
                !problem.to_string().contains("line"),
                "the line is not repeated in the message: {problem}"
            );
        }
    }

    #[test]
    fn yaml_1_1_booleans_and_non_finite_floats_are_not_read_as_such() {
        let node = parse(b"[y, no, on, True]").unwrap();
        assert_eq!(node.to_json(), serde_json::json!(["y", "no", "on", true]));
        assert!(refusal_of("x: .nan").to_string().contains("not a finite number"));
    }
}
