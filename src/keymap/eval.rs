//! The value QMK's C compiler gives a keycode expression, and what its macros
//! silently change on the way.
//!
//! Macros are applied to the values of their arguments, which is what substituting
//! their text does for macros that parenthesize their parameters (all of QMK's
//! keycode macros but the sequencer's); the rest are expanded as text. Where a body
//! masks a parameter (`(layer) & 0x1F`) or adds modifier bits to one
//! (`QK_LCTL | (kc)`), the argument is checked, and what the key really does is
//! said in a warning: C's value stands.

use std::hash::{DefaultHasher, Hash, Hasher};

use super::expr::ExprError;
use super::keycodes::Scope;
use super::names::is_primary;
use crate::c::{Binary, CInt, Expr, Kind, Unary};

/// A value with what C and QMK know of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Val {
    pub int: CInt,
    /// The enumeration of an enumerator, for GCC's `-Wenum-compare`.
    pub tag: Option<u64>,
    pub origin: Origin,
}

impl Val {
    fn plain(int: CInt) -> Val {
        Val { int, tag: None, origin: Origin::Plain }
    }
}

/// What kind of thing a value is, for the checks of macro arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    #[default]
    Plain,
    /// A keycode name or the result of a keycode macro.
    Keycode,
    /// `MOD_*` constants joined by `|`.
    ModSet,
}

/// The identity of an enumeration, from its name.
pub fn enumeration_tag(name: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    name.hash(&mut hasher);
    hasher.finish()
}

/// What C's value does not say about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub kind: WarningKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    /// A layer that does not fit its field: `MO(32)` is layer 0.
    MaskedLayer,
    /// Another argument that does not fit its field: `TD(256)` is tap dance 0.
    MaskedArgument,
    /// A tap keycode that is not basic: `LT(3, KC_EXLM)` taps `KC_1`.
    TapNotBasic,
    /// Left and right modifiers in one key: all act as right-hand ones.
    MixedSides,
    /// A keycode where a `MOD_*` set belongs: `MT(KC_LSFT, …)` reads as `MOD_LCTL`.
    KeycodeAsModSet,
    /// A non-basic keycode inside a modifier wrapper: `LCTL(QK_BOOT)` is another keycode.
    WrappedNotBasic,
    /// A `MOD_*` set used as a whole keycode.
    ModSetAsKeycode,
    /// A retired keycode name that the keyboard's headers define as something else:
    /// `RESET` is 0 (`KC_NO`) in STM32's device headers.
    RetiredNameRedefined,
}

/// Function-like macros applied deeper than this, or more often, are refused.
const MAX_STEPS: usize = 10_000;

/// Where names and parameters of the expression being evaluated come from.
struct Frame<'f> {
    src: &'f str,
    args: &'f [Bound<'f>],
    params: &'f [String],
    /// The keymap's own call this frame expands; `None` in the keymap's own text.
    call: Option<&'f str>,
    /// The macros being expanded, which C does not expand again inside themselves.
    active: Option<&'f Active<'f>>,
}

/// A macro being expanded, and the one whose expansion holds it.
struct Active<'a> {
    name: &'a str,
    outer: Option<&'a Active<'a>>,
}

impl Active<'_> {
    fn holds(active: Option<&Active>, name: &str) -> bool {
        std::iter::successors(active, |a| a.outer).any(|a| a.name == name)
    }
}

struct Bound<'f> {
    val: Val,
    /// The argument as the keymap wrote it.
    text: &'f str,
}

/// One evaluation: the warnings and layer references found on the way.
pub(super) struct Evaluator<'s, 'a> {
    scope: &'s Scope<'a>,
    text: &'s str,
    pub warnings: Vec<Warning>,
    pub layers: Vec<u32>,
    /// A macro was used whose text substitution differs from value substitution.
    pub needs_text: bool,
    steps: usize,
}

