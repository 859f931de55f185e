//! api.qmk.fm's read endpoints over `qmk-api serve` with the bundled data, and QMK
//! Configurator's request sequence played in a real browser.

mod common;

use common::server::Server;
use common::*;
use serde_json::{Value, json};

fn server() -> (tempfile::TempDir, Server) {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[], &[]);
    (state, server)
}

#[test]
fn keyboards_are_listed_and_served_with_aliases_followed() {
    let (_state, server) = server();
    let list = server.get("/v1/keyboards").json();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert_eq!(names.len(), qmk_api::import::DEFAULT_KEYBOARDS.len());
    assert!(names.windows(2).all(|w| w[0] < w[1]) && names.contains(&"clueboard/66/rev2"), "{names:?}");

    let all = server.get("/v1/keyboards/all").json();
    assert_eq!(all["keyboards"].as_object().unwrap().len(), names.len());
    let one = server.get("/v1/keyboards/clueboard/66/rev2");
    assert_eq!((one.status, one.header("content-type")), (200, "application/json"));
    assert_eq!(one.json()["keyboards"]["clueboard/66/rev2"], all["keyboards"]["clueboard/66/rev2"]);
    // `_test_c` is an alias of planck/rev6 in QMK's aliases file.
    let moved = server.get("/v1/keyboards/_test_c").json();
    assert_eq!(moved["keyboards"]["planck/rev6"]["keyboard_folder"], "planck/rev6");

    // Readmes are QMK's prose, which the bundled data leaves out.
    for readme in ["/v1/keyboards/clueboard/66/rev2/readme", "/v1/keyboards/clueboard/66/rev2/readme.md"] {
        let reply = server.get(readme);
        assert_eq!(reply.status, 404, "{readme}");
        let message = reply.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains("no readme") && message.contains("--qmk-home"), "{message}");
    }
    // The static files stay where QMK Configurator asks for them.
    assert_eq!(server.get("/v1/keyboards/clueboard/66/rev2/info.json").json(), one.json());

    let keymap = server.get("/v1/keyboards/ferris/0_1/keymaps/default").json();
    assert_eq!((&keymap["keyboard"], &keymap["keymap"]), (&json!("ferris/0_1"), &json!("default")));
    let missing = server.get("/v1/keyboards/ferris/0_1/keymaps/nope");
    assert_eq!((missing.status, missing.json()["message"].as_str()), (404, Some("No such keymap: nope")));

    for unknown in ["/v1/keyboards/nope", "/v1/keyboards/nope/readme", "/v1/keyboards/..%2f..%2fetc/passwd"] {
        let reply = server.get(unknown);
        assert_eq!(reply.status, 404, "{unknown}");
        assert_eq!(reply.json()["code"], 404, "{unknown}: a JSON message");
        assert!(reply.json()["message"].as_str().unwrap().starts_with("no keyboard"), "{unknown}");
    }

    let usb = server.get("/v1/usb").json();
    assert_eq!(usb["usb"]["0xC1ED"]["0x2320"]["clueboard/66/rev2"]["pid"], "0x2320");
}

#[test]
fn readmes_are_served_from_a_tree_with_moved_keyboards_followed() {
    let tree = Fixture::new();
    tree.keycodes("keycodes_0.0.1.hjson", r#"{"keycodes": {"0x0004": {"group": "basic", "key": "KC_A"}}}"#)
        .file("data/mappings/keyboard_aliases.hjson", r#"{"acme/old": {"target": "acme/pad"}}"#)
        .file("keyboards/readme.md", "# Keyboards\n")
        .file("keyboards/acme/readme.md", "# Acme pads\n")
        .file(
            "keyboards/acme/pad/keyboard.json",
            r#"{"keyboard_name": "Pad", "manufacturer": "Acme", "maintainer": "someone",
                "usb": {"vid": "0xFEED", "pid": "0x0001", "device_version": "1.0.0"},
                "matrix_pins": {"direct": [["B0"]]}, "layouts": {"LAYOUT": {"layout": [{"matrix": [0, 0], "x": 0, "y": 0}]}}}"#,
        );
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &["--qmk-home", &tree.root_arg()], &[]);
    for path in ["/v1/keyboards/acme/pad/readme", "/v1/keyboards/acme/pad/readme.md", "/v1/keyboards/acme/old/readme"] {
        let readme = server.get(path);
        assert_eq!((readme.status, readme.header("content-type")), (200, "text/markdown; charset=utf-8"), "{path}");
        assert_eq!(readme.body, b"# Acme pads\n", "{path}: the nearest readme above the keyboard");
    }
}

