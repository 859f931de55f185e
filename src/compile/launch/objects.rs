//! Compiled objects, kept for the next build that compiles the same translation unit
//! from the same inputs: the object, the dependency file, the output and the status.
//!
//! A compile's inputs are its compiler (driver, `cc1` and assembler), its arguments and
//! the files its preprocessor reads. An entry records those files, as the preprocessor
//! output's line markers name them: the tree's files are covered by the tree's digest,
//! which is part of every key; the others (generated headers, the compiler's own
//! headers) are recorded with their content's digest, and the folders searched for
//! headers outside the tree with their listings.
//!
//! Every compile of a build carries the keymap's name (QMK defines `QMK_KEYMAP` and
//! `QMK_KEYMAP_H`, and searches `users/<name>`), but few translation units use it. An
//! object is kept for any name when its name-dependent arguments are string macros and
//! include folders, and the preprocessor output, with the name replaced by a mark no
//! file has, holds no mark: the name then only counts through the files it names, and
//! a build may use the entry only where no file or folder so named exists in the
//! folders searched (checked both when keeping and when reusing). Otherwise the entry
//! is kept for that name only.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::shelf::{Shelf, sharded, touch, write_folder_whole, write_whole};
use super::{KEYMAP_ENV, TREE_ENV, field, file_stamp};
use crate::compile::builder::is_firmware_file;
use crate::compile::tree_state::{self, find_program, hex};

/// Where entries and results live on the shelf.
pub const FOLDER: &str = "objects";

/// Bumped when what an entry records changes.
const FORMAT: &str = "objects-1";

/// Options whose value is the next argument.
const WITH_VALUE: [&str; 21] = [
    "-o",
    "-MF",
    "-MT",
    "-MQ",
    "-I",
    "-D",
    "-U",
    "-include",
    "-iquote",
    "-isystem",
    "-idirafter",
    "-iprefix",
    "-iwithprefix",
    "-iwithprefixbefore",
    "-isysroot",
    "--sysroot",
    "-x",
    "--param",
    "-L",
    "-l",
    "-B",
];

/// Options under which a compile reads, writes or prints what an entry does not record.
const UNKEPT: [&str; 9] = ["-E", "-S", "-M", "-MM", "-v", "-H", "-###", "--help", "--version"];

/// The same, for the options that start so.
const UNKEPT_PREFIXES: [&str; 14] = [
    "-save-temps",
    "-print",
    "-dump",
    "-fdump",
    "-fprofile",
    "-ftest-coverage",
    "-fplugin",
    "-specs",
    "-imacros",
    "-Wp,",
    "-Wa,",
    "-aux-info",
    "-fstack-usage",
    "-fcallgraph-info",
];

/// Variables that change what GCC reads, writes or prints.
const COMPILER_ENV: [&str; 12] = [
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "GCC_EXEC_PREFIX",
    "COMPILER_PATH",
    "SOURCE_DATE_EPOCH",
    "GCC_COLORS",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TZ",
];

/// Variables under which GCC writes files an entry does not record.
const UNKEPT_ENV: [&str; 2] = ["DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES"];

/// Macros whose value is the moment of the compile.
const CLOCK_MACROS: [&[u8]; 3] = [b"__DATE__", b"__TIME__", b"__TIMESTAMP__"];

/// Options that add a folder to the header search.
const INCLUDE_FOLDER: [&str; 4] = ["-I", "-iquote", "-isystem", "-idirafter"];

/// A compile `qmk-api launch cc` can keep.
struct Compile<'a> {
    compiler: &'a OsStr,
    args: &'a [OsString],
    output: PathBuf,
    depfile: Option<PathBuf>,
}

/// Where the keymap's name is in the arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    /// `-DNAME="...name..."`: a string that may name a file.
    StringMacro(usize),
    /// A folder of the header search.
    IncludeFolder(usize),
}

/// A kept compile: what it read, and where its result is.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    /// Files read outside the tree, by path, with their content's digest.
    files: Vec<(PathBuf, String)>,
    /// Folders searched outside the tree, with a digest of their listing.
    folders: Vec<(PathBuf, String)>,
    /// Every folder searched or holding a file read, for the name's check.
    searched: Vec<PathBuf>,
    result: String,
}

