//! The static site: pages for people from the same merged data as the JSON API.
//!
//! Rendering is a pipeline: for each page, gather its context from the data, render
//! its template (from `templates/`), write it beside the JSON. Every link is
//! relative, so the site works from `file://`, from a sub-path and on any host.
//! Each channel directory is a whole site; `index.html` at the root joins them.

mod changelog;
mod guide;
mod keymaps;
mod readme;
mod search;
mod svg;

use std::collections::HashMap;
use std::path::Path;

use include_dir::{Dir, include_dir};
use indicatif::ProgressBar;
use minijinja::value::Serde;
use minijinja::{Environment, Value as Context, context};
use rayon::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;

use crate::keyboard::{Keyboard, Keyboards};
use crate::keymap::{self, Keycodes};
use crate::output::Staging;
use crate::publish::{Channel, Publication, Published, format_timestamp};
use crate::source::DataTree;

pub use changelog::{Changes, compare};

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");
static ASSETS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/site");

#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("template {name}: {source}")]
    Template { name: String, source: minijinja::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// What every page knows: where the site's root is from it, and when it was built.
#[derive(Serialize)]
struct Common<'a> {
    /// The relative path from the page to its channel's root (`""`, `"../"`).
    root: String,
    channel: Option<&'a str>,
    last_updated: &'a str,
}

struct Renderer<'a> {
    env: Environment<'static>,
    staging: &'a Staging,
    last_updated: String,
    progress: &'a ProgressBar,
}

impl Renderer<'_> {
    /// Renders `template` into `path` (relative to the output root) and writes it.
    fn page(&self, template: &str, path: &Path, channel: Option<Channel>, page: Context) -> Result<(), SiteError> {
        self.pages(template, &[path], channel.is_some(), page)
    }

    /// Renders `template` once and writes it at each of `paths`, which lie at the same
    /// depth (the same page in each channel).
    fn pages(&self, template: &str, paths: &[&Path], in_channel: bool, page: Context) -> Result<(), SiteError> {
        let depth = paths[0].components().count() - 1 - usize::from(in_channel);
        let channel = in_channel.then(|| paths[0].components().next()).flatten();
        let channel = channel.map(|c| c.as_os_str().to_string_lossy().into_owned());
        let common =
            Common { root: "../".repeat(depth), channel: channel.as_deref(), last_updated: &self.last_updated };
        let template_error = |source| SiteError::Template { name: template.to_owned(), source };
        let html = self
            .env
            .get_template(template)
            .and_then(|t| t.render(context! { site => data(common), ..page }))
            .map_err(template_error)?;
        for path in paths {
            self.staging.write(path, html.as_bytes()).map_err(|source| write_error(path, source))?;
            self.progress.inc(1);
        }
        Ok(())
    }
}

/// Any serializable data, for a template.
fn data<T: Serialize>(value: T) -> Context {
    Context::from(Serde(value))
}

fn write_error(path: &Path, source: std::io::Error) -> SiteError {
    SiteError::Write { path: path.display().to_string(), source }
}

fn environment() -> Result<Environment<'static>, SiteError> {
    let mut env = Environment::new();
    for file in TEMPLATES.files() {
        let name = file.path().to_string_lossy().into_owned();
        let source = file.contents_utf8().unwrap_or_default();
        env.add_template_owned(name.clone(), source.to_owned())
            .map_err(|source| SiteError::Template { name, source })?;
    }
    Ok(env)
}

