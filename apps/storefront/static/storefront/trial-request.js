// The "Request a trial", "Buy" and "Request a quote" forms on the listing page. Without
// JavaScript both target fields (region, sites) are shown and the server uses the one the chosen
// offering needs; with it, only that one is shown (the other is disabled, so it is not sent).
(function () {
  "use strict";

  function enhance(form) {
    var plan = form.querySelector("select[name='plan'], select[name$='-plan']");
    if (!plan) { return; }
    var targets = form.querySelectorAll("[data-target-mode]");

    function update() {
      var option = plan.options[plan.selectedIndex];
      var mode = option ? option.getAttribute("data-mode") : null;
      targets.forEach(function (field) {
        var cloud = field.getAttribute("data-target-mode") === "cloud";
        var show = !mode || (cloud ? mode === "cloud" : mode !== "cloud");
        field.hidden = !show;
        field.querySelectorAll("select, input").forEach(function (input) { input.disabled = !show; });
      });
    }

    plan.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-trial-request], form[data-target-switch]").forEach(enhance);
  });
})();