/// Replays a kept compile of `compiler args`, or compiles and keeps the result; `None`
/// when the compile is not one this cache keeps (nothing ran then).
pub fn compile(shelf: &Shelf, compiler: &OsStr, args: &[OsString]) -> Option<i32> {
    let (compile, keys) = Keys::of(shelf, compiler, args)?;
    if let Some(code) = keys.reuse(shelf, &compile, Output::Print) {
        return Some(code);
    }
    compile.run_and_keep(shelf, keys.name.as_deref(), keys.named.as_deref(), keys.any_name, keys.this_name)
}

/// Writes the kept object and dependency file of `compiler args`, if there is one,
/// without printing its output: `None` when there is none (nothing ran then).
pub fn reuse(shelf: &Shelf, compiler: &OsStr, args: &[OsString]) -> Option<i32> {
    let (compile, keys) = Keys::of(shelf, compiler, args)?;
    keys.reuse(shelf, &compile, Output::Drop)
}

/// What a replayed compile does with the output kept with it.
#[derive(Clone, Copy)]
enum Output {
    Print,
    Drop,
}

/// The keys a compile's entries may be kept under.
struct Keys {
    name: Option<String>,
    named: Option<Vec<Named>>,
    any_name: Option<String>,
    this_name: String,
}

impl Keys {
    fn of<'a>(shelf: &Shelf, compiler: &'a OsStr, args: &'a [OsString]) -> Option<(Compile<'a>, Keys)> {
        let compile = Compile::parse(compiler, args)?;
        let tree = std::env::var(TREE_ENV).ok()?;
        let toolchain = toolchain_stamp(shelf, compiler)?;
        let name = std::env::var(KEYMAP_ENV).ok().filter(|n| !n.is_empty());
        let named = name.as_deref().and_then(|name| named(args, name));
        let any_name = named.as_ref().map(|named| compile.manifest_key(&toolchain, &tree, name.as_deref(), named));
        let this_name = compile.manifest_key(&toolchain, &tree, name.as_deref(), &[]);
        Some((compile, Keys { name, named, any_name, this_name }))
    }

    fn reuse(&self, shelf: &Shelf, compile: &Compile, output: Output) -> Option<i32> {
        [(self.any_name.as_deref(), self.named.as_deref()), (Some(&self.this_name), None)]
            .into_iter()
            .find_map(|(key, named)| compile.reuse(shelf, key?, named.unwrap_or_default(), output))
    }
}

