//! A document against compiled checks, as Python's `jsonschema` judges it, with
//! messages that say what a value must be.

use std::cmp::Ordering;

use serde_json::Number;

use super::compile::{Check, Kind, Node, NodeId};
use super::{Schemas, Segment, Validation, Violation, shown};
use crate::spec::{Str, Value};

/// Subschemas entered within one another past this are refused: only a `$ref` cycle
/// that makes no progress gets here.
const MAX_NESTING: usize = 256;

/// Names listed in a message (the known keys, an `enum`'s values), at most.
const NAMES_LISTED: usize = 12;

/// Where violations go, the first `kept` of them with their messages.
pub(super) struct Sink {
    kept: usize,
    violations: Vec<Violation>,
    unshown: usize,
    listed: Vec<Vec<Segment>>,
}

impl Sink {
    pub(super) fn new(kept: usize) -> Sink {
        Sink { kept, violations: Vec::new(), unshown: 0, listed: Vec::new() }
    }

    /// A violation at `path`; its message is only made when it is kept, so that the
    /// branches of a `oneOf` that do not hold cost no text.
    fn violation(&mut self, path: &[Segment], message: impl FnOnce() -> String) {
        if self.violations.len() < self.kept {
            self.violations.push(Violation { path: path.to_vec(), message: message() });
        } else {
            self.unshown += 1;
        }
    }

    fn is_clean(&self) -> bool {
        self.violations.is_empty() && self.unshown == 0
    }

    pub(super) fn into_validation(self) -> Validation {
        Validation { violations: self.violations, unshown: self.unshown, listed: self.listed }
    }
}

pub(super) struct Evaluator<'s> {
    pub schemas: &'s Schemas,
}

impl Evaluator<'_> {
    pub(super) fn eval(&self, node: NodeId, value: &Value, path: &mut Vec<Segment>, sink: &mut Sink) {
        self.nested(node, value, path, sink, 0);
    }

    fn nested(&self, node: NodeId, value: &Value, path: &mut Vec<Segment>, sink: &mut Sink, depth: usize) {
        if depth > MAX_NESTING {
            sink.violation(path, || format!("the schema nests deeper than {MAX_NESTING} levels here"));
            return;
        }
        let checks = match &self.schemas.nodes[node.0] {
            Node::Never => return sink.violation(path, || "is not allowed here".to_owned()),
            Node::All(checks) => checks,
        };
        for check in checks {
            self.check(check, value, path, sink, depth + 1);
        }
    }

    fn check(&self, check: &Check, value: &Value, path: &mut Vec<Segment>, sink: &mut Sink, depth: usize) {
        match (check, value) {
            (Check::Type(kinds), _) if !kinds.iter().any(|kind| is_kind(value, *kind)) => {
                sink.violation(path, || {
                    let expected: Vec<&str> = kinds.iter().map(|kind| kind_name(*kind)).collect();
                    let actual = match value {
                        Value::Number(n) => n.to_string(),
                        other => other.kind().to_owned(),
                    };
                    format!("must be {}, not {actual}", expected.join(" or "))
                });
            }
            (Check::Enum(allowed), _) => {
                if allowed.iter().any(|a| same(a, value)) {
                    if matches!(value, Value::String(_)) {
                        sink.listed.push(path.clone());
                    }
                } else {
                    sink.violation(path, || {
                        let names = allowed.iter().map(|a| a.as_str().map_or(a.to_string(), str::to_owned)).collect();
                        format!("{} is not one of: {}", shown(value), some_of(names))
                    });
                }
            }
            (Check::Pattern(regex), Value::String(text)) if !regex.is_match(text) => {
                sink.violation(path, || format!("{} does not match `{}`", shown(value), regex.as_str()));
            }
            (Check::MinLength(least), Value::String(text)) if (text.chars().count() as u64) < *least => {
                sink.violation(path, || format!("{} is shorter than {least} characters", shown(value)));
            }
            (Check::MaxLength(most), Value::String(text)) if text.chars().count() as u64 > *most => {
                sink.violation(path, || format!("{} is longer than {most} characters", shown(value)));
            }
            (Check::Minimum(least), Value::Number(n)) if compare(n, least) == Ordering::Less => {
                sink.violation(path, || format!("{n} is less than {least}"));
            }
            (Check::Maximum(most), Value::Number(n)) if compare(n, most) == Ordering::Greater => {
                sink.violation(path, || format!("{n} is more than {most}"));
            }
            (Check::MinItems(least), Value::Array(items)) if (items.len() as u64) < *least => {
                sink.violation(path, || format!("has {} items, fewer than {least}", items.len()));
            }
            (Check::MaxItems(most), Value::Array(items)) if items.len() as u64 > *most => {
                sink.violation(path, || format!("has {} items, more than {most}", items.len()));
            }
            (Check::Required(names), Value::Object(object)) => {
                for name in names.iter().filter(|name| !object.contains_key(name)) {
                    sink.violation(path, || format!("lacks `{name}`"));
                }
            }
            (Check::Properties { known, additional }, Value::Object(object)) => {
                for (key, member) in object.iter() {
                    path.push(Segment::Key(Str::from(key)));
                    match known.iter().find(|(name, _)| name.as_ref() == key) {
                        Some((_, node)) => self.nested(*node, member, path, sink, depth),
                        None => match additional {
                            Some(node) if matches!(self.schemas.nodes[node.0], Node::Never) => {
                                sink.violation(path, || unknown_key(known));
                            }
                            Some(node) => self.nested(*node, member, path, sink, depth),
                            None => {}
                        },
                    }
                    path.pop();
                }
            }
            (Check::PropertyNames(node), Value::Object(object)) => {
                for (key, _) in object.iter() {
                    let mut scratch = Sink::new(sink.kept);
                    self.nested(*node, &Value::String(Str::from(key)), &mut Vec::new(), &mut scratch, depth);
                    path.push(Segment::Key(Str::from(key)));
                    for violation in scratch.violations {
                        sink.violation(path, || format!("the key {}", violation.message));
                    }
                    path.pop();
                }
            }
            (Check::Items { prefix, rest }, Value::Array(items)) => {
                for (index, item) in items.iter().enumerate() {
                    let Some(node) = prefix.get(index).or(rest.as_ref()) else { break };
                    path.push(Segment::Index(index));
                    self.nested(*node, item, path, sink, depth);
                    path.pop();
                }
            }
            (Check::AllOf(nodes), _) => {
                for node in nodes {
                    self.nested(*node, value, path, sink, depth);
                }
            }
            (Check::OneOf(nodes), _) => self.one_of(nodes, value, path, sink, depth),
            (Check::Not(node), _) => {
                let mut scratch = Sink::new(0);
                self.nested(*node, value, path, &mut scratch, depth);
                if scratch.is_clean() {
                    sink.violation(path, || self.forbidden(*node));
                }
            }
            (Check::Ref(node), _) => self.nested(*node, value, path, sink, depth),
            // The rest apply to other types of value only.
            _ => {}
        }
    }

    /// Exactly one of `nodes` must hold; what it lists is kept, the others' nothing.
    /// Each is tried without messages; only when none holds are they tried again for
    /// their first reason.
    fn one_of(&self, nodes: &[NodeId], value: &Value, path: &mut Vec<Segment>, sink: &mut Sink, depth: usize) {
        let mut held = Vec::new();
        for node in nodes {
            let mut scratch = Sink::new(0);
            self.nested(*node, value, path, &mut scratch, depth);
            if scratch.is_clean() {
                held.push(scratch);
            }
        }
        match held.len() {
            1 => sink.listed.append(&mut held[0].listed),
            0 => sink.violation(path, || {
                let reasons: Vec<String> =
                    nodes.iter().filter_map(|node| self.first_reason(*node, value, path, depth)).collect();
                format!("matches none of the allowed forms: {}", reasons.join("; or "))
            }),
            _ => sink.violation(path, || "matches more than one of the allowed forms".to_owned()),
        }
    }

    /// Why `value` does not hold against `node`, first: its message, after its path
    /// below `path` where it is deeper.
    fn first_reason(&self, node: NodeId, value: &Value, path: &[Segment], depth: usize) -> Option<String> {
        let mut scratch = Sink::new(1);
        self.nested(node, value, &mut path.to_vec(), &mut scratch, depth);
        let first = scratch.violations.into_iter().next()?;
        let deeper = &first.path[path.len().min(first.path.len())..];
        Some(match deeper {
            [] => first.message,
            _ => format!("`{}` {}", super::path_text(deeper), first.message),
        })
    }

    /// What a `not` says, in words where it forbids a set of keys together.
    fn forbidden(&self, node: NodeId) -> String {
        match &self.schemas.nodes[node.0] {
            Node::All(checks) => match checks.as_slice() {
                [Check::Required(names)] => {
                    let names: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
                    format!("must not have {}", names.join(" and "))
                }
                _ => "matches a form that is not allowed here".to_owned(),
            },
            Node::Never => "matches a form that is not allowed here".to_owned(),
        }
    }
}

