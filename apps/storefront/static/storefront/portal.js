// The vendor portal's enhancements; everything works without JavaScript.
//
// - Uploads (forms with data-upload): htmx sends them; this shows the bytes sent in the form's
//   <progress> (XMLHttpRequest upload events, hooked before htmx sends), says so to screen
//   readers every quarter, and refuses a file above the limit (data-max-bytes) before sending it.
//   Without JavaScript the form is an ordinary multipart POST.
// - Offering forms: only the fields of the chosen deployment mode are shown (and sent).
(function () {
  "use strict";

  var MB = 1024 * 1024;

  function uploadForm(element) {
    return element && element.closest ? element.closest("form[data-upload]") : null;
  }

  function meter(form) {
    return {
      wrap: form.querySelector("[data-upload-meter]"),
      bar: form.querySelector("[data-upload-progress]"),
      status: form.querySelector("[data-upload-status]")
    };
  }

  function say(form, text) {
    var parts = meter(form);
    if (parts.wrap) { parts.wrap.hidden = false; }
    if (parts.status) { parts.status.textContent = text; }
  }

  // A file above the limit: an error next to the field, and nothing is sent.
  function tooLarge(form) {
    var inputs = form.querySelectorAll("input[type='file'][data-max-bytes]");
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i];
      var limit = parseInt(input.getAttribute("data-max-bytes"), 10);
      var file = input.files && input.files[0];
      if (file && limit && file.size > limit) {
        var id = input.id + "_size_error";
        var error = document.getElementById(id);
        if (!error) {
          error = document.createElement("p");
          error.id = id;
          error.className = "errorlist";
          input.insertAdjacentElement("afterend", error);
          var described = input.getAttribute("aria-describedby");
          input.setAttribute("aria-describedby", described ? described + " " + id : id);
        }
        error.textContent = file.name + " is larger than " + Math.floor(limit / MB) + " MB.";
        input.setAttribute("aria-invalid", "true");
        input.focus();
        return true;
      }
    }
    return false;
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = uploadForm(event.detail.elt);
    if (form && tooLarge(form)) { event.preventDefault(); }
  });

  document.addEventListener("htmx:beforeSend", function (event) {
    var form = uploadForm(event.detail.elt);
    var xhr = event.detail.xhr;
    if (!form || !xhr || !xhr.upload) { return; }
    var parts = meter(form);
    if (!parts.bar) { return; }
    var announced = -1;
    parts.wrap.hidden = false;
    parts.bar.value = 0;
    parts.bar.textContent = "0%";
    say(form, "Uploading…");
    xhr.upload.addEventListener("progress", function (progress) {
      if (!progress.lengthComputable) { parts.bar.removeAttribute("value"); return; }
      var percent = Math.min(100, Math.floor((progress.loaded / progress.total) * 100));
      parts.bar.value = percent;
      parts.bar.textContent = percent + "%";
      var quarter = Math.floor(percent / 25);
      if (quarter !== announced) {
        announced = quarter;
        say(form, "Uploading: " + percent + "%");
      }
    });
    xhr.upload.addEventListener("load", function () {
      parts.bar.value = 100;
      parts.bar.textContent = "100%";
      say(form, "Uploaded; the server checks the file…");
    });
  });

  // Answers htmx does not swap: a refused request body (413), a lost connection.
  document.addEventListener("htmx:responseError", function (event) {
    var form = uploadForm(event.detail.elt);
    if (!form) { return; }
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    say(form, status === 413 ? "The file is too large; nothing was saved." :
      "The upload failed (" + status + "); nothing was saved. Try again.");
  });
  document.addEventListener("htmx:sendError", function (event) {
    var form = uploadForm(event.detail.elt);
    if (form) { say(form, "The upload failed: the connection was lost. Try again."); }
  });

  // Offering forms: show the fields of the chosen mode; hidden ones are disabled (not sent).
  var MODES = { cloud: ["cloud"], on_premise: ["on_premise"], hybrid: ["cloud", "on_premise"] };

  function enhanceOffering(form) {
    var select = form.querySelector("select[name$='mode']");
    if (!select || form.hasAttribute("data-enhanced")) { return; }
    form.setAttribute("data-enhanced", "");
    function update() {
      var shown = MODES[select.value] || ["cloud", "on_premise"];
      form.querySelectorAll("[data-offering-mode]").forEach(function (part) {
        var show = shown.indexOf(part.getAttribute("data-offering-mode")) !== -1;
        part.hidden = !show;
        part.querySelectorAll("input, select, textarea").forEach(function (input) { input.disabled = !show; });
      });
    }
    select.addEventListener("change", update);
    update();
  }

  function enhance(root) {
    root.querySelectorAll("form[data-offering-form]").forEach(enhanceOffering);
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:afterSwap", function () { enhance(document); });
})();
