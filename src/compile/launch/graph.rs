//! A keyboard's build as the commands make ran for its reference keymap (recorded by
//! [`super::record`], replayed by [`super::replay`]), kept under the tree's digest, the
//! keyboard, make's arguments but the keymap's name, and the build's environment.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::shelf::{Shelf, sharded, write_whole};
use super::{BUILD_ENV, KEYMAP_ENV, STAGING_ENV, field};
use crate::compile::tree_state::hex;

/// Where graphs live on the shelf.
pub const FOLDER: &str = "graphs";

/// Bumped when what a graph records changes.
const FORMAT: &str = "graph-1";

/// The keymap's folder as make's commands name it (from the view of the tree).
pub const KEYMAP_FOLDER: &str = "../keymap";

/// Variables that differ from build to build, whatever the keymap: left out of the key.
/// (Python's byte code goes to a reference build's staging folder, else the build's.)
const PER_BUILD_ENV: [&str; 6] = [
    BUILD_ENV,
    STAGING_ENV,
    KEYMAP_ENV,
    super::record::RECORD_ENV,
    super::record::RECIPE_OUTPUT_ENV,
    "PYTHONPYCACHEPREFIX",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// A `$(shell ...)` of make's parse: its output went to make.
    Parse,
    /// A recipe line: its output went to the build's log.
    Recipe,
}

/// A run of the launcher inside a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Call {
    Compile { compiler: String, args: Vec<String> },
    Qmk { args: Vec<String> },
}

/// One command make ran, in the order commands started.
#[derive(Debug, Serialize, Deserialize)]
pub struct Step {
    pub phase: Phase,
    /// The shell's arguments (`-c TEXT`).
    pub args: Vec<String>,
    /// Index into [`Graph::environments`].
    pub environment: usize,
    pub code: i32,
    pub stdout: String,
    pub calls: Vec<Call>,
    /// The files its generators wrote (relative to make's folder), with their text.
    pub outputs: Vec<(String, Option<String>)>,
    /// Whether it reads the keymap: it names the keymap's folder, its name, or a file
    /// an earlier such command wrote.
    #[serde(default)]
    pub keymap: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Graph {
    format: String,
    /// The recorded keymap's name and build folder, which a replay replaces with its own.
    pub keymap: String,
    pub folder: String,
    /// The programs the commands may run, with their stamps when recorded.
    pub tools: Vec<(String, String)>,
    /// The variables each command saw beside the build's own environment.
    pub environments: Vec<Vec<(String, String)>>,
    pub steps: Vec<Step>,
}

impl Graph {
    /// The graph of `steps`, recorded for keymap `name`; `None` when the name reaches a
    /// command in another form than itself (a replay replaces the name only as it is).
    pub fn new(
        name: &str,
        folder: &str,
        tools: Vec<(String, String)>,
        environments: Vec<Vec<(String, String)>>,
        mut steps: Vec<Step>,
    ) -> Option<Graph> {
        let folded = name.to_lowercase();
        let texts = steps.iter().flat_map(|s| s.args.iter().chain(s.outputs.iter().filter_map(|(_, c)| c.as_ref())));
        let texts = texts.chain(environments.iter().flatten().map(|(_, v)| v));
        if texts.into_iter().any(|text| text.to_lowercase().matches(&folded).count() != text.matches(name).count()) {
            return None;
        }
        let mut marks = vec![KEYMAP_FOLDER.to_owned(), name.to_owned()];
        for step in &mut steps {
            let call_args = step.calls.iter().flat_map(|call| match call {
                Call::Compile { args, .. } | Call::Qmk { args } => args.iter(),
            });
            step.keymap = step.args.iter().chain(call_args).any(|text| marks.iter().any(|mark| text.contains(mark)));
            if step.keymap {
                marks.extend(step.outputs.iter().map(|(path, _)| path.clone()));
            }
        }
        Some(Graph { format: FORMAT.into(), keymap: name.into(), folder: folder.into(), tools, environments, steps })
    }

    /// The graph kept under `key`, if it is of this format and its programs are
    /// unchanged.
    pub fn find(shelf: &Shelf, key: &str) -> Option<Graph> {
        let path = shelf.find(&sharded(Path::new(FOLDER), key))?;
        let graph: Graph = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        let current = graph.format == FORMAT
            && graph.tools.iter().all(|(name, stamp)| super::program_stamp(name.as_ref()) == *stamp);
        current.then(|| {
            super::shelf::touch(&path);
            graph
        })
    }

    pub fn keep(&self, shelf: &Shelf, key: &str) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        write_whole(&shelf.new_entry(&sharded(Path::new(FOLDER), key)), &bytes)
    }
}

