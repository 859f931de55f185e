// Shows the keyboard's last build where the site is served by `qmk-api serve`, which
// answers build_log; on a static host or from file:// the request fails and the
// section stays hidden.
(function () {
  "use strict";
  var section = document.getElementById("build");
  if (!section || !window.fetch) return;
  fetch(section.getAttribute("data-build-log")).then(function (answer) {
    if (!answer.ok) throw new Error("no build log");
    return answer.json();
  }).then(function (log) {
    var tested = new Date(log.last_tested * 1000).toISOString().slice(0, 10);
    var result = (log.works ? "Builds" : "Does not build") + " with its " + log.keymap + " keymap";
    document.getElementById("build-result").textContent =
      result + (log.warnings ? ", with warnings" : "") + " (tested " + tested + ").";
    if (typeof log.firmware_size === "number") {
      var text = "Firmware: " + log.firmware_size + " bytes";
      var meter = document.getElementById("build-meter");
      if (typeof log.maximum_size === "number") {
        meter.max = log.maximum_size;
        meter.value = log.firmware_size;
        text += " of " + log.maximum_size + " (" + Math.round(100 * log.firmware_size / log.maximum_size) + "%)";
      } else {
        meter.hidden = true;
      }
      document.getElementById("build-size-text").textContent = text + ".";
      document.getElementById("build-size").hidden = false;
    }
    section.hidden = false;
  }).catch(function () {});
})();