impl<'s, 'a> Evaluator<'s, 'a> {
    pub(super) fn new(scope: &'s Scope<'a>, text: &'s str) -> Self {
        Evaluator { scope, text, warnings: Vec::new(), layers: Vec::new(), needs_text: false, steps: 0 }
    }

    pub(super) fn evaluate(&mut self, expr: &Expr) -> Result<Val, ExprError> {
        let frame = Frame { src: self.text, args: &[], params: &[], call: None, active: None };
        self.eval(expr, &frame, true)
    }

    fn warn(&mut self, kind: WarningKind, message: String) {
        let warning = Warning { kind, message };
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    fn eval(&mut self, expr: &Expr, frame: &Frame, live: bool) -> Result<Val, ExprError> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(ExprError::new("the expression expands too far"));
        }
        match &expr.kind {
            Kind::Number(n) => Ok(Val::plain(*n)),
            Kind::Name => self.name(text_of(frame.src, expr), frame),
            Kind::Param(index) => Ok(frame.args[*index].val),
            Kind::Paren(inner) => self.eval(inner, frame, live),
            Kind::Unary(op, operand) => {
                let value = self.eval(operand, frame, live)?.int;
                let int = match op {
                    Unary::Plus => value,
                    Unary::Minus => arithmetic(live, value.negate())?,
                    Unary::Complement => value.complement(),
                    Unary::Not => value.logical_not(),
                };
                Ok(Val::plain(int))
            }
            Kind::Binary(op @ (Binary::And | Binary::Or), lhs, rhs) => {
                let left = self.eval(lhs, frame, live)?.int.is_true();
                let decided = if *op == Binary::And { !left } else { left };
                let right = self.eval(rhs, frame, live && !decided)?.int.is_true();
                let result = if *op == Binary::And { left && right } else { left || right };
                Ok(Val::plain(CInt::int(i128::from(result))))
            }
            Kind::Binary(op, lhs, rhs) => self.binary(*op, lhs, rhs, frame, live),
            Kind::Conditional(condition, then, otherwise) => {
                let condition = self.eval(condition, frame, live)?.int.is_true();
                let then = self.eval(then, frame, live && condition)?;
                let otherwise = self.eval(otherwise, frame, live && !condition)?;
                let (chosen, other) = if condition { (then, otherwise) } else { (otherwise, then) };
                Ok(Val { int: chosen.int.in_common_type(other.int), tag: None, origin: chosen.origin })
            }
            Kind::Call { name_end, args } => {
                let name = &frame.src[expr.start as usize..*name_end as usize];
                self.call(expr, name, args, frame, live)
            }
        }
    }

    fn name(&mut self, name: &str, frame: &Frame) -> Result<Val, ExprError> {
        if Active::holds(frame.active, name) {
            return Err(ExprError::new(format!("`{name}` is defined in terms of itself")));
        }
        let Some(found) = self.scope.constant(name) else {
            return Err(self.scope.unknown_name(name));
        };
        if found.unparenthesized.is_some() {
            self.needs_text = true;
        }
        for warning in found.warnings {
            self.warn(warning.kind, warning.message.clone());
        }
        self.layers.extend_from_slice(found.layers);
        Ok(found.val)
    }

    fn binary(&mut self, op: Binary, lhs: &Expr, rhs: &Expr, frame: &Frame, live: bool) -> Result<Val, ExprError> {
        let a = self.eval(lhs, frame, live)?;
        let b = self.eval(rhs, frame, live)?;
        if op.is_comparison()
            && let (Some(x), Some(y)) = (a.tag, b.tag)
            && x != y
        {
            return Err(ExprError::new(format!(
                "`{}` and `{}` belong to different enumerations: comparing them is refused by QMK's build \
                 (-Werror=enum-compare)",
                text_of(frame.src, lhs),
                text_of(frame.src, rhs)
            )));
        }
        let int = arithmetic(live, a.int.binary(op, b.int))?;
        let mut origin = Origin::Plain;
        if live && op == Binary::BitAnd {
            if let Some(index) = bare_param(lhs) {
                self.masked(frame, index, b.int.value);
            } else if let Some(index) = bare_param(rhs) {
                self.masked(frame, index, a.int.value);
            }
        }
        if op == Binary::BitOr {
            if a.origin == Origin::ModSet && b.origin == Origin::ModSet {
                origin = Origin::ModSet;
                if live {
                    self.mixed_set(a.int.value, b.int.value, frame);
                }
            }
            if live {
                if let Some(index) = bare_param(rhs) {
                    self.wrapped(frame, index, a.int.value, int.value);
                } else if let Some(index) = bare_param(lhs) {
                    self.wrapped(frame, index, b.int.value, int.value);
                }
            }
        }
        Ok(Val { int, tag: None, origin })
    }

    fn call(&mut self, expr: &Expr, name: &str, args: &[Expr], frame: &Frame, live: bool) -> Result<Val, ExprError> {
        let call_text = frame.call.unwrap_or_else(|| text_of(frame.src, expr));
        let Some(function) = self.scope.function(name).filter(|_| !Active::holds(frame.active, name)) else {
            return Err(self.scope.unknown_function(name));
        };
        if args.len() != function.params.len() {
            let wanted = match function.params.len() {
                1 => "one argument".to_owned(),
                n => format!("{n} arguments"),
            };
            return Err(ExprError::new(format!("`{name}()` takes {wanted}, not {}", args.len())));
        }
        if !function.hygienic && args.iter().any(|a| !is_primary(a)) {
            self.needs_text = true;
        }
        let mut bound = Vec::with_capacity(args.len());
        for arg in args {
            let val = self.eval(arg, frame, live)?;
            let text = match (frame.call, bare_param(arg)) {
                (Some(_), Some(index)) => frame.args[index].text,
                _ => text_of(frame.src, arg),
            };
            bound.push(Bound { val, text });
        }
        let active = Active { name, outer: frame.active };
        let inner = Frame {
            src: &function.body_text,
            args: &bound,
            params: &function.params,
            call: Some(call_text),
            active: Some(&active),
        };
        let val = self.eval(&function.body, &inner, live)?;
        let origin = if val.origin == Origin::ModSet { Origin::ModSet } else { Origin::Keycode };
        Ok(Val { origin, ..val })
    }

    /// `(param) & mask` in a macro body: the argument must fit the mask.
    fn masked(&mut self, frame: &Frame, index: usize, mask: i128) {
        let (bound, call) = (&frame.args[index], frame.call.unwrap_or(self.text));
        let value = bound.val.int.value;
        let kept = value & mask;
        let text = bound.text;
        match frame.params[index].as_str() {
            "layer" => {
                self.layers.push(kept as u32);
                if value != kept {
                    let message =
                        format!("`{call}`: layer {value} does not fit (0–{mask}) and is masked to layer {kept}");
                    self.warn(WarningKind::MaskedLayer, message);
                }
            }
            "mod" | "mods" if bound.val.origin == Origin::Keycode => {
                let message = format!(
                    "`{call}`: `{text}` is a keycode, not a MOD_* constant: it reads as {}",
                    mod_set_reading(kept as u8)
                );
                self.warn(WarningKind::KeycodeAsModSet, message);
            }
            "kc" if value != kept => {
                let detail = if (0x100..=0x1FFF).contains(&value) {
                    let mods = (value >> 8) as u8;
                    if mods & 0x0F == 0x02 {
                        format!("the shift of `{text}` is dropped")
                    } else {
                        format!("the modifiers {} of `{text}` are dropped", modifier_names(mods))
                    }
                } else {
                    format!("`{text}` (0x{:04X}) is cut to its low byte", value as u16)
                };
                let tapped = self.scope.describe(kept as u16);
                let message = format!("`{call}` takes a basic keycode: {detail} (taps {tapped})");
                self.warn(WarningKind::TapNotBasic, message);
            }
            // QMK's indexes (tap dances, Unicode maps); other masks decode on purpose (`MOD_BIT`).
            "i" | "j" if value != kept => {
                let message = format!("`{call}`: index {value} does not fit (0–{mask}) and is masked to {kept}");
                self.warn(WarningKind::MaskedArgument, message);
            }
            _ => {}
        }
    }

    /// `QK_LCTL | (kc)` in a macro body: modifier bits added to a keycode.
    fn wrapped(&mut self, frame: &Frame, index: usize, bits: i128, result: i128) {
        if bits <= 0 || bits & !0x1F00 != 0 {
            return;
        }
        let (bound, call) = (&frame.args[index], frame.call.unwrap_or(self.text));
        let value = bound.val.int.value;
        if !(0..=0x1FFF).contains(&value) {
            let becomes = self.scope.describe(result as u16);
            let message = format!(
                "`{call}`: `{}` is not a basic keycode (0x{:04X}): with the modifier bits it becomes {becomes}",
                bound.text, value as u16
            );
            self.warn(WarningKind::WrappedNotBasic, message);
            return;
        }
        let (outer, inner) = ((bits >> 8) as u8, (value >> 8) as u8 & 0x1F);
        if inner & 0x0F != 0 && (outer & 0x10) != (inner & 0x10) {
            let message = format!(
                "`{call}`: left and right modifiers mixed: all act as right-hand ones ({})",
                modifier_names(outer | inner)
            );
            self.warn(WarningKind::MixedSides, message);
        }
    }

    /// `MOD_LCTL | MOD_RALT`: one right-hand bit for the whole set.
    fn mixed_set(&mut self, a: i128, b: i128, frame: &Frame) {
        let (a, b) = (a as u8 & 0x1F, b as u8 & 0x1F);
        if a & 0x0F != 0 && b & 0x0F != 0 && (a & 0x10) != (b & 0x10) {
            let context = frame.call.unwrap_or(self.text);
            let message = format!(
                "`{context}`: left and right modifiers mixed in one mod set: all act as right-hand ones ({})",
                modifier_names(a | b)
            );
            self.warn(WarningKind::MixedSides, message);
        }
    }
}

