//! One compile job from request to artifacts: validate the keymap, generate its
//! `keymap.c` and `keymap.json`, and build with the configured builder. A keymap that
//! does not validate fails here, with its diagnostics, before any compiler runs.
//!
//! The sources are a few kilobytes and are returned in memory (the service keeps
//! them in its job store); only a firmware build touches the file system.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::builder::{Builder, KeymapSource, Origin, Target};
use crate::keymap::{self, Context, Source};

/// What a job produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// 0 when the job succeeded.
    pub returncode: i32,
    /// What the job printed: the validator's diagnostics, and the builder's output.
    pub output: String,
    pub keyboard: Option<String>,
    pub keymap: Option<String>,
    pub layout: Option<String>,
    /// The generated sources, when the keymap was valid.
    pub sources: Option<Sources>,
    /// The firmware file, in the job's folder.
    pub firmware: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sources {
    pub keymap_c: String,
    pub keymap_json: String,
    /// The keymap folder handed to the firmware build (its keymap.json), when there was one.
    pub keymap_folder: Option<String>,
    /// The files beside keymap.json in the keymap folder: those of qmk-api's extension
    /// and of the features the build turns on (keymap.h, keymap.c, rules.mk, config.h).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub beside: Vec<(String, String)>,
}

/// The files of a job a client can download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    Firmware,
    KeymapC,
    Sources,
    /// The keymap drawn as SVG, from the keymap the job stored.
    Picture,
}

impl Artifact {
    /// How messages name it.
    pub fn describe(self) -> &'static str {
        match self {
            Artifact::Firmware => "firmware",
            Artifact::KeymapC => "keymap.c",
            Artifact::Sources => "source archive",
            Artifact::Picture => "keymap picture",
        }
    }
}

/// Said in every keymap-only job's output.
pub const NO_TOOLCHAIN: &str =
    "No firmware toolchain is configured: this job checked the keymap and generated its keymap.c only.";

/// Runs a job: validates `request` (a keymap in QMK's configurator format), generates
/// its sources and builds it with `builder`; a firmware build works in `dir`.
pub fn run(request: &str, context: Context, builder: &Builder, dir: &Path) -> std::io::Result<Outcome> {
    let source = Source::new("keymap.json", request);
    let (keymap, report) = keymap::check(&source, None, context);
    let diagnostics: Vec<String> = report.diagnostics.iter().map(ToString::to_string).collect();
    let mut outcome = Outcome {
        returncode: 1,
        output: diagnostics.join("\n"),
        keyboard: report.keyboard.clone(),
        keymap: keymap.as_ref().and_then(|k| k.keymap.clone()),
        layout: report.layout.clone(),
        sources: None,
        firmware: None,
    };
    let Some(keymap) = keymap.filter(|_| report.is_valid()) else {
        outcome.output = format!("The keymap is not valid:\n{}", outcome.output);
        return Ok(outcome);
    };
    let keymap_c = match keymap::json2c(&keymap) {
        Ok(text) => text,
        Err(error) => {
            outcome.output = format!("keymap.c cannot be generated: {error}");
            return Ok(outcome);
        }
    };
    let folder = match keymap::extensions::c::folder(&keymap, &report.features) {
        Ok(folder) => folder,
        Err(error) => {
            outcome.output = format!("the keymap folder cannot be written: {error}");
            return Ok(outcome);
        }
    };
    let beside: Vec<(String, String)> =
        folder.iter().skip(1).map(|(name, text)| ((*name).to_owned(), text.clone())).collect();
    // The folder's first file is its keymap.json.
    let mut sources = Sources { keymap_c, keymap_json: folder[0].1.clone(), keymap_folder: None, beside };
    let keyboard = outcome.keyboard.clone().unwrap_or_default();
    let keymap_name = outcome.keymap.clone().unwrap_or_else(|| "default".to_owned());
    let mut checked =
        format!("{keymap_name} is valid for {keyboard} ({}).", outcome.layout.as_deref().unwrap_or_default());
    if !sources.beside.is_empty() {
        let names: Vec<&str> = sources.beside.iter().map(|(name, _)| name.as_str()).collect();
        let features: Vec<String> = report.features.iter().map(|f| f.variable()).collect();
        checked += &format!("\nThe keymap folder holds {} beside keymap.json", names.join(", "));
        if !features.is_empty() {
            checked += &format!("; the build turns on {}", features.join(", "));
        }
        checked += ".";
    }
    let build_output = match builder {
        Builder::KeymapOnly => {
            outcome.returncode = 0;
            NO_TOOLCHAIN.to_owned()
        }
        Builder::Firmware(firmware) => {
            let work = dir.join("work");
            let target = Target {
                keyboard: &keyboard,
                keymap: &keymap_name,
                source: match folder.len() {
                    1 => KeymapSource::Json(&sources.keymap_json),
                    _ => KeymapSource::Folder(&folder),
                },
                origin: Origin::Request,
            };
            let build = firmware.build(&target, &work, &dir.join("firmware"))?;
            sources.keymap_folder = Some(format!("keymaps/{keymap_name}"));
            outcome.returncode = build.returncode;
            outcome.firmware = build.firmware;
            build.output
        }
    };
    outcome.sources = Some(sources);
    // Warnings first: what the keymap author should read before the build's output.
    outcome.output = [outcome.output.clone(), checked, build_output]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    Ok(outcome)
}

