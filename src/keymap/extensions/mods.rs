//! Modifier masks as a key override takes them: QMK's 8-bit masks, one bit per
//! modifier key (left Ctrl, Shift, Alt, GUI, then the right ones), written as QMK's
//! `MOD_MASK_*` and `MOD_BIT_*` names joined by `|`, or as a number.

use super::Mods;
use crate::diagnostic::excerpt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModsError {
    #[error("`{}` is no modifier: use MOD_MASK_CTRL, MOD_MASK_SHIFT, MOD_MASK_ALT, MOD_MASK_GUI (or their \
             combinations such as MOD_MASK_CS), MOD_BIT_LSHIFT and the like, joined by `|`", excerpt(.0))]
    Unknown(String),
}

/// The bits of one modifier key, by the letter QMK's mask names use.
fn letter_bits(letter: char) -> Option<u8> {
    match letter {
        'C' => Some(0x11),
        'S' => Some(0x22),
        'A' => Some(0x44),
        'G' => Some(0x88),
        _ => None,
    }
}

/// The bits of one name.
fn name_bits(name: &str) -> Option<u8> {
    if let Some(side) = name.strip_prefix("MOD_BIT_") {
        let (mask, modifier) = match side.split_at_checked(1)? {
            ("L", modifier) => (0x0F, modifier),
            ("R", modifier) => (0xF0, modifier),
            _ => return None,
        };
        // QMK's `MOD_BIT_*` names: no `CTL`, `SFT` short forms.
        let letter = match modifier {
            "CTRL" => 'C',
            "SHIFT" => 'S',
            "ALT" => 'A',
            "GUI" => 'G',
            _ => return None,
        };
        return Some(letter_bits(letter)? & mask);
    }
    let letters = name.strip_prefix("MOD_MASK_")?;
    match letters {
        "CTRL" => Some(0x11),
        "SHIFT" => Some(0x22),
        "ALT" => Some(0x44),
        "GUI" => Some(0x88),
        // Combinations are named by their letters in the order C, S, A, G.
        _ if (2..=4).contains(&letters.len()) && is_in_order(letters) => {
            letters.chars().try_fold(0u8, |bits, letter| Some(bits | letter_bits(letter)?))
        }
        _ => None,
    }
}

fn is_in_order(letters: &str) -> bool {
    let order = |c: char| "CSAG".find(c);
    letters.chars().map(order).collect::<Option<Vec<_>>>().is_some_and(|o| o.windows(2).all(|w| w[0] < w[1]))
}

/// The mask as C: each name as written, each number in hex (C reads `010` as 8).
pub fn written(mods: &Mods) -> Result<String, ModsError> {
    mod_mask(mods)?;
    Ok(match mods {
        Mods::Bits(bits) => format!("0x{bits:02X}"),
        Mods::Text(text) => text
            .split('|')
            .map(str::trim)
            .map(|part| part.parse::<u8>().map_or_else(|_| part.to_owned(), |bits| format!("0x{bits:02X}")))
            .collect::<Vec<_>>()
            .join(" | "),
    })
}

/// The mask `mods` stands for.
pub fn mod_mask(mods: &Mods) -> Result<u8, ModsError> {
    match mods {
        Mods::Bits(bits) => Ok(*bits),
        Mods::Text(text) => text.split('|').try_fold(0u8, |bits, name| {
            let name = name.trim();
            let number = name.parse::<u8>().ok();
            Ok(bits | number.or_else(|| name_bits(name)).ok_or_else(|| ModsError::Unknown(name.to_owned()))?)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(text: &str) -> Result<u8, ModsError> {
        mod_mask(&Mods::Text(text.to_owned()))
    }

    #[test]
    fn names_are_qmks_bits() {
        assert_eq!(mask("MOD_MASK_SHIFT"), Ok(0x22));
        assert_eq!(mask("MOD_MASK_CSAG"), Ok(0xFF));
        assert_eq!(mask("MOD_MASK_CA"), Ok(0x55));
        assert_eq!(mask("MOD_BIT_LSHIFT | MOD_BIT_RCTRL"), Ok(0x12));
        assert_eq!(mod_mask(&Mods::Bits(4)), Ok(4));
        assert_eq!(written(&Mods::Text("MOD_MASK_SHIFT | 010".into())), Ok("MOD_MASK_SHIFT | 0x0A".into()));
        assert_eq!(written(&Mods::Text("08".into())), Ok("0x08".into()));
        assert_eq!(mask("MOD_MASK_SC"), Err(ModsError::Unknown("MOD_MASK_SC".into())), "QMK names none so");
        assert!(mask("MOD_MASK_SHIFT | KC_A").is_err());
        assert!(mask("").is_err());
        assert!(mask("MOD_BIT_LCTL").is_err(), "QMK names it MOD_BIT_LCTRL");
    }
}
