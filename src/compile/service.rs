//! The compile service without HTTP: submissions checked and stored, workers that
//! claim jobs and run them, identical requests served from the artifacts already
//! made, and old artifacts pruned. The `server` module puts HTTP in front of it.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::builder::{Builder, Containment, FirmwareBuilder, remove_folder, tree_revision};
use super::catalogue;
use super::pipeline::{self, Artifact, Sources};
use super::request::{RequestError, Submission};
use super::store::{self, BuildRecord, Claim, Database, Ending, Firmware, Job, JobStore, Recorded, Status, StoreError};
use super::warm::WarmKeyboards;
use crate::keyboard::Keyboards;
use crate::keymap::{Context, Keycodes, KeycodesError, Source};
use crate::source::DataTree;
use crate::spec::Constants;

/// How the service is set up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Holds the firmware builds in progress (`work/<id>/`) and, with SQLite, the job
    /// store (`jobs.sqlite`, with each job's generated sources) and the firmware each
    /// job built (`jobs/<id>/`).
    pub state: PathBuf,
    pub database: Database,
    /// Jobs that may wait at once.
    pub queue_limit: u64,
    pub builder: Builder,
    /// Threads that will run jobs in this process (0 for a node that only queues).
    pub workers: usize,
    /// With firmware builds: how long the queue stays empty before a worker builds
    /// the catalogue (see [`super::catalogue`]); `None`: never.
    pub catalogue_after: Option<Duration>,
    /// How long a job may be passed over for jobs of keyboards this node holds warm
    /// (see [`store::Preference`]); `None`: jobs are taken in the order they came.
    pub prefer_warm: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot create {path}: {source}")]
    State { path: String, source: std::io::Error },
    #[error(transparent)]
    Keycodes(#[from] KeycodesError),
}

/// Why a submission was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("the queue is full ({0} jobs wait); try again later")]
    QueueFull(u64),
    /// The store could not take the job (a full disk, say): nothing was queued.
    #[error("the job could not be stored ({0}); try again later")]
    Store(StoreError),
}