impl Sources {
    /// A zip of `keymap.json`, `keymap.c` and, after a firmware build, the keymap
    /// folder it used (its keymap.json, which QMK's make built). Stored, not
    /// compressed: the files are a few kilobytes, and starting a compressor costs
    /// more than it saves.
    pub fn zip(&self) -> std::io::Result<Vec<u8>> {
        let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        let mut files = vec![("keymap.json".to_owned(), &self.keymap_json), ("keymap.c".to_owned(), &self.keymap_c)];
        if let Some(folder) = &self.keymap_folder {
            files.push((format!("{folder}/keymap.json"), &self.keymap_json));
            files.extend(self.beside.iter().map(|(name, text)| (format!("{folder}/{name}"), text)));
        }
        for (name, text) in files {
            archive.start_file(name, options).map_err(std::io::Error::other)?;
            archive.write_all(text.as_bytes())?;
        }
        Ok(archive.finish().map_err(std::io::Error::other)?.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyboard;
    use crate::keymap::Keycodes;
    use crate::source::DataTree;
    use crate::spec;

    fn keymap_only(request: serde_json::Value, dir: &Path) -> Outcome {
        let constants = spec::load(&DataTree::Bundled).unwrap().constants;
        let keycodes = Keycodes::new(&constants, None).unwrap();
        let keyboards = keyboard::load(&DataTree::Bundled).unwrap();
        let context = Context { keyboards: &keyboards, keycodes: &keycodes };
        super::run(&request.to_string(), context, &Builder::KeymapOnly, dir).unwrap()
    }

    fn layer(first: &str) -> Vec<String> {
        let mut keys = vec!["KC_TRNS".to_owned(); 73];
        keys[0] = first.to_owned();
        keys
    }

    #[test]
    fn a_valid_keymap_yields_its_sources_and_touches_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let request = serde_json::json!({
            "keyboard": "clueboard/66/rev2", "keymap": "mine", "layout": "LAYOUT_all", "layers": [layer("KC_A")]
        });
        let outcome = keymap_only(request, &dir.path().join("job"));
        assert_eq!(outcome.returncode, 0, "{}", outcome.output);
        assert!(outcome.output.contains("mine is valid for clueboard/66/rev2 (LAYOUT_all)"));
        assert!(outcome.output.contains(NO_TOOLCHAIN));
        assert!(outcome.firmware.is_none() && !dir.path().join("job").exists());
        let sources = outcome.sources.unwrap();
        assert!(sources.keymap_c.contains("[0] = LAYOUT_all(KC_A, KC_TRNS"));
        assert!(sources.keymap_json.contains("\"keymap\": \"mine\""), "{}", sources.keymap_json);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(sources.zip().unwrap())).unwrap();
        let names: Vec<String> =
            (0..archive.len()).map(|i| archive.by_index(i).unwrap().name().unwrap().into_owned()).collect();
        assert_eq!(names, ["keymap.json", "keymap.c"]);
    }

