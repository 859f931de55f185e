//! Schema documents into a graph of checks: each subschema becomes one node, once
//! (memoized by document and JSON pointer, so `$ref`s to one place share it and a
//! reference cycle closes on itself instead of recursing).

use regex::Regex;
use rustc_hash::FxHashMap as HashMap;
use serde_json::Number;

use super::{SchemaError, Schemas};
use crate::spec::{Str, Value};

/// Keywords that annotate rather than assert: `format` included, which Python's
/// validator only asserts when given a format checker, and QMK gives none.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "$defs",
    "definitions",
    "title",
    "description",
    "format",
    "default",
    "examples",
    "deprecated",
];

/// One schema file as read.
pub(super) struct Document {
    /// Its file name, by which others refer to it (`./definitions.jsonschema#/...`).
    pub name: String,
    /// How messages name it.
    pub shown: String,
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct NodeId(pub usize);

#[derive(Debug)]
pub(super) enum Node {
    /// `false`: nothing is allowed.
    Never,
    /// Every check must hold; none at all (`true`, `{}`) allows anything.
    All(Vec<Check>),
}

/// The JSON types a `type` names; a whole number written `1.0` is an integer, as in
/// Python's validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    Array,
    Object,
}

#[derive(Debug)]
pub(super) enum Check {
    Type(Vec<Kind>),
    Enum(Vec<Value>),
    Pattern(Regex),
    MinLength(u64),
    MaxLength(u64),
    Minimum(Number),
    Maximum(Number),
    MinItems(u64),
    MaxItems(u64),
    Required(Vec<Str>),
    /// `properties` with `additionalProperties`, which applies to the keys the
    /// former does not name.
    Properties {
        known: Vec<(Str, NodeId)>,
        additional: Option<NodeId>,
    },
    PropertyNames(NodeId),
    /// `prefixItems`, then `items` for the items after them, or else
    /// `unevaluatedItems` (QMK's schemas use it only beside `prefixItems`).
    Items {
        prefix: Vec<NodeId>,
        rest: Option<NodeId>,
    },
    AllOf(Vec<NodeId>),
    OneOf(Vec<NodeId>),
    Not(NodeId),
    Ref(NodeId),
}

/// Why a schema cannot be used, and where in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at `#{pointer}`: {message}")]
pub struct CompileError {
    pub pointer: String,
    pub message: String,
}

struct Compiler {
    documents: Vec<Document>,
    /// Each document's index by file name and by `$id`.
    named: HashMap<String, usize>,
    nodes: Vec<Node>,
    compiled: HashMap<(usize, String), NodeId>,
}

/// Compiles every document, so that a keyword this evaluator does not know is found
/// when the schemas are loaded, whichever schema is used later.
pub(super) fn compile(documents: Vec<Document>) -> Result<Schemas, SchemaError> {
    let mut named = HashMap::default();
    for (index, document) in documents.iter().enumerate() {
        named.insert(document.name.clone(), index);
        if let Some(id) = document.value.get("$id").and_then(Value::as_str) {
            named.insert(id.to_owned(), index);
        }
    }
    let mut compiler = Compiler { documents, named, nodes: Vec::new(), compiled: HashMap::default() };
    let mut roots = HashMap::default();
    for index in 0..compiler.documents.len() {
        let root = compiler
            .node(index, "")
            .map_err(|error| SchemaError::Compile { path: compiler.documents[index].shown.clone(), error })?;
        roots.insert(compiler.documents[index].name.clone(), root);
        if let Some(id) = compiler.documents[index].value.get("$id").and_then(Value::as_str) {
            roots.insert(id.to_owned(), root);
        }
    }
    Ok(Schemas { nodes: compiler.nodes, roots })
}

impl Compiler {
    /// The node of the subschema at `pointer` in document `document`.
    fn node(&mut self, document: usize, pointer: &str) -> Result<NodeId, CompileError> {
        if let Some(id) = self.compiled.get(&(document, pointer.to_owned())) {
            return Ok(*id);
        }
        let schema = resolve(&self.documents[document].value, pointer)
            .ok_or_else(|| error(pointer, "the pointer leads nowhere in its file"))?
            .clone();
        let id = NodeId(self.nodes.len());
        // Taken before the checks are compiled, so that a cycle finds it.
        self.nodes.push(Node::All(Vec::new()));
        self.compiled.insert((document, pointer.to_owned()), id);
        let node = match &schema {
            Value::Bool(true) => Node::All(Vec::new()),
            Value::Bool(false) => Node::Never,
            Value::Object(_) => Node::All(self.checks(document, pointer, &schema)?),
            other => return Err(error(pointer, &format!("a schema is an object or a boolean, not {}", other.kind()))),
        };
        self.nodes[id.0] = node;
        Ok(id)
    }

