//! `serve`: the compile API and a built site, from one process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{Failure, Reporter, constants};
use qmk_api::compile::{Builder, Service, ServiceError, Settings};
use qmk_api::publish::Channel;
use qmk_api::server;
use qmk_api::source::DataTree;

/// What `qmk-api serve` was asked for.
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub state: PathBuf,
    pub workers: usize,
    pub channel: Channel,
    pub site: Option<PathBuf>,
    pub keep: Duration,
    pub queue_limit: u64,
    pub body_limit: usize,
    pub build_time_limit: Duration,
    pub public_url: Option<String>,
}

impl From<ServiceError> for Failure {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Constants(e) => e.into(),
            ServiceError::Keycodes(e) => e.into(),
            ServiceError::Keyboards(e) => e.into(),
            ServiceError::Store(_) | ServiceError::State { .. } => Failure::usage(error),
        }
    }
}

pub fn serve(tree: &DataTree, options: ServeOptions, reporter: &Reporter) -> Result<(), Failure> {
    let site = site(tree, &options, reporter)?;
    let builder = Builder::for_tree(tree, options.build_time_limit);
    let settings = Settings { state: options.state.clone(), queue_limit: options.queue_limit, builder };
    let (service, requeued) = Service::open(tree, settings)?;
    if requeued > 0 {
        tracing::info!(jobs = requeued, "queued again the jobs that were running when the last process stopped");
    }
    tracing::info!(builder = service.builder().name(), state = %options.state.display(), "compile service ready");
    let settings = server::Settings {
        listen: options.listen,
        site,
        workers: options.workers,
        keep: options.keep,
        body_limit: options.body_limit,
        public_url: options.public_url,
    };
    server::run(settings, Arc::new(service), |address| {
        // On stdout, for scripts and tests that listen on port 0.
        println!("listening on http://{address}");
    })
    .map_err(|e| Failure::usage(format!("cannot serve on {}: {e}", options.listen)))
}

/// The channel's folder of `--site`, or of a site built now into the state folder.
fn site(tree: &DataTree, options: &ServeOptions, reporter: &Reporter) -> Result<PathBuf, Failure> {
    let root = match &options.site {
        Some(root) => root.clone(),
        None => {
            let root = options.state.join("site");
            constants::build(tree, &root, false, reporter)?;
            root
        }
    };
    let channel = root.join(options.channel.name());
    if !Path::new(&channel).join("v1").is_dir() {
        return Err(Failure::usage(format!(
            "{} is not a built site: it has no {}/v1",
            root.display(),
            options.channel.name()
        )));
    }
    Ok(channel)
}
