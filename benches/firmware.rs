//! `cargo bench --bench firmware`: real AVR firmware of the seeds' example payload
//! (clueboard/66/rev2) over a copy of ../shared/qmk, in rounds of five builds:
//! QMK's own `make -j2`; qmk-api cold (empty caches); the keyboard's reference build,
//! which fills the cache and records make's commands (as the service runs it after a
//! keyboard's first job); qmk-api warm (the same keyboard, another keymap, replaying the
//! recorded commands without make); and the reference keymap built again through make,
//! which reuses every generator's and compiler's result: what is left is QMK's make
//! itself, the floor of any build through it. Every build runs in
//! the sandbox (bubblewrap) when the machine has one. Reports wall and CPU time (user +
//! system of the build's processes, as the build reports them) and checks every
//! firmware against make's. Last, the CLI as a keymap author runs it, a new process
//! each time: `qmk-api compile` of the seed with an empty cache (the keyboard's
//! reference build, then the keymap's), then of another keymap of the keyboard, and
//! with `--no-cache`. Needs make, qmk and gcc-avr on PATH.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::firmware::qmk_make;
use qmk_api::compile::{self, BuildSettings, Builder, Containment};
use qmk_api::keymap::Context;
use qmk_api::source::DataTree;
use serde_json::{Value, json};

const ROUNDS: usize = 3;

/// A build's wall time and CPU time.
#[derive(Clone, Copy)]
struct Cost {
    wall: Duration,
    cpu: Duration,
}

fn main() {
    let Some((shared, scratch)) = common::firmware::bench_scratch() else { return };
    let tree = scratch.path().join("qmk");
    let data = DataTree::Checkout(tree.clone());
    // As the compile service loads them.
    let (keyboards, keycodes) = common::load_tree(&tree);
    let context = Context { keyboards: &keyboards, keycodes: &keycodes };
    let seed = common::current_seed_payload(&shared);

    let time_limit = Duration::from_secs(600);
    let settings = |cache: Option<&Path>| BuildSettings {
        time_limit,
        launcher: env!("CARGO_BIN_EXE_qmk-api").into(),
        containment: Containment::of_machine(false, time_limit),
        cache: cache.map(Path::to_owned),
        private: Vec::new(),
    };
    println!(
        "Firmware of {} (AVR), {ROUNDS} rounds; containment {}; load average {}",
        seed["keyboard"],
        settings(None).containment.name(),
        load()
    );
    println!(
        "  reference: QMK's make -j2 of the seed 14.6–16.8 s; goals: cold no slower, warm (make's recorded commands \
         replayed without make) ≥ 8× faster than cold and ≥ 15× faster than make -j2; the CLI's second compile ≥ 5× \
         faster than its first"
    );
    if let Builder::Firmware(firmware) = Builder::for_tree(&data, settings(None)) {
        let timed = || {
            let started = Instant::now();
            firmware.tree_digest().unwrap();
            started.elapsed().as_secs_f64() * 1000.0
        };
        let (first, again) = (timed(), timed());
        println!(
            "  the tree's digest, taken with each job: first {first:.0} ms (reads every file), then {again:.0} ms"
        );
    }
    let (mut make, mut cold, mut fill, mut warm, mut again) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let _ = std::fs::remove_dir_all(tree.join(".build"));
        let (cost, reference) = measure(|| qmk_make(&tree, &seed));
        make.push(cost);
        let cache = tempfile::tempdir_in(scratch.path()).unwrap();
        let builder = Builder::for_tree(&data, settings(Some(cache.path())));
        let Builder::Firmware(builder) = &builder else { panic!("{} is not buildable", tree.display()) };
        // A new process reads the whole tree once (see above); each job then checks it.
        builder.tree_digest().unwrap();
        let build = |request: &Value, dir: &Path| {
            let builder = Builder::Firmware(builder.at(&builder.tree_digest().unwrap()));
            let outcome = compile::run(&request.to_string(), context, &builder, dir).unwrap();
            assert_eq!(outcome.returncode, 0, "{}", outcome.output);
            (std::fs::read(outcome.firmware.unwrap()).unwrap(), build_cpu(&outcome.output))
        };
        let (cost, (firmware, cpu)) = measure(|| build(&seed, &scratch.path().join(format!("cold-{round}"))));
        assert!(firmware == reference, "a cold build is QMK's firmware");
        cold.push(Cost { cpu, ..cost });
        let keyboard = keyboards.resolve(seed["keyboard"].as_str().unwrap()).unwrap();
        let fill_cache = |folder: &str| {
            let builder = builder.at(&builder.tree_digest().unwrap());
            let build = builder.fill_cache(keyboard, &scratch.path().join(folder)).unwrap().unwrap();
            assert_eq!(build.returncode, 0, "{}", build.output);
            build_cpu(&build.output)
        };
        let (cost, cpu) = measure(|| fill_cache(&format!("reference-{round}")));
        fill.push(Cost { cpu, ..cost });
        let mut other = seed.clone();
        other["keymap"] = json!(format!("other_{round}"));
        other["layers"][0][1] = json!("KC_Q");
        let (cost, (warm_firmware, cpu)) = measure(|| build(&other, &scratch.path().join(format!("warm-{round}"))));
        assert_ne!(warm_firmware, reference, "another keymap, other firmware");
        warm.push(Cost { cpu, ..cost });
        let (cost, cpu) = measure(|| fill_cache(&format!("again-{round}")));
        again.push(Cost { cpu, ..cost });
        println!(
            "  round {}: make -j2 {}   qmk-api cold {}   reference {}   warm {}   floor {}",
            round + 1,
            shown(make[round]),
            shown(cold[round]),
            shown(fill[round]),
            shown(warm[round]),
            shown(again[round])
        );
    }
    let (make, cold, fill, warm, again) = (median(&make), median(&cold), median(&fill), median(&warm), median(&again));
    println!(
        "  median:  make -j2 {}   qmk-api cold {}   reference {}   warm {}   floor {}",
        shown(make),
        shown(cold),
        shown(fill),
        shown(warm),
        shown(again)
    );
    println!(
        "  cold/make -j2 {:.2} (wall), warm is {:.1}× faster than cold ({:.1}× in CPU), {:.1}× faster than make -j2; load average {}",
        cold.wall.as_secs_f64() / make.wall.as_secs_f64(),
        cold.wall.as_secs_f64() / warm.wall.as_secs_f64(),
        cold.cpu.as_secs_f64() / warm.cpu.as_secs_f64(),
        make.wall.as_secs_f64() / warm.wall.as_secs_f64(),
        load()
    );
    println!(
        "  make's floor (every result reused, QMK's make alone) is {:.1}× faster than cold; warm, without make, is {:.1}× faster than that floor",
        cold.wall.as_secs_f64() / again.wall.as_secs_f64(),
        again.wall.as_secs_f64() / warm.wall.as_secs_f64()
    );

    let cache = scratch.path().join("user-cache").display().to_string();
    let cli = |name: &str, keymap: &Value, options: &[&str]| {
        let file = scratch.path().join(format!("{name}.json"));
        std::fs::write(&file, keymap.to_string()).unwrap();
        let out = scratch.path().join(format!("cli-{name}"));
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_qmk-api"))
            .arg("--qmk-home")
            .arg(&tree)
            .args(["-q", "compile"])
            .arg(&file)
            .arg("--out")
            .arg(&out)
            .args(options)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
        started.elapsed()
    };
    let mut second = seed.clone();
    second["keymap"] = json!("second");
    second["layers"][0][1] = json!("KC_Q");
    let first = cli("first", &seed, &["--cache", &cache]);
    let next = cli("second", &second, &["--cache", &cache]);
    let uncached = cli("uncached", &second, &["--no-cache"]);
    println!(
        "  the CLI, a new process each: first compile of the keyboard {:.1} s (its reference build, then the keymap), the next keymap {:.1} s ({:.1}× faster), --no-cache {:.1} s; load average {}",
        first.as_secs_f64(),
        next.as_secs_f64(),
        first.as_secs_f64() / next.as_secs_f64(),
        uncached.as_secs_f64(),
        load()
    );
}