fn unknown_key(known: &[(Str, NodeId)]) -> String {
    let mut names: Vec<String> = known.iter().map(|(name, _)| name.to_string()).collect();
    names.sort_unstable();
    format!("is not a key QMK knows here (known: {})", some_of(names))
}

/// The first of `names`, and how many more there are.
fn some_of(mut names: Vec<String>) -> String {
    let more = names.len().saturating_sub(NAMES_LISTED);
    names.truncate(NAMES_LISTED);
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    names.join(", ") + &more
}

fn is_kind(value: &Value, kind: Kind) -> bool {
    match (kind, value) {
        (Kind::Null, Value::Null)
        | (Kind::Boolean, Value::Bool(_))
        | (Kind::Number, Value::Number(_))
        | (Kind::String, Value::String(_))
        | (Kind::Array, Value::Array(_))
        | (Kind::Object, Value::Object(_)) => true,
        (Kind::Integer, Value::Number(n)) => is_whole(n),
        _ => false,
    }
}

/// An integer, or a float with no fraction (`1.0`), as Python's validator counts them.
fn is_whole(n: &Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Null => "null",
        Kind::Boolean => "a boolean",
        Kind::Integer => "a whole number",
        Kind::Number => "a number",
        Kind::String => "a string",
        Kind::Array => "an array",
        Kind::Object => "an object",
    }
}

/// JSON equality as Python's validator sees it: `1` equals `1.0`, but `true` is no number.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare(x, y) == Ordering::Equal,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(key, value)| y.get(key).is_some_and(|other| same(value, other)))
        }
        _ => a == b,
    }
}

/// Numbers compared exactly where both are integers, else as floats.
fn compare(a: &Number, b: &Number) -> Ordering {
    let exact = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (exact(a), exact(b)) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => {
            let float = |n: &Number| n.as_f64().unwrap_or(f64::NAN);
            float(a).partial_cmp(&float(b)).unwrap_or(Ordering::Equal)
        }
    }
}
