// Offline search over the index the build writes (assets/search-index.js): keycode
// names and aliases, and expressions resolved as C resolves them (assets/expression.js).
(function () {
  "use strict";
  var index = window.QMK_SEARCH_INDEX || { subsystems: {}, entries: [] };
  var expressions = window.QMK_EXPRESSIONS;
  var input = document.getElementById("q");
  var results = document.getElementById("results");
  var status = document.getElementById("status");
  var LIMIT = 50;
  var byValue = null;

  function versions(entry) {
    var all = index.subsystems[entry[3]] || [], spans = entry[4];
    var chosen = Array.isArray(spans) ? all.slice(spans[0], spans[1] + 1) : spans.each.map(function (i) { return all[i]; });
    return chosen;
  }

  function link(entry, text) {
    var shown = versions(entry), key = entry[1] || entry[0];
    var anchor = document.createElement("a");
    anchor.href = "constants/" + entry[3] + "_" + shown[shown.length - 1] + ".html#" + encodeURIComponent(key);
    anchor.textContent = text;
    return anchor;
  }

  function item(entry) {
    var name = entry[0], key = entry[1] || name, shown = versions(entry);
    var li = document.createElement("li");
    li.appendChild(link(entry, name));
    var detail = " = " + entry[2] + (name === key ? "" : " (alias of " + key + ")") + " in " + entry[3] + " " + shown.join(", ");
    li.appendChild(document.createTextNode(detail));
    return li;
  }

  // The keycode named for each value, to say what an expression comes to.
  function named(hex) {
    if (!byValue) {
      byValue = {};
      index.entries.forEach(function (entry) {
        if (entry[3] === "keycodes" && !entry[1] && !(entry[2] in byValue)) byValue[entry[2]] = entry;
      });
    }
    return byValue[hex];
  }

  function resolved(query) {
    var data = index.expressions;
    if (!expressions || !data) return false;
    var result;
    try {
      result = expressions.resolve(query, data);
    } catch (error) {
      status.textContent = query + ": " + error.message + ".";
      return true;
    }
    var li = document.createElement("li");
    li.appendChild(document.createTextNode(query + " = " + result.hex));
    var name = named(result.hex);
    if (name && name[0] !== query) {
      li.appendChild(document.createTextNode(", which is "));
      li.appendChild(link(name, name[0]));
    }
    var parts = result.parts.map(function (part) { return part[0] + " = " + expressions.hex(part[1]); });
    if (parts.length) li.appendChild(document.createTextNode(" (" + parts.join(", ") + ")"));
    results.appendChild(li);
    result.warnings.forEach(function (warning) {
      var note = document.createElement("li");
      note.className = "warning";
      note.textContent = "warning: " + warning;
      results.appendChild(note);
    });
    status.textContent = "Resolved with keycodes " + data.version + ".";
    return true;
  }

  function search() {
    var typed = input.value.trim();
    results.textContent = "";
    if (!typed) { status.textContent = "Type a name, such as QK_BOOT or KC_A, or an expression, such as LT(1, KC_A)."; return; }
    if (/[(|+]|^[0-9]/.test(typed) && resolved(typed)) return;
    var query = typed.toUpperCase();
    var exact = [], partial = [];
    index.entries.forEach(function (entry) {
      var name = entry[0].toUpperCase();
      if (name === query) exact.push(entry); else if (name.indexOf(query) !== -1) partial.push(entry);
    });
    var found = exact.concat(partial);
    found.slice(0, LIMIT).forEach(function (entry) { results.appendChild(item(entry)); });
    status.textContent = found.length === 0 ? "No keycode matches " + typed + "."
      : found.length + " matches" + (found.length > LIMIT ? ", the first " + LIMIT + " shown." : ".");
  }

  input.addEventListener("input", search);
  var given = new URLSearchParams(window.location.search).get("q");
  if (given) { input.value = given; search(); }
})();
