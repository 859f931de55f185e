// Offline search over the index the build writes (assets/search-index.js).
(function () {
  "use strict";
  var index = window.QMK_SEARCH_INDEX || { entries: [] };
  var input = document.getElementById("q");
  var results = document.getElementById("results");
  var status = document.getElementById("status");
  var LIMIT = 50;

  function item(entry) {
    var name = entry[0], key = entry[1], value = entry[2], subsystem = entry[3], versions = entry[4], page = entry[5];
    var li = document.createElement("li");
    var link = document.createElement("a");
    link.href = page + "#" + encodeURIComponent(key);
    link.textContent = name;
    li.appendChild(link);
    var detail = " = " + value + (name === key ? "" : " (alias of " + key + ")") + " in " + subsystem + " " + versions.join(", ");
    li.appendChild(document.createTextNode(detail));
    return li;
  }

  function search() {
    var query = input.value.trim().toUpperCase();
    results.textContent = "";
    if (!query) { status.textContent = "Type a name, such as QK_BOOT or KC_A."; return; }
    var exact = [], partial = [];
    index.entries.forEach(function (entry) {
      var name = entry[0].toUpperCase();
      if (name === query) exact.push(entry); else if (name.indexOf(query) !== -1) partial.push(entry);
    });
    var found = exact.concat(partial);
    found.slice(0, LIMIT).forEach(function (entry) { results.appendChild(item(entry)); });
    status.textContent = found.length === 0 ? "No keycode matches " + input.value + "."
      : found.length + " matches" + (found.length > LIMIT ? ", the first " + LIMIT + " shown." : ".");
  }

  input.addEventListener("input", search);
  var given = new URLSearchParams(window.location.search).get("q");
  if (given) { input.value = given; search(); }
})();