impl<'a> Compile<'a> {
    /// A compile of one source into one object, with no option whose effects an entry
    /// would not record.
    fn parse(compiler: &'a OsStr, args: &'a [OsString]) -> Option<Compile<'a>> {
        if UNKEPT_ENV.iter().any(|name| std::env::var_os(name).is_some()) {
            return None;
        }
        let (mut output, mut depfile, mut sources, mut compiles, mut dependencies) = (None, None, 0, false, false);
        let mut args_iter = args.iter();
        while let Some(arg) = args_iter.next() {
            let text = arg.to_str()?;
            if UNKEPT.contains(&text)
                || UNKEPT_PREFIXES.iter().any(|option| text.starts_with(option))
                || text.starts_with('@')
                || text == "-"
            {
                return None;
            }
            match text {
                "-c" => compiles = true,
                "-MD" | "-MMD" => dependencies = true,
                "-o" => output = args_iter.next().map(PathBuf::from),
                "-MF" => depfile = args_iter.next().map(PathBuf::from),
                _ if WITH_VALUE.contains(&text) => {
                    args_iter.next()?;
                }
                _ if !text.starts_with('-') => sources += 1,
                _ => {}
            }
        }
        let depfile = match (dependencies, depfile) {
            (true, Some(depfile)) => Some(depfile),
            (false, None) => None,
            _ => return None,
        };
        (compiles && sources == 1).then_some(Compile { compiler, args, output: output?, depfile })
    }

    /// The key of a compile's entries: its toolchain, the tree, the folder when debug
    /// information records it, and the arguments, with the keymap's name left out at
    /// `named` (entries for any name) or kept (`named` empty: entries for this name).
    fn manifest_key(&self, toolchain: &str, tree: &str, name: Option<&str>, named: &[Named]) -> String {
        let mut hasher = Sha256::new();
        for part in [FORMAT, toolchain, tree, if named.is_empty() { "this name" } else { "any name" }] {
            field(&mut hasher, part.as_bytes());
        }
        for name in COMPILER_ENV {
            field(&mut hasher, format!("{name}={:?}", std::env::var_os(name)).as_bytes());
        }
        if self.args.iter().any(|arg| arg.as_bytes().starts_with(b"-g") && arg != "-g0") {
            field(&mut hasher, std::env::current_dir().unwrap_or_default().as_os_str().as_bytes());
        }
        for (at, arg) in self.args.iter().enumerate() {
            match name {
                Some(name) if named.iter().any(|n| n.at() == at) => {
                    field(&mut hasher, &replace_name(arg.as_bytes(), name.as_bytes(), b"\0"));
                }
                _ => field(&mut hasher, arg.as_bytes()),
            }
        }
        hex(&hasher.finalize())
    }

    fn reuse(&self, shelf: &Shelf, key: &str, named: &[Named], output: Output) -> Option<i32> {
        let manifest = shelf.find(&sharded(Path::new(FOLDER), key))?;
        for file in std::fs::read_dir(manifest).ok()? {
            let path = file.ok()?.path();
            let Some(entry) = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Entry>(&b).ok()) else {
                continue;
            };
            if !entry.holds() || !self.name_is_free(named, &entry.searched) {
                continue;
            }
            let Some(result) = shelf.find(&result_path(&entry.result)) else { continue };
            if let Some(code) = self.replay(&result, output) {
                touch(&path);
                touch(&result.join("object"));
                return Some(code);
            }
        }
        None
    }

    /// Writes the kept object and dependency file; prints the kept output when asked.
    fn replay(&self, result: &Path, output: Output) -> Option<i32> {
        let object = std::fs::read(result.join("object")).ok()?;
        let depfile = match &self.depfile {
            Some(path) => Some((path, std::fs::read(result.join("depfile")).ok()?)),
            None => None,
        };
        let stdout = std::fs::read(result.join("stdout")).ok()?;
        let stderr = std::fs::read(result.join("stderr")).ok()?;
        std::fs::write(&self.output, object).ok()?;
        if let Some((path, bytes)) = depfile {
            std::fs::write(path, bytes).ok()?;
        }
        if let Output::Print = output {
            let _ = std::io::stdout().write_all(&stdout);
            let _ = std::io::stderr().write_all(&stderr);
        }
        Some(0)
    }

    /// Compiles, and keeps the result when it succeeded: for any name when the
    /// preprocessor output with the name replaced by a mark holds no mark, else for
    /// this name. Returns `None` when the preprocessor fails (nothing was compiled).
    fn run_and_keep(
        &self,
        shelf: &Shelf,
        name: Option<&str>,
        named: Option<&[Named]>,
        any_name_key: Option<String>,
        this_name_key: String,
    ) -> Option<i32> {
        let mark = format!("qmkapimark{}", uuid::Uuid::new_v4().simple());
        let marked: Vec<OsString> = match (name, named) {
            (Some(name), Some(named)) => self.with_name(name, &mark, named),
            _ => self.args.to_vec(),
        };
        let mut preprocessed = self.preprocess(&marked)?;
        let for_any_name = match (name, named) {
            (Some(_), Some(named)) => {
                !contains(&preprocessed.text, mark.as_bytes()) && self.name_is_free(named, &preprocessed.searched)
            }
            _ => false,
        };
        if !for_any_name && marked != self.args {
            preprocessed = self.preprocess(self.args)?;
        }
        let ran = match Command::new(self.compiler).args(self.args).output() {
            Ok(ran) => ran,
            Err(error) => {
                eprintln!("qmk-api {}: cannot run {}: {error}", super::SUBCOMMAND, self.compiler.to_string_lossy());
                return Some(127);
            }
        };
        let _ = std::io::stdout().write_all(&ran.stdout);
        let _ = std::io::stderr().write_all(&ran.stderr);
        let Some(code) = ran.status.code() else { return Some(super::signal_exit(ran.status)) };
        if code == 0 {
            let key = if for_any_name { any_name_key.unwrap_or(this_name_key) } else { this_name_key };
            // Keeping is best effort: a build never fails for it.
            let _ = self.keep(shelf, &key, &preprocessed, &ran.stdout, &ran.stderr);
        }
        Some(code)
    }

    fn keep(
        &self,
        shelf: &Shelf,
        key: &str,
        preprocessed: &Preprocessed,
        stdout: &[u8],
        stderr: &[u8],
    ) -> std::io::Result<()> {
        let mut files = Vec::new();
        for file in &preprocessed.files {
            let text = std::fs::read(file)?;
            // An object that holds the moment it was compiled is of that moment only.
            if CLOCK_MACROS.iter().any(|clock| contains(&text, clock)) {
                return Ok(());
            }
            if !in_tree(file) {
                files.push((file.clone(), hex(&Sha256::digest(&text))));
            }
        }
        let folders = preprocessed.searched.iter().filter(|f| !in_tree(f)).map(|f| (f.clone(), listing(f))).collect();
        let mut entry = Entry { files, folders, searched: preprocessed.searched.clone(), result: String::new() };
        let text = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        entry.result = hex(&Sha256::digest([key.as_bytes(), &text].concat()));
        let result = shelf.new_entry(&result_path(&entry.result));
        write_folder_whole(&result, |staging| {
            std::fs::copy(&self.output, staging.join("object"))?;
            if let Some(depfile) = &self.depfile {
                std::fs::copy(depfile, staging.join("depfile"))?;
            }
            std::fs::write(staging.join("stdout"), stdout)?;
            std::fs::write(staging.join("stderr"), stderr)
        })?;
        let manifest = sharded(Path::new(FOLDER), key).join(&entry.result);
        write_whole(&shelf.new_entry(&manifest), &serde_json::to_vec(&entry).map_err(std::io::Error::other)?)
    }

    /// The preprocessor's output for `args`, the files it read and the folders it searched.
    fn preprocess(&self, args: &[OsString]) -> Option<Preprocessed> {
        let mut kept = Vec::with_capacity(args.len() + 2);
        let mut args_iter = args.iter();
        while let Some(arg) = args_iter.next() {
            match arg.to_str() {
                Some("-c" | "-MD" | "-MMD" | "-MP") => {}
                Some("-o" | "-MF" | "-MT" | "-MQ") => {
                    args_iter.next();
                }
                _ => kept.push(arg.clone()),
            }
        }
        kept.extend(["-E".into(), "-v".into()]);
        let ran = Command::new(self.compiler).args(&kept).output().ok()?;
        if !ran.status.success() {
            return None;
        }
        let files = line_marker_files(&ran.stdout);
        // A quoted include also searches the folder of the file that includes.
        let mut searched = searched_folders(&ran.stderr);
        for file in &files {
            let folder = file.parent().unwrap_or(Path::new("")).to_owned();
            if !searched.contains(&folder) {
                searched.push(folder);
            }
        }
        Some(Preprocessed { text: ran.stdout, files, searched })
    }

    /// The arguments with the keymap's name replaced by `mark` at `named`.
    fn with_name(&self, name: &str, mark: &str, named: &[Named]) -> Vec<OsString> {
        let mut args = self.args.to_vec();
        for at in named.iter().map(Named::at) {
            let replaced = replace_name(args[at].as_bytes(), name.as_bytes(), mark.as_bytes());
            args[at] = OsStr::from_bytes(&replaced).to_owned();
        }
        args
    }

    /// Whether nothing named by the name-dependent arguments exists: no include folder,
    /// and no file named by a string macro in any folder searched.
    fn name_is_free(&self, named: &[Named], searched: &[PathBuf]) -> bool {
        named.iter().all(|named| match *named {
            Named::IncludeFolder(at) => folder_of(self.args, at).is_some_and(|f| f.symlink_metadata().is_err()),
            // Relative to the build's folder too; an absolute path stays itself.
            Named::StringMacro(at) => string_value(&self.args[at]).is_some_and(|value| {
                std::iter::once(Path::new(""))
                    .chain(searched.iter().map(PathBuf::as_path))
                    .all(|folder| folder.join(value).symlink_metadata().is_err())
            }),
        })
    }
}

