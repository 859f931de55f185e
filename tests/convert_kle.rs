//! KLE ↔ info.json: the CLI's `convert --from kle --to info` and `--from info --to
//! kle`, and the round trip over every keyboard of a QMK tree.

mod common;

use std::collections::BTreeSet;

use common::server::Server;
use common::{Fixture, expect_exit, load_tree, run, shared, stdout};
use qmk_api::convert::{self, Format, Input, kle};
use qmk_api::keyboard::Key;
use qmk_api::keymap::Context;
use serde_json::{Value, json};

/// What a key of info.json says of its place, as compared after a round trip: the
/// fields with their defaults, numbers to QMK's six places.
fn place(key: &Value) -> Vec<(&'static str, Value)> {
    let unit = |field: &str, default: f64| {
        let value = key.get(field).and_then(Value::as_f64).unwrap_or(default);
        json!((value * 1e6).round() / 1e6)
    };
    vec![
        ("x", unit("x", 0.0)),
        ("y", unit("y", 0.0)),
        ("w", unit("w", 1.0)),
        ("h", unit("h", 1.0)),
        ("r", unit("r", 0.0)),
        ("rx", unit("rx", 0.0)),
        ("ry", unit("ry", 0.0)),
        ("matrix", key.get("matrix").cloned().unwrap_or(Value::Null)),
    ]
}

fn key_value(key: &Key) -> Value {
    serde_json::to_value(key.to_value()).unwrap()
}

/// Every layout of every keyboard in QMK's reference list, written as KLE raw data
/// and read back, gives back each key's position, size, rotation and matrix.
#[test]
fn every_keyboards_layouts_survive_a_round_trip_through_kle() {
    let Some(shared) = shared() else { return };
    let reference: serde_json::Map<String, Value> =
        serde_json::from_slice(&std::fs::read(shared.join("expected/keyboards_layouts.json")).unwrap()).unwrap();
    let (keyboards, keycodes) = load_tree(&shared.join("qmk"));
    let context = Context { keyboards: &keyboards, keycodes: &keycodes };
    let (mut layouts, mut keys, mut rotated) = (0, 0, 0);
    let mut differences = Vec::new();
    for (name, expected) in &reference {
        let keyboard = keyboards.resolve(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours: BTreeSet<&str> = keyboard.layouts.iter().map(|(layout, _)| layout.as_str()).collect();
        let theirs: BTreeSet<&str> = expected["layouts"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(ours, theirs, "{name}: the layouts loaded");
        for (index, (layout, definition)) in keyboard.layouts.iter().enumerate() {
            let raw = kle::from_layout(keyboard.keyboard_name(), &definition.keys);
            if index == 0 {
                let input =
                    Input { shown: name, text: "", keyboard: Some(name), keymap: None, folder: None, tree: None };
                let converted = convert::convert(context, Format::Info, Format::Kle, &input).unwrap();
                assert_eq!(converted.text, raw, "{name}: the CLI's conversion writes the first layout");
            }
            let back = kle::parse(&raw).unwrap_or_else(|e| panic!("{name} {layout}: {e}\n{raw}"));
            assert_eq!(back.name, keyboard.keyboard_name());
            let info: Value = serde_json::from_str(&kle::to_info_json(&back)).unwrap();
            let read = info["layouts"]["LAYOUT"]["layout"].as_array().unwrap();
            assert_eq!(read.len(), definition.keys.len(), "{name} {layout}: keys");
            for (at, (written, read)) in definition.keys.iter().zip(read).enumerate() {
                let written = key_value(written);
                if written.get("r").is_some_and(|r| r != 0) {
                    rotated += 1;
                }
                let reference_key = &expected["layouts"][layout][at];
                for (field, value) in place(reference_key) {
                    if field == "matrix" || !field.starts_with('r') {
                        assert_eq!(
                            place(&written).iter().find(|(f, _)| *f == field).unwrap().1,
                            value,
                            "{name} {layout} {at} {field}: loaded as QMK loads it"
                        );
                    }
                }
                if place(&written) != place(read) {
                    differences.push(format!("{name} {layout} key {at}: {written} came back as {read}"));
                }
            }
            layouts += 1;
            keys += definition.keys.len();
        }
    }
    eprintln!(
        "{} keyboards, {layouts} layouts, {keys} keys ({rotated} rotated): {} differences",
        reference.len(),
        differences.len()
    );
    assert_eq!(reference.len(), 3752);
    assert!(differences.is_empty(), "{} differ:\n{}", differences.len(), differences.join("\n"));
}

#[test]
fn the_cli_converts_kle_with_rotation_and_matrix_to_info_and_back() {
    let fixture = Fixture::new();
    fixture.file(
        "pad.txt",
        r#"{name: "Thumbs"}, ["0,0\nEsc", {w: 2}, "0,1"], [{r: 15, rx: 3, ry: 1, y: 0.5}, "1,0", {d: true}, "logo"]"#,
    );
    let path = fixture.root().join("pad.txt").display().to_string();
    let output = run(&["convert", "--from", "kle", "--to", "info", &path]);
    let text = expect_exit(&output, 0);
    assert!(text.contains("note: row 2, item 3 (\"logo\"): a decal, not a key: left out"), "{text}");
    let info: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        info["layouts"]["LAYOUT"]["layout"],
        json!([
            {"label": "Esc", "matrix": [0, 0], "x": 0, "y": 0},
            {"matrix": [0, 1], "x": 1, "y": 0, "w": 2},
            {"matrix": [1, 0], "x": 3, "y": 1.5, "r": 15, "rx": 3, "ry": 1}
        ])
    );

    fixture.file("bad.txt", r#"["0,0", "0,x1"], ["1,2,3"]"#);
    let bad = fixture.root().join("bad.txt").display().to_string();
    let text = expect_exit(&run(&["convert", "--from", "kle", "--to", "info", &bad]), 1);
    assert!(text.contains("row 1, item 0: the legend \"1,2,3\" is not a matrix position"), "{text}");
}

#[test]
fn the_cli_writes_a_keyboards_first_layout_as_kle() {
    let output = run(&["convert", "--from", "info", "--to", "kle", "--keyboard", "clueboard/66/rev2"]);
    let text = expect_exit(&output, 0);
    assert!(text.contains("note: wrote LAYOUT_66_ansi, the first of the keyboard's 3 layouts"), "{text}");
    let raw = stdout(&output);
    let rows: Value = serde_json::from_str(&format!("[{raw}]")).unwrap();
    assert!(rows[0]["name"].as_str().unwrap().starts_with("Clueboard 66%"), "{raw}");
    assert_eq!(rows[1][0], "0,0\n~", "{raw}: the matrix top-left, the label below it");
    let layout = kle::parse(&raw).unwrap();
    assert_eq!(layout.keys.len(), 66);
    assert!(layout.keys.iter().all(|key| key.matrix.is_some()));

    let text = expect_exit(&run(&["convert", "--from", "info", "--to", "kle", "--keyboard", "no/such"]), 1);
    assert!(text.contains("no/such"), "{text}");
}

fn server(args: &[&str]) -> (tempfile::TempDir, Server) {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), args, &[]);
    (state, server)
}

