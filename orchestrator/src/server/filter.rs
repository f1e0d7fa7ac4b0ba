//! SOL013 attribute-based filtering of lists, the subset API.md names:
//! `filter=(op,attribute,value[,value…])[;(…)…]` with the operators `eq`,
//! `neq`, `in` and `nin` on a list's top-level string attributes. Every
//! term must hold. `eq` and `in` hold when the attribute equals one of the
//! values, `neq` and `nin` when it equals none. Values cannot contain `,`,
//! `;`, `(` or `)`. A malformed filter, an unknown operator or an attribute
//! the list does not have is a 400 naming what is wrong.

use super::problem::{Problem, ProblemKind};

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Filter {
    terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    /// Whether the attribute must equal one of the values (`eq`, `in`) or
    /// none of them (`neq`, `nin`).
    equal: bool,
    attribute: String,
    values: Vec<String>,
}

impl Filter {
    /// Parses `text` for a list whose filterable attributes are `attributes`.
    pub(super) fn parse(text: &str, attributes: &[&str]) -> Result<Self, Problem> {
        let refuse = |why: String| Problem::new(ProblemKind::Validation, format!("filter {text:?}: {why}"));
        let mut terms = Vec::new();
        for term in text.split(';') {
            let inner = term
                .strip_prefix('(')
                .and_then(|rest| rest.strip_suffix(')'))
                .ok_or_else(|| refuse(format!("{term:?} is not of the form (op,attribute,value)")))?;
            let mut parts = inner.split(',');
            let (Some(op), Some(attribute)) = (parts.next(), parts.next()) else {
                return Err(refuse(format!("{term:?} names no attribute")));
            };
            let values: Vec<String> = parts.map(str::to_owned).collect();
            if values.is_empty() || values.iter().any(|value| value.contains(['(', ')'])) {
                return Err(refuse(format!("{term:?} needs one or more plain values")));
            }
            let equal = match op {
                "eq" | "in" => true,
                "neq" | "nin" => false,
                other => return Err(refuse(format!("unknown operator {other:?} (eq, neq, in, nin)"))),
            };
            if !attributes.contains(&attribute) {
                return Err(refuse(format!(
                    "unknown attribute {attribute:?} (this list filters on {})",
                    attributes.join(", ")
                )));
            }
            terms.push(Term {
                equal,
                attribute: attribute.to_owned(),
                values,
            });
        }
        Ok(Self { terms })
    }

    /// Whether an item holds every term; `value_of` gives its attributes'
    /// values (an absent attribute equals no value).
    pub(super) fn matches<'a>(&self, value_of: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.terms.iter().all(|term| {
            let found = value_of(&term.attribute).is_some_and(|value| term.values.iter().any(|wanted| wanted == value));
            found == term.equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTRIBUTES: &[&str] = &["nsState", "nsdId"];

    fn instance(attribute: &str) -> Option<&'static str> {
        match attribute {
            "nsState" => Some("INSTANTIATED"),
            "nsdId" => Some("eu.wasmano/web/1.0"),
            _ => None,
        }
    }

    #[test]
    fn every_term_must_hold() {
        let holds = |text: &str| Filter::parse(text, ATTRIBUTES).unwrap().matches(instance);
        assert!(holds("(eq,nsState,INSTANTIATED)"));
        assert!(!holds("(neq,nsState,INSTANTIATED)"));
        assert!(holds("(in,nsState,NOT_INSTANTIATED,INSTANTIATED)"));
        assert!(!holds("(nin,nsState,NOT_INSTANTIATED,INSTANTIATED)"));
        assert!(holds("(eq,nsState,INSTANTIATED);(eq,nsdId,eu.wasmano/web/1.0)"));
        assert!(!holds("(eq,nsState,INSTANTIATED);(eq,nsdId,other)"));
    }

    #[test]
    fn malformed_filters_are_refused_naming_the_problem() {
        for (text, says) in [
            ("nsState", "not of the form"),
            ("(eq,nsState)", "plain values"),
            ("(eq)", "no attribute"),
            ("(gt,nsState,1)", "unknown operator"),
            ("(eq,projectId,p)", "unknown attribute"),
            ("(eq,nsState,(x))", "plain values"),
            ("(eq,nsState,A);", "not of the form"),
        ] {
            let problem = Filter::parse(text, ATTRIBUTES).unwrap_err();
            assert_eq!(problem.kind(), ProblemKind::Validation, "{text}");
            assert!(format!("{problem:?}").contains(says), "{text}: {problem:?}");
        }
    }
}
