//! The bundled `data/` is compiled into the binary: rebuild when it changes. `--version`
//! names the commit built and the keycode versions bundled.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=data");
    // A path that does not exist would have the script run on every build.
    for git in [".git/HEAD", ".git/refs"].into_iter().filter(|path| std::path::Path::new(path).exists()) {
        println!("cargo:rerun-if-changed={git}");
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map_or_else(|| "commit unknown".to_owned(), |hash| format!("commit {}", hash.trim()));
    println!("cargo:rustc-env=QMK_API_COMMIT={commit}");
    println!("cargo:rustc-env=QMK_API_KEYCODES={}", keycode_versions());
}

/// `0.0.1–0.0.8`: the first and last version of the bundled keycodes' spec files.
fn keycode_versions() -> String {
    let mut versions: Vec<Vec<u64>> = std::fs::read_dir("data/constants/keycodes")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name.strip_prefix("keycodes_")?.strip_suffix(".hjson")?.split('_').next()?.to_owned();
            version.split('.').map(|part| part.parse().ok()).collect()
        })
        .collect();
    versions.sort();
    let shown = |v: &Vec<u64>| v.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
    match (versions.first(), versions.last()) {
        (Some(first), Some(last)) => format!("{}–{}", shown(first), shown(last)),
        _ => "none".to_owned(),
    }
}