/// The CPU time a build's own processes took, as its output reports it: they run in
/// its sandbox, whose time reaches this process only through that line.
fn build_cpu(output: &str) -> Duration {
    let seconds = output.lines().rev().find_map(|line| line.strip_prefix("qmk-api: ")?.strip_suffix(" s of CPU"));
    let seconds = seconds.and_then(|line| line.rsplit([' ', ';']).next()?.parse::<f64>().ok());
    Duration::from_secs_f64(seconds.unwrap_or_else(|| panic!("no CPU time in the build's output:\n{output}")))
}

fn measure<T>(run: impl FnOnce() -> T) -> (Cost, T) {
    let (cpu, started) = (cpu_so_far(), Instant::now());
    let value = run();
    (Cost { wall: started.elapsed(), cpu: cpu_so_far() - cpu }, value)
}

/// User and system time of this process, of its children waited for so far, and of
/// those still running (the builder's Python server) with the children they waited for.
fn cpu_so_far() -> Duration {
    let usage = |who| {
        // SAFETY: getrusage writes into the struct it is given and nothing else.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(who, &mut usage);
            usage
        };
        let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        time(usage.ru_utime) + time(usage.ru_stime)
    };
    usage(libc::RUSAGE_SELF) + usage(libc::RUSAGE_CHILDREN) + running_children_cpu()
}

fn running_children_cpu() -> Duration {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let me = std::process::id().to_string();
    let Ok(processes) = std::fs::read_dir("/proc") else { return Duration::ZERO };
    let seconds: f64 = processes
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("stat")).ok())
        .filter_map(|stat| {
            // After the command's name (in parentheses): state, ppid, ..., utime (14th
            // field), stime, cutime, cstime.
            let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
            (fields.get(1) == Some(&me.as_str()))
                .then(|| fields[11..15].iter().filter_map(|f| f.parse::<f64>().ok()).sum::<f64>() / ticks)
        })
        .sum();
    Duration::from_secs_f64(seconds)
}

fn median(costs: &[Cost]) -> Cost {
    let mut walls: Vec<Duration> = costs.iter().map(|c| c.wall).collect();
    let mut cpus: Vec<Duration> = costs.iter().map(|c| c.cpu).collect();
    walls.sort();
    cpus.sort();
    Cost { wall: walls[walls.len() / 2], cpu: cpus[cpus.len() / 2] }
}

fn shown(cost: Cost) -> String {
    format!("{:>5.1} s ({:>5.1} s CPU)", cost.wall.as_secs_f64(), cost.cpu.as_secs_f64())
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "?".into(), |l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
}