/// Why a job's file cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error("job {0} is {1}: its files are not ready yet")]
    NotEnded(String, &'static str),
    #[error("job {id} made no {what}{because}")]
    NotMade { id: String, what: &'static str, because: String },
    #[error("cannot read {0}: {1}")]
    Unreadable(String, std::io::Error),
    #[error("the firmware of job {0} is missing from the job store")]
    Missing(String),
    #[error(transparent)]
    Store(StoreError),
}

/// How long a worker waits before trying the store again after an error.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// Attempts to record how a job ended, a second apart, before it is left to a restart.
const RECORD_ATTEMPTS: u32 = 120;

/// Connections to the job store beside one per worker, for requests.
const REQUEST_CONNECTIONS: usize = 8;

/// How a job ended: its result, its sources as stored, and its firmware.
struct Ended {
    result: Value,
    sources: Option<String>,
    firmware: Made,
    /// The keyboard a firmware build ran for.
    built: Option<String>,
}

/// The firmware a job made.
enum Made {
    None,
    Built(PathBuf),
    /// An identical earlier job's (its id), called `name`.
    Reused {
        from: String,
        name: String,
    },
}

pub struct Service {
    store: Box<dyn JobStore>,
    builder: Builder,
    /// What keymap-only results depend on beside the request: the data loaded at start.
    revision: String,
    keyboards: Keyboards,
    keycodes: Keycodes,
    /// The tree they were read from: a keymap.c sent to a converter includes its
    /// keyboard's headers from there.
    tree: DataTree,
    /// Firmware builds in progress, `<id>/` each; removed when the job ends.
    work_dir: PathBuf,
    /// Keyboards whose reference build runs now, on one of the workers.
    filling: Mutex<HashSet<String>>,
    /// Set at shutdown: workers claim no more jobs.
    stopping: AtomicBool,
    /// Held (shared) by each claim, so that the jobs handed back at shutdown include
    /// every job claimed before.
    claiming: RwLock<()>,
    catalogue_after: Option<Duration>,
    /// When this process last took a job (or started).
    last_job: Mutex<Instant>,
    /// Set while one of the workers builds the catalogue: one at a time per process.
    cataloguing: AtomicBool,
    prefer_warm: Option<Duration>,
    /// Keyboards whose reference build this node's cache keeps.
    warm: WarmKeyboards,
}

/// A file of a finished job, ready to be sent.
#[derive(Debug)]
pub struct Download {
    pub bytes: Vec<u8>,
    /// The name the client saves it under.
    pub filename: String,
}

impl Service {
    /// A service checking keymaps against the newest keycodes of `constants` and against
    /// `keyboards`, both read from `tree` (whose revision keys the cache). Opens
    /// the store and queues again what was running when the last process stopped.
    /// Returns the service and how many jobs were requeued.
    pub fn open(
        tree: &DataTree,
        constants: &Constants,
        keyboards: Keyboards,
        settings: Settings,
    ) -> Result<(Service, usize), ServiceError> {
        let work_dir = settings.state.join("work");
        std::fs::create_dir_all(&work_dir)
            .map_err(|source| ServiceError::State { path: work_dir.display().to_string(), source })?;
        let keycodes = Keycodes::for_tree(constants, None, tree)?;
        let connections = settings.workers + REQUEST_CONNECTIONS;
        let (store, requeued) = store::open(&settings.database, &settings.state, settings.queue_limit, connections)?;
        let started = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        let revision = tree_revision(tree, &format!("unversioned-{started}"));
        if let Builder::Firmware(firmware) = &settings.builder {
            // The first digest reads the whole tree; the first job need not wait for it.
            let firmware = firmware.clone();
            std::thread::spawn(move || firmware.tree_digest());
        }
        let service = Service {
            store,
            builder: settings.builder,
            revision,
            keyboards,
            keycodes,
            tree: tree.clone(),
            work_dir,
            stopping: AtomicBool::new(false),
            claiming: RwLock::new(()),
            filling: Mutex::default(),
            catalogue_after: settings.catalogue_after,
            last_job: Mutex::new(Instant::now()),
            cataloguing: AtomicBool::new(false),
            prefer_warm: settings.prefer_warm,
            warm: WarmKeyboards::default(),
        };
        Ok((service, requeued))
    }

    pub fn builder(&self) -> &Builder {
        &self.builder
    }

    /// The keyboards loaded at start, which jobs are checked against.
    pub fn keyboards(&self) -> &Keyboards {
        &self.keyboards
    }

    /// The keyboards and keycodes jobs are checked against, for the converters to
    /// check files against the same.
    pub fn context(&self) -> Context<'_> {
        Context { keyboards: &self.keyboards, keycodes: &self.keycodes }
    }

    /// The tree the keyboards were read from.
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    /// The job store's backend: `sqlite` or `postgresql`.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// Checks a request and queues it; the job is stored before its id is returned.
    pub fn submit(&self, body: &[u8]) -> Result<String, SubmitError> {
        let submission = Submission::parse(body)?;
        // Completed with the tree's state when the job is taken (see `run`).
        let cache_key = self.cache_key(&submission.canonical, "");
        let id = self.store.enqueue(&submission.canonical, &cache_key, now()).map_err(|error| match error {
            StoreError::QueueFull(waiting) => SubmitError::QueueFull(waiting),
            other => {
                tracing::error!(error = %other, "cannot store a job");
                SubmitError::Store(other)
            }
        })?;
        tracing::info!(job = %id, keyboard = %submission.keyboard, keymap = %submission.keymap, "queued");
        Ok(id)
    }

    /// What identifies identical requests: the builder and how it contains builds
    /// (firmware built without a sandbox is not reused by a sandboxed service), what it
    /// reads beside the request (`state`) and the request.
    fn cache_key(&self, canonical: &str, state: &str) -> String {
        let containment = self.builder.containment().map_or("", Containment::name);
        let keyed = [self.builder.name(), containment, state, canonical].join("\0");
        crate::publish::lock::sha256_hex(keyed.as_bytes())
    }

    /// The builder for a job taken now, and the state it builds from: for firmware,
    /// the tree as it is at this moment, so that no result outlives a change to it.
    fn builder_now(&self) -> Result<(Builder, String), String> {
        match &self.builder {
            Builder::KeymapOnly => Ok((Builder::KeymapOnly, self.revision.clone())),
            Builder::Firmware(firmware) => {
                let digest = firmware.tree_digest().map_err(|e| format!("cannot read the qmk_firmware tree: {e}"))?;
                Ok((Builder::Firmware(firmware.at(&digest)), digest))
            }
        }
    }

    pub fn job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        self.store.get(id)
    }

    /// How many jobs wait, over every node sharing the store.
    pub fn queue_length(&self) -> Result<u64, StoreError> {
        self.store.queued()
    }

    /// How many jobs wait, read from the store itself: an error when the store cannot
    /// be read (unreachable, damaged).
    pub fn check_store(&self) -> Result<u64, StoreError> {
        self.store.check()
    }

    /// Claims and runs jobs, waiting when there are none; never returns. Once the
    /// service stops (see [`Service::release`]) it claims no more.
    pub fn work(&self) -> ! {
        let look_again = match &self.builder {
            Builder::Firmware(_) => {
                self.catalogue_after.map(|after| after.clamp(CATALOGUE_CHECK, Duration::from_secs(1)))
            }
            Builder::KeymapOnly => None,
        };
        loop {
            self.store.wait_for_work(look_again);
            let claimed = {
                let _claiming = self.claiming.read().unwrap_or_else(|poisoned| poisoned.into_inner());
                if self.stopping.load(Ordering::SeqCst) { None } else { Some(self.claim()) }
            };
            let Some(claimed) = claimed else {
                // The process is ending: this thread waits for it.
                loop {
                    std::thread::park();
                }
            };
            match claimed {
                Ok(Some(claim)) => {
                    self.note_job();
                    self.run(&claim);
                    self.note_job();
                }
                Ok(None) => self.build_catalogue(),
                Err(error) => {
                    tracing::error!(%error, "cannot claim a job");
                    // The job stays queued; let the store recover before trying again.
                    std::thread::sleep(STORE_RETRY);
                }
            }
        }
    }

    /// Claims the next job: with `prefer_warm`, as [`store::Preference`] orders them,
    /// with that bound.
    fn claim(&self) -> Result<Option<Claim>, StoreError> {
        let Some(bound) = self.prefer_warm else { return self.store.claim() };
        let warm = self.warm.list();
        let bound = i64::try_from(bound.as_secs()).unwrap_or(i64::MAX);
        let now = now();
        let preference = store::Preference { warm: &warm, passed_over_before: now.saturating_sub(bound), now };
        self.store.claim_preferring(Some(&preference))
    }

    /// Stops claiming jobs and hands the jobs this process runs back to the queue, for
    /// other nodes to take at once rather than when their leases run out (at shutdown).
    /// Builds still running are left to end with the process; their results are dropped.
    pub fn release(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Waits for the claims in progress: their jobs are handed back too.
        drop(self.claiming.write().unwrap_or_else(|poisoned| poisoned.into_inner()));
        match self.store.release() {
            Ok(0) => {}
            Ok(jobs) => tracing::info!(jobs, "handed the running jobs back to the queue"),
            Err(error) => {
                tracing::warn!(%error, "cannot hand the running jobs back: they run again when their leases end")
            }
        }
    }

    fn run(&self, claim: &Claim) {
        let job = &claim.job;
        tracing::info!(job = %job.id, "running");
        let dir = self.work_dir.join(&job.id);
        let mut cache_key = job.cache_key.clone();
        let mut taken_with = None;
        let ended = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let (builder, state) = self.builder_now()?;
            cache_key = self.cache_key(&job.request, &state);
            let ended = match self.reuse(&job.id, &cache_key) {
                Some(ended) => Ok(ended),
                None => self.build(job, &builder, &dir),
            };
            taken_with = Some(builder);
            ended
        }))
        .unwrap_or_else(|_| Err("the job stopped on an internal error (a panic)".to_owned()));
        let (status, ended) = match ended {
            Ok(ended) if ended.result["returncode"] == 0 => (Status::Finished, ended),
            Ok(ended) => (Status::Failed, ended),
            Err(problem) => {
                let result = json!({"returncode": -1, "output": problem, "sources": false});
                (Status::Failed, Ended { result, sources: None, firmware: Made::None, built: None })
            }
        };
        let firmware = match &ended.firmware {
            Made::None => Firmware::None,
            Made::Built(path) => Firmware::Built(path),
            Made::Reused { from, name } => Firmware::Reused { from, name },
        };
        let (result, sources) = (&ended.result, ended.sources.as_deref());
        let ending = Ending { status, result, sources, cache_key: &cache_key, firmware };
        for attempt in 1..=RECORD_ATTEMPTS {
            match self.store.finish(claim, &ending) {
                Ok(Recorded::Ended) => {
                    tracing::info!(job = %job.id, status = status.as_str(), returncode = %result["returncode"], "ended");
                    break;
                }
                Ok(Recorded::NotHeld) => {
                    tracing::warn!(job = %job.id, "another worker has taken this job over: this run's result is dropped");
                    break;
                }
                // A full disk may be freed: try again for a while.
                Err(error) if attempt < RECORD_ATTEMPTS => {
                    tracing::warn!(job = %job.id, %error, "cannot record the end of a job yet");
                    std::thread::sleep(STORE_RETRY);
                }
                // It stays `running` in the store and runs again: after a restart, or
                // on another node when its lease runs out.
                Err(error) => tracing::error!(job = %job.id, %error, "cannot record the end of a job"),
            }
        }
        if let Err(error) = remove_folder(&dir) {
            tracing::warn!(job = %job.id, %error, "cannot remove the job's build folder");
        }
        if let (Some(Builder::Firmware(firmware)), Some(keyboard)) = (&taken_with, &ended.built) {
            self.fill_cache(firmware, keyboard);
            if firmware.is_warm(keyboard) {
                self.warm.note(keyboard);
                if let Err(error) = self.store.note_warm(keyboard, now()) {
                    tracing::warn!(keyboard, %error, "cannot note a keyboard held warm for the other nodes");
                }
            }
        }
    }

    /// After a request's build of `keyboard`, the keyboard's reference build, unless the
    /// cache has it: what a request's build compiles serves that request alone, and
    /// what the reference build compiles serves every later keymap of the keyboard.
    fn fill_cache(&self, firmware: &FirmwareBuilder, keyboard: &str) {
        if self.stopping.load(Ordering::SeqCst) || !firmware.needs_reference(keyboard) {
            return;
        }
        let info = match self.keyboards.resolve(keyboard) {
            Ok(info) => info,
            Err(error) => return tracing::warn!(keyboard, %error, "no reference build"),
        };
        if !self.filling.lock().unwrap_or_else(|p| p.into_inner()).insert(keyboard.to_owned()) {
            return;
        }
        let started = Instant::now();
        let folder = self.work_dir.join(format!("reference-{}", uuid::Uuid::new_v4()));
        match firmware.fill_cache(info, &folder) {
            Ok(Some(build)) if build.returncode == 0 => {
                tracing::info!(keyboard, seconds = started.elapsed().as_secs(), "reference build: filled the cache")
            }
            Ok(Some(build)) => {
                let last = build.output.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or_default();
                tracing::warn!(keyboard, returncode = build.returncode, last, "reference build failed")
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(keyboard, %error, "cannot run the reference build"),
        }
        self.filling.lock().unwrap_or_else(|p| p.into_inner()).remove(keyboard);
    }

    fn note_job(&self) {
        *self.last_job.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// When the queue has been empty for `catalogue_after` and no other worker of this
    /// process builds the catalogue: builds the next keyboard of the catalogue and
    /// records how it went. The build is stopped, and its keyboard left for later, as
    /// soon as a job waits unclaimed (see [`CATALOGUE_CHECK`]): a request waits for no
    /// catalogue build.
    fn build_catalogue(&self) {
        let (Some(after), Builder::Firmware(firmware)) = (self.catalogue_after, &self.builder) else { return };
        let idle = self.last_job.lock().unwrap_or_else(|p| p.into_inner()).elapsed();
        if idle < after || self.stopping.load(Ordering::SeqCst) || self.cataloguing.swap(true, Ordering::SeqCst) {
            return;
        }
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.build_next(firmware)));
        if let Ok(Err(problem)) | Err(problem) = outcome.map_err(|_| "an internal error (a panic)".to_owned()) {
            tracing::warn!(%problem, "catalogue build");
            // A store or tree that fails now is not tried again at once.
            self.note_job();
        }
        self.cataloguing.store(false, Ordering::SeqCst);
    }

    fn build_next(&self, firmware: &FirmwareBuilder) -> Result<(), String> {
        let digest = firmware.tree_digest().map_err(|e| format!("cannot read the qmk_firmware tree: {e}"))?;
        let firmware = firmware.at(&digest);
        let names: Vec<String> = self.keyboards.iter().map(|keyboard| keyboard.name.clone()).collect();
        let now = now();
        let hold = i64::try_from(firmware.time_limit().as_secs()).unwrap_or(i64::MAX).saturating_add(60);
        let next = self.store.take_next_build(&names, &digest, now, now - CATALOGUE_RETEST_AFTER, now + hold);
        let Some(keyboard) = next.map_err(|e| e.to_string())? else {
            // Every keyboard is tested: look again after a while.
            self.note_job();
            return Ok(());
        };
        let info = self.keyboards.resolve(&keyboard).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let record = match catalogue::TestKeymap::choose(&firmware, info, None) {
            Ok(keymap) => {
                tracing::info!(%keyboard, keymap = keymap.name(), "catalogue build started");
                let folder = self.work_dir.join(format!("catalogue-{}", uuid::Uuid::new_v4()));
                let stop = self.a_job_waits();
                match catalogue::build(&firmware, info, &keymap, &folder, &digest, &stop, self::now) {
                    Ok(record) => record,
                    Err(error) => {
                        if let Err(error) = self.store.drop_hold(&keyboard) {
                            tracing::warn!(%keyboard, %error, "cannot let go of a catalogue build");
                        }
                        if error.kind() == std::io::ErrorKind::Interrupted {
                            tracing::info!(%keyboard, "catalogue build stopped: a job waits");
                            return Ok(());
                        }
                        return Err(format!("{keyboard}: {error}"));
                    }
                }
            }
            Err(reason) => catalogue::unbuildable(&keyboard, &reason, &digest, now),
        };
        tracing::info!(
            %keyboard,
            works = record.works,
            seconds = started.elapsed().as_secs(),
            "catalogue build recorded"
        );
        self.store.record_build(&record).map_err(|e| e.to_string())
    }

    /// What stops a catalogue build: the service stopping, or a job seen waiting at two
    /// looks in a row, [`CATALOGUE_CHECK`] apart (one that no other worker took).
    fn a_job_waits(&self) -> impl Fn() -> bool + '_ {
        let waited = std::cell::Cell::new(false);
        let last_look = std::cell::Cell::new(Instant::now());
        move || {
            if self.stopping.load(Ordering::SeqCst) {
                return true;
            }
            if last_look.get().elapsed() < CATALOGUE_CHECK {
                return false;
            }
            last_look.set(Instant::now());
            let waiting = self.store.queued().is_ok_and(|n| n > 0);
            waited.replace(waiting) && waiting
        }
    }

    /// Every keyboard's last catalogue build; `messages` false leaves their outputs out.
    pub fn builds(&self, messages: bool) -> Result<Vec<BuildRecord>, StoreError> {
        self.store.builds(messages)
    }

    /// A keyboard's last catalogue build.
    pub fn build_of(&self, keyboard: &str) -> Result<Option<BuildRecord>, StoreError> {
        self.store.build_of(keyboard)
    }

    /// The result, sources and firmware of an identical finished job, if its firmware
    /// can still be had.
    fn reuse(&self, id: &str, cache_key: &str) -> Option<Ended> {
        let earlier = self.store.finished_with(cache_key).ok()??;
        let sources = self.store.sources(&earlier.id).ok()?;
        let mut result = earlier.result?;
        let firmware = match result["firmware"].as_str() {
            Some(name) => {
                self.store.firmware(&earlier.id, name).ok()??;
                Made::Reused { from: earlier.id.clone(), name: name.to_owned() }
            }
            None => Made::None,
        };
        let output = format!("Identical to job {}: its files are reused.\n{}", earlier.id, result["output"].as_str()?);
        result["output"] = Value::String(output);
        tracing::info!(job = %id, from = %earlier.id, "reused");
        Some(Ended { result, sources, firmware, built: None })
    }

    fn build(&self, job: &Job, builder: &Builder, dir: &Path) -> Result<Ended, String> {
        let internal = |e: std::io::Error| format!("internal error in {}: {e}", dir.display());
        if let Builder::Firmware(_) = builder {
            fresh_dir(dir).map_err(internal)?;
        }
        let context = Context { keyboards: &self.keyboards, keycodes: &self.keycodes };
        let outcome = pipeline::run(&job.request, context, builder, dir).map_err(internal)?;
        let sources = outcome.sources.as_ref().map(|sources| json!(sources).to_string());
        let firmware = outcome.firmware.clone().map_or(Made::None, Made::Built);
        let built = match builder {
            Builder::Firmware(_) if outcome.sources.is_some() => outcome.keyboard.clone(),
            _ => None,
        };
        let result = json!({
            "returncode": outcome.returncode,
            "output": outcome.output,
            "keyboard": outcome.keyboard,
            "keymap": outcome.keymap,
            "layout": outcome.layout,
            "sources": sources.is_some(),
            "firmware": outcome.firmware.as_deref().and_then(Path::file_name).and_then(|n| n.to_str()),
        });
        Ok(Ended { result, sources, firmware, built })
    }

    /// One of a job's files, under the name QMK's API gives it.
    pub fn download(&self, job: &Job, artifact: Artifact) -> Result<Download, Unavailable> {
        let Some(result) = job.result.as_ref().filter(|_| job.status.has_ended()) else {
            return Err(Unavailable::NotEnded(job.id.clone(), job.status.as_str()));
        };
        let not_made = || {
            let because = match (&self.builder, artifact) {
                (Builder::KeymapOnly, Artifact::Firmware) => ": no firmware toolchain is configured".to_owned(),
                _ if job.status == Status::Failed => ": the job failed (see its output)".to_owned(),
                _ => String::new(),
            };
            Unavailable::NotMade { id: job.id.clone(), what: artifact.describe(), because }
        };
        let stem = download_stem(result);
        let (bytes, filename) = match artifact {
            Artifact::Firmware => {
                let name = result["firmware"].as_str().ok_or_else(not_made)?;
                let bytes = self.store.firmware(&job.id, name).map_err(Unavailable::Store)?;
                (
                    bytes.ok_or_else(|| Unavailable::Missing(job.id.clone()))?,
                    firmware_filename(result).ok_or_else(not_made)?,
                )
            }
            Artifact::KeymapC => {
                (self.sources(job)?.ok_or_else(not_made)?.keymap_c.into_bytes(), format!("{stem}_keymap.c"))
            }
            Artifact::Sources => {
                let sources = self.sources(job)?.ok_or_else(not_made)?;
                let bytes =
                    sources.zip().map_err(|error| Unavailable::Unreadable("the source archive".into(), error))?;
                (bytes, format!("{stem}_source.zip"))
            }
            Artifact::Picture => {
                let sources = self.sources(job)?.ok_or_else(not_made)?;
                (self.picture(job, &sources)?.into_bytes(), format!("{stem}.svg"))
            }
        };
        Ok(Download { bytes, filename })
    }

    /// The keymap a job stored, checked and drawn again: the data loaded at start
    /// decides, as it did for the job.
    fn picture(&self, job: &Job, sources: &Sources) -> Result<String, Unavailable> {
        let context = Context { keyboards: &self.keyboards, keycodes: &self.keycodes };
        let (svg, report) = crate::picture::draw(&Source::new("keymap.json", &sources.keymap_json), None, context);
        svg.ok_or_else(|| {
            let first = report.diagnostics.iter().find(|d| d.is_error()).map(ToString::to_string).unwrap_or_default();
            let because = format!(": its keymap no longer validates: {first}");
            Unavailable::NotMade { id: job.id.clone(), what: Artifact::Picture.describe(), because }
        })
    }

    fn sources(&self, job: &Job) -> Result<Option<Sources>, Unavailable> {
        let Some(text) = self.store.sources(&job.id).map_err(Unavailable::Store)? else { return Ok(None) };
        let damaged =
            |e: serde_json::Error| Unavailable::Store(StoreError::Damaged(format!("{}: sources: {e}", job.id)));
        serde_json::from_str(&text).map(Some).map_err(damaged)
    }

    /// Forgets jobs that ended more than `keep` ago, with their files.
    pub fn prune(&self, keep: Duration) -> Result<usize, StoreError> {
        let cutoff = now() - i64::try_from(keep.as_secs()).unwrap_or(i64::MAX);
        let pruned = self.store.prune(cutoff)?;
        if let Builder::Firmware(firmware) = &self.builder {
            let cutoff = UNIX_EPOCH + Duration::from_secs(cutoff.max(0).unsigned_abs());
            if let Err(error) = firmware.prune_cache(cutoff) {
                tracing::warn!(%error, "cannot prune the build cache");
            }
        }
        Ok(pruned)
    }
}

