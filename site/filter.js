// Filters the keyboard list as the user types.
(function () {
  "use strict";
  var input = document.getElementById("filter");
  var items = Array.prototype.slice.call(document.querySelectorAll("#keyboard-list li"));
  var shown = document.getElementById("shown");
  input.addEventListener("input", function () {
    var query = input.value.trim().toLowerCase();
    var count = 0;
    items.forEach(function (li) {
      var match = li.getAttribute("data-name").indexOf(query) !== -1;
      li.hidden = !match;
      if (match) count++;
    });
    shown.textContent = query ? count + " of " + items.length + " keyboards shown." : "";
  });
})();