/// Writes every page and asset, advancing `progress` a page at a time; returns how many pages.
pub fn render(
    staging: &Staging,
    publication: &Publication,
    keyboards: &Keyboards,
    tree: &DataTree,
    keycodes: Option<&Keycodes>,
    last_updated: OffsetDateTime,
    progress: &ProgressBar,
) -> Result<usize, SiteError> {
    let per_channel = |c| 3 + 2 * publication.in_channel(c).count() + keyboards.len();
    let guide = guide::pages();
    progress.set_length((1 + guide.len() + Channel::ALL.into_iter().map(per_channel).sum::<usize>()) as u64);
    let renderer = Renderer { env: environment()?, staging, last_updated: format_timestamp(last_updated), progress };
    let mut pages = 0;
    write_assets(staging, Path::new(""))?;
    let channels: Vec<ChannelSummary> = Channel::ALL.iter().map(|&c| ChannelSummary::of(c, publication)).collect();
    renderer.page("root.html", Path::new("index.html"), None, context! { channels => data(&channels) })?;
    pages += 1 + render_guide(&renderer, &guide)?;
    for (channel, summary) in Channel::ALL.into_iter().zip(&channels) {
        pages += render_channel(&renderer, channel, summary, publication, keyboards, keycodes)?;
    }
    let checked = keycodes.map(|keycodes| keymap::Context { keyboards, keycodes });
    Ok(pages + render_keyboards(&renderer, keyboards, tree, checked)?)
}

/// The guide's pages, beside the channels.
fn render_guide(renderer: &Renderer, pages: &[guide::Page]) -> Result<usize, SiteError> {
    let index: Vec<Context> =
        pages.iter().map(|p| context! { name => p.name.as_str(), title => p.title.as_str() }).collect();
    for page in pages {
        let path = Path::new(guide::FOLDER).join(format!("{}.html", page.name));
        let html = Context::from_safe_string(page.html.clone());
        let context =
            context! { name => page.name.as_str(), title => page.title.as_str(), html => html, pages => &index };
        renderer.page("guide.html", &path, None, context)?;
    }
    for (name, bytes) in guide::pictures() {
        let path = Path::new(guide::FOLDER).join(name);
        renderer.staging.write(&path, bytes).map_err(|source| write_error(&path, source))?;
    }
    Ok(pages.len())
}

/// Keyboard pages, the same in every channel: each is rendered once and written to all;
/// their JSON keymaps are drawn when `checked` says what against.
fn render_keyboards(
    renderer: &Renderer,
    keyboards: &Keyboards,
    tree: &DataTree,
    checked: Option<keymap::Context>,
) -> Result<usize, SiteError> {
    let mut aliases_of: HashMap<&str, Vec<&str>> = HashMap::new();
    for (alias, target) in keyboards.aliases() {
        aliases_of.entry(target.as_str()).or_default().push(alias.as_str());
    }
    let all: Vec<&Keyboard> = keyboards.iter().collect();
    let legends = checked.map(|context| keymap::LabelLegends::new(context.keycodes));
    all.par_iter().try_for_each(|keyboard| {
        let page = keyboard_page(&keyboard.name);
        let paths: Vec<_> = Channel::ALL.iter().map(|c| Path::new(c.name()).join(&page)).collect();
        let paths: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
        let aliases = aliases_of.get(keyboard.name.as_str()).map_or(&[][..], Vec::as_slice);
        let keymaps = keymaps::pictures(keyboard, tree, checked);
        let context = keyboard_context(keyboard, aliases, tree, keymaps, legends.as_ref());
        renderer.pages("keyboard.html", &paths, true, context)
    })?;
    Ok(all.len() * Channel::ALL.len())
}

fn write_assets(staging: &Staging, under: &Path) -> Result<(), SiteError> {
    for file in ASSETS.files() {
        let path = under.join("assets").join(file.path());
        staging.write(&path, file.contents()).map_err(|source| write_error(&path, source))?;
    }
    Ok(())
}

/// A channel's versions, for the pages that list them.
#[derive(Serialize)]
struct ChannelSummary {
    name: &'static str,
    purpose: &'static str,
    subsystems: Vec<SubsystemSummary>,
}

#[derive(Serialize)]
struct SubsystemSummary {
    name: String,
    versions: Vec<VersionLink>,
}

#[derive(Serialize, Clone)]
struct VersionLink {
    version: String,
    develop_only: bool,
    href: String,
}

impl ChannelSummary {
    fn of(channel: Channel, publication: &Publication) -> ChannelSummary {
        let mut subsystems: Vec<SubsystemSummary> = Vec::new();
        for item in publication.in_channel(channel) {
            let link = VersionLink {
                version: item.version.to_string(),
                develop_only: !publication.is_locked_in(item),
                href: version_page(item),
            };
            match subsystems.last_mut() {
                Some(last) if last.name == item.subsystem => last.versions.push(link),
                _ => subsystems.push(SubsystemSummary { name: item.subsystem.clone(), versions: vec![link] }),
            }
        }
        let purpose = match channel {
            Channel::Master => "the locked-in versions: they never change",
            Channel::Develop => "every version, including those not locked in yet, which may still change",
        };
        ChannelSummary { name: channel.name(), purpose, subsystems }
    }
}

