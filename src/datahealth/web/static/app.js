// Autosave resilience for the survey form (no inline script: CSP allows only same-origin files).
// A failed save (network drop, server restart) is announced, the answers stay on the page, and the
// form is saved again as soon as the connection returns. Leaving with unsaved answers asks first.
(function () {
  "use strict";
  var form = null;
  var unsaved = false;
  var retryTimer = null;

  function status(text, isError) {
    var box = document.getElementById("form-status");
    if (!box) { return; }
    box.textContent = text;
    box.classList.toggle("error", !!isError);
  }

  function retrySoon() {
    if (retryTimer) { return; }
    retryTimer = window.setTimeout(function () {
      retryTimer = null;
      if (unsaved && form && window.htmx) { window.htmx.trigger(form, "change"); }
    }, 5000);
  }

  function failed() {
    unsaved = true;
    status(form.dataset.msgFailed, true);
    retrySoon();
  }

  document.addEventListener("DOMContentLoaded", function () {
    form = document.getElementById("survey-form");
    if (!form) { return; }
    form.addEventListener("input", function () { unsaved = true; });
    form.addEventListener("change", function () { unsaved = true; });
    form.addEventListener("submit", function () { unsaved = false; });
    document.body.addEventListener("htmx:configRequest", function (event) {
      if (event.detail.elt === form && window.crypto && window.crypto.randomUUID) {
        event.detail.headers["Idempotency-Key"] = window.crypto.randomUUID();
      }
    });
    document.body.addEventListener("htmx:beforeRequest", function (event) {
      if (event.detail.elt === form) { status(form.dataset.msgSaving, false); }
    });
    document.body.addEventListener("htmx:afterRequest", function (event) {
      if (event.detail.elt !== form) { return; }
      if (event.detail.successful) { unsaved = false; } else { failed(); }
    });
    document.body.addEventListener("htmx:sendError", function (event) {
      if (event.detail.elt === form) { failed(); }
    });
    window.addEventListener("online", function () { if (unsaved) { window.htmx.trigger(form, "change"); } });
    window.addEventListener("beforeunload", function (event) {
      if (unsaved) { event.preventDefault(); event.returnValue = ""; }
    });
  });
})();
