//! The `g_led_config` table of a keyboard's C source (RGB or LED matrix): which LED
//! sits at each matrix position, where each LED is, and its flags. Read the way
//! QMK's info.json builder reads it, from brace depth alone: the first brace
//! group is the matrix, the second the positions, the third the flags.

use serde_json::Number;

use super::tokens::{Token, TokenKind, tokenize};
use super::{join_continued_lines, strip_comments};

/// One LED as info.json lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct LedPoint {
    pub x: Option<Number>,
    pub y: Option<Number>,
    pub flags: Option<Number>,
    pub matrix: Option<[usize; 2]>,
}

/// Why a table that was found cannot be used (QMK reports it as a warning).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LedConfigError(pub String);

/// The table's LEDs: `Ok(None)` when the file has no table, or when a
/// preprocessor line sits inside it (it cannot be read without preprocessing).
pub fn find_led_config(text: &str, cols: u64, rows: u64) -> Result<Option<Vec<LedPoint>>, LedConfigError> {
    let text = join_continued_lines(&strip_comments(text));
    let Some(table) = read_table(&tokenize(&text))? else { return Ok(None) };
    table.check(cols, rows)?;
    let mut leds: Vec<LedPoint> = table
        .positions
        .chunks(2)
        .zip(&table.flags)
        .map(|(xy, flags)| LedPoint { x: xy[0].clone(), y: xy[1].clone(), flags: flags.clone(), matrix: None })
        .collect();
    for (r, row) in table.matrix.iter().enumerate() {
        for (c, index) in row.iter().enumerate() {
            if let Some(index) = index.as_ref().and_then(Number::as_i64) {
                // A negative index counts from the end, as QMK's list indexing does.
                let at = if index < 0 { leds.len() as i64 + index } else { index };
                let led = usize::try_from(at).ok().and_then(|at| leds.get_mut(at));
                let led = led.ok_or_else(|| LedConfigError("list index out of range".into()))?;
                led.matrix = Some([r, c]);
            }
        }
    }
    Ok(Some(leds))
}

/// The three groups as read, each value a number or `None` (`NO_LED`, an unknown name).
#[derive(Debug, Default)]
struct Table {
    matrix: Vec<Vec<Option<Number>>>,
    positions: Vec<Option<Number>>,
    flags: Vec<Option<Number>>,
}

fn read_table(tokens: &[Token]) -> Result<Option<Table>, LedConfigError> {
    let mut table = Table::default();
    let (mut saw_type, mut inside) = (false, false);
    let (mut depth, mut section) = (0i32, 0u32);
    let mut row = Vec::new();
    for token in tokens {
        if !inside {
            if token.text == "led_config_t" {
                saw_type = true;
            } else if saw_type && token.text == "g_led_config" {
                inside = true;
            }
            continue;
        }
        match token.text {
            ";" => inside = false,
            "{" => {
                depth += 1;
                if depth == 2 {
                    section += 1;
                }
            }
            "}" => {
                if section == 1 && depth == 3 {
                    table.matrix.push(std::mem::take(&mut row));
                }
                depth -= 1;
            }
            _ => match token.kind {
                TokenKind::Integer | TokenKind::Float | TokenKind::Hex | TokenKind::Name => {
                    let value = || coerce(token);
                    match (section, depth) {
                        (1, 3) => row.push(value()?),
                        (2, 3) => table.positions.push(value()?),
                        (3, 2) => table.flags.push(value()?),
                        _ => {}
                    }
                }
                TokenKind::Preprocessor => return Ok(None),
                _ => {}
            },
        }
    }
    Ok((section > 0).then_some(table))
}

