//! The guide (`docs/`), rendered into the site at `guide/`: the same pages a reader of
//! the repository follows, linked to each other as `.html`. Links out of `docs/` (to the
//! repository's other files) are shown as their text, as the site holds no such file.

use include_dir::{Dir, include_dir};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd, html};

static DOCS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/docs");

/// The guide's folder in the site, beside the channels.
pub const FOLDER: &str = "guide";

/// A page of the guide: its name (the file's stem), title and HTML.
pub struct Page {
    pub name: String,
    pub title: String,
    pub html: String,
}

/// The pictures the pages show (`extended.svg`), by name, written beside them.
pub fn pictures() -> impl Iterator<Item = (&'static str, &'static [u8])> {
    DOCS.files().filter_map(|file| {
        let name = file.path().to_str().filter(|name| name.ends_with(".svg"))?;
        Some((name, file.contents()))
    })
}

/// Every page of `docs/`, in the order of their names.
pub fn pages() -> Vec<Page> {
    let mut pages: Vec<Page> = DOCS
        .files()
        .filter_map(|file| {
            let name = file.path().to_str()?.strip_suffix(".md")?.to_owned();
            let markdown = file.contents_utf8()?;
            let title = markdown.lines().find_map(|line| line.strip_prefix("# ")).unwrap_or(&name).to_owned();
            Some(Page { html: render(markdown), name, title })
        })
        .collect();
    pages.sort_by(|a, b| a.name.cmp(&b.name));
    pages
}

fn render(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_HEADING_ATTRIBUTES;
    let mut dropped = Vec::new();
    let events = Parser::new_ext(markdown, options).filter_map(|event| match event {
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            let target = page_link(&dest_url);
            dropped.push(target.is_none());
            target.map(|url| Event::Start(Tag::Link { link_type, dest_url: url.into(), title, id }))
        }
        Event::End(TagEnd::Link) => dropped.pop().is_some_and(|was| !was).then_some(Event::End(TagEnd::Link)),
        other => Some(other),
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

/// Where a link of a page leads in the site: the web, an anchor, another page of the
/// guide; `None` for a file outside `docs/`.
fn page_link(url: &str) -> Option<String> {
    if url.starts_with("https://") || url.starts_with("http://") || url.starts_with('#') {
        return Some(url.to_owned());
    }
    let (file, anchor) = url.split_once('#').map_or((url, None), |(file, anchor)| (file, Some(anchor)));
    let name = file.strip_suffix(".md").filter(|name| !name.contains('/') && DOCS.contains(format!("{name}.md")))?;
    Some(match anchor {
        Some(anchor) => format!("{name}.html#{anchor}"),
        None => format!("{name}.html"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_between_pages_become_html_and_links_out_of_the_guide_become_text() {
        let html = render("[a](commands.md#reading-a-tree) [b](../data/README.md) [c](https://qmk.fm) [d](#x)");
        assert!(html.contains(r#"<a href="commands.html#reading-a-tree">a</a>"#), "{html}");
        assert!(html.contains(" b ") && !html.contains("README"), "{html}");
        assert!(
            html.contains(r#"<a href="https://qmk.fm">c</a>"#) && html.contains(r##"<a href="#x">d</a>"##),
            "{html}"
        );
    }

    #[test]
    fn every_page_has_a_title_and_the_guide_comes_first_to_readers() {
        let pages = pages();
        assert!(pages.iter().any(|page| page.name == "guide"), "the site's links lead to docs/guide.md");
        assert!(pages.iter().all(|page| !page.title.is_empty() && page.html.contains("<h1>")));
    }
}
