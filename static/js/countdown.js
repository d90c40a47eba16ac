/* Live countdowns to regulatory deadlines (templates/incidents/_register.html).
 *
 * Every second, each <time data-countdown datetime="…"> on the page is rewritten from its own
 * datetime attribute and the browser's clock: "in 2 d 3 h 4 min 5 s", or "overdue by 1 h 0 min
 * 0 s" (class "overdue", shown in red) once past. No request to the server: it keeps counting
 * if the server is unreachable. Elements swapped in later by htmx (the live poll, a form
 * answer) are picked up on the next tick, since the page is queried afresh each time. The words
 * are the same as incidents/regulatory/panel.py writes before this script runs.
 */
(function () {
  "use strict";

  function words(totalSeconds) {
    var seconds = Math.floor(Math.abs(totalSeconds));
    var parts = [
      [Math.floor(seconds / 86400), "d"],
      [Math.floor((seconds % 86400) / 3600), "h"],
      [Math.floor((seconds % 3600) / 60), "min"],
      [seconds % 60, "s"],
    ];
    while (parts.length > 1 && parts[0][0] === 0) {
      parts.shift();
    }
    return parts.map(function (part) { return part[0] + " " + part[1]; }).join(" ");
  }

  function tick() {
    var now = Date.now();
    var clocks = document.querySelectorAll("time[data-countdown]");
    for (var i = 0; i < clocks.length; i++) {
      var element = clocks[i];
      var due = Date.parse(element.getAttribute("datetime"));
      if (isNaN(due)) {
        continue;
      }
      var left = (due - now) / 1000;
      var overdue = left < 0;
      var text = overdue ? "overdue by " + words(left) : "in " + words(left);
      if (element.textContent !== text) {
        element.textContent = text;
      }
      element.classList.toggle("overdue", overdue);
      element.setAttribute("title", overdue ? "Past its due time" : "Time left");
    }
  }

  tick();
  window.setInterval(tick, 1000);
})();