/// Starts `workers` threads that run jobs, and one that prunes jobs older than `keep`.
pub fn start_workers(service: &Arc<Service>, workers: usize, keep: Duration) -> std::io::Result<()> {
    for n in 0..workers {
        let service = service.clone();
        std::thread::Builder::new().name(format!("worker-{n}")).spawn(move || service.work())?;
    }
    let pruned = service.clone();
    std::thread::Builder::new().name("pruner".into()).spawn(move || {
        loop {
            match pruned.prune(keep) {
                Ok(0) => {}
                Ok(n) => tracing::info!(jobs = n, "pruned ended jobs and their files"),
                Err(error) => tracing::error!(%error, "cannot prune old jobs"),
            }
            std::thread::sleep(PRUNE_EVERY);
        }
    })?;
    Ok(())
}

/// How often a catalogue build looks for a waiting job; one seen at two looks in a
/// row stops it.
const CATALOGUE_CHECK: Duration = Duration::from_millis(250);

/// A keyboard's catalogue build is repeated after this long even when the tree has
/// not changed (a changed tree rebuilds every keyboard).
const CATALOGUE_RETEST_AFTER: i64 = 24 * 3600;

/// How often ended jobs are looked at for pruning.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// An empty folder for a job: what an interrupted run left there is removed.
fn fresh_dir(dir: &Path) -> std::io::Result<()> {
    remove_folder(dir)?;
    std::fs::create_dir_all(dir)
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `<keyboard with _ for />_<keymap>`: the start of every download's name.
fn download_stem(result: &Value) -> String {
    format!(
        "{}_{}",
        result["keyboard"].as_str().unwrap_or("keyboard").replace('/', "_"),
        result["keymap"].as_str().unwrap_or("keymap")
    )
}

/// The name a job's firmware downloads as (`clueboard_66_rev2_default.hex`), if it built one.
pub fn firmware_filename(result: &Value) -> Option<String> {
    let name = result["firmware"].as_str()?;
    let extension = Path::new(name).extension().and_then(|e| e.to_str()).unwrap_or("bin");
    Some(format!("{}.{extension}", download_stem(result)))
}
