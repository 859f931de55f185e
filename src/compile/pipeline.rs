//! One compile job from request to artifacts: validate the keymap, write its
//! `keymap.c` and `keymap.json`, build with the configured builder, and zip the
//! sources. A keymap that does not validate fails here, with its diagnostics, before
//! any compiler runs.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::builder::Builder;
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
    /// Files written into the job's folder, by what they are.
    pub artifacts: Vec<(Artifact, PathBuf)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    Firmware,
    KeymapC,
    KeymapJson,
    Sources,
}

impl Artifact {
    /// Its key in a stored job result.
    pub fn key(self) -> &'static str {
        match self {
            Artifact::Firmware => "firmware",
            Artifact::KeymapC => "keymap",
            Artifact::KeymapJson => "keymap_json",
            Artifact::Sources => "source",
        }
    }

    /// How messages name it.
    pub fn describe(self) -> &'static str {
        match self {
            Artifact::Firmware => "firmware",
            Artifact::KeymapC => "keymap.c",
            Artifact::KeymapJson => "keymap.json",
            Artifact::Sources => "source archive",
        }
    }
}

/// Said in every keymap-only job's output.
pub const NO_TOOLCHAIN: &str =
    "No firmware toolchain is configured: this job checked the keymap and generated its keymap.c only.";

/// Runs a job: validates `request` (a keymap in QMK's configurator format), writes
/// its sources into `dir` and builds it with `builder`.
pub fn run(request: &str, context: Context, builder: &Builder, dir: &Path) -> std::io::Result<Outcome> {
    let source = Source { shown: "keymap.json", text: request };
    let (keymap, report) = keymap::check(&source, None, context);
    let diagnostics: Vec<String> = report.diagnostics.iter().map(ToString::to_string).collect();
    let mut outcome = Outcome {
        returncode: 1,
        output: diagnostics.join("\n"),
        keyboard: report.keyboard.clone(),
        keymap: keymap.as_ref().and_then(|k| k.keymap.clone()),
        layout: report.layout.clone(),
        artifacts: Vec::new(),
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
    let keymap_json = keymap::to_keymap_json(&keymap.document);
    std::fs::create_dir_all(dir)?;
    let files = [
        (Artifact::KeymapC, "keymap.c", keymap_c.as_bytes()),
        (Artifact::KeymapJson, "keymap.json", keymap_json.as_bytes()),
    ];
    for (artifact, name, bytes) in files {
        std::fs::write(dir.join(name), bytes)?;
        outcome.artifacts.push((artifact, dir.join(name)));
    }
    let keyboard = outcome.keyboard.clone().unwrap_or_default();
    let keymap_name = outcome.keymap.clone().unwrap_or_else(|| "default".to_owned());
    let checked = format!("{keymap_name} is valid for {keyboard} ({}).", outcome.layout.as_deref().unwrap_or_default());
    let mut sources =
        vec![("keymap.json".to_owned(), keymap_json.into_bytes()), ("keymap.c".to_owned(), keymap_c.into_bytes())];
    let build_output = match builder {
        Builder::KeymapOnly => {
            outcome.returncode = 0;
            NO_TOOLCHAIN.to_owned()
        }
        Builder::Firmware(firmware) => {
            let work = dir.join("work");
            let keymap_folder = work.join("keymaps").join(&keymap_name);
            std::fs::create_dir_all(&keymap_folder)?;
            std::fs::write(keymap_folder.join("keymap.c"), &sources[1].1)?;
            let job = dir.file_name().and_then(|name| name.to_str()).unwrap_or("job");
            let names = (keyboard.as_str(), keymap_name.as_str());
            let build = firmware.build(job, names, &keymap_folder, &work, &dir.join("firmware"))?;
            std::fs::remove_dir_all(&work)?;
            sources.push((format!("keymaps/{keymap_name}/keymap.c"), sources[1].1.clone()));
            outcome.returncode = build.returncode;
            outcome.artifacts.extend(build.firmware.map(|path| (Artifact::Firmware, path)));
            build.output
        }
    };
    let zip_path = dir.join("source.zip");
    write_zip(&zip_path, &sources)?;
    outcome.artifacts.push((Artifact::Sources, zip_path));
    outcome.output = [checked, outcome.output.clone(), build_output]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    Ok(outcome)
}

/// A zip archive of named files.
fn write_zip(path: &Path, files: &[(String, Vec<u8>)]) -> std::io::Result<()> {
    let mut archive = zip::ZipWriter::new(std::fs::File::create(path)?);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        archive.start_file(name.as_str(), options).map_err(std::io::Error::other)?;
        archive.write_all(bytes)?;
    }
    archive.finish().map_err(std::io::Error::other)?;
    Ok(())
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
    fn a_valid_keymap_yields_its_sources() {
        let dir = tempfile::tempdir().unwrap();
        let request = serde_json::json!({
            "keyboard": "clueboard/66/rev2", "keymap": "mine", "layout": "LAYOUT_all", "layers": [layer("KC_A")]
        });
        let outcome = keymap_only(request, dir.path());
        assert_eq!(outcome.returncode, 0, "{}", outcome.output);
        assert!(outcome.output.contains("mine is valid for clueboard/66/rev2 (LAYOUT_all)"));
        assert!(outcome.output.contains(NO_TOOLCHAIN));
        let kinds: Vec<Artifact> = outcome.artifacts.iter().map(|(kind, _)| *kind).collect();
        assert_eq!(kinds, [Artifact::KeymapC, Artifact::KeymapJson, Artifact::Sources]);
        assert!(
            std::fs::read_to_string(dir.path().join("keymap.c")).unwrap().contains("[0] = LAYOUT_all(KC_A, KC_TRNS")
        );
        let mut archive = zip::ZipArchive::new(std::fs::File::open(dir.path().join("source.zip")).unwrap()).unwrap();
        let names: Vec<String> =
            (0..archive.len()).map(|i| archive.by_index(i).unwrap().name().unwrap().into_owned()).collect();
        assert_eq!(names, ["keymap.json", "keymap.c"]);
    }

    #[test]
    fn an_invalid_keymap_fails_with_its_diagnostics_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let request = serde_json::json!({
            "keyboard": "clueboard/66/rev2", "keymap": "mine", "layout": "LAYOUT_all", "layers": [layer("KC_NOPE")]
        });
        let outcome = keymap_only(request, &dir.path().join("job"));
        assert_eq!(outcome.returncode, 1);
        assert!(outcome.output.starts_with("The keymap is not valid:"), "{}", outcome.output);
        assert!(outcome.output.contains("no keycode `KC_NOPE`"));
        assert!(outcome.artifacts.is_empty() && !dir.path().join("job").exists());
    }
}