fn version_page(item: &Published) -> String {
    format!("constants/{}_{}.html", item.subsystem, item.version)
}

fn changelog_page(item: &Published) -> String {
    format!("changelog/{}_{}.html", item.subsystem, item.version)
}

/// A keyboard's page: its name with `/` written as `.`, which names never contain,
/// so that the pages need no folder per keyboard.
fn keyboard_page(name: &str) -> String {
    format!("keyboards/{}.html", name.replace('/', "."))
}

fn render_channel(
    renderer: &Renderer,
    channel: Channel,
    summary: &ChannelSummary,
    publication: &Publication,
    keyboards: &Keyboards,
    keycodes: Option<&Keycodes>,
) -> Result<usize, SiteError> {
    let root = Path::new(channel.name());
    write_assets(renderer.staging, root)?;
    let page = |template: &str, path: &str, context: Context| {
        renderer.page(template, &root.join(path), Some(channel), context)
    };
    page("channel.html", "index.html", context! { summary => data(summary), keyboards => keyboards.len() })?;
    let mut pages = 1;

    let items: Vec<&Published> = publication.in_channel(channel).collect();
    for (index, item) in items.iter().enumerate() {
        let previous = index.checked_sub(1).map(|i| items[i]).filter(|p| p.subsystem == item.subsystem);
        let develop_only = !publication.is_locked_in(item);
        let version = context! {
            subsystem => item.subsystem.as_str(),
            version => item.version.to_string(),
            develop_only => develop_only,
            changelog => changelog_page(item),
            json => item.path().display().to_string(),
        };
        let keycodes = changelog::keycodes(item.content);
        let ranges = changelog::ranges(item.content);
        let groups = group(&keycodes);
        let aliases = language_aliases(item);
        page(
            "version.html",
            &version_page(item),
            context! {
                page => version.clone(),
                ranges => data(&ranges),
                ranges_svg => Context::from_safe_string(svg::ranges(&ranges)),
                groups => data(&groups),
                count => keycodes.len(),
                aliases => data(&aliases),
            },
        )?;
        let changes = previous.map(|p| changelog::compare(p.content, item.content));
        page(
            "changelog.html",
            &changelog_page(item),
            context! {
                page => version,
                previous => previous.map(|p| context! { version => p.version.to_string(), href => version_page(p) }),
                changes => data(&changes),
            },
        )?;
        pages += 2;
    }

    let list: Vec<KeyboardSummary> = keyboards.iter().map(KeyboardSummary::of).collect();
    page("keyboards.html", "keyboards/index.html", context! { keyboards => data(&list) })?;
    pages += 1;

    let index = search::index(&items, keycodes);
    let write = |path: &str, bytes: &[u8]| {
        let path = root.join(path);
        renderer.staging.write(&path, bytes).map_err(|source| write_error(&path, source))
    };
    write("search-index.json", &index.json)?;
    write("assets/search-index.js", &index.script)?;
    page("search.html", "search.html", context! {})?;
    Ok(pages + 1)
}

/// Keycodes grouped by their `group`, groups in order of first appearance.
#[derive(Serialize)]
struct Group<'a> {
    name: &'a str,
    keycodes: Vec<&'a changelog::Keycode>,
}

fn group(keycodes: &[changelog::Keycode]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group> = Vec::new();
    for keycode in keycodes {
        let name = if keycode.group.is_empty() { "other" } else { keycode.group.as_str() };
        match groups.iter_mut().find(|g| g.name == name) {
            Some(group) => group.keycodes.push(keycode),
            None => groups.push(Group { name, keycodes: vec![keycode] }),
        }
    }
    groups
}

/// A language's names: the expression each stands for, its label and aliases.
#[derive(Serialize)]
struct LanguageAlias {
    expression: String,
    key: String,
    label: String,
    aliases: Vec<String>,
}

