//! C's integer constants and arithmetic as GCC folds them for a 32-bit `int` and a
//! 64-bit `long` (ARM's `long long`, x86-64's `long`), with the diagnostics that
//! QMK's `-Wall -Werror` build turns into errors: signed overflow, division by
//! zero, shift counts out of range.

use std::fmt;

use super::expr::Binary;

/// The type of an integer constant expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntType {
    Int,
    UInt,
    Long,
    ULong,
}

impl IntType {
    fn bits(self) -> u32 {
        match self {
            IntType::Int | IntType::UInt => 32,
            IntType::Long | IntType::ULong => 64,
        }
    }

    fn is_signed(self) -> bool {
        matches!(self, IntType::Int | IntType::Long)
    }

    fn range(self) -> (i128, i128) {
        let bits = self.bits();
        if self.is_signed() { (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) } else { (0, (1 << bits) - 1) }
    }

    fn fits(self, value: i128) -> bool {
        let (low, high) = self.range();
        (low..=high).contains(&value)
    }

    /// `value` brought into the type, wrapping as unsigned types do.
    fn wrap(self, value: i128) -> i128 {
        let bits = self.bits();
        let unsigned = value & ((1 << bits) - 1);
        if self.is_signed() && unsigned >= 1 << (bits - 1) { unsigned - (1 << bits) } else { unsigned }
    }
}

impl fmt::Display for IntType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IntType::Int => "int",
            IntType::UInt => "unsigned int",
            IntType::Long => "long",
            IntType::ULong => "unsigned long",
        })
    }
}

/// A value with its C type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CInt {
    pub value: i128,
    pub ty: IntType,
}

impl CInt {
    pub fn int(value: i128) -> CInt {
        CInt { value, ty: IntType::Int }
    }

    pub fn is_true(self) -> bool {
        self.value != 0
    }

    /// Reads an integer constant (`42`, `0x7C00`, `0b101`, `017`, with `u`/`l`/`ll` suffixes).
    pub fn parse(text: &str) -> Result<CInt, String> {
        let lower = text.to_ascii_lowercase();
        let (radix, digits) = if let Some(rest) = lower.strip_prefix("0x") {
            (16, rest)
        } else if let Some(rest) = lower.strip_prefix("0b") {
            (2, rest)
        } else if lower.len() > 1 && lower.starts_with('0') {
            (8, &lower[1..])
        } else {
            (10, lower.as_str())
        };
        let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
        let (digits, suffix) = digits.split_at(end);
        if digits.is_empty() && radix != 8 {
            return Err(format!("`{text}` is not an integer constant"));
        }
        if text.contains('.') || (radix == 10 && suffix.starts_with('e')) || (radix == 16 && suffix.starts_with('p')) {
            return Err(format!("`{text}` is a floating constant; a keycode is an integer"));
        }
        if radix == 8 && suffix.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("invalid digit in octal constant `{text}`"));
        }
        let (unsigned, long) = match suffix {
            "" => (false, false),
            "u" => (true, false),
            "l" | "ll" => (false, true),
            "ul" | "lu" | "ull" | "llu" => (true, true),
            _ => return Err(format!("invalid suffix `{suffix}` on integer constant `{text}`")),
        };
        // Case must be consistent in `ll` (`lL` is refused).
        if suffix.contains("ll") && !text.contains("ll") && !text.contains("LL") {
            return Err(format!("invalid suffix on integer constant `{text}`"));
        }
        let value =
            if digits.is_empty() { 0 } else { u128::from_str_radix(digits, radix).map_err(|_| too_large(text))? };
        let value = i128::try_from(value).map_err(|_| too_large(text))?;
        let candidates: &[IntType] = match (unsigned, long, radix == 10) {
            (false, false, true) => &[IntType::Int, IntType::Long],
            (false, false, false) => &[IntType::Int, IntType::UInt, IntType::Long, IntType::ULong],
            (true, false, _) => &[IntType::UInt, IntType::ULong],
            (false, true, true) => &[IntType::Long],
            (false, true, false) => &[IntType::Long, IntType::ULong],
            (true, true, _) => &[IntType::ULong],
        };
        candidates.iter().find(|t| t.fits(value)).map(|&ty| CInt { value, ty }).ok_or_else(|| too_large(text))
    }

    /// The type both operands of a binary operator are converted to.
    fn common(a: IntType, b: IntType) -> IntType {
        use IntType::*;
        match (a, b) {
            (ULong, _) | (_, ULong) => ULong,
            (Long, _) | (_, Long) => Long,
            (UInt, _) | (_, UInt) => UInt,
            _ => Int,
        }
    }

    /// The result of an arithmetic operation in `ty`: signed overflow is an error.
    fn checked(ty: IntType, value: i128, what: &str) -> Result<CInt, String> {
        if ty.is_signed() && !ty.fits(value) {
            return Err(format!("integer overflow in `{what}` (type {ty}): QMK's build refuses it (-Werror=overflow)"));
        }
        Ok(CInt { value: ty.wrap(value), ty })
    }

    /// The value as the result of `?:` whose other branch is `other`.
    pub fn in_common_type(self, other: CInt) -> CInt {
        let ty = CInt::common(self.ty, other.ty);
        CInt { value: ty.wrap(self.value), ty }
    }

    pub fn negate(self) -> Result<CInt, String> {
        CInt::checked(self.ty, -self.value, "-")
    }

    pub fn complement(self) -> CInt {
        CInt { value: self.ty.wrap(!self.value), ty: self.ty }
    }

    pub fn logical_not(self) -> CInt {
        CInt::int(i128::from(self.value == 0))
    }

    /// `self op other` for the arithmetic, bitwise and comparison operators.
    /// `self op other` for the arithmetic, bitwise and comparison operators (`&&` and
    /// `||` short-circuit, so their callers decide).
    pub fn binary(self, op: Binary, other: CInt) -> Result<CInt, String> {
        use Binary::*;
        if matches!(op, Shl | Shr) {
            return self.shift(op, other);
        }
        let ty = CInt::common(self.ty, other.ty);
        let (a, b) = (ty.wrap(self.value), ty.wrap(other.value));
        let what = op.symbol();
        let truth = |holds: bool| Ok(CInt::int(i128::from(holds)));
        match op {
            Add => CInt::checked(ty, a + b, what),
            Sub => CInt::checked(ty, a - b, what),
            Mul => CInt::checked(ty, a * b, what),
            Div | Rem if b == 0 => Err("division by zero: QMK's build refuses it (-Werror=div-by-zero)".into()),
            Div => CInt::checked(ty, a / b, what),
            Rem => CInt::checked(ty, a / b, what).map(|_| CInt { value: a % b, ty }),
            BitAnd => Ok(CInt { value: ty.wrap(a & b), ty }),
            BitOr => Ok(CInt { value: ty.wrap(a | b), ty }),
            BitXor => Ok(CInt { value: ty.wrap(a ^ b), ty }),
            Lt => truth(a < b),
            Gt => truth(a > b),
            Le => truth(a <= b),
            Ge => truth(a >= b),
            Eq => truth(a == b),
            Ne => truth(a != b),
            And => truth(a != 0 && b != 0),
            Or => truth(a != 0 || b != 0),
            Shl | Shr => unreachable!("shifts are handled above"),
        }
    }

    fn shift(self, op: Binary, count: CInt) -> Result<CInt, String> {
        let ty = self.ty;
        if count.value < 0 {
            return Err("shift count is negative: QMK's build refuses it (-Werror=shift-count-negative)".to_owned());
        }
        if count.value >= i128::from(ty.bits()) {
            return Err(format!(
                "shift count {} >= width of type ({ty}): QMK's build refuses it (-Werror=shift-count-overflow)",
                count.value
            ));
        }
        let count = count.value as u32;
        if op == Binary::Shr {
            return Ok(CInt { value: self.value >> count, ty });
        }
        let shifted = self.value << count;
        // GCC's -Wshift-overflow=1: a signed shift may reach the sign bit, not beyond.
        if ty.is_signed() && self.value >= 0 && shifted >= 1 << ty.bits() {
            return Err(format!(
                "`{} << {count}` needs more bits than {ty} has: QMK's build refuses it (-Werror=shift-overflow)",
                self.value
            ));
        }
        Ok(CInt { value: ty.wrap(shifted), ty })
    }

    /// The value stored in a `uint16_t` keymap entry; GCC refuses (-Woverflow) a
    /// constant that changes on the way, except negative ones down to -32768.
    pub fn to_keycode(self) -> Option<u16> {
        let low = if self.ty.is_signed() { -0x8000 } else { 0 };
        (low..=0xFFFF).contains(&self.value).then_some(self.value as u16)
    }
}

