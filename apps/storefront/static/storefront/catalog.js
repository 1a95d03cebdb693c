// The catalog search page. Everything works without JavaScript: the facet form is a GET form
// with an "Apply filters" button. With htmx the form updates the results as people click, so
// the button is hidden, and the results say they are busy while a request runs.
(function () {
  "use strict";

  function results() { return document.getElementById("catalog-results"); }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.htmx) { return; }
    document.querySelectorAll("[data-without-htmx]").forEach(function (element) {
      element.hidden = true;
    });
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var region = results();
    if (region && event.detail.elt && event.detail.elt.id === "catalog-form") {
      region.setAttribute("aria-busy", "true");
    }
  });

  document.addEventListener("htmx:afterRequest", function () {
    var region = results();
    if (region) { region.removeAttribute("aria-busy"); }
  });
})();