fn language_aliases(item: &Published) -> Vec<LanguageAlias> {
    use crate::spec::Value;
    let aliases = item.content.get("aliases").and_then(Value::as_object);
    aliases
        .into_iter()
        .flat_map(|a| a.iter())
        .map(|(expression, entry)| LanguageAlias {
            expression: expression.to_owned(),
            key: entry.get("key").and_then(Value::as_str).unwrap_or_default().to_owned(),
            label: entry.get("label").and_then(Value::as_str).unwrap_or_default().to_owned(),
            aliases: entry
                .get("aliases")
                .and_then(Value::as_array)
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        })
        .collect()
}

#[derive(Serialize)]
struct KeyboardSummary {
    name: String,
    keyboard_name: String,
    manufacturer: String,
    href: String,
}

impl KeyboardSummary {
    fn of(keyboard: &Keyboard) -> KeyboardSummary {
        let manufacturer = keyboard.info.get("manufacturer").and_then(crate::spec::Value::as_str).unwrap_or_default();
        KeyboardSummary {
            name: keyboard.name.clone(),
            keyboard_name: keyboard.keyboard_name().to_owned(),
            manufacturer: manufacturer.to_owned(),
            href: keyboard_page(&keyboard.name).trim_start_matches("keyboards/").to_owned(),
        }
    }
}

fn keyboard_context(
    keyboard: &Keyboard,
    aliases: &[&str],
    tree: &DataTree,
    keymaps: Vec<Context>,
    legends: Option<&keymap::LabelLegends>,
) -> Context {
    let text = |field: &str| keyboard.info.get(field).and_then(crate::spec::Value::as_str).map(str::to_owned);
    let layouts: Vec<Context> = keyboard
        .layouts
        .iter()
        .map(|(name, layout)| {
            let aliases: Vec<&String> =
                keyboard.layout_aliases.iter().filter(|(_, t)| *t == name).map(|(a, _)| a).collect();
            context! {
                name => name,
                keys => layout.keys.len(),
                aliases => data(&aliases),
                svg => Context::from_safe_string(crate::picture::layout(name, layout, legends)),
            }
        })
        .collect();
    let readme = keyboard.readme.as_ref().and_then(|path| {
        let bytes = tree.read(path).ok()?;
        let folder = path.parent().map(|p| p.to_string_lossy().replace('\\', "/")).unwrap_or_default();
        Some(Context::from_safe_string(readme::render(&String::from_utf8_lossy(&bytes), &folder)))
    });
    let usb = keyboard.info.get("usb");
    let usb_text = |field| usb.and_then(|u| u.get(field)).and_then(crate::spec::Value::as_str).map(str::to_owned);
    let features: Vec<&str> = keyboard
        .info
        .get("features")
        .and_then(crate::spec::Value::as_object)
        .map(|f| f.iter().filter(|(_, on)| **on == crate::spec::Value::Bool(true)).map(|(name, _)| name).collect())
        .unwrap_or_default();
    context! {
        name => keyboard.name.as_str(),
        keyboard_name => keyboard.keyboard_name(),
        manufacturer => text("manufacturer"),
        maintainer => text("maintainer"),
        url => text("url").map(|url| website(&url)),
        processor => text("processor"),
        bootloader => text("bootloader"),
        platform => text("platform_key"),
        usb => usb_text("vid").zip(usb_text("pid")).map(|(vid, pid)| context! { vid => vid, pid => pid, version => usb_text("device_version") }),
        features => data(&features),
        matrix => keyboard.matrix_size().map(|m| context! { rows => m.rows, cols => m.cols }),
        aliases => data(aliases),
        layouts => layouts,
        keymaps => keymaps,
        readme => readme,
        json => format!("../v1/keyboards/{}/info.json", keyboard.name),
        build_log => format!("../v1/keyboards/{}/build_log", keyboard.name),
    }
}

/// A keyboard's website as a link: QMK's data often leaves out the scheme, which
/// would make it a relative link to nowhere.
fn website(url: &str) -> String {
    if url.starts_with("https://") || url.starts_with("http://") { url.to_owned() } else { format!("https://{url}") }
}
