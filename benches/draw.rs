//! `cargo bench --bench draw`: keymap pictures on one core, as `qmk-api draw` and
//! `GET /v1/compile/<id>/svg` make them: the whole way from the keymap's text
//! (check, legends, SVG) and the drawing alone, for the seed's payload (its
//! stand-in without ../shared), a keymap whose every key is an expression, and,
//! when ../shared is there, every JSON keymap of QMK's tree that has layers. Goal: under
//! 10 ms per keymap.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use qmk_api::keyboard;
use qmk_api::keymap::{self, Context, Keycodes, Source};
use qmk_api::picture::{self, Picture};
use qmk_api::source::DataTree;
use qmk_api::spec;

/// Pictures timed per keymap of the bundled cases.
const ROUNDS: usize = 2_000;

fn main() {
    let tree = DataTree::Bundled;
    let keyboards = keyboard::load(&tree).unwrap();
    let keycodes = Keycodes::new(&spec::load(&tree).unwrap().constants, None).unwrap();
    let context = Context { keyboards: &keyboards, keycodes: &keycodes };
    let seed = common::shared().map(|shared| ("the seed's payload", common::current_seed_payload(&shared)));
    let seed = seed.unwrap_or(("the seed's stand-in (no ../shared)", common::stand_in_seed_payload()));
    let expressions = common::expressions_keymap();
    println!("Keymap pictures, one core (goal: under 10 ms per keymap):");
    for (what, text) in [(seed.0, seed.1.to_string()), ("every key an expression, 1 in 10 lossy", expressions)] {
        let times = measure(&[(None, text)], ROUNDS, context);
        println!("  {what}, 3 layers of 73 keys:");
        times.print();
    }
    let qmk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/qmk");
    if !qmk.join("keyboards").is_dir() {
        println!("  QMK's real keymaps: skipped, {} is absent", qmk.display());
        return;
    }
    let (keyboards, keycodes) = common::load_tree(&qmk);
    let context = Context { keyboards: &keyboards, keycodes: &keycodes };
    // A keymap in a keyboard's folder may leave its keyboard out; one without layers
    // (only `modules` or `config`) has nothing to draw.
    let real: Vec<(Option<String>, String)> = common::keymap_files(&qmk)
        .into_iter()
        .filter(|(_, text)| {
            serde_json::from_str::<serde_json::Value>(text).is_ok_and(|keymap| keymap.get("layers").is_some())
        })
        .map(|(path, text)| (keymap::keyboard_from_path(&Path::new("keyboards").join(path)), text))
        .collect();
    println!("  QMK's {} real keymaps, each drawn 10 times:", real.len());
    measure(&real, 10, context).print();
}

/// The mean and slowest time per keymap, from the text and from the legends on.
struct Times {
    whole: (Duration, Duration),
    drawing: (Duration, Duration),
    /// The mean size of a picture.
    bytes: usize,
}

impl Times {
    fn print(&self) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "    from the text: {:.3} ms mean, {:.3} ms slowest; the drawing alone: {:.3} ms mean, {:.3} ms slowest; {} KB on average",
            ms(self.whole.0),
            ms(self.whole.1),
            ms(self.drawing.0),
            ms(self.drawing.1),
            self.bytes / 1024
        );
    }
}

/// Draws each keymap (with the keyboard its folder implies) `rounds` times, timing
/// each keymap's rounds apart; every one must be drawn.
fn measure(keymaps: &[(Option<String>, String)], rounds: usize, context: Context) -> Times {
    let (mut whole, mut drawing, mut bytes) = ((Duration::ZERO, Duration::ZERO), (Duration::ZERO, Duration::ZERO), 0);
    for (implied, text) in keymaps {
        let source = Source::new("keymap.json", text);
        let start = Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(picture::draw(&source, implied.as_deref(), context));
        }
        let each = start.elapsed() / rounds as u32;
        whole = (whole.0 + each, whole.1.max(each));
        let (keymap, report) = keymap::check(&source, implied.as_deref(), context);
        let keymap = keymap.unwrap();
        let legends = keymap::legends(&keymap, &report, context).unwrap_or_else(|| panic!("{:?}", report.diagnostics));
        let start = Instant::now();
        for _ in 0..rounds {
            bytes += std::hint::black_box(Picture::new(&keymap, &legends, context).svg()).len() / rounds;
        }
        let each = start.elapsed() / rounds as u32;
        drawing = (drawing.0 + each, drawing.1.max(each));
    }
    let count = keymaps.len() as u32;
    Times { whole: (whole.0 / count, whole.1), drawing: (drawing.0 / count, drawing.1), bytes: bytes / keymaps.len() }
}
