// Ratecard's small client side: show htmx errors, dismiss alerts. Loaded with `defer`, no inline JS (CSP).
(function () {
  "use strict";

  function showMessage(text, level) {
    var box = document.getElementById("toasts");
    if (!box) { return; }
    var div = document.createElement("div");
    div.className = "alert alert-" + (level || "danger") + " alert-dismissible py-2";
    div.setAttribute("role", "alert");
    div.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("aria-label", "Dismiss");
    close.setAttribute("data-dismiss-alert", "");
    div.appendChild(close);
    box.appendChild(div);
  }

  // A failed htmx request must never look like nothing happened.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var text = "The request failed (" + xhr.status + ").";
    if (xhr.status === 403) { text = "You are not allowed to do that."; }
    else if (xhr.status === 404) { text = "That item no longer exists. Reload the page."; }
    else if (xhr.status === 503) { text = "The database is unavailable. Try again in a moment."; }
    else if (xhr.status >= 500) { text = "Something went wrong on the server; nothing was saved. Try again."; }
    showMessage(text, "danger");
  });
  document.addEventListener("htmx:sendError", function () {
    showMessage("The server cannot be reached. Check your connection and try again.", "warning");
  });

  // The navigation's menu button on narrow screens (Bootstrap's CSS, our own few lines of JS).
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element && event.target.closest("[data-toggle-nav]");
    if (!button) { return; }
    var menu = document.getElementById(button.getAttribute("data-toggle-nav"));
    if (!menu) { return; }
    var open = menu.classList.toggle("show");
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target instanceof Element && target.hasAttribute("data-dismiss-alert")) {
      var alert = target.closest(".alert");
      if (alert) { alert.remove(); }
    }
  });

  // Elements marked data-autosubmit submit their form on change (e.g. filters), for keyboard users too.
  // data-autosubmit="settled" waits until the value is valid and has stopped changing: a date
  // typed digit by digit fires "change" at every digit (Chromium), each one a date of its own.
  var SETTLE_MS = 700;
  var settling = new WeakMap();
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) { return; }
    var holder = target.closest("[data-autosubmit]");
    var form = target.closest("form");
    if (!holder || !form || !window.htmx) { return; }
    if (holder.getAttribute("data-autosubmit") !== "settled") {
      window.htmx.trigger(form, "submit");
      return;
    }
    window.clearTimeout(settling.get(target));
    settling.set(target, window.setTimeout(function () {
      if (typeof target.checkValidity !== "function" || target.checkValidity()) {
        window.htmx.trigger(form, "submit");
      }
    }, SETTLE_MS));
  });
})();