struct Preprocessed {
    text: Vec<u8>,
    /// The files read, in the order first read.
    files: Vec<PathBuf>,
    /// The folders searched for headers, and those of the files read.
    searched: Vec<PathBuf>,
}

impl Named {
    fn at(&self) -> usize {
        match *self {
            Named::StringMacro(at) | Named::IncludeFolder(at) => at,
        }
    }
}

impl Entry {
    /// Whether every file and folder it read outside the tree is still as it was.
    fn holds(&self) -> bool {
        self.files.iter().all(|(path, digest)| tree_state::file_digest(path).is_ok_and(|d| hex(&d) == *digest))
            && self.folders.iter().all(|(folder, digest)| listing(folder) == *digest)
    }
}

/// Removes the entries and results not used since `cutoff`, returning how many.
pub fn prune(folder: &Path, cutoff: SystemTime) -> std::io::Result<usize> {
    let unused = |path: &Path| path.metadata().and_then(|m| m.modified()).map_or(true, |time| time < cutoff);
    let mut removed = 0;
    let Ok(shards) = std::fs::read_dir(folder) else { return Ok(0) };
    for shard in shards {
        let shard = shard?.path();
        match shard.file_name().and_then(|n| n.to_str()) {
            Some("results") => {
                for results in std::fs::read_dir(&shard)? {
                    for result in std::fs::read_dir(results?.path())? {
                        let result = result?.path();
                        if unused(&result.join("object")) {
                            std::fs::remove_dir_all(&result)?;
                            removed += 1;
                        }
                    }
                }
            }
            Some("toolchains") => {
                for found in std::fs::read_dir(&shard)? {
                    let found = found?.path();
                    if unused(&found) {
                        std::fs::remove_file(&found)?;
                    }
                }
            }
            _ => {
                for key in std::fs::read_dir(&shard)? {
                    let key = key?.path();
                    for entry in std::fs::read_dir(&key)? {
                        let entry = entry?.path();
                        if unused(&entry) {
                            std::fs::remove_file(&entry)?;
                            removed += 1;
                        }
                    }
                    // Only once empty; a build may be adding an entry meanwhile.
                    let _ = std::fs::remove_dir(&key);
                }
            }
        }
    }
    Ok(removed)
}