#[test]
fn skeletons_and_converters_answer_as_api_qmk_fm() {
    let (_state, server) = server();
    assert_eq!(server.get("/v1/skeletons").json(), json!({"children": ["keymap"]}));
    let skeleton = server.get("/v1/skeletons/keymap").json();
    assert_eq!(skeleton["version"], 1);
    assert!(skeleton["documentation"].as_str().unwrap().contains("qmk json2c"));
    for key in ["keyboard", "keymap", "layout"] {
        assert_eq!(skeleton[key], Value::Null, "{key}");
    }
    assert_eq!(skeleton["layers"], json!([]));
    assert_eq!(server.get("/v1/converters").json()["children"][0], "kle");

    // qmk-api's keymap schema: QMK's, with the extension's members.
    assert_eq!(server.get("/v1/schemas").json(), json!({"children": ["keymap.json"]}));
    let schema = server.get("/v1/schemas/keymap.json");
    assert_eq!((schema.status, schema.header("content-type")), (200, "application/json"));
    let schema = schema.json();
    assert_eq!(schema["$id"], "qmk-api.keymap.v1");
    assert_eq!(schema["allOf"][0]["$ref"], "qmk.keymap.v1#");
    let members: Vec<&String> = schema["allOf"][1]["properties"].as_object().unwrap().keys().collect();
    assert_eq!(members, ["layer_names", "combos", "tap_dances", "key_overrides"]);

    let raw = r#"{name: "Macro pad"}, ["Esc", {w: 2}, "Space"], [{y: 0.5, h: 2}, "Enter"]"#;
    let converted = server.post("/v1/converters/kle", json!({"raw": raw}).to_string().as_bytes());
    assert_eq!((converted.status, converted.header("content-type")), (200, "application/json"));
    let info = converted.json();
    assert_eq!(info["keyboard_name"], "Macro pad");
    assert_eq!(
        info["layouts"]["LAYOUT"]["layout"],
        json!([{"label": "Esc", "x": 0, "y": 0}, {"label": "Space", "x": 1, "y": 0, "w": 2}, {"label": "Enter", "x": 0, "y": 1.5, "h": 2}])
    );
    for (body, why) in [
        (&b"not json"[..], "Invalid JSON data!"),
        (br#"{"nothing": 1}"#, "You must supply either"),
        (br#"{"raw": "[\"a\""}"#, "Could not parse KLE raw data"),
        (br#"{"raw": 5}"#, "`raw` must be"),
        (br#"{"id": "abc"}"#, "does not fetch"),
    ] {
        let reply = server.post("/v1/converters/kle", body);
        assert_eq!(reply.status, 400, "{}", String::from_utf8_lossy(body));
        assert!(reply.json()["message"].as_str().unwrap().contains(why), "{}", reply.json());
    }
    assert_eq!(server.get("/v1/converters/kle").status, 405);
}

/// Every answer of the KLE converter is JSON: positions that add up past the largest
/// float are refused with a 400 saying which row and item, never written as `Infinity`.
#[test]
fn the_kle_converter_never_answers_infinity() {
    let (_state, server) = server();
    for (raw, why) in [
        (r#"[{x: 1e308}, "a", {x: 1e308}, "b"]"#, "row 0, item 2: the key's x adds up to more than the largest number"),
        (r#"[{w: 1.7e308}, "a", {w: 1.7e308}, "b"]"#, "row 0, item 3: the key's end (x + w) adds up"),
        (r#"[{y: -1e308}, "a"], [{y: -1e308}, "b"]"#, "row 1, item 0: the key's y adds up"),
        (r#"[{x: 1e999}, "a"]"#, "Could not parse KLE raw data"),
    ] {
        let reply = server.post("/v1/converters/kle", json!({"raw": raw}).to_string().as_bytes());
        let body = String::from_utf8_lossy(&reply.body).into_owned();
        assert_eq!(reply.status, 400, "{raw}: {body}");
        assert!(reply.json()["message"].as_str().unwrap().contains(why), "{raw}: {body}");
    }
    // Large numbers that stay finite are answered, as numbers.
    let reply =
        server.post("/v1/converters/kle", json!({"raw": r#"[{x: 1e303, y: 1.5e308}, "a"]"#}).to_string().as_bytes());
    let body = String::from_utf8_lossy(&reply.body).into_owned();
    assert_eq!(reply.status, 200, "{body}");
    assert!(!body.contains("Infinity") && !body.contains("NaN"), "{body}");
    let info: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let key = &info["layouts"]["LAYOUT"]["layout"][0];
    assert_eq!((key["x"].as_f64(), key["y"].as_f64()), (Some(1e303), Some(1.5e308)), "{body}");
}

#[test]
fn qmk_configurators_requests_all_succeed_in_a_real_browser() {
    let Some(browser_dir) = browser_dir() else { return };
    let (_state, server) = server();
    let layer = serde_json::to_string(&layer("KC_A")).unwrap();
    let output = std::process::Command::new("node")
        .arg(browser_dir.join("configurator.mjs"))
        .args([&server.base, "clueboard/66/rev2", "LAYOUT_all", &layer])
        .output()
        .unwrap();
    let (stdout, stderr) = (stdout(&output), stderr(&output));
    assert!(output.status.success(), "{stdout}{stderr}");
    for request in [
        "GET /v1 200",
        "GET /v1/keyboard_list.json 200",
        "GET /v1/skeletons/keymap 200",
        "GET /v1/keyboards/clueboard/66/rev2/info.json 200",
        // The bundled data has no readmes; QMK Configurator shows none when it gets a 404.
        "GET /v1/keyboards/clueboard/66/rev2/readme.md 404",
        "POST /v1/compile 200 enqueued=true",
        "GET source 200 bytes",
    ] {
        assert!(stdout.contains(request), "{request} in:\n{stdout}");
    }
    // A keymap-only job: no binary URL, so the Configurator disables its Firmware button.
    assert!(stdout.contains("finished: firmware_filename=\"\" firmware_binary_url=undefined"), "{stdout}");
}

/// A process's resident memory now and at its peak, in MiB, from /proc.
fn memory_mib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|line| line.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A connection that sends a GET of `path` and reads nothing, with a receive buffer
/// of a few KiB so that the kernel cannot take the answer in for it.
fn non_reading_client(address: &str, path: &str) -> std::net::TcpStream {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    let address: std::net::SocketAddrV4 = address.parse().unwrap();
    // SAFETY: a new socket, set up and connected here, then owned by the TcpStream.
    let stream = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let size: libc::c_int = 4096;
        let set = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw const size).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        assert_eq!(set, 0);
        let to = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: address.port().to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from(*address.ip()).to_be() },
            sin_zero: [0; 8],
        };
        let connected =
            libc::connect(fd, (&raw const to).cast(), std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t);
        assert_eq!(connected, 0, "{}", std::io::Error::last_os_error());
        std::net::TcpStream::from_raw_fd(fd)
    };
    let mut writer = &stream;
    write!(writer, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    stream
}

#[test]
fn clients_that_never_read_keyboards_all_cost_no_copy_of_it_and_are_disconnected() {
    let Some(shared) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (site, home) = (dir.path().join("site"), shared.join("qmk").display().to_string());
    let built = run(&["build", "--json-only", "--quiet", "--qmk-home", &home, "--out", &site.display().to_string()]);
    assert!(built.status.success(), "{}", stderr(&built));
    let size = std::fs::metadata(site.join("master/v1/keyboards.json")).unwrap().len();
    assert!(size > 20 << 20, "keyboards.json of a whole tree: {size} bytes");
    let args =
        ["--qmk-home", &home, "--site", &site.display().to_string(), "--workers", "1", "--idle-mass-compile", "off"];
    let args: Vec<&str> = args.into_iter().chain(["--stall-time-limit", "3s"]).collect();
    let server = Server::start(&dir.path().join("state"), &args, &[]);
    let (before, _) = memory_mib(server.pid());
    let address = server.base.trim_start_matches("http://").to_owned();
    let clients: Vec<_> = (0..100).map(|_| non_reading_client(&address, "/v1/keyboards/all")).collect();
    let answered = || server.log().matches("uri=/v1/keyboards/all version=HTTP/1.1}: tower_http").count();
    let started = std::time::Instant::now();
    while answered() < 100 {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "{} of 100 answered", answered());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (after, peak) = memory_mib(server.pid());
    eprintln!(
        "100 clients that do not read {size} bytes: resident {before} MiB before, {after} MiB after, peak {peak} MiB"
    );
    assert!(after < before + 100, "{before} MiB → {after} MiB");
    assert!(peak < before + 100, "peak {peak} MiB from {before} MiB");

    // Past the stall limit each is disconnected: what a client reads then ends early.
    while server.log().matches("the client took none of its answer in time").count() < 100 {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the stalled connections are closed");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for client in clients.iter().take(3) {
        client.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let mut answer = Vec::new();
        match std::io::Read::read_to_end(&mut &*client, &mut answer) {
            Ok(_) => {}
            Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}"),
        }
        assert!((answer.len() as u64) < size, "{} bytes of {size}: the server stopped sending", answer.len());
    }
    assert_eq!(server.get("/v1/healthcheck").status, 200, "others are served meanwhile");
}
