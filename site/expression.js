// Resolves keycode expressions (`LT(1, KC_A)`, `MT(MOD_LCTL | MOD_LSFT, KC_ESC)`) with
// the search index's `expressions`: each name's value, and each macro as the bits each
// bit of its arguments sets (see src/site/search.rs). Runs in the search page, and under
// node for the tests.
(function (root) {
  "use strict";

  function hex(value) {
    return "0x" + ("000" + value.toString(16).toUpperCase()).slice(-4);
  }

  function tokens(text) {
    var pattern = /\s*(?:(0[xX][0-9a-fA-F]+|[0-9]+)|([A-Za-z_][A-Za-z0-9_]*)|([(),|+]))/y;
    var list = [];
    while (!/^\s*$/.test(text.slice(pattern.lastIndex))) {
      var at = pattern.lastIndex, match = pattern.exec(text);
      if (!match) throw new Error("cannot read `" + text.slice(at).trim() + "`");
      if (match[1] !== undefined) {
        var digits = match[1];
        var octal = digits.length > 1 && digits[0] === "0" && !/[xX]/.test(digits);
        list.push({ number: octal ? parseInt(digits, 8) : Number(digits) });
      } else if (match[2] !== undefined) {
        list.push({ name: match[2] });
      } else {
        list.push({ op: match[3] });
      }
    }
    return list;
  }

  // The value of `text`, the names it used with their values, and the argument bits
  // a macro dropped (as C masks `LT(16, KC_A)` to layer 0).
  function resolve(text, data) {
    var list = tokens(text), at = 0, parts = [], warnings = [];
    function next() { return list[at]; }
    function expect(op) {
      var token = list[at++];
      if (!token || token.op !== op) throw new Error("expected `" + op + "`");
    }
    function expression() {
      var value = term();
      while (next() && (next().op === "|" || next().op === "+")) {
        var op = list[at++].op, right = term();
        value = op === "|" ? value | right : (value + right) & 0xFFFF;
      }
      return value;
    }
    function term() {
      var token = list[at++];
      if (!token) throw new Error("the expression ends too early");
      if (token.number !== undefined) {
        if (token.number > 0xFFFF) throw new Error(token.number + " does not fit in 16 bits");
        return token.number;
      }
      if (token.op === "(") {
        var inner = expression();
        expect(")");
        return inner;
      }
      if (token.name === undefined) throw new Error("unexpected `" + token.op + "`");
      if (next() && next().op === "(") {
        at++;
        return call(token.name);
      }
      if (!Object.prototype.hasOwnProperty.call(data.names, token.name)) {
        throw new Error("no keycode or constant `" + token.name + "` in keycodes " + data.version);
      }
      parts.push([token.name, data.names[token.name]]);
      return data.names[token.name];
    }
    function call(name) {
      var model = Object.prototype.hasOwnProperty.call(data.functions, name) ? data.functions[name] : null;
      if (!model) throw new Error("`" + name + "(…)` is not resolved here: `qmk-api keycode` resolves any expression");
      var args = [expression()];
      while (next() && next().op === ",") {
        at++;
        args.push(expression());
      }
      expect(")");
      if (args.length !== model.bits.length) {
        throw new Error("`" + name + "` takes " + model.bits.length + " arguments, not " + args.length);
      }
      var value = model.base;
      args.forEach(function (arg, param) {
        var dropped = 0;
        for (var bit = 0; bit < 16; bit++) {
          if (!(arg & (1 << bit))) continue;
          var sets = model.bits[param][bit];
          if (sets === 0) dropped |= 1 << bit;
          else value |= sets;
        }
        if (dropped) {
          warnings.push("`" + name + "` drops " + hex(dropped) + " of its argument " + (param + 1) + ", " + hex(arg));
        }
      });
      return value;
    }
    var value = expression();
    if (at < list.length) throw new Error("unexpected text after the expression");
    return { value: value, hex: hex(value), parts: parts, warnings: warnings };
  }

  root.QMK_EXPRESSIONS = { resolve: resolve, hex: hex };
})(typeof window !== "undefined" ? window : globalThis);
