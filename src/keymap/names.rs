//! Names defined in C: QMK's keycode headers and a keyboard's own headers. Each
//! `#define` and enumerator is evaluated once against a constants version;
//! function-like macros are kept parsed, to be applied to their arguments.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;

use super::eval::{Origin, Val, Warning, enumeration_tag};
use super::keycodes::Scope;
use crate::c::{self, Definition, Expr, Kind};

/// The enumeration of QMK's 5-bit modifier sets (`MOD_LCTL`...), in `modifiers.h`:
/// what `MT`, `OSM` and `LM` expect.
pub const MOD_SET_ENUMERATION: &str = "mods_5bit";

/// A name with a value.
#[derive(Debug, Clone)]
pub struct Constant {
    pub val: Val,
    /// What evaluating its definition warned about, said again where it is used.
    pub warnings: Vec<Warning>,
    pub layers: Vec<u32>,
    /// An object-like macro's replacement text when it is not a single operand
    /// (`1 + 2`): used within a larger expression, C substitutes the text.
    pub unparenthesized: Option<String>,
}

/// A function-like macro.
#[derive(Debug, Clone)]
pub struct Function {
    pub params: Vec<String>,
    pub body_text: String,
    pub body: Expr,
    /// Whether every use of a parameter in the body is parenthesized or a whole
    /// argument, so that substituting values is substituting text.
    pub hygienic: bool,
}

/// The names one set of C definitions makes.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub constants: HashMap<String, Constant>,
    pub functions: HashMap<String, Function>,
    /// Names defined where `keymap.c` cannot see them (a keyboard's `.c` files), and where.
    pub unseen: BTreeMap<String, String>,
}

impl Names {
    /// A name → value table, as a keymap's or keyboard's declared keycodes give.
    pub fn from_values(values: impl IntoIterator<Item = (String, u16)>, enumeration: &str) -> Names {
        let tag = Some(enumeration_tag(enumeration));
        let constants = values
            .into_iter()
            .map(|(name, value)| {
                let val = Val { int: c::CInt::int(i128::from(value)), tag, origin: Origin::Keycode };
                (name, Constant { val, warnings: Vec::new(), layers: Vec::new(), unparenthesized: None })
            })
            .collect();
        Names { constants, ..Names::default() }
    }

    /// Evaluates `definitions` in `outer` (which must not hold these names yet);
    /// `enumerators` is the origin of enumerators outside the modifier-set one.
    /// Definitions that are no integer constant expression are left out, as are
    /// those naming something unknown.
    pub fn build(definitions: &[Definition], outer: &Scope, enumerators: Origin) -> Names {
        let mut names = Names::default();
        for definition in definitions {
            if let Some(params) = &definition.params {
                let params: Vec<&str> = params.iter().map(String::as_str).collect();
                if let Ok(body) = c::parse(&definition.value, &params) {
                    let hygienic = hygienic(&body, false);
                    let function = Function {
                        params: params.iter().map(|p| (*p).to_owned()).collect(),
                        body_text: definition.value.clone(),
                        body,
                        hygienic,
                    };
                    names.functions.insert(definition.name.clone(), function);
                }
            }
        }
        let mut pending: Vec<&Definition> = definitions.iter().filter(|d| d.params.is_none()).collect();
        // File order resolves most references in one pass; later passes catch the
        // names used before their definition.
        loop {
            let before = pending.len();
            pending.retain(|definition| {
                let evaluated = outer.with_layer(&names).evaluate_definition(&definition.value);
                match evaluated {
                    Ok(mut constant) => {
                        if let Some(enumeration) = &definition.enumeration {
                            constant.val.tag = Some(enumeration_tag(enumeration));
                            constant.val.origin =
                                if enumeration == MOD_SET_ENUMERATION { Origin::ModSet } else { enumerators };
                        }
                        names.constants.insert(definition.name.clone(), constant);
                        false
                    }
                    Err(_) => true,
                }
            });
            if pending.len() == before || pending.is_empty() {
                return names;
            }
        }
    }
}

/// Whether parameters appear only as `(param)` or as a whole argument of a call.
fn hygienic(expr: &Expr, protected: bool) -> bool {
    match &expr.kind {
        Kind::Param(_) => protected,
        Kind::Number(_) | Kind::Name => true,
        Kind::Paren(inner) => matches!(inner.kind, Kind::Param(_)) || hygienic(inner, false),
        Kind::Call { args, .. } => args.iter().all(|a| hygienic(a, true)),
        Kind::Unary(_, operand) => hygienic(operand, false),
        Kind::Binary(_, lhs, rhs) => hygienic(lhs, false) && hygienic(rhs, false),
        Kind::Conditional(a, b, c) => [a, b, c].iter().all(|e| hygienic(e, false)),
    }
}

/// Whether an expression is one operand whatever surrounds it.
pub fn is_primary(expr: &Expr) -> bool {
    matches!(
        expr.kind,
        Kind::Number(_) | Kind::Name | Kind::Param(_) | Kind::Call { .. } | Kind::Paren(_) | Kind::Unary(..)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_which_macros_substitute_like_values() {
        let check = |body: &str| hygienic(&c::parse(body, &["n"]).unwrap(), false);
        assert!(check("(QK_LCTL | (n))"));
        assert!(check("MT(MOD_LSFT, n)"));
        assert!(!check("(n < 16 ? 0x7200 + n : KC_NO)"));
        assert!(!check("n"));
    }
}
