//! `serve`: the compile API and a built site, from one process, with workers; and
//! `worker`: workers alone, on a job store shared with `serve` nodes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::constants::{self, TreeData};
use super::{Failure, Reporter, writing};
use qmk_api::compile::{Builder, Containment, Database, Service, Settings};
use qmk_api::publish::Channel;
use qmk_api::server;
use qmk_api::source::DataTree;

/// What `qmk-api serve` and `qmk-api worker` share: where jobs are and how they run.
#[derive(clap::Args)]
pub struct JobOptions {
    /// The job store shared by several nodes: a postgres:// URL (libpq's form, with its sslmode and sslrootcert); without it `serve` keeps its jobs in SQLite in --state, and `worker` refuses to start
    #[arg(long, env = "QMK_API_DATABASE", value_name = "URL", hide_env_values = true)]
    database: Option<String>,
    /// Where firmware builds run and warm builds keep their cache (cache/), the site is built, and with SQLite jobs (jobs.sqlite) and their firmware are kept
    #[arg(long, default_value = "qmk-api-state", value_name = "DIR")]
    state: PathBuf,
    /// Threads that run compile jobs; 0 (with --database) for a node that only queues [default: one per core]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(0..=256))]
    workers: Option<u16>,
    /// Remove ended jobs and their files after this long
    #[arg(long, default_value = "7d", value_name = "DURATION", value_parser = humantime::parse_duration)]
    keep: Duration,
    /// Stop a firmware build that runs longer than this
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = humantime::parse_duration)]
    build_time_limit: Duration,
    /// Build firmware without a sandbox (bubblewrap): any keymap's build may then run code as the service's user
    #[arg(long)]
    no_sandbox: bool,
    /// With --database: a job stays with a node that stops renewing its lease (killed, cut off) this long before another node takes it
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_lease)]
    lease: Duration,
    /// With firmware builds: once no job has come for this long, build every keyboard's test keymap in turn (as `mass-compile`), for the build-status endpoints; `off` never does
    #[arg(long, default_value = "1m", value_name = "DURATION|off", value_parser = parse_duration_or_off)]
    idle_mass_compile: DurationOrOff,
    /// With firmware builds: a worker takes jobs of keyboards its node holds warm before older jobs, but passes the job first in line over for no longer than this; `off` takes jobs in the order they came
    #[arg(long, default_value = "30s", value_name = "DURATION|off", value_parser = parse_duration_or_off)]
    prefer_warm: DurationOrOff,
}

/// `--idle-mass-compile` and `--prefer-warm`: a duration, or `off`.
#[derive(Debug, Clone, Copy)]
pub struct DurationOrOff(Option<Duration>);

fn parse_duration_or_off(text: &str) -> Result<DurationOrOff, String> {
    match text {
        "off" => Ok(DurationOrOff(None)),
        _ => humantime::parse_duration(text)
            .map(|after| DurationOrOff(Some(after)))
            .map_err(|e| format!("{e} (or `off`)")),
    }
}

/// A lease of at least a second: it is renewed three times per lease.
fn parse_lease(text: &str) -> Result<Duration, String> {
    let lease = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if lease < Duration::from_secs(1) { Err("a lease lasts at least 1s".to_owned()) } else { Ok(lease) }
}

/// What `qmk-api serve` is asked for.
#[derive(clap::Args)]
pub struct ServeOptions {
    /// Address to listen on; port 0 picks a free one
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    #[command(flatten)]
    jobs: JobOptions,
    /// The channel served at /
    #[arg(long, value_enum, default_value = "master")]
    channel: ChannelArg,
    /// Serve this already built site (the output of `build`) instead of building one
    #[arg(long, value_name = "DIR")]
    site: Option<PathBuf>,
    /// Refuse new jobs while this many wait (over every node: give them all the same limit)
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    queue_limit: u64,
    /// Refuse request bodies larger than this many bytes
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    body_limit: usize,
    /// Disconnect a client that takes longer than this to send a request's headers
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = humantime::parse_duration)]
    header_time_limit: Duration,
    /// The server's public address, for the URLs in job results [default: from each request's Host]
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Keymap pictures drawn and KLE layouts converted at once; as many more wait (up to 10 s), the rest get 503 [default: one per core]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    heavy_limit: Option<u16>,
    /// Disconnect a client that takes none of an answer for this long (one that does not read)
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = humantime::parse_duration)]
    stall_time_limit: Duration,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ChannelArg {
    Master,
    Develop,
}

impl From<ChannelArg> for Channel {
    fn from(channel: ChannelArg) -> Channel {
        match channel {
            ChannelArg::Master => Channel::Master,
            ChannelArg::Develop => Channel::Develop,
        }
    }
}

