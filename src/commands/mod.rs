//! The subcommands' bodies: each loads what it needs through the library and prints.

pub mod compile;
pub mod constants;
pub mod convert;
pub mod keymaps;
pub mod mass_compile;
pub mod serve;
pub mod writing;

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use qmk_api::build::BuildError;
use qmk_api::compile::{BuildSettings, Containment, ServiceError};
use qmk_api::diagnostic::Diagnostics;
use qmk_api::import::ImportError;
use qmk_api::keyboard::KeyboardError;
use qmk_api::keymap::KeycodesError;
use qmk_api::publish::{LockError, PublishError};
use qmk_api::schema::SchemaError;
use qmk_api::site::SiteError;
use qmk_api::spec::SpecError;

/// How a command's firmware builds run: in this machine's sandbox unless `no_sandbox`,
/// under `time_limit`; a service keeps what warm builds reuse in its `state` folder,
/// which no build sees.
pub fn build_settings(time_limit: Duration, no_sandbox: bool, state: Option<&Path>) -> Result<BuildSettings, Failure> {
    let launcher =
        std::env::current_exe().map_err(|e| Failure::usage(format!("cannot find this program's own path: {e}")))?;
    let state = state
        .map(std::path::absolute)
        .transpose()
        .map_err(|e| Failure::usage(format!("cannot find the state folder: {e}")))?;
    Ok(BuildSettings {
        time_limit,
        launcher,
        containment: Containment::of_machine(no_sandbox, time_limit),
        cache: state.as_ref().map(|state| state.join("cache")),
        private: state.into_iter().collect(),
    })
}

/// From now on, Ctrl-C or SIGTERM removes the unfinished output of this process's
/// builds, then ends it as the signal would have (exit 130 or 143): a stopped `build`
/// or `import` leaves nothing half-written beside its output.
pub fn clean_up_on_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_io().build() else { return };
    // Made here, so that the handlers are in place before any output is.
    let signals = {
        let _entered = runtime.enter();
        signal(SignalKind::interrupt()).and_then(|interrupt| Ok((interrupt, signal(SignalKind::terminate())?)))
    };
    let Ok((mut interrupt, mut terminate)) = signals else { return };
    std::thread::spawn(move || {
        let code = runtime.block_on(async {
            tokio::select! {
                _ = interrupt.recv() => 130,
                _ = terminate.recv() => 143,
            }
        });
        qmk_api::output::remove_unfinished();
        std::process::exit(code);
    });
}

/// What went wrong and the exit status it earns: 1 for bad data, 2 for usage or I/O.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn data(message: impl ToString) -> Self {
        Failure { code: 1, message: message.to_string() }
    }

    pub fn usage(message: impl ToString) -> Self {
        Failure { code: 2, message: message.to_string() }
    }

    /// The reader of stdout went away: stop, quietly and successfully, as `head` expects.
    pub fn quiet() -> Self {
        Failure { code: 0, message: String::new() }
    }
}

impl From<SpecError> for Failure {
    fn from(error: SpecError) -> Self {
        match error {
            SpecError::Io { .. } => Failure::usage(error),
            SpecError::Invalid(_) | SpecError::Empty(_) => Failure::data(error),
        }
    }
}

impl From<LockError> for Failure {
    fn from(error: LockError) -> Self {
        match error {
            LockError::Read { .. } | LockError::Write { .. } | LockError::ReadOnly => Failure::usage(error),
            _ => Failure::data(error),
        }
    }
}

impl From<PublishError> for Failure {
    fn from(error: PublishError) -> Self {
        match error {
            PublishError::Spec(e) => e.into(),
            PublishError::Lock(e) => e.into(),
            PublishError::Write { .. } | PublishError::Read { .. } | PublishError::Timestamp(_) => {
                Failure::usage(error)
            }
            PublishError::Unreadable { .. } => Failure::data(error),
        }
    }
}

impl From<BuildError> for Failure {
    fn from(error: BuildError) -> Self {
        match error {
            BuildError::Publish(e) => e.into(),
            BuildError::Site(SiteError::Template { .. }) => Failure::data(error),
            BuildError::Site(SiteError::Write { .. }) | BuildError::Write { .. } => Failure::usage(error),
        }
    }
}

impl From<ImportError> for Failure {
    fn from(error: ImportError) -> Self {
        match error {
            ImportError::Invalid(_)
            | ImportError::Empty(_)
            | ImportError::UnknownKeyboard(_)
            | ImportError::NeedsCSource { .. } => Failure::data(error),
            ImportError::Read { .. } | ImportError::Write { .. } => Failure::usage(error),
            ImportError::Keyboards(error) => error.into(),
        }
    }
}

impl From<KeyboardError> for Failure {
    fn from(error: KeyboardError) -> Self {
        match error {
            KeyboardError::Io { .. } | KeyboardError::Schema(SchemaError::Io { .. }) => Failure::usage(error),
            _ => Failure::data(error),
        }
    }
}

impl From<KeycodesError> for Failure {
    fn from(error: KeycodesError) -> Self {
        match error {
            KeycodesError::UnknownVersion { .. } => Failure::usage(error),
            KeycodesError::NoKeycodes => Failure::data(error),
        }
    }
}

impl From<ServiceError> for Failure {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Keycodes(e) => e.into(),
            ServiceError::Store(_) | ServiceError::State { .. } => Failure::usage(error),
        }
    }
}

/// Messages to stderr, filtered by `--quiet` and `--verbose`.
pub struct Reporter {
    pub quiet: bool,
    pub verbose: bool,
}

impl Reporter {
    pub fn info(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            writing::note(message);
        }
    }

    pub fn detail(&self, message: impl std::fmt::Display) {
        if self.verbose {
            writing::note(message);
        }
    }

    /// A progress bar on stderr when it is a terminal and output is wanted; else hidden.
    pub fn progress(&self) -> ProgressBar {
        if self.quiet || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let style = ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} pages")
            .expect("a valid progress template")
            .progress_chars("=> ");
        ProgressBar::new(0).with_style(style)
    }

    pub fn warnings(&self, warnings: &Diagnostics) {
        if !warnings.is_empty() {
            self.info(warnings);
        }
    }
}