#[test]
fn the_api_converts_each_pair_through_one_route() {
    let (_state, server) = server(&[]);
    let listed = server.get("/v1/converters").json();
    let names: Vec<String> = qmk_api::convert::PAIRS.iter().map(|(from, to)| format!("{from}2{to}")).collect();
    assert_eq!(listed["children"][0], "kle");
    assert_eq!(listed["children"].as_array().unwrap()[1..], names.iter().map(|n| json!(n)).collect::<Vec<_>>()[..]);
    let info2kle = listed["pairs"].as_array().unwrap().iter().find(|p| p["name"] == "info2kle").unwrap();
    assert_eq!(*info2kle, json!({"name": "info2kle", "from": "info", "to": "kle", "needs_keyboard": true}));

    let raw = r#"{name: "Pad"}, ["0,0\nEsc", {x2: -0.25, w2: 1.5}, "0,1"], [{r: 10, rx: 1, ry: 2}, "1,0"]"#;
    for content_type in ["text/plain; charset=utf-8", "application/x-www-form-urlencoded", "application/json"] {
        let reply = server.post_as("/v1/converters/kle2info", content_type, raw.as_bytes());
        assert_eq!((reply.status, reply.header("content-type")), (200, "application/json"), "{content_type}");
        let answer = reply.json();
        assert_eq!((answer["from"].as_str(), answer["to"].as_str()), (Some("kle"), Some("info")));
        assert_eq!(
            answer["notes"],
            json!([
                "row 1, item 2 (\"0,1\"): its second rectangle (`x2`, `y2`, `w2`, `h2`) is left out: info.json gives a key one"
            ])
        );
        let info: Value = serde_json::from_str(answer["text"].as_str().unwrap()).unwrap();
        assert_eq!(
            info["layouts"]["LAYOUT"]["layout"],
            json!([{"label": "Esc", "matrix": [0, 0], "x": 0, "y": 0}, {"matrix": [0, 1], "x": 1, "y": 0},
                {"matrix": [1, 0], "x": 1, "y": 2, "r": 10, "rx": 1, "ry": 2}])
        );
    }

    let reply = server.post_as("/v1/converters/info2kle?keyboard=clueboard/66/rev2", "text/plain", b"");
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let answer = reply.json();
    assert_eq!(answer["notes"], json!(["wrote LAYOUT_66_ansi, the first of the keyboard's 3 layouts"]));
    let back = kle::parse(answer["text"].as_str().unwrap()).unwrap();
    assert_eq!(back.keys.len(), 66);
    // A moved keyboard's old name is followed, as /v1/compile follows it.
    assert_eq!(server.post_as("/v1/converters/info2kle?keyboard=_test_c", "text/plain", b"").status, 200);
}

