//! The static site: pages parse, links resolve, changelogs and keyboard drawings say what they should.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A build of the bundled data into a fixture's `public/`.
fn built() -> Fixture {
    let fixture = Fixture::new();
    expect_exit(&run_in(fixture.root(), &["build", "--out", &fixture.out_arg()]), 0);
    fixture
}

/// A build of QMK's whole tree when ../shared is there (all 3752 keyboards), else of the bundled data.
fn built_in_full() -> Fixture {
    let Some(shared) = shared() else { return built() };
    let fixture = Fixture::new();
    let qmk = shared.join("qmk").display().to_string();
    expect_exit(&run(&["build", "--qmk-home", &qmk, "--out", &fixture.out_arg()]), 0);
    fixture
}

fn pages(out: &Path) -> Vec<PathBuf> {
    snapshot(out).into_iter().map(|(path, _)| path).filter(|p| p.extension().is_some_and(|e| e == "html")).collect()
}

fn read(out: &Path, page: &str) -> String {
    std::fs::read_to_string(out.join(page)).unwrap()
}

#[test]
fn every_page_parses_as_html() {
    let fixture = built_in_full();
    let pages = pages(&fixture.out());
    assert!(pages.len() > 300, "{} pages", pages.len());
    for page in &pages {
        let html = scraper::Html::parse_document(&read(&fixture.out(), &page.display().to_string()));
        assert!(html.errors.is_empty(), "{}: {:?}", page.display(), html.errors);
        let lang = scraper::Selector::parse("html[lang] main h1").unwrap();
        assert!(html.select(&lang).next().is_some(), "{} lacks a language or a main heading", page.display());
    }
}