/// How many objects were compiled and kept on the shelf `folder` (a build's staging
/// folder): those the cache did not have.
pub fn kept(folder: &Path) -> usize {
    let results = folder.join(FOLDER).join("results");
    let shards = std::fs::read_dir(results).into_iter().flatten().flatten();
    shards.map(|shard| std::fs::read_dir(shard.path()).map_or(0, Iterator::count)).sum()
}

fn result_path(result: &str) -> PathBuf {
    sharded(&Path::new(FOLDER).join("results"), result)
}

/// Where the keymap's name is in `args`: `None` when it is somewhere other than in a
/// string macro or an include folder (then entries are kept for this name only).
fn named(args: &[OsString], name: &str) -> Option<Vec<Named>> {
    let mut named = Vec::new();
    for (at, arg) in args.iter().enumerate() {
        if !contains_name(arg.as_bytes(), name.as_bytes()) {
            continue;
        }
        let previous = at.checked_sub(1).and_then(|p| args[p].to_str());
        if folder_of(args, at).is_some() {
            named.push(Named::IncludeFolder(at));
        } else if string_value(arg).is_some() && (arg.as_bytes().starts_with(b"-D") || previous == Some("-D")) {
            named.push(Named::StringMacro(at));
        } else {
            return None;
        }
    }
    Some(named)
}

/// The include folder given at `at`: `-Ifolder`, or the argument after `-I`, `-iquote`...
fn folder_of(args: &[OsString], at: usize) -> Option<PathBuf> {
    let arg = args[at].as_bytes();
    let previous = at.checked_sub(1).and_then(|p| args[p].to_str());
    if previous.is_some_and(|p| INCLUDE_FOLDER.contains(&p)) {
        return Some(PathBuf::from(&args[at]));
    }
    let folder = arg.strip_prefix(b"-I").filter(|f| !f.is_empty())?;
    Some(PathBuf::from(OsStr::from_bytes(folder)))
}

/// The text of a macro defined as a plain string: `"text"` in `[-D]NAME="text"`, with
/// no escapes.
fn string_value(arg: &OsStr) -> Option<&str> {
    let text = arg.to_str()?;
    let value = text.split_once('=')?.1.strip_prefix('"')?.strip_suffix('"')?;
    (!value.contains(['"', '\\'])).then_some(value)
}

/// Whether `name` occurs in `bytes` as a whole word (not inside a longer identifier).
fn contains_name(bytes: &[u8], name: &[u8]) -> bool {
    name_at(bytes, name).next().is_some()
}

fn name_at<'a>(bytes: &'a [u8], name: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    (0..=bytes.len().saturating_sub(name.len())).filter(move |&at| {
        !name.is_empty()
            && bytes[at..].starts_with(name)
            && (at == 0 || !is_word(bytes[at - 1]))
            && bytes.get(at + name.len()).is_none_or(|&b| !is_word(b))
    })
}

