use super::*;
use crate::spec::hjson;

/// Schemas compiled from `(file name, text)` pairs.
fn schemas(files: &[(&str, &str)]) -> Result<Schemas, SchemaError> {
    let documents = files
        .iter()
        .map(|(name, text)| compile::Document {
            name: (*name).to_owned(),
            shown: (*name).to_owned(),
            value: hjson::parse(text).unwrap(),
        })
        .collect();
    compile::compile(documents)
}

/// The violations of `document` against `a.jsonschema`, as `path: message` lines.
fn violations(schemas: &Schemas, document: &str) -> Vec<String> {
    let validation = schemas.validate("a.jsonschema", &hjson::parse(document).unwrap()).unwrap();
    validation.violations.iter().map(|v| format!("{}: {}", path_text(&v.path), v.message)).collect()
}

#[test]
fn references_reach_other_files_by_name_and_by_id() {
    let schemas = schemas(&[
        (
            "a.jsonschema",
            r##"{"$id": "a.v1", "type": "object", "properties": {
                "pin": {"$ref": "./defs.jsonschema#/pin"},
                "size": {"$ref": "defs.v1#/byte"},
                "local": {"$ref": "#/definitions/flag"}},
              "definitions": {"flag": {"type": "boolean"}}}"##,
        ),
        (
            "defs.jsonschema",
            r##"{"$id": "defs.v1", "pin": {"type": "string", "pattern": "^[A-K]\\d{1,2}$"},
            "byte": {"type": "integer", "minimum": 0, "maximum": 255}}"##,
        ),
    ])
    .unwrap();
    assert!(violations(&schemas, r##"{"pin": "B1", "size": 255, "local": true}"##).is_empty());
    assert_eq!(
        violations(&schemas, r##"{"pin": "B1\n", "size": 256, "local": 1}"##),
        [
            r##"pin: "B1\n" does not match `^[A-K]\d{1,2}$`"##,
            "size: 256 is more than 255",
            "local: must be a boolean, not 1",
        ]
    );
    assert!(schemas.validate("a.v1", &Value::Null).is_ok(), "by $id too");
    assert!(matches!(schemas.validate("b.v1", &Value::Null), Err(SchemaError::Unknown(_))));
}

#[test]
fn whole_numbers_and_equality_are_pythons() {
    let schemas =
        schemas(&[("a.jsonschema", r##"{"properties": {"n": {"type": "integer"}, "e": {"enum": [1, "x", true]}}}"##)])
            .unwrap();
    assert!(violations(&schemas, r##"{"n": 1e2, "e": 1.0}"##).is_empty());
    assert_eq!(violations(&schemas, r##"{"n": 1.5}"##), ["n: must be a whole number, not 1.5"]);
    assert_eq!(violations(&schemas, r##"{"e": "y"}"##), [r##"e: "y" is not one of: 1, x, true"##]);
    assert_eq!(violations(&schemas, r##"{"n": true}"##), ["n: must be a whole number, not a boolean"]);
}

#[test]
fn objects_arrays_and_combinators_say_what_is_wrong() {
    let schemas = schemas(&[(
        "a.jsonschema",
        r##"{"type": "object", "not": {"required": ["vid", "pid"]}, "properties": {
            "closed": {"type": "object", "additionalProperties": false, "properties": {"on": {"type": "boolean"}}},
            "named": {"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}, "additionalProperties": {"type": "boolean"}},
            "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "unevaluatedItems": false, "minItems": 2},
            "pin": {"oneOf": [{"enum": ["NO_PIN"]}, {"type": "string", "pattern": "^[A-K]\\d$"}, {"type": "null"}]},
            "twice": {"oneOf": [{"type": "string"}, {"minLength": 1}]},
            "list": {"type": "array", "items": {"type": "string", "minLength": 2, "maxLength": 3}, "maxItems": 2},
            "decl": {"type": "object", "required": ["key"]}}}"##,
    )])
    .unwrap();
    assert!(
        violations(&schemas, r##"{"closed": {"on": true}, "named": {"ab": true}, "pair": ["a", 1], "pin": null}"##)
            .is_empty()
    );
    assert_eq!(
        violations(
            &schemas,
            r##"{"vid": 1, "pid": 2, "closed": {"of": true}, "named": {"Ab": true, "b": 1}, "pair": ["a", 1, 2],
                "pin": "Z9", "twice": "x", "list": ["a", "abcd", "ab"], "decl": {}}"##
        ),
        [
            ": must not have `vid` and `pid`",
            "closed/of: is not a key QMK knows here (known: on)",
            r##"named/Ab: the key "Ab" does not match `^[a-z]+$`"##,
            "named/b: must be a boolean, not 1",
            "pair/2: is not allowed here",
            r##"pin: matches none of the allowed forms: "Z9" is not one of: NO_PIN; or "Z9" does not match `^[A-K]\d$`; or must be null, not a string"##,
            "twice: matches more than one of the allowed forms",
            "list: has 3 items, more than 2",
            r##"list/0: "a" is shorter than 2 characters"##,
            r##"list/1: "abcd" is longer than 3 characters"##,
            "decl: lacks `key`",
        ]
    );
}

#[test]
fn strings_that_pass_an_enum_are_listed_from_the_branch_that_holds_only() {
    let schemas = schemas(&[(
        "a.jsonschema",
        r##"{"properties": {"mcu": {"enum": ["cortex-m4"]}, "pin": {"oneOf": [{"enum": ["NO_PIN"]}, {"type": "integer"}]},
            "no": {"not": {"enum": ["x"]}}}}"##,
    )])
    .unwrap();
    let validation = schemas
        .validate("a.jsonschema", &hjson::parse(r##"{"mcu": "cortex-m4", "pin": "NO_PIN", "no": "y"}"##).unwrap());
    let listed: Vec<String> = validation.unwrap().listed.iter().map(|p| path_text(p)).collect();
    assert_eq!(listed, ["mcu", "pin"]);
}

#[test]
fn a_keyword_the_validator_does_not_know_is_an_error_when_loading() {
    let error = schemas(&[("a.jsonschema", r##"{"properties": {"x": {"uniqueItems": true}}}"##)]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "a.jsonschema: at `#/properties/x/uniqueItems`: `uniqueItems` is not a keyword this validator knows"
    );
    let error = schemas(&[("a.jsonschema", r##"{"$ref": "./b.jsonschema#/x"}"##)]).unwrap_err();
    assert!(error.to_string().contains("`$ref` `./b.jsonschema#/x` names no schema"), "{error}");
    let error = schemas(&[("a.jsonschema", r##"{"$ref": "#/nowhere"}"##)]).unwrap_err();
    assert!(error.to_string().contains("the pointer leads nowhere"), "{error}");
    let error = schemas(&[("a.jsonschema", r##"{"pattern": "("}"##)]).unwrap_err();
    assert!(error.to_string().contains("not a pattern"), "{error}");
}

#[test]
fn a_reference_cycle_is_compiled_once_and_evaluated_with_a_bound() {
    let schemas = schemas(&[(
        "a.jsonschema",
        r##"{"definitions": {"tree": {"type": "array", "items": {"$ref": "#/definitions/tree"}},
            "loop": {"$ref": "#/definitions/loop"}},
            "properties": {"tree": {"$ref": "#/definitions/tree"}, "loop": {"$ref": "#/definitions/loop"}}}"##,
    )])
    .unwrap();
    assert!(violations(&schemas, r##"{"tree": [[[]], []]}"##).is_empty());
    assert_eq!(violations(&schemas, r##"{"tree": [[1]]}"##), ["tree/0/0: must be an array, not 1"]);
    let found = violations(&schemas, r##"{"loop": 1}"##);
    assert!(found[0].contains("nests deeper than"), "{found:?}");
}

#[test]
fn violations_past_the_first_fifty_are_counted() {
    let schemas = schemas(&[("a.jsonschema", r##"{"items": {"type": "string"}}"##)]).unwrap();
    let many = serde_json::to_string(&vec![1; 80]).unwrap();
    let validation = schemas.validate("a.jsonschema", &hjson::parse(&many).unwrap()).unwrap();
    assert_eq!((validation.violations.len(), validation.unshown), (50, 30));
}

#[test]
fn the_bundled_schemas_compile_and_hold_qmks_keymap_schema() {
    let schemas = Schemas::load(&DataTree::Bundled).unwrap();
    let keymap = r##"{"keyboard": "clueboard/66/rev2", "keymap": "x", "layout": "LAYOUT_all", "layers": [["KC_A"]],
        "config": {"eeprom": {"driver": "vendor"}, "features": {"caps_word": true}, "processor": "cortex-m4"}}"##;
    let validation = schemas.validate(KEYMAP_SCHEMA, &hjson::parse(keymap).unwrap()).unwrap();
    assert!(validation.is_valid(), "{:?}", validation.violations);
    let listed: Vec<String> = validation.listed.iter().map(|p| path_text(p)).collect();
    assert_eq!(listed, ["config/processor"]);
    let bad = r##"{"layout": "KEYMAP", "keycodes": [{"key": "MY_KEY\n"}], "modules": [1],
        "config": {"features": {"Caps": true, "lto": true}, "audio": {"driver": "x"}}}"##;
    let validation = schemas.validate(KEYMAP_SCHEMA, &hjson::parse(bad).unwrap()).unwrap();
    let paths: Vec<String> = validation.violations.iter().map(|v| path_text(&v.path)).collect();
    assert_eq!(
        paths,
        ["layout", "keycodes/0/key", "modules/0", "config/features/Caps", "config/features", "config/audio/driver"]
    );
}

#[test]
fn a_tree_without_schemas_gets_the_bundled_ones() {
    let empty = tempfile::tempdir().unwrap();
    let schemas = Schemas::load(&DataTree::Checkout(empty.path().to_owned())).unwrap();
    assert!(schemas.validate(KEYMAP_SCHEMA, &Value::Null).is_ok());
}

#[test]
fn long_lists_of_names_are_cut_short_in_messages() {
    let names: Vec<String> = (0..15).map(|i| format!("\"v{i:02}\"")).collect();
    let schemas = schemas(&[("a.jsonschema", &format!(r#"{{"enum": [{}]}}"#, names.join(", ")))]).unwrap();
    assert_eq!(
        violations(&schemas, r#""x""#),
        [r#": "x" is not one of: v00, v01, v02, v03, v04, v05, v06, v07, v08, v09, v10, v11 and 3 more"#]
    );
}
