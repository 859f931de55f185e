//! `cargo bench`: the whole `build` over ../shared/qmk (both channels), in process by
//! phase and as a whole process with its peak memory, beside QMK's reference figures.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use qmk_api::publish;
use qmk_api::source::DataTree;
use qmk_api::spec;

const RUNS: usize = 30;
/// QMK's Python loader for the 8 keycode versions, measured on this machine class.
const QMK_WHOLE_PROCESS: &str = "1.08 s";
const QMK_IN_PROCESS: &str = "0.84 s";

fn main() {
    let qmk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/qmk");
    if !qmk.join("data/constants").is_dir() {
        println!("skipped: {} is absent", qmk.display());
        return;
    }
    let tree = DataTree::Checkout(qmk.clone());
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("public");
    let at = publish::build_time(Some("1786320000")).unwrap();

    let load = median(|| drop(spec::load(&tree).unwrap()));
    let loaded = spec::load(&tree).unwrap();
    let render = median(|| drop(publish::render(&loaded.constants)));
    let build = median(|| {
        let loaded = spec::load(&tree).unwrap();
        publish::build(&tree, &loaded.constants, &out, at).unwrap();
    });
    let (process, peak_kib) = whole_process(&qmk, &out);

    println!("qmk-api build over {} (both channels, {} runs, median)", qmk.display(), RUNS);
    println!("  load, merge and check        {:>8.2} ms", ms(load));
    println!("  render JSON                  {:>8.2} ms", ms(render));
    println!("  load and build in process     {:>8.2} ms   QMK's loader in process: {QMK_IN_PROCESS}", ms(build));
    println!("  build as a whole process     {:>8.2} ms   QMK's loader as a process: {QMK_WHOLE_PROCESS}", ms(process));
    println!("  peak memory (max RSS)        {:>8.1} MB   goal: under 50 MB", peak_kib as f64 / 1024.0);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

/// Median wall time of the release binary, and the largest peak RSS of its runs.
fn whole_process(qmk: &Path, out: &PathBuf) -> (Duration, i64) {
    let binary = env!("CARGO_BIN_EXE_qmk-api");
    let wall = median(|| {
        let status = Command::new(binary)
            .args(["build", "--quiet", "--qmk-home"])
            .arg(qmk)
            .arg("--out")
            .arg(out)
            .env("SOURCE_DATE_EPOCH", "1786320000")
            .status()
            .unwrap();
        assert!(status.success());
    });
    // SAFETY: getrusage only writes into the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    (wall, usage.ru_maxrss)
}