/// `bytes` with each whole-word `name` replaced by `with`.
fn replace_name(bytes: &[u8], name: &[u8], with: &[u8]) -> Vec<u8> {
    super::splice(bytes, name_at(bytes, name), name.len(), with)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// The files named by the line markers of preprocessor output (`# 1 "file" ...`), in
/// order, without repeats; `<built-in>` and the like aside.
fn line_marker_files(text: &[u8]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for line in text.split(|&b| b == b'\n') {
        let Some(rest) = line.strip_prefix(b"# ") else { continue };
        let Some(quoted) = rest.iter().position(|&b| b == b'"').map(|at| &rest[at + 1..]) else { continue };
        if !rest[..rest.len() - quoted.len() - 1].iter().all(|b| b.is_ascii_digit() || *b == b' ') {
            continue;
        }
        let Some(name) = unquote(quoted) else { continue };
        if !name.starts_with(b"<") && seen.insert(name.clone()) {
            files.push(PathBuf::from(OsStr::from_bytes(&name)));
        }
    }
    files
}

/// A C string's content up to its closing quote, escapes undone.
fn unquote(quoted: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut bytes = quoted.iter().copied();
    while let Some(b) = bytes.next() {
        match b {
            b'"' => return Some(out),
            b'\\' => match bytes.next()? {
                digit @ b'0'..=b'7' => {
                    let mut value = u32::from(digit - b'0');
                    for _ in 0..2 {
                        let next = bytes.clone().next().filter(|d| (b'0'..=b'7').contains(d));
                        let Some(d) = next else { break };
                        bytes.next();
                        value = value * 8 + u32::from(d - b'0');
                    }
                    out.push(u8::try_from(value).ok()?);
                }
                other => out.push(other),
            },
            other => out.push(other),
        }
    }
    None
}

/// The folders of the header search, as `-v` lists them, and those it left out for not
/// existing (a folder that appears later would change the search).
fn searched_folders(stderr: &[u8]) -> Vec<PathBuf> {
    let text = String::from_utf8_lossy(stderr);
    let mut folders = Vec::new();
    let mut in_list = false;
    for line in text.lines() {
        if let Some(folder) = line.strip_prefix("ignoring nonexistent directory \"").and_then(|l| l.strip_suffix('"')) {
            folders.push(PathBuf::from(folder));
        } else if line.starts_with("#include ") && line.ends_with("search starts here:") {
            in_list = true;
        } else if line == "End of search list." {
            in_list = false;
        } else if in_list && let Some(folder) = line.strip_prefix(' ') {
            folders.push(PathBuf::from(folder));
        }
    }
    folders
}

/// Whether the tree's digest covers `path` (relative to the build's view of the tree):
/// a file of the tree, not in what the digest leaves out.
fn in_tree(path: &Path) -> bool {
    let mut components = path.components().filter(|c| *c != Component::CurDir).peekable();
    let Some(Component::Normal(first)) = components.peek().copied() else { return false };
    if first == ".build" {
        return false;
    }
    let left_out = [".git", "__pycache__", "keymaps"];
    path.components().all(|c| match c {
        Component::Normal(part) => !left_out.iter().any(|l| part == *l),
        Component::CurDir => true,
        _ => false,
    }) && !(path.components().count() == 1 && is_firmware_file(path))
}

/// A digest of a folder's listing; "absent" when it does not exist.
fn listing(folder: &Path) -> String {
    let Ok(entries) = std::fs::read_dir(folder) else { return "absent".to_owned() };
    let mut names: Vec<OsString> = entries.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
    names.sort();
    let mut hasher = Sha256::new();
    for name in names {
        field(&mut hasher, name.as_bytes());
    }
    hex(&hasher.finalize())
}

/// The compiler driver, its compiler proper and its assembler, as files: a new version
/// of any is a new toolchain. Where the driver finds the other two is asked once per
/// driver and kept.
fn toolchain_stamp(shelf: &Shelf, compiler: &OsStr) -> Option<String> {
    let driver = find_program(&compiler.to_string_lossy()).or_else(|| Some(PathBuf::from(compiler)))?;
    let driver_stamp = file_stamp(&driver);
    let mut hasher = Sha256::new();
    field(&mut hasher, driver_stamp.as_bytes());
    let relative = Path::new(FOLDER).join("toolchains").join(hex(&hasher.finalize()));
    let found = shelf.find(&relative);
    let programs = match found.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
        Some(programs) => {
            touch(found.as_deref().unwrap_or(&relative));
            programs
        }
        None => {
            let mut programs = String::new();
            for program in ["cc1", "cc1plus", "as"] {
                let asked = Command::new(&driver).arg(format!("-print-prog-name={program}")).output().ok()?;
                let found = String::from_utf8_lossy(&asked.stdout).trim().to_owned();
                let found = find_program(&found).unwrap_or_else(|| PathBuf::from(found));
                programs.push_str(&format!("{}\n", found.display()));
            }
            let _ = write_whole(&shelf.new_entry(&relative), programs.as_bytes());
            programs
        }
    };
    let stamps: Vec<String> = programs.lines().map(|p| file_stamp(Path::new(p))).collect();
    Some(format!("{driver_stamp}\n{}", stamps.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::super::tests::args;
    use super::*;

    #[test]
    fn only_a_plain_compile_of_one_source_is_kept() {
        let cc = OsStr::new("cc");
        let plain = args("-c -O2 -MMD -MP -MF x.td -include a.h x.c -o x.o");
        let compile = Compile::parse(cc, &plain).unwrap();
        assert_eq!((compile.output, compile.depfile), (PathBuf::from("x.o"), Some(PathBuf::from("x.td"))));
        for refused in [
            "-c x.c y.c -o x.o",
            "-c -save-temps x.c -o x.o",
            "-c -H x.c -o x.o",
            "-c -Wa,-adhlns=x.lst x.c -o x.o",
            "-c -MMD x.c -o x.o",
            "x.c -o x",
            "-c x.c",
        ] {
            assert!(Compile::parse(cc, &args(refused)).is_none(), "{refused}");
        }
    }

    #[test]
    fn the_name_counts_only_as_a_whole_word_in_string_macros_and_include_folders() {
        let compile =
            args(r#"-c -DQMK_KEYMAP="rev2" -DQMK_KEYMAP_H="rev2.h" -Iusers/rev2 -I users/rev2 -mrev2x x.c -o x.o"#);
        assert_eq!(
            named(&compile, "rev2"),
            Some(vec![Named::StringMacro(1), Named::StringMacro(2), Named::IncludeFolder(3), Named::IncludeFolder(5)])
        );
        assert_eq!(named(&args("-c -Ikeyboards/a/rev2 a/rev2.c -o x.o"), "rev2"), None, "the source names it");
        assert_eq!(named(&args("-c -DKM=rev2 x.c -o x.o"), "rev2"), None, "an identifier macro");
        assert_eq!(replace_name(b"users/a -Ia_b a", b"a", b"M"), b"users/M -Ia_b M");
    }

    #[test]
    fn line_markers_name_the_files_read() {
        let text =
            b"# 1 \"x.c\"\n# 1 \"<built-in>\"\nint a;\n# 1 \"/usr/include/a\\\\b \\\"c\\\".h\" 1 3 4\n# 1 \"x.c\" 2\n";
        assert_eq!(line_marker_files(text), [PathBuf::from("x.c"), PathBuf::from("/usr/include/a\\b \"c\".h")]);
    }

    #[test]
    fn the_search_list_and_missing_folders_are_read_from_the_verbose_output() {
        let stderr = "ignoring nonexistent directory \"users/x\"\n#include \"...\" search starts here:\n#include <...> search starts here:\n ../keymap\n quantum\n /usr/lib/avr/include\nEnd of search list.\n";
        assert_eq!(
            searched_folders(stderr.as_bytes()),
            ["users/x", "../keymap", "quantum", "/usr/lib/avr/include"].map(PathBuf::from)
        );
    }

    #[test]
    fn the_trees_digest_covers_its_files_but_not_build_output_or_keymap_folders() {
        for covered in ["quantum/quantum.h", "./keyboards/./a/config.h", "Makefile"] {
            assert!(in_tree(Path::new(covered)), "{covered}");
        }
        for outside in [
            ".build/obj/src/config.h",
            "../keymap/keymap.json",
            "/usr/lib/avr/include/io.h",
            "keyboards/a/keymaps/b/config.h",
            "quantum/../x.h",
            "a_default.hex",
        ] {
            assert!(!in_tree(Path::new(outside)), "{outside}");
        }
    }
}
