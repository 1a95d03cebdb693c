// Pages with a region htmx refreshes while something is being set up (subscriptions,
// deployments). This tells screen readers what changed, through a live region that stays in
// place (a replaced one may go unheard), and shows "this page updates by itself" only when it does.
(function () {
  "use strict";

  var last = "";

  function announce() {
    var live = document.querySelector("[data-live-region]");
    var announcer = document.getElementById("live-announcer");
    if (!live || !announcer) { return; }
    var text = live.getAttribute("data-announce") || "";
    if (text && text !== last) {
      if (last) { announcer.textContent = text; }  // not on page load: the page says it already
      last = text;
    }
  }

  function showLiveHint() {
    if (!window.htmx) { return; }
    document.querySelectorAll("[data-live-hint]").forEach(function (hint) { hint.hidden = false; });
  }

  function refresh() { announce(); showLiveHint(); }

  document.addEventListener("DOMContentLoaded", refresh);
  document.addEventListener("htmx:afterSwap", refresh);
})();