#[test]
fn every_relative_link_resolves_to_a_file() {
    let fixture = built_in_full();
    let out = fixture.out();
    let links = scraper::Selector::parse("[href], [src]").unwrap();
    let mut checked = 0;
    for page in pages(&out) {
        let html = scraper::Html::parse_document(&read(&out, &page.display().to_string()));
        for element in html.select(&links) {
            let target = element.value().attr("href").or_else(|| element.value().attr("src")).unwrap();
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let file = target.split(['#', '?']).next().unwrap();
            assert!(!file.starts_with('/'), "{}: absolute link {target}", page.display());
            let resolved = out.join(page.parent().unwrap()).join(file);
            assert!(resolved.is_file(), "{}: {target} does not resolve", page.display());
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked} links checked");
}

#[test]
fn changelogs_tell_renames_and_moves() {
    let fixture = built();
    let changelog = |version: &str| read(&fixture.out(), &format!("develop/changelog/keycodes_{version}.html"));
    assert!(
        changelog("0.0.4").contains(r#"<li class="renamed"><code>RGB_TOG</code> → <code>QK_UNDERGLOW_TOGGLE</code>"#)
    );
    assert!(
        changelog("0.0.5").contains(r#"<li class="renamed"><code>KC_MS_UP</code> → <code>QK_MOUSE_CURSOR_UP</code>"#)
    );
    let moved = changelog("0.0.6");
    let line = moved.lines().find(|l| l.contains("<code>QK_OUTPUT_AUTO</code>")).expect("QK_OUTPUT_AUTO is listed");
    assert!(line.contains(r#"<li class="revalued">"#), "{line}");
    assert!(changelog("0.0.1").contains("is the first version of keycodes"));
}

#[test]
fn a_keyboard_page_draws_one_shape_per_key_of_each_layout() {
    let fixture = built();
    let page = read(&fixture.out(), "master/keyboards/clueboard.66.rev2.html");
    let html = scraper::Html::parse_document(&page);
    let layouts = scraper::Selector::parse("svg.layout").unwrap();
    let keys = scraper::Selector::parse("rect.key").unwrap();
    let counts: Vec<usize> = html.select(&layouts).map(|svg| svg.select(&keys).count()).collect();
    assert_eq!(counts, [66, 67, 73], "LAYOUT_66_ansi, LAYOUT_66_iso, LAYOUT_all");
    let view_boxes: Vec<&str> = html.select(&layouts).filter_map(|svg| svg.value().attr("viewBox")).collect();
    assert_eq!(view_boxes.len(), 3, "{view_boxes:?}");
    assert!(view_boxes.iter().all(|view| view.starts_with("-3.0 -3.0 ")), "a margin around the keys: {view_boxes:?}");
    assert!(
        !page.contains(">k46</text>") && page.contains(": k46, matrix 4,6</title>"),
        "a matrix id is no legend, only a tooltip"
    );
    assert!(page.contains(">;</text>") && !page.contains(">SEMICOLON</text>"), "SEMICOLON shows the spec's `;`");
    assert!(page.contains("10 rows × 8 columns"));
    assert!(page.contains("<code>LAYOUT</code>"), "the layout alias is shown");
    assert!(!page.contains("class=\"readme\""), "the bundled data has no readme, and the page no readme section");
}

/// The readme comes from a QMK tree (the bundled data has none, and the page then
/// has no readme section); the facts and labels are checked over either.
#[test]
fn a_keyboard_page_shows_its_readme_facts_and_labels_that_fit() {
    let fixture = built_in_full();
    let page = read(&fixture.out(), "master/keyboards/clueboard.66.rev2.html");
    let html = scraper::Html::parse_document(&page);
    let select = |css: &str| scraper::Selector::parse(css).unwrap();
    let readme: String = html.select(&select("section.readme")).flat_map(|s| s.text()).collect();
    match shared() {
        Some(_) => assert!(readme.contains("Clueboard"), "the readme is rendered: {readme}"),
        None => assert!(html.select(&select("section.readme")).next().is_none(), "no readme section: {readme}"),
    }
    assert!(
        html.select(&select("section.readme img")).next().is_none(),
        "images are links, nothing loads from elsewhere"
    );
    for link in html.select(&select("section.readme a")) {
        let href = link.value().attr("href").unwrap();
        assert!(href.starts_with("https://") || href.starts_with("http://") || href.starts_with('#'), "{href}");
    }
    for fact in [
        "<code>atmega32u4</code>",
        "<code>atmel-dfu</code>",
        "<code>0xC1ED</code>",
        "<code>0x2320</code>",
        "<code>rgblight</code>",
    ] {
        assert!(page.contains(fact), "{fact} is shown");
    }
    // Long labels are broken into lines, drawn smaller or squeezed, to fit their keys.
    for text in html.select(&select("svg.layout text")) {
        let size: f64 = text.value().attr("font-size").unwrap().parse().unwrap();
        let tspans: Vec<_> = text.select(&select("tspan")).collect();
        let lines = if tspans.is_empty() { vec![text] } else { tspans };
        let key = text.parent().unwrap().children().find_map(|c| c.value().as_element().filter(|e| e.name() == "rect"));
        let key_width: f64 = key.unwrap().attr("width").unwrap().parse().unwrap();
        for line in lines {
            let label: String = line.text().collect();
            let width = match line.value().attr("textlength").or(line.value().attr("textLength")) {
                Some(squeezed) => squeezed.parse().unwrap(),
                None => label.chars().count() as f64 * 0.62 * size,
            };
            assert!(width <= key_width, "{label}: {width} wide on a {key_width} key");
        }
    }
    assert!(page.contains(">ISOBACKSLASH</text>") && page.contains(">JPBACKSLASH</text>"), "whole labels are kept");
}

#[test]
fn a_keyboard_page_draws_its_json_keymaps() {
    let fixture = built();
    let page = read(&fixture.out(), "master/keyboards/ferris.0_1.html");
    let html = scraper::Html::parse_document(&page);
    let select = |css: &str| scraper::Selector::parse(css).unwrap();
    let pictures: Vec<_> = html.select(&select("section figure.keymap svg.keymap")).collect();
    assert_eq!(pictures.len(), 1, "the bundled default keymap is drawn");
    let keymap: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("data/keyboards/ferris/keymaps/default/keymap.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let keys: Vec<usize> = pictures[0]
        .select(&select(r#"g[class^="layer-"]"#))
        .map(|layer| layer.select(&select("rect.key")).count())
        .collect();
    assert_eq!(
        keys,
        vec![34; keymap["layers"].as_array().unwrap().len()],
        "every layer, every key of LAYOUT_split_3x5_2"
    );
    assert!(
        page.contains(">the base layer; also DF(0) on layer 7<"),
        "layers are titled with the keys that reach them"
    );
    assert!(html.select(&select("svg.layout g.layer-0")).next().is_none(), "layouts stay plain");
}

#[test]
fn version_pages_show_ranges_to_scale_and_keycodes_by_group() {
    let fixture = built();
    let page = read(&fixture.out(), "master/constants/keycodes_0.0.8.html");
    assert!(page.contains(r#"<svg class="space""#));
    assert!(page.contains("<title>QK_UNICODE 0x8000–0xFFFF</title>"));
    assert!(page.contains("<caption>basic</caption>"));
    assert!(page.contains(r#"<tr id="QK_BOOTLOADER"><td><code>0x7C00</code></td><th scope="row"><code>QK_BOOTLOADER</code></th><td><code>QK_BOOT</code></td>"#));
}

#[test]
fn develop_only_versions_are_marked_on_every_page() {
    let fixture = Fixture::new();
    fixture
        .keycodes(
            "keycodes_0.0.1.hjson",
            r#"{ranges: {"0x0000/0x00FF": {define: "QK_BASIC"}}, keycodes: {"0x0004": {group: "basic", key: "KC_A"}}}"#,
        )
        .keycodes("keycodes_0.0.2.hjson", r#"{keycodes: {"0x0005": {group: "basic", key: "KC_B"}}}"#);
    let root = fixture.root_arg();
    expect_exit(&run(&["lock", "--qmk-home", &root, "--up-to", "0.0.1"]), 0);
    expect_exit(&fixture.build(), 0);
    let out = fixture.out();
    for page in ["develop/constants/keycodes_0.0.2.html", "develop/changelog/keycodes_0.0.2.html"] {
        assert!(read(&out, page).contains("is not locked in; it may still change"), "{page}");
    }
    assert!(!read(&out, "develop/constants/keycodes_0.0.1.html").contains("not locked in"));
    assert!(read(&out, "develop/index.html").contains(r#"0.0.2</a> <span class="badge">develop only</span>"#));
    assert!(!out.join("master/constants/keycodes_0.0.2.html").exists());
}

#[test]
fn the_search_index_covers_names_and_aliases_across_versions() {
    let fixture = built();
    let index: serde_json::Value = serde_json::from_str(&read(&fixture.out(), "develop/search-index.json")).unwrap();
    let entries = index["entries"].as_array().unwrap();
    let find =
        |name: &str| entries.iter().find(|e| e[0] == name && e[3] == "keycodes").unwrap_or_else(|| panic!("{name}"));
    let versions = &index["subsystems"]["keycodes"];
    assert_eq!(versions, &serde_json::json!(["0.0.1", "0.0.2", "0.0.3", "0.0.4", "0.0.5", "0.0.6", "0.0.7", "0.0.8"]));
    assert_eq!(find("QK_BOOT")[2], "0x7C00");
    assert_eq!(find("QK_BOOT")[4], serde_json::json!([0, 7]), "versions 0.0.1 to 0.0.8, as a run");
    assert_eq!(find("XXXXXXX")[1], "KC_NO", "aliases name their keycode");
    assert_eq!(find("KC_NO")[1], "", "a keycode's own entry");
    let script = read(&fixture.out(), "develop/assets/search-index.js");
    assert!(script.starts_with("window.QMK_SEARCH_INDEX = {"), "the search page works from file://");
    assert!(script.len() < 600_000, "the index is {} bytes", script.len());
}

/// The search page resolves expressions from the index (names' values, macros as what
/// each bit of their arguments sets): for every macro it resolves, with arguments of
/// every kind, the value is the one QMK's C compiler gives, as `qmk-api keycode` says.
#[test]
fn the_search_page_resolves_expressions_as_the_keycode_command_does() {
    if !common::firmware::on_path("node") {
        assert!(std::env::var_os("CI").is_none(), "CI installs node");
        eprintln!("skipped: no node to run the page's script");
        return;
    }
    let fixture = built();
    let index: serde_json::Value = serde_json::from_str(&read(&fixture.out(), "develop/search-index.json")).unwrap();
    let functions = index["expressions"]["functions"].as_object().unwrap();
    assert!(functions.contains_key("LT") && functions.contains_key("MT") && functions.contains_key("LCTL"));
    let one = ["KC_A", "KC_ENT", "0", "1", "16", "0x1F", "MOD_LCTL", "MOD_LCTL | MOD_LSFT", "LSFT(KC_1)", "QK_BOOT"];
    let two = [
        ("1", "KC_A"),
        ("15", "KC_SPC"),
        ("MOD_LSFT", "KC_ENT"),
        ("MOD_RALT | MOD_RGUI", "KC_B"),
        ("16", "LCTL(KC_B)"),
    ];
    let mut expressions: Vec<String> = Vec::new();
    for (name, model) in functions {
        match model["bits"].as_array().unwrap().len() {
            1 => expressions.extend(one.iter().map(|arg| format!("{name}({arg})"))),
            _ => expressions.extend(two.iter().map(|(a, b)| format!("{name}({a}, {b})"))),
        }
    }
    let script = format!(
        "const vm = require('vm'), fs = require('fs'); const window = {{}}; window.window = window; vm.createContext(window);
         for (const file of process.argv.slice(1, 3)) vm.runInContext(fs.readFileSync(file, 'utf8'), window);
         for (const text of fs.readFileSync(0, 'utf8').split('\\n').filter(Boolean)) {{
           try {{ const r = window.QMK_EXPRESSIONS.resolve(text, window.QMK_SEARCH_INDEX.expressions); console.log(text + '\\t' + r.hex); }}
           catch (e) {{ console.log(text + '\\terror: ' + e.message); }}
         }}"
    );
    let out = fixture.out();
    let mut node = std::process::Command::new("node")
        .args(["-e", &script])
        .arg(out.join("develop/assets/search-index.js"))
        .arg(out.join("develop/assets/expression.js"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut node.stdin.take().unwrap(), expressions.join("\n").as_bytes()).unwrap();
    let output = node.wait_with_output().unwrap();
    let page = stdout(&output);
    let keycodes = qmk_api::keymap::Keycodes::new(
        &qmk_api::spec::load(&qmk_api::source::DataTree::Bundled).unwrap().constants,
        None,
    )
    .unwrap();
    let mut compared = 0;
    for line in page.lines() {
        let (text, shown) = line.split_once('\t').unwrap();
        let Ok(resolved) = keycodes.resolve(text) else { continue };
        assert_eq!(shown, format!("0x{:04X}", resolved.value), "{text}");
        compared += 1;
    }
    assert_eq!(page.lines().count(), expressions.len(), "{page}");
    assert!(compared > 900, "{compared} of {} expressions compared", expressions.len());
}

#[test]
fn the_search_finds_qk_boot_when_it_is_typed_in_a_real_browser() {
    let Some(browser_dir) = browser_dir() else { return };
    let fixture = built();
    let search = |query: &str| {
        let output = std::process::Command::new("node")
            .arg(browser_dir.join("search.mjs"))
            .arg(fixture.out())
            .arg(query)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
        stdout(&output)
    };
    let found = search("QK_BOOT");
    assert!(found.contains("found: QK_BOOT = 0x7C00 (alias of QK_BOOTLOADER)"), "{found}");
    let found = search("LT(1, KC_A)");
    assert!(found.contains("found: LT(1, KC_A) = 0x4104 (KC_A = 0x0004)"), "an expression is resolved: {found}");
}

#[test]
fn progress_is_drawn_on_a_terminal_only() {
    let fixture = Fixture::new();
    let binary = env!("CARGO_BIN_EXE_qmk-api");
    let out = fixture.out_arg();
    let piped = run_in(fixture.root(), &["build", "--out", &out]);
    assert!(!stderr(&piped).contains("pages ["), "no progress bar into a pipe");
    assert!(!stderr(&piped).contains('\r'));
    // `script` gives the command a terminal.
    let Ok(terminal) = std::process::Command::new("script")
        .args(["-qec", &format!("{binary} build --out {out}"), "/dev/null"])
        .env_remove("QMK_HOME")
        .current_dir(fixture.root())
        .output()
    else {
        eprintln!("skipped: no `script` to run the build on a terminal");
        return;
    };
    let shown = String::from_utf8_lossy(&terminal.stdout);
    assert!(shown.contains("rendering pages"), "{shown}");
    let pages = shown.split(" keyboards, ").nth(1).and_then(|rest| rest.split(' ').next()).unwrap();
    assert!(shown.contains(&format!("/{pages} pages")), "the bar counts to the {pages} pages built: {shown}");
    let quiet = std::process::Command::new("script")
        .args(["-qec", &format!("{binary} build --quiet --out {out}"), "/dev/null"])
        .current_dir(fixture.root())
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&quiet.stdout).contains("pages ["), "--quiet draws nothing");
}
