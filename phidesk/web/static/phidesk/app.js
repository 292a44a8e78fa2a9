/* PHIdesk: the little JavaScript the pages use on top of htmx.
 * No inline handlers anywhere (CSP script-src 'self'); everything hangs off htmx events.
 * Every page works without this file: forms post and redirect as usual.
 */
(function () {
  "use strict";

  var lastTargetId = null;

  function announce(text) {
    var region = document.getElementById("live-region");
    if (!region || !text) return;
    region.textContent = "";
    // A fresh text node after a tick makes screen readers announce repeats too.
    window.setTimeout(function () { region.textContent = text; }, 60);
  }

  function requestElement(detail) {
    return (detail.requestConfig && detail.requestConfig.elt) || detail.elt || null;
  }

  function errorSlotFor(elt) {
    var form = elt && elt.closest ? elt.closest("form") : null;
    var slot = form ? form.querySelector("[data-error-slot]") : null;
    return slot || document.getElementById("page-errors");
  }

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var slot = errorSlotFor(requestElement(evt.detail));
    if (slot) slot.innerHTML = "";
    var pageErrors = document.getElementById("page-errors");
    if (pageErrors && pageErrors !== slot) pageErrors.innerHTML = "";
  });

  // Errors (4xx/5xx) come back as a small notice: show it next to the form that caused it
  // instead of replacing the content the person was working on.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr && xhr.status >= 400) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
      evt.detail.target = errorSlotFor(requestElement(evt.detail));
      evt.detail.swapOverride = "innerHTML";
      lastTargetId = null;
      return;
    }
    lastTargetId = evt.detail.target ? evt.detail.target.id : null;
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (!lastTargetId) return;
    var target = document.getElementById(lastTargetId);
    lastTargetId = null;
    if (!target) return;
    var source = target.hasAttribute("data-announce") ? target : target.querySelector("[data-announce]");
    if (source) announce(source.getAttribute("data-announce"));
    // The control that was used is gone after an outerHTML swap: put focus somewhere useful.
    var focusTarget = null;
    if (target.id === "ticket-main") focusTarget = document.getElementById("ticket-title");
    if (target.id === "patient-panel") focusTarget = document.getElementById("patient-title");
    if (focusTarget) focusTarget.focus({ preventScroll: true });
  });

  function networkProblem() {
    var region = document.getElementById("page-errors");
    if (!region) return;
    region.innerHTML = "";
    var box = document.createElement("div");
    box.className = "notice notice-error notice-compact";
    box.setAttribute("role", "alert");
    box.textContent = "The desk could not be reached. Check your connection and try again.";
    region.appendChild(box);
  }

  document.addEventListener("htmx:sendError", networkProblem);
  document.addEventListener("htmx:timeout", networkProblem);
})();