#[test]
fn the_api_refuses_what_it_cannot_convert_with_a_reason() {
    let (_state, server) = server(&["--body-limit", "100000"]);
    let refused = |path: &str, content_type: &str, body: &[u8], status: u16, why: &str| {
        let reply = server.post_as(path, content_type, body);
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        assert_eq!((reply.status, reply.header("content-type")), (status, "application/json"), "{path}: {text}");
        let answer = reply.json();
        assert_eq!(answer["code"], status, "{path}: {text}");
        assert!(answer["message"].as_str().unwrap().contains(why), "{path}: {text}");
    };
    let names: Vec<String> = qmk_api::convert::PAIRS.iter().map(|(from, to)| format!("{from}2{to}")).collect();
    let pairs = format!("the converters are {}, and kle", names.join(", "));
    refused("/v1/converters/kle2c", "text/plain", b"", 404, &pairs);
    refused("/v1/converters/c2kle", "text/plain", b"", 404, &pairs);
    refused("/v1/converters/nothing", "text/plain", b"", 404, "no converter \"nothing\"");
    refused("/v1/converters/..%2F..%2Fetc", "text/plain", b"", 404, "(not a pair name)");
    // Bad input: the converter's message, naming the place.
    refused(
        "/v1/converters/kle2info",
        "text/plain",
        br#"["0,0", "1,2,3"]"#,
        400,
        "row 0, item 1: the legend \"1,2,3\"",
    );
    refused("/v1/converters/kle2info", "text/plain", br#"["a", {r: 5}, "b"]"#, 400, "row 0, item 1: rotation");
    refused("/v1/converters/kle2info", "text/plain", &b"["[..].repeat(5000), 400, "nesting deeper than");
    // Keyboards: missing, unknown, path-like.
    refused("/v1/converters/info2kle", "text/plain", b"", 400, "needs a keyboard");
    refused("/v1/converters/info2kle?keyboard=no/such", "text/plain", b"", 404, "no/such");
    refused("/v1/converters/info2kle?keyboard=../../etc/passwd", "text/plain", b"", 404, "(not a keyboard name)");
    refused("/v1/converters/info2kle?keyboard=%2Fetc", "text/plain", b"", 404, "(not a keyboard name)");
    refused("/v1/converters/info2kle?keybaord=planck", "text/plain", b"", 400, "unknown query parameter \"keybaord\"");
    // Bodies that are not text, or too large.
    refused("/v1/converters/kle2info", "image/png", b"\x89PNG\r\n", 415, "send the file itself as text");
    refused("/v1/converters/kle2info", "application/octet-stream", b"[]", 415, "application/octet-stream");
    refused("/v1/converters/kle2info", "text/plain", b"[\"\xff\xfe\"]", 400, "byte 2 is not UTF-8");
    refused("/v1/converters/kle2info", "text/plain", b"[\"a\0\"]", 400, "byte 3 is NUL");
    let huge = format!("[{}]", vec!["\"Esc\""; 50_000].join(","));
    refused("/v1/converters/kle2info", "text/plain", huge.as_bytes(), 413, "over the limit of 100000");
    // The old routes answer as before.
    assert_eq!(server.post("/v1/converters/kle2qmk", json!({"raw": "[\"a\"]"}).to_string().as_bytes()).status, 200);
    assert_eq!(server.get("/v1/converters/kle2info").status, 405);
}