fn too_large(text: &str) -> String {
    format!("integer constant `{text}` is too large for its type")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(a: &str, op: &str, b: &str) -> Result<i128, String> {
        let op = [Binary::Add, Binary::Div, Binary::Shl, Binary::Rem].into_iter().find(|o| o.symbol() == op).unwrap();
        CInt::parse(a)?.binary(op, CInt::parse(b)?).map(|v| v.value)
    }

    #[test]
    fn reads_constants_with_their_types() {
        assert_eq!(CInt::parse("0x7C00"), Ok(CInt { value: 0x7C00, ty: IntType::Int }));
        assert_eq!(CInt::parse("0xFFFFFFFF").unwrap().ty, IntType::UInt);
        assert_eq!(CInt::parse("4294967295").unwrap().ty, IntType::Long);
        assert_eq!(CInt::parse("017").unwrap().value, 15);
        assert_eq!(CInt::parse("0B101").unwrap().value, 5);
        assert_eq!(CInt::parse("1ULL").unwrap().ty, IntType::ULong);
        for bad in ["08", "0x", "1uu", "1lL", "1.5", "1e2", "18446744073709551616"] {
            assert!(CInt::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn folds_as_gcc_does() {
        assert_eq!(eval("0x7FFF", "+", "1"), Ok(0x8000));
        assert!(eval("2147483647", "+", "1").unwrap_err().contains("overflow"));
        assert!(eval("1", "/", "0").unwrap_err().contains("division by zero"));
        assert_eq!(eval("1", "<<", "31"), Ok(-2147483648));
        assert!(eval("2", "<<", "31").is_err());
        assert!(eval("1", "<<", "32").is_err());
        assert_eq!(eval("1u", "<<", "31"), Ok(0x8000_0000));
        assert_eq!(CInt::int(-5).binary(Binary::Rem, CInt::int(3)).unwrap().value, -2);
        assert_eq!(eval("0xFFFFFFFF", "+", "1"), Ok(0));
        assert_eq!(CInt::int(-1).to_keycode(), Some(0xFFFF));
        assert_eq!(CInt::int(-32769).to_keycode(), None);
        assert_eq!(CInt::parse("0xFFFFFFFF").unwrap().to_keycode(), None);
    }
}