/// A token's value: numbers as written (decimal, float, hex), the LED constants
/// by value, any other name as nothing.
fn coerce(token: &Token) -> Result<Option<Number>, LedConfigError> {
    let invalid = || LedConfigError(format!("invalid literal: '{}'", token.text));
    match token.kind {
        TokenKind::Integer => token.text.parse::<i64>().map(|n| Some(n.into())).map_err(|_| invalid()),
        TokenKind::Float => {
            let value: f64 = token.text.parse().map_err(|_| invalid())?;
            Ok(Number::from_f64(value))
        }
        TokenKind::Hex => {
            let (negative, digits) = match token.text.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, token.text),
            };
            let digits = digits.get(2..).ok_or_else(invalid)?.replace('\'', "");
            let value = i64::from_str_radix(&digits, 16).map_err(|_| invalid())?;
            Ok(Some(if negative { -value } else { value }.into()))
        }
        _ => Ok(led_constant(token.text).map(Number::from)),
    }
}

fn led_constant(name: &str) -> Option<u8> {
    Some(match name {
        "LED_FLAG_ALL" => 0xFF,
        "LED_FLAG_NONE" => 0x00,
        "LED_FLAG_MODIFIER" => 0x01,
        "LED_FLAG_UNDERGLOW" => 0x02,
        "LED_FLAG_KEYLIGHT" => 0x04,
        "LED_FLAG_INDICATOR" => 0x08,
        _ => return None,
    })
}

impl Table {
    /// The checks QMK makes before it uses a table.
    fn check(&self, cols: u64, rows: u64) -> Result<(), LedConfigError> {
        let fail = |message: String| Err(LedConfigError(message));
        let len = self.matrix.len() as u64;
        if len != rows && len * 2 != rows {
            return fail("Unable to parse g_led_config matrix data".into());
        }
        for (index, row) in self.matrix.iter().enumerate() {
            if row.len() as u64 != cols {
                return fail(format!(
                    "Number of columns in row {index} ({}) does not match matrix ({cols})",
                    row.len()
                ));
            }
        }
        let positions = self.positions.len().div_ceil(2);
        if positions != self.flags.len() {
            return fail(format!(
                "Number of g_led_config physical positions ({positions}) does not match number of flags ({})",
                self.flags.len()
            ));
        }
        let indexes: Vec<&Number> = self.matrix.iter().flatten().flatten().collect();
        let largest =
            indexes.iter().filter_map(|n| n.as_f64()).fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        if let Some(largest) = largest
            && largest >= self.flags.len() as f64
        {
            let shown = indexes.iter().find(|n| n.as_f64() == Some(largest)).map(|n| n.to_string()).unwrap_or_default();
            return fail(format!("LED index {shown} is OOB in g_led_config - should be < {}", self.flags.len()));
        }
        if indexes.iter().any(|n| !n.is_i64() && !n.is_u64()) {
            return fail("matrix indexes are not all ints".into());
        }
        if !self.positions.len().is_multiple_of(2) {
            return fail("Malformed g_led_config position data".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "
        #include \"quantum.h\"
        led_config_t g_led_config = { {
            { 0, NO_LED },
            { 2, 1 }
        }, {
            { 0, 0 }, { 224, 0 }, { 112, 64 }
        }, {
            4, LED_FLAG_KEYLIGHT, 2
        } };
        void f(void) { if (g_led_config.flags[0]) {} }
    ";

    #[test]
    fn reads_matrix_positions_and_flags() {
        let leds = find_led_config(TABLE, 2, 2).unwrap().unwrap();
        assert_eq!(leds.len(), 3);
        assert_eq!(
            leds[0],
            LedPoint { x: Some(0.into()), y: Some(0.into()), flags: Some(4.into()), matrix: Some([0, 0]) }
        );
        assert_eq!(leds[2].matrix, Some([1, 0]));
        assert_eq!(leds[1].matrix, Some([1, 1]));
    }

    #[test]
    fn mismatches_are_reported_and_preprocessor_lines_give_up() {
        let err = find_led_config(TABLE, 3, 2).unwrap_err();
        assert_eq!(err.to_string(), "Number of columns in row 0 (2) does not match matrix (3)");
        assert!(find_led_config(TABLE, 2, 5).is_err());
        let with_ifdef = TABLE.replace("{ 2, 1 }", "#ifdef X\n{ 2, 1 }\n#endif\n");
        assert_eq!(find_led_config(&with_ifdef, 2, 2).unwrap(), None);
        assert_eq!(find_led_config("int x = 1;", 2, 2).unwrap(), None);
    }
}
