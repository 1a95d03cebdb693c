// The trial page. htmx replaces the live region while the trial is moving; this tells screen
// readers what changed, through a live region that stays in place (a replaced one may go unheard).
(function () {
  "use strict";

  var last = "";

  function announce() {
    var live = document.getElementById("trial-live");
    var announcer = document.getElementById("trial-announcer");
    if (!live || !announcer) { return; }
    var text = live.getAttribute("data-announce") || "";
    if (text && text !== last) {
      if (last) { announcer.textContent = text; }  // not on page load: the page says it already
      last = text;
    }
  }

  // "This page updates by itself" is true only with JavaScript (and htmx) running.
  function showLiveHint() {
    if (!window.htmx) { return; }
    document.querySelectorAll("[data-live-hint]").forEach(function (hint) { hint.hidden = false; });
  }

  function refresh() { announce(); showLiveHint(); }

  document.addEventListener("DOMContentLoaded", refresh);
  document.addEventListener("htmx:afterSwap", refresh);  // before the next paint: no flicker
})();