fn text_of<'t>(src: &'t str, expr: &Expr) -> &'t str {
    &src[expr.start as usize..expr.end as usize]
}

/// A parameter, alone or in parentheses.
fn bare_param(expr: &Expr) -> Option<usize> {
    match &expr.kind {
        Kind::Param(index) => Some(*index),
        Kind::Paren(inner) => bare_param(inner),
        _ => None,
    }
}

/// An arithmetic result; errors in operands C never evaluates (`0 && 1/0`) are none.
fn arithmetic(live: bool, result: Result<CInt, String>) -> Result<CInt, ExprError> {
    match result {
        Ok(value) => Ok(value),
        Err(message) if live => Err(ExprError::new(message)),
        Err(_) => Ok(CInt::int(0)),
    }
}

/// The modifiers of a 5-bit mod set: `RCTL`, `RSFT`...
fn modifiers(mods: u8, prefix: &str) -> Vec<String> {
    let side = if mods & 0x10 != 0 { 'R' } else { 'L' };
    let names = [(1, "CTL"), (2, "SFT"), (4, "ALT"), (8, "GUI")];
    names.iter().filter(|(bit, _)| mods & bit != 0).map(|(_, name)| format!("{prefix}{side}{name}")).collect()
}

/// `RCTL+RSFT`.
fn modifier_names(mods: u8) -> String {
    modifiers(mods, "").join("+")
}

/// `MOD_LCTL | MOD_LSFT`, or `no modifier`.
fn mod_set_reading(mods: u8) -> String {
    let names = modifiers(mods, "MOD_");
    if names.is_empty() { "no modifier".to_owned() } else { names.join(" | ") }
}
