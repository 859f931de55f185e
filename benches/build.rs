//! `cargo bench`: the build over ../shared/qmk by phase and as a whole process with
//! its peak memory, beside QMK's reference figures; and keymap validation throughput.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use qmk_api::build::{self, Outputs};
use qmk_api::keyboard::{self, Keyboards};
use qmk_api::keymap::{self, Context, Keycodes, Source};
use qmk_api::publish;
use qmk_api::source::DataTree;
use qmk_api::spec;

const RUNS: usize = 20;

fn main() {
    let qmk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/qmk");
    if !qmk.join("data/constants").is_dir() {
        println!("skipped: {} is absent", qmk.display());
        return;
    }
    let tree = DataTree::Checkout(qmk.clone());
    let scratch = tempfile::tempdir().unwrap();
    let at = publish::build_time(Some("1786320000")).unwrap();

    // First, while this process is small: a child's peak counts what it shares with its parent before exec.
    println!("Whole process, median of 5; peak memory is the largest of the runs so far:");
    let process = |what: &str, args: &[&str], out: Option<&Path>| {
        let (wall, peak) = whole_process(&qmk, args, out);
        println!("  {what:<52} {:>9.2} ms, peak {:.1} MB", ms(wall), peak as f64 / 1024.0);
    };
    process("qmk-api check (constants only)", &["check"], None);
    #[cfg(unix)]
    {
        // A tree holding QMK's constants and no keyboards: the build of issue #2.
        let constants_only = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(qmk.join("data"), constants_only.path().join("data")).unwrap();
        let (wall, peak) = whole_process(
            constants_only.path(),
            &["build", "--json-only"],
            Some(&scratch.path().join("constants-only")),
        );
        println!(
            "  {:<52} {:>9.2} ms, peak {:.1} MB   QMK's loader: 1.08 s; goal under 30 ms, 50 MB",
            "qmk-api build (constants only, both channels)",
            ms(wall),
            peak as f64 / 1024.0
        );
    }
    for (what, args) in [("JSON API only", &["build", "--json-only"][..]), ("JSON API and site", &["build"][..])] {
        process(&format!("build, all keyboards, {what}, to this disk"), args, Some(&scratch.path().join("process")));
        // A memory file system shows what the build itself costs, without this disk's metadata work.
        let memory = Path::new("/dev/shm");
        if memory.is_dir() {
            let dir = tempfile::tempdir_in(memory).unwrap();
            process(&format!("build, all keyboards, {what}, to /dev/shm"), args, Some(&dir.path().join("out")));
        }
    }

    println!("Constants (8 keycode versions and 72 language extras, both channels), median of {RUNS}:");
    let load = median(RUNS, || drop(spec::load(&tree).unwrap()));
    let loaded = spec::load(&tree).unwrap();
    let render = median(RUNS, || drop(publish::render(&loaded.constants)));
    let out = scratch.path().join("constants");
    let none = Keyboards::default();
    let build = median(RUNS, || {
        let loaded = spec::load(&tree).unwrap();
        build::build(&tree, &loaded.constants, &none, &out, at, Outputs::JsonOnly, &ProgressBar::hidden()).unwrap();
    });
    println!("  load, merge and check         {:>9.2} ms", ms(load));
    println!("  render JSON                   {:>9.2} ms", ms(render));
    println!("  load and publish, in process  {:>9.2} ms   QMK's loader in process: 0.84 s", ms(build));

    println!("Keyboards (3752), median of 5:");
    let keyboards_load = median(5, || drop(keyboard::load(&tree).unwrap()));
    let keyboards = keyboard::load(&tree).unwrap();
    println!(
        "  load all keyboards (QMK's whole info_json: config.h, rules.mk, mappings, checks) {:>9.2} ms   QMK: 185 s; goal under 2 s",
        ms(keyboards_load)
    );
    let everything = scratch.path().join("everything");
    let full = median(5, || {
        build::build(&tree, &loaded.constants, &keyboards, &everything, at, Outputs::Everything, &ProgressBar::hidden())
            .map(drop)
            .unwrap()
    });
    println!(
        "  publish and render everything   {:>7.2} ms   (loaded data, into an existing output); goal 3 s",
        ms(full)
    );

    println!("Keymap validation, one core:");
    validation(&loaded.constants, &keyboards);
}

/// Validates the API documents' example payload repeatedly with everything loaded.
fn validation(constants: &spec::Constants, keyboards: &Keyboards) {
    let keycodes = Keycodes::new(constants, None).unwrap();
    let context = Context { keyboards, keycodes: &keycodes };
    let payload = example_payload();
    let source = Source::new("payload.json", &payload);
    let (_, report) = keymap::check(&source, None, context);
    assert!(report.is_valid(), "{:?}", report.diagnostics);
    let count = 20_000;
    let start = Instant::now();
    for _ in 0..count {
        let (_, report) = keymap::check(&source, None, context);
        assert!(report.is_valid());
    }
    let elapsed = start.elapsed();
    println!(
        "  example payload (clueboard/66/rev2, 3 layers of 73 keys): {:.0} keymaps/s ({:.1} µs each); goal 10,000/s",
        count as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / count as f64
    );
}

/// The current example payload of the API documents, as the tests extract it.
fn example_payload() -> String {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/seeds");
    for entry in std::fs::read_dir(seeds).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let text: String = text.lines().filter(|l| l.trim() != "|").collect::<Vec<_>>().join("\n");
        let Some(key) = text.find("\"keyboard\"") else { continue };
        let Some(start) = text[..key].rfind('{') else { continue };
        let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter::<serde_json::Value>();
        if let Some(Ok(payload)) = values.next()
            && payload["layout"] == "LAYOUT_all"
            && !text.contains("RESET")
        {
            return payload.to_string();
        }
    }
    panic!("no current example payload in ../shared/seeds");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

/// Median wall time of the release binary, and the peak RSS (KiB) of all children so far.
fn whole_process(qmk: &Path, args: &[&str], out: Option<&Path>) -> (Duration, i64) {
    let wall = median(5, || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_qmk-api"));
        command.args(args).args(["--quiet", "--qmk-home"]).arg(qmk).env("SOURCE_DATE_EPOCH", "1786320000");
        if let Some(out) = out {
            command.arg("--out").arg(out);
        }
        assert!(command.status().unwrap().success());
    });
    // SAFETY: getrusage only writes into the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    (wall, usage.ru_maxrss)
}
