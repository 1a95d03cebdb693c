// Small progressive enhancements. Everything works without JavaScript.
(function () {
  "use strict";

  // "Copy" buttons next to a freshly created client id and secret.
  function enhanceCopyButtons(root) {
    if (!navigator.clipboard) { return; }
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          button.firstChild.textContent = "Copied";
        });
      });
    });
  }

  // After htmx swaps a panel, move focus to what needs attention (e.g. the one-time secret),
  // so keyboard and screen-reader users do not lose their place.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target || document;
    var panel = document.getElementById(target.id) || target;
    enhanceCopyButtons(panel);
    var focus = panel.querySelector("[data-focus-after-swap]");
    if (focus) { focus.focus(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    enhanceCopyButtons(document);
  });
})();