pub fn serve(tree: &DataTree, options: ServeOptions, reporter: &Reporter) -> Result<(), Failure> {
    let started = Instant::now();
    let data = constants::load(tree, reporter)?;
    let site = site(tree, &data, &options, reporter, started)?;
    let jobs = &options.jobs;
    let (service, workers) = open_service(tree, data, jobs, options.queue_limit)?;
    let settings = server::Settings {
        listen: options.listen,
        site,
        workers,
        keep: jobs.keep,
        body_limit: options.body_limit,
        header_time_limit: options.header_time_limit,
        public_url: options.public_url,
        heavy_limit: options
            .heavy_limit
            .map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), usize::from),
        stall_time_limit: options.stall_time_limit,
    };
    server::run(settings, Arc::new(service), |address| {
        // On stdout, for scripts and tests that listen on port 0; nobody may be reading.
        let _ = writing::line(format_args!("listening on http://{address}"));
    })
    .map_err(|e| Failure::usage(format!("cannot serve on {}: {e}", options.listen)))
}

/// `qmk-api worker`: runs jobs from a shared job store, without HTTP.
pub fn worker(tree: &DataTree, options: JobOptions, reporter: &Reporter) -> Result<(), Failure> {
    if options.database.is_none() {
        return Err(Failure::usage(
            "a worker needs --database postgres://…: SQLite serves one process, which `qmk-api serve` runs with its workers",
        ));
    }
    // Before the store is opened and the data loaded: only the option can say 0.
    if options.workers == Some(0) {
        return Err(Failure::usage("a worker needs at least one thread: --workers 1 or more"));
    }
    let data = constants::load(tree, reporter)?;
    let (service, workers) = open_service(tree, data, &options, u64::MAX)?;
    server::run_workers(Arc::new(service), workers, options.keep, || {
        // On stdout, for scripts and tests; nobody may be reading.
        let _ = writing::line(format_args!("working with {workers} threads"));
    })
    .map_err(|e| Failure::usage(format!("cannot run the workers: {e}")))
}

/// The compile service over the chosen job store, and how many workers it gets.
fn open_service(
    tree: &DataTree,
    data: TreeData,
    options: &JobOptions,
    queue_limit: u64,
) -> Result<(Service, usize), Failure> {
    let database = Database::from_option(options.database.clone(), options.lease).map_err(Failure::usage)?;
    let workers =
        options.workers.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), usize::from);
    if workers == 0 && matches!(database, Database::Sqlite) {
        return Err(Failure::usage("--workers 0 needs --database: with SQLite no other process runs the jobs"));
    }
    let build = super::build_settings(options.build_time_limit, options.no_sandbox, Some(&options.state))?;
    let builder = Builder::for_tree(tree, build);
    if let Builder::Firmware(firmware) = &builder {
        match firmware.containment() {
            Containment::Sandbox(_) => tracing::info!("firmware builds run in a sandbox (bubblewrap)"),
            Containment::None => tracing::warn!(
                "firmware builds run WITHOUT a sandbox (--no-sandbox): any keymap's build can run code as this user"
            ),
            Containment::Unavailable(reason) => tracing::warn!(
                "firmware builds are refused: {reason}; install bubblewrap, or pass --no-sandbox to build without one"
            ),
        }
    }
    let catalogue_after = options.idle_mass_compile.0;
    let prefer_warm = options.prefer_warm.0;
    let settings = Settings {
        state: options.state.clone(),
        database,
        queue_limit,
        builder,
        workers,
        catalogue_after,
        prefer_warm,
    };
    let (service, requeued) = Service::open(tree, &data.constants, data.keyboards, settings)?;
    if requeued > 0 {
        tracing::info!(jobs = requeued, "queued again the jobs that were running when the last process stopped");
    }
    tracing::info!(
        builder = service.builder().name(),
        job_store = service.backend(),
        state = %options.state.display(),
        "compile service ready"
    );
    Ok((service, workers))
}

/// The channel's folder of `--site`, or of a site built now into the state folder.
fn site(
    tree: &DataTree,
    data: &TreeData,
    options: &ServeOptions,
    reporter: &Reporter,
    started: Instant,
) -> Result<PathBuf, Failure> {
    let root = match &options.site {
        Some(root) => root.clone(),
        None => {
            let root = options.jobs.state.join("site");
            constants::publish(tree, data, &root, false, reporter, started)?;
            root
        }
    };
    let name = Channel::from(options.channel).name();
    let channel = root.join(name);
    if !channel.join("v1").is_dir() {
        return Err(Failure::usage(format!("{} is not a built site: it has no {name}/v1", root.display())));
    }
    Ok(channel)
}
