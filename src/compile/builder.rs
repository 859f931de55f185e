//! Builders turn a checked keymap into firmware. Without a qmk_firmware checkout
//! there is none (keymap-only); with one, QMK's own make rules build each job in
//! folders of its own, under a time limit.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::source::DataTree;

/// The build rules whose presence makes a tree a buildable qmk_firmware checkout.
const BUILD_RULES: &str = "builddefs/build_keyboard.mk";

/// At most this much of a build's output is kept: its end, where errors are.
const OUTPUT_LIMIT: usize = 256 << 10;

/// Firmware formats QMK writes, in the order they are looked for.
const FIRMWARE_FORMATS: [&str; 3] = ["uf2", "hex", "bin"];

#[derive(Debug, Clone)]
pub enum Builder {
    /// Checks the keymap and writes its sources; no firmware.
    KeymapOnly,
    Firmware(FirmwareBuilder),
}

#[derive(Debug, Clone)]
pub struct FirmwareBuilder {
    home: PathBuf,
    time_limit: Duration,
}

/// What one firmware build did.
#[derive(Debug)]
pub struct Build {
    pub returncode: i32,
    /// make's output (stdout and stderr, interleaved), its end if it was long.
    pub output: String,
    /// The firmware file, moved into the job's folder.
    pub firmware: Option<PathBuf>,
}

impl Builder {
    /// QMK's firmware builder when `tree` is a qmk_firmware checkout with QMK's build
    /// rules; keymap-only for a data-only tree or the bundled data.
    pub fn for_tree(tree: &DataTree, time_limit: Duration) -> Builder {
        match tree.checkout_root() {
            Some(home) if home.join(BUILD_RULES).is_file() => {
                Builder::Firmware(FirmwareBuilder { home: home.to_owned(), time_limit })
            }
            _ => Builder::KeymapOnly,
        }
    }

    /// Names the builder in cache keys and in `GET /v1`.
    pub fn name(&self) -> &'static str {
        match self {
            Builder::KeymapOnly => "keymap-only",
            Builder::Firmware(_) => "qmk-firmware",
        }
    }
}

impl FirmwareBuilder {
    /// Builds the keymap in `keymap_folder` for `keyboard` with QMK's make rules. The
    /// keymap folder and the build folder are inside `work`, so concurrent jobs share
    /// nothing but the read-only tree; the firmware is moved to `firmware_stem.<format>`.
    /// `job` names the build uniquely among those running.
    pub fn build(
        &self,
        job: &str,
        (keyboard, keymap): (&str, &str),
        keymap_folder: &Path,
        work: &Path,
        firmware_stem: &Path,
    ) -> std::io::Result<Build> {
        let build_dir = work.join("build");
        std::fs::create_dir_all(&build_dir)?;
        // QMK also copies the firmware to the tree's root under TARGET: a name of the
        // job's own keeps jobs apart there, and the copy is moved out below.
        let target = format!("qmk_api_{job}");
        let log_path = work.join("build.log");
        let log = File::create(&log_path)?;
        let keymap_path = keymap_folder.display().to_string();
        let mut command = Command::new("make");
        command
            .current_dir(&self.home)
            .env(crate::source::QMK_HOME_ENV, &self.home)
            .args(["-r", "-R", "-f", BUILD_RULES])
            .arg(format!("-j{}", std::thread::available_parallelism().map_or(1, |n| n.get())))
            .arg(format!("KEYBOARD={keyboard}"))
            .arg(format!("KEYMAP={keymap}"))
            .arg(format!("KEYBOARD_FILESAFE={}", keyboard.replace('/', "_")))
            .arg(format!("TARGET={target}"))
            .arg(format!("BUILD_DIR={}", build_dir.display()))
            .args((1..=5).map(|n| format!("MAIN_KEYMAP_PATH_{n}={keymap_path}")))
            .args(["VERBOSE=false", "COLOR=false", "SILENT=false", "QMK_BIN=qmk"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of
        // the parent. It ends make if this process dies (kill -9), so that an orphaned
        // build cannot write into a job that runs again after the restart.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
                    .map_err(std::io::Error::from)
            });
        }
        let started = Instant::now();
        let mut child = command.spawn().map_err(|e| std::io::Error::new(e.kind(), format!("cannot run make: {e}")))?;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if started.elapsed() > self.time_limit {
                // make's compilers are in its process group; end them all.
                if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                }
                child.wait()?;
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut output = tail(&std::fs::read(&log_path)?);
        let returncode = match status {
            Some(status) => status.code().unwrap_or(-1),
            None => {
                output.push_str(&format!(
                    "\nThe build took longer than {} s and was stopped.",
                    self.time_limit.as_secs()
                ));
                -1
            }
        };
        let mut firmware = None;
        for format in FIRMWARE_FORMATS {
            let copied = self.home.join(format!("{target}.{format}"));
            if copied.is_file() {
                let destination = firmware_stem.with_extension(format);
                if returncode == 0 && firmware.is_none() {
                    move_file(&copied, &destination)?;
                    firmware = Some(destination);
                } else {
                    std::fs::remove_file(&copied)?;
                }
            }
        }
        if returncode == 0 && firmware.is_none() {
            output.push_str("\nmake succeeded but wrote no firmware file (.uf2, .hex or .bin).");
            return Ok(Build { returncode: 1, output, firmware });
        }
        Ok(Build { returncode, output, firmware })
    }
}