    #[test]
    fn a_keymap_with_warnings_builds_with_the_warnings_at_the_top_of_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let request = serde_json::json!({
            "keyboard": "clueboard/66/rev2", "keymap": "mine", "layout": "LAYOUT_all", "layers": [layer("LT(2, KC_RPRN)")]
        });
        let outcome = keymap_only(request, dir.path());
        assert_eq!(outcome.returncode, 0, "{}", outcome.output);
        let lines: Vec<&str> = outcome.output.lines().collect();
        assert!(lines[0].starts_with("warning: `LT(2, KC_RPRN)` takes a basic keycode"), "{}", outcome.output);
        assert!(outcome.output.contains("warning: `LT(2, KC_RPRN)` refers to layer 2, but the keymap has 1 layer"));
        assert!(outcome.output.contains("mine is valid for clueboard/66/rev2"));
        assert!(outcome.sources.unwrap().keymap_c.contains("LAYOUT_all(LT(2, KC_RPRN), KC_TRNS"));
    }

    #[test]
    fn a_keymap_beyond_qmks_json_yields_its_keymap_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mut base = layer("TD(TAB_ESC)");
        base[1] = "CW_TOGG".to_owned();
        let request = serde_json::json!({
            "keyboard": "clueboard/66/rev2", "keymap": "mine", "layout": "LAYOUT_all", "layers": [base],
            "layer_names": ["BASE"], "tap_dances": [{"name": "TAB_ESC", "on_tap": "KC_TAB", "on_double_tap": "KC_ESC"}]
        });
        let outcome = keymap_only(request, dir.path());
        assert_eq!(outcome.returncode, 0, "{}", outcome.output);
        assert!(outcome.output.starts_with("warning: `CW_TOGG` needs Caps Word"), "{}", outcome.output);
        assert!(
            outcome.output.contains(
                "The keymap folder holds keymap.h, keymap.c, rules.mk beside keymap.json; the build turns on \
                 CAPS_WORD_ENABLE, TAP_DANCE_ENABLE."
            ),
            "{}",
            outcome.output
        );
        let sources = outcome.sources.unwrap();
        assert!(sources.keymap_c.contains("enum qmk_api_layer_names {\n    BASE,\n};"), "{}", sources.keymap_c);
        assert!(sources.keymap_c.contains("tap_dance_action_t tap_dance_actions[] = {"), "{}", sources.keymap_c);
        let names: Vec<&str> = sources.beside.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["keymap.h", "keymap.c", "rules.mk"]);
        assert_eq!(
            sources.beside[2].1.lines().skip(1).collect::<Vec<_>>(),
            ["CAPS_WORD_ENABLE = yes", "TAP_DANCE_ENABLE = yes"]
        );
    }

    #[test]
    fn an_invalid_keymap_fails_with_its_diagnostics() {
        let dir = tempfile::tempdir().unwrap();
        let request = serde_json::json!({
            "keyboard": "clueboard/66/rev2", "keymap": "mine", "layout": "LAYOUT_all", "layers": [layer("KC_NOPE")]
        });
        let outcome = keymap_only(request, dir.path());
        assert_eq!(outcome.returncode, 1);
        assert!(outcome.output.starts_with("The keymap is not valid:"), "{}", outcome.output);
        assert!(outcome.output.contains("no keycode `KC_NOPE`"));
        assert!(outcome.sources.is_none());
    }
}
