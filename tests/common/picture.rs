//! Reading keymap pictures back with an XML parser: what each key of each layer
//! shows, and the checks every picture of the seed payload must pass.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

/// What one key shows.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawnKey {
    pub class: String,
    pub title: String,
    /// The main legend, its lines joined as the text reads.
    pub tap: String,
    pub hold: Option<String>,
    pub mark: Option<String>,
    /// A tap dance's small lines, one per action besides its tap.
    pub actions: Vec<String>,
}

/// A combo drawn on a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawnCombo {
    pub title: String,
    /// What its box shows.
    pub output: String,
    /// The keys its lines end in, by position on the layer.
    pub joined: Vec<usize>,
}

/// The keys of each layer, in layout order, from a keymap picture; panics when it is not SVG.
pub fn drawn_layers(svg: &str) -> Vec<Vec<DrawnKey>> {
    let document = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}"));
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
    let mut layers = Vec::new();
    for (index, layer) in
        root.children().filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("layer-"))).enumerate()
    {
        assert_eq!(layer.attribute("class"), Some(format!("layer-{index}").as_str()), "layers in order");
        let keys = layer.children().find(|n| n.attribute("transform").is_some()).expect("the layer's keys");
        layers.push(keys.children().filter(|n| n.is_element()).map(drawn_key).collect());
    }
    layers
}

/// The combos drawn on each layer of a keymap picture, in layer order.
pub fn drawn_combos(svg: &str) -> Vec<Vec<DrawnCombo>> {
    let document = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}"));
    let number = |node: roxmltree::Node, name| node.attribute(name).unwrap().parse::<f64>().unwrap();
    let layers =
        document.root_element().children().filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("layer-")));
    layers
        .map(|layer| {
            let keys = layer.children().find(|n| n.attribute("transform").is_some()).expect("the layer's keys");
            let shapes: Vec<roxmltree::Node> =
                keys.descendants().filter(|n| n.has_tag_name("rect") && n.attribute("class") == Some("key")).collect();
            let key_at = |x: f64, y: f64| {
                shapes.iter().position(|shape| {
                    (number(*shape, "x")..=number(*shape, "x") + number(*shape, "width")).contains(&x)
                        && (number(*shape, "y")..=number(*shape, "y") + number(*shape, "height")).contains(&y)
                })
            };
            let Some(combos) = layer.children().find(|n| n.attribute("class") == Some("combos")) else {
                return Vec::new();
            };
            assert_eq!(combos.attribute("transform"), keys.attribute("transform"), "drawn over the keys");
            let groups = combos.children().filter(|n| n.attribute("class") == Some("combo"));
            groups
                .map(|combo| {
                    let text_of = |tag: &str| {
                        let node = combo.children().find(|n| n.has_tag_name(tag)).unwrap_or_else(|| panic!("a {tag}"));
                        node.text().unwrap_or_default().to_owned()
                    };
                    let ends = combo.children().filter(|n| n.has_tag_name("circle"));
                    let joined = ends.map(|end| key_at(number(end, "cx"), number(end, "cy")).expect("inside a key"));
                    DrawnCombo { title: text_of("title"), output: text_of("text"), joined: joined.collect() }
                })
                .collect()
        })
        .collect()
}

fn drawn_key(group: roxmltree::Node) -> DrawnKey {
    let text_of = |class: Option<&str>| {
        group.children().find(|n| n.has_tag_name("text") && n.attribute("class") == class).map(|text| {
            let lines: Vec<&str> = text.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect();
            lines.iter().enumerate().fold(String::new(), |joined, (i, line)| {
                let glued = i == 0 || joined.ends_with(['+', '/', '_']);
                if glued { joined + line } else { joined + " " + line }
            })
        })
    };
    let title = group.children().find(|n| n.has_tag_name("title")).and_then(|t| t.text()).unwrap_or_default();
    assert_eq!(group.children().filter(|n| n.has_tag_name("rect") && n.attribute("class") == Some("key")).count(), 1);
    DrawnKey {
        class: group.attribute("class").unwrap_or_default().to_owned(),
        title: title.to_owned(),
        tap: text_of(None).unwrap_or_default(),
        hold: text_of(Some("hold")),
        mark: text_of(Some("mark")),
        actions: group
            .children()
            .filter(|n| n.has_tag_name("text") && n.attribute("class") == Some("action"))
            .filter_map(|n| n.text().map(str::to_owned))
            .collect(),
    }
}

/// The labels of the bundled spec's keycodes by name (keys and aliases), read as plain JSON.
pub fn spec_labels() -> HashMap<String, String> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/constants/keycodes");
    let mut labels = HashMap::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "hjson") {
            continue;
        }
        let spec: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for entry in spec["keycodes"].as_object().into_iter().flat_map(|k| k.values()) {
            let Some(label) = entry["label"].as_str() else { continue };
            let aliases = entry["aliases"].as_array().into_iter().flatten();
            for name in std::iter::once(&entry["key"]).chain(aliases).filter_map(Value::as_str) {
                labels.insert(name.to_owned(), label.to_owned());
            }
        }
    }
    labels
}

/// The checks for a picture of the current seed's payload (or its stand-in): three
/// layers of 73 keys in the payload's order, each labelled as the spec labels its
/// keycode, layer keys as `L1`, transparent keys set apart, QK_BOOT on layer 2 only.
pub fn check_seed_picture(svg: &str, payload: &Value) {
    let layers = drawn_layers(svg);
    let written: Vec<Vec<&str>> = payload["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect())
        .collect();
    assert_eq!(layers.iter().map(Vec::len).collect::<Vec<_>>(), [73, 73, 73]);
    let labels = spec_labels();
    for (index, (drawn, written)) in layers.iter().zip(&written).enumerate() {
        for (position, (key, keycode)) in drawn.iter().zip(written).enumerate() {
            let at = format!("layer {index}, key {position}");
            assert!(key.title.starts_with(&at) && key.title.contains(&format!(": {keycode}")), "{at}: {key:?}");
            let expected = match *keycode {
                "KC_TRNS" | "_______" => ("trans", "▽".to_owned()),
                layer_key if layer_key.starts_with("MO(") => ("layer", format!("L{}", &layer_key[3..4])),
                named => ("", labels.get(named).unwrap_or_else(|| panic!("{at}: {named} has a label")).clone()),
            };
            assert_eq!((key.class.as_str(), key.tap.clone()), (expected.0, expected.1), "{at}: {keycode}");
            assert_eq!((&key.hold, &key.mark), (&None, &None), "{at}");
        }
    }
    let boot: Vec<usize> =
        layers.iter().enumerate().filter(|(_, l)| l.iter().any(|k| k.tap == "Bootloader")).map(|(i, _)| i).collect();
    assert_eq!(boot, [2], "QK_BOOT is on layer 2 only");
    assert_eq!((layers[0][0].tap.as_str(), layers[0][69].tap.as_str(), layers[1][33].tap.as_str()), ("`", "L1", "L2"));
    for note in [">the base layer<", ">reached with MO(1) on layers 0, 2<", ">reached with MO(2) on layer 1<"] {
        assert!(svg.contains(note), "{note} in {svg:.3000}");
    }
}