    fn checks(&mut self, document: usize, pointer: &str, schema: &Value) -> Result<Vec<Check>, CompileError> {
        let object = schema.as_object().expect("checked by the caller");
        let at = |keyword: &str| format!("{pointer}/{}", escape(keyword));
        let mut checks = Vec::new();
        let mut prefix = Vec::new();
        let (mut items, mut unevaluated) = (None, None);
        let mut known = Vec::new();
        let mut additional = None;
        for (keyword, value) in object.iter() {
            let here = at(keyword);
            match keyword {
                "type" => checks.push(Check::Type(kinds(value, &here)?)),
                "enum" => checks.push(Check::Enum(array(value, &here)?.to_vec())),
                "pattern" => {
                    let pattern = text(value, &here)?;
                    let regex = Regex::new(pattern).map_err(|e| error(&here, &format!("not a pattern: {e}")))?;
                    checks.push(Check::Pattern(regex));
                }
                "minLength" => checks.push(Check::MinLength(count(value, &here)?)),
                "maxLength" => checks.push(Check::MaxLength(count(value, &here)?)),
                "minimum" => checks.push(Check::Minimum(number(value, &here)?)),
                "maximum" => checks.push(Check::Maximum(number(value, &here)?)),
                "minItems" => checks.push(Check::MinItems(count(value, &here)?)),
                "maxItems" => checks.push(Check::MaxItems(count(value, &here)?)),
                "required" => {
                    let names = array(value, &here)?.iter().map(|name| text(name, &here).map(Str::from));
                    checks.push(Check::Required(names.collect::<Result<_, _>>()?));
                }
                "properties" => {
                    let properties = value.as_object().ok_or_else(|| error(&here, "must be an object"))?;
                    for (name, _) in properties.iter() {
                        known.push((Str::from(name), self.node(document, &format!("{here}/{}", escape(name)))?));
                    }
                }
                "additionalProperties" => additional = Some(self.node(document, &here)?),
                "propertyNames" => checks.push(Check::PropertyNames(self.node(document, &here)?)),
                "prefixItems" => prefix = self.each(document, &here, value)?,
                "items" => items = Some(self.node(document, &here)?),
                "unevaluatedItems" => unevaluated = Some(self.node(document, &here)?),
                "allOf" => checks.push(Check::AllOf(self.each(document, &here, value)?)),
                "oneOf" => checks.push(Check::OneOf(self.each(document, &here, value)?)),
                "not" => checks.push(Check::Not(self.node(document, &here)?)),
                "$ref" => checks.push(Check::Ref(self.reference(document, text(value, &here)?, &here)?)),
                _ if ANNOTATIONS.contains(&keyword) => {}
                // QMK's definitions file keeps its definitions at its top level,
                // where Python's validator reads unknown keys as annotations.
                _ if pointer.is_empty() => {}
                _ => return Err(error(&here, &format!("`{keyword}` is not a keyword this validator knows"))),
            }
        }
        if !known.is_empty() || additional.is_some() {
            checks.push(Check::Properties { known, additional });
        }
        if !prefix.is_empty() || items.is_some() || unevaluated.is_some() {
            checks.push(Check::Items { prefix, rest: items.or(unevaluated) });
        }
        Ok(checks)
    }

    /// The nodes of an array of subschemas (`oneOf`, `allOf`, `prefixItems`).
    fn each(&mut self, document: usize, pointer: &str, value: &Value) -> Result<Vec<NodeId>, CompileError> {
        let count = array(value, pointer)?.len();
        (0..count).map(|index| self.node(document, &format!("{pointer}/{index}"))).collect()
    }

    /// The target of a `$ref`: `#/pointer` in the same file, `file.jsonschema#/pointer`
    /// or `$id#/pointer` in another (a leading `./` is the same folder).
    fn reference(&mut self, document: usize, target: &str, pointer: &str) -> Result<NodeId, CompileError> {
        let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
        let file = file.strip_prefix("./").unwrap_or(file);
        let index = match file {
            "" => document,
            name => *self
                .named
                .get(name)
                .ok_or_else(|| error(pointer, &format!("`$ref` `{target}` names no schema of this folder")))?,
        };
        self.node(index, fragment).map_err(|e| error(pointer, &format!("`$ref` `{target}`: {}", e.message)))
    }
}

/// The value a JSON pointer (`/a/b`, `~1` for `/` and `~0` for `~`) leads to.
fn resolve<'v>(value: &'v Value, pointer: &str) -> Option<&'v Value> {
    if pointer.is_empty() {
        return Some(value);
    }
    let mut current = value;
    for part in pointer.strip_prefix('/')?.split('/') {
        let part = part.replace("~1", "/").replace("~0", "~");
        current = match current {
            Value::Object(object) => object.get(&part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// A key as one step of a JSON pointer.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn error(pointer: &str, message: &str) -> CompileError {
    CompileError { pointer: pointer.to_owned(), message: message.to_owned() }
}

fn array<'v>(value: &'v Value, pointer: &str) -> Result<&'v [Value], CompileError> {
    value.as_array().ok_or_else(|| error(pointer, "must be an array"))
}

fn text<'v>(value: &'v Value, pointer: &str) -> Result<&'v str, CompileError> {
    value.as_str().ok_or_else(|| error(pointer, "must be a string"))
}

fn number(value: &Value, pointer: &str) -> Result<Number, CompileError> {
    value.as_number().cloned().ok_or_else(|| error(pointer, "must be a number"))
}

fn count(value: &Value, pointer: &str) -> Result<u64, CompileError> {
    value.as_number().and_then(Number::as_u64).ok_or_else(|| error(pointer, "must be a whole number"))
}

fn kinds(value: &Value, pointer: &str) -> Result<Vec<Kind>, CompileError> {
    let names = match value {
        Value::String(name) => vec![name.as_ref()],
        Value::Array(names) => names.iter().map(|n| text(n, pointer)).collect::<Result<_, _>>()?,
        _ => return Err(error(pointer, "must be a type name or an array of them")),
    };
    names
        .into_iter()
        .map(|name| match name {
            "null" => Ok(Kind::Null),
            "boolean" => Ok(Kind::Boolean),
            "integer" => Ok(Kind::Integer),
            "number" => Ok(Kind::Number),
            "string" => Ok(Kind::String),
            "array" => Ok(Kind::Array),
            "object" => Ok(Kind::Object),
            other => Err(error(pointer, &format!("`{other}` is not a JSON type"))),
        })
        .collect()
}
