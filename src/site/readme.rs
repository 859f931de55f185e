//! A keyboard's readme as HTML for its page. Readmes are written by keyboard
//! makers: raw HTML in them is shown as text, links go only to the web or mail,
//! relative links point at the file in QMK's repository (where they were written
//! to work), and images become links, so that pages load nothing from elsewhere.
//! Its headings go two levels down, below the page's own.

use pulldown_cmark::{CowStr, Event, HeadingLevel, LinkType, Options, Parser, Tag, TagEnd, html};

/// Where a relative link of a readme in the tree leads.
const REPOSITORY: &str = "https://github.com/qmk/qmk_firmware/blob/master";

/// Renders `markdown`, written at `folder` of the tree (`keyboards/clueboard/66`).
pub fn render(markdown: &str, folder: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    // Images become links; inside a link (a linked picture) only their text is kept.
    let (mut in_image, mut link_depth, mut image_link) = (false, 0usize, Vec::new());
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            link_depth += 1;
            link(link_type, dest_url, title, id, folder)
        }
        Event::End(TagEnd::Link) => {
            link_depth = link_depth.saturating_sub(1);
            Event::End(TagEnd::Link)
        }
        Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            in_image = true;
            image_link.push(link_depth == 0);
            match link_depth {
                0 => link(link_type, dest_url, title, id, folder),
                _ => Event::Text("".into()),
            }
        }
        Event::End(TagEnd::Image) => {
            in_image = false;
            match image_link.pop() {
                Some(true) => Event::End(TagEnd::Link),
                _ => Event::Text("".into()),
            }
        }
        Event::Text(text) if in_image && text.is_empty() => Event::Text("image".into()),
        Event::Start(Tag::Heading { level, id, classes, attrs }) => {
            Event::Start(Tag::Heading { level: lower(level), id, classes, attrs })
        }
        Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(lower(level))),
        other => other,
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

/// A heading two levels further down (a readme's `#` sits below the page's `h2`).
fn lower(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H3,
        HeadingLevel::H2 => HeadingLevel::H4,
        HeadingLevel::H3 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    }
}

fn link<'a>(link_type: LinkType, url: CowStr<'a>, title: CowStr<'a>, id: CowStr<'a>, folder: &str) -> Event<'a> {
    Event::Start(Tag::Link { link_type, dest_url: resolve(&url, folder).into(), title, id })
}

/// A link target made safe and absolute: web and mail links as written, an
/// anchor as written, anything relative resolved in QMK's repository; other
/// schemes (`javascript:`...) lead nowhere.
fn resolve(url: &str, folder: &str) -> String {
    let lower = url.trim().to_ascii_lowercase();
    if ["https://", "http://", "mailto:"].iter().any(|s| lower.starts_with(s)) || url.starts_with('#') {
        return url.trim().to_owned();
    }
    if lower.contains(':') && lower.find(':') < lower.find('/').or(Some(lower.len())) {
        return "#".to_owned();
    }
    let (base, url) = match url.strip_prefix('/') {
        Some(rooted) => ("", rooted),
        None => (folder, url),
    };
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in url.split('/') {
        match part {
            "" | "." => {}
            ".." => drop(parts.pop()),
            part => parts.push(part),
        }
    }
    format!("{REPOSITORY}/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_and_nothing_is_loaded_or_run() {
        let html = render(
            "# Board\n\n![Photo](https://i.imgur.com/x.jpg)\n\n[docs](../../docs/build.md) [site](https://qmk.fm) \
             [top](#board) [bad](javascript:alert(1)) [rooted](/docs/x.md)\n\n<script>alert(1)</script>\n",
            "keyboards/clueboard/66",
        );
        let linked = render("[![Front](https://x/a.jpg)](https://x/a.png)", "keyboards/x");
        assert_eq!(linked.matches("<a ").count(), 1, "no link inside a link: {linked}");
        assert!(linked.contains(r#"<a href="https://x/a.png">Front</a>"#), "{linked}");
        assert!(html.contains("<h3>Board</h3>"), "{html}");
        assert!(html.contains(r#"<a href="https://i.imgur.com/x.jpg">Photo</a>"#) && !html.contains("<img"), "{html}");
        assert!(
            html.contains(r#"href="https://github.com/qmk/qmk_firmware/blob/master/keyboards/docs/build.md""#),
            "{html}"
        );
        assert!(html.contains(r#"href="https://qmk.fm""#) && html.contains(r##"href="#board""##), "{html}");
        assert!(html.contains(r##"<a href="#">bad</a>"##), "{html}");
        assert!(html.contains(r#"href="https://github.com/qmk/qmk_firmware/blob/master/docs/x.md""#), "{html}");
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"), "{html}");
    }
}