/// The key of a keyboard's graph: the tree, the target, make's arguments but the
/// keymap's name and the shell, and the build's environment but what differs from build
/// to build, with the build's folder left out.
pub fn key(
    tree: &str,
    target: &str,
    make_args: &[OsString],
    environment: &BTreeMap<String, String>,
    folder: &str,
) -> String {
    let mut hasher = Sha256::new();
    for part in [FORMAT, tree, target] {
        field(&mut hasher, part.as_bytes());
    }
    for arg in make_args {
        let bytes = arg.as_encoded_bytes();
        if !bytes.starts_with(b"KEYMAP=") && !bytes.starts_with(b"SHELL=") {
            field(&mut hasher, bytes);
        }
    }
    for (name, value) in environment.iter().filter(|(name, _)| !PER_BUILD_ENV.contains(&name.as_str())) {
        field(&mut hasher, name.as_bytes());
        field(&mut hasher, value.replace(folder, "\0").as_bytes());
    }
    hex(&hasher.finalize())
}

/// Removes the graphs unused since `cutoff`, returning how many.
pub fn prune(folder: &Path, cutoff: std::time::SystemTime) -> std::io::Result<usize> {
    let mut removed = 0;
    for shard in std::fs::read_dir(folder).into_iter().flatten().filter_map(Result::ok) {
        for entry in std::fs::read_dir(shard.path())?.filter_map(Result::ok) {
            if entry.metadata()?.modified()? < cutoff {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(text: &str, calls: Vec<Call>, outputs: &[&str]) -> Step {
        Step {
            phase: Phase::Recipe,
            args: vec!["-c".into(), text.into()],
            environment: 0,
            code: 0,
            stdout: String::new(),
            calls,
            outputs: outputs.iter().map(|path| (path.to_string(), Some(String::new()))).collect(),
            keymap: false,
        }
    }

    fn qmk(args: &str) -> Call {
        Call::Qmk { args: args.split(' ').map(str::to_owned).collect() }
    }

    #[test]
    fn a_command_reads_the_keymap_through_its_folder_its_name_or_a_file_made_from_it() {
        let steps = vec![
            step(
                "qmk generate-version-h -o .build/version.h",
                vec![qmk("generate-version-h -o .build/version.h")],
                &[".build/version.h"],
            ),
            step(
                "qmk json2c -o .build/keymap.c ../keymap/keymap.json",
                vec![qmk("json2c -o .build/keymap.c ../keymap/keymap.json")],
                &[".build/keymap.c"],
            ),
            step("grep x .build/keymap.c", vec![], &[]),
            step("cat .build/version.h", vec![], &[]),
            step("printf 'keymap ref'", vec![], &[]),
        ];
        let graph = Graph::new("ref", "/build", Vec::new(), vec![Vec::new()], steps).unwrap();
        let reads: Vec<bool> = graph.steps.iter().map(|s| s.keymap).collect();
        assert_eq!(reads, [false, true, true, false, true]);
    }

    #[test]
    fn no_graph_where_the_name_reaches_a_command_in_another_case() {
        let steps = vec![step("echo -DKEYMAP_REF", vec![], &[])];
        assert!(Graph::new("ref", "/build", Vec::new(), vec![Vec::new()], steps).is_none());
        let steps = vec![step("echo -DQMK_KEYMAP=ref", vec![], &[])];
        assert!(Graph::new("ref", "/build", Vec::new(), vec![Vec::new()], steps).is_some());
    }

    #[test]
    fn the_key_leaves_out_the_keymap_name_the_shell_and_the_build_folder() {
        let args = |keymap: &str| -> Vec<OsString> {
            ["-r", &format!("KEYMAP={keymap}"), "SHELL=qmk-api launch sh", "TARGET=a_b"].map(OsString::from).to_vec()
        };
        let environment = |folder: &str, staging: &str| -> BTreeMap<String, String> {
            [("HOME", format!("{folder}/home")), (STAGING_ENV, staging.to_owned()), ("PATH", "/bin".into())]
                .map(|(k, v)| (k.to_owned(), v))
                .into()
        };
        let one = key("tree", "a_b", &args("x"), &environment("/one", "s1"), "/one");
        assert_eq!(one, key("tree", "a_b", &args("y"), &environment("/two", "s2"), "/two"));
        let without_shell: Vec<OsString> = args("x").into_iter().filter(|a| a != "SHELL=qmk-api launch sh").collect();
        assert_eq!(one, key("tree", "a_b", &without_shell, &environment("/one", "s1"), "/one"));
        assert_ne!(one, key("other tree", "a_b", &args("x"), &environment("/one", "s1"), "/one"));
        assert_ne!(one, key("tree", "a_c", &args("x"), &environment("/one", "s1"), "/one"));
    }
}