/// The end of a long output, cut at a line.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= OUTPUT_LIMIT {
        return text.into_owned();
    }
    let mut start = text.len() - OUTPUT_LIMIT;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let start = text[start..].find('\n').map_or(start, |n| start + n + 1);
    format!("[… {} earlier bytes of output left out]\n{}", start, &text[start..])
}

/// A rename, or a copy where the two paths are on different file systems.
fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to)?;
    std::fs::remove_file(from)
}

/// The revision of the tree jobs are built from, for cache keys: the git commit of a
/// clean checkout. An unversioned or modified tree gets `fallback`, so that its cached
/// results do not outlive the process that made them.
pub fn tree_revision(tree: &DataTree, fallback: &str) -> String {
    let Some(root) = tree.checkout_root() else { return format!("bundled-{}", env!("CARGO_PKG_VERSION")) };
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    match (git(&["rev-parse", "HEAD"]), git(&["status", "--porcelain", "--untracked-files=no"])) {
        (Some(commit), Some(changes)) if changes.is_empty() => commit,
        _ => fallback.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_output_keeps_its_end_from_a_line_start() {
        let mut text = "early line\n".repeat(OUTPUT_LIMIT / 8);
        text.push_str("error: the last line");
        let kept = tail(text.as_bytes());
        assert!(kept.starts_with("[… ") && kept.ends_with("error: the last line"));
        assert!(kept.contains("]\nearly line\n"), "cut at a line");
        assert_eq!(tail(b"short"), "short");
    }

    #[test]
    fn only_a_tree_with_build_rules_gets_the_firmware_builder() {
        let dir = tempfile::tempdir().unwrap();
        let tree = DataTree::Checkout(dir.path().to_owned());
        assert_eq!(Builder::for_tree(&tree, Duration::from_secs(1)).name(), "keymap-only");
        std::fs::create_dir(dir.path().join("builddefs")).unwrap();
        std::fs::write(dir.path().join(BUILD_RULES), "").unwrap();
        assert_eq!(Builder::for_tree(&tree, Duration::from_secs(1)).name(), "qmk-firmware");
        assert_eq!(Builder::for_tree(&DataTree::Bundled, Duration::from_secs(1)).name(), "keymap-only");
    }

    #[test]
    fn an_unversioned_tree_has_no_lasting_revision() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(tree_revision(&DataTree::Checkout(dir.path().to_owned()), "run-1"), "run-1");
        assert!(tree_revision(&DataTree::Bundled, "run-1").starts_with("bundled-"));
    }
}
