// Dangol staff app: small behaviours of our own. Libraries (htmx, Alpine, Tabler) load from lib/.
(function () {
  "use strict";

  // "/" focuses the global search box, as in most web apps (not while typing in a field).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    var box = document.getElementById("global-search");
    if (box) {
      event.preventDefault();
      box.focus();
    }
  });

  // A failed htmx request must not fail silently: show the (translated) message the page carries.
  document.addEventListener("htmx:responseError", function () {
    var text = document.body.getAttribute("data-request-failed");
    var place = document.querySelector("#main .container-xl") || document.body;
    if (!text || document.getElementById("request-failed")) return;
    var alert = document.createElement("div");
    alert.id = "request-failed";
    alert.className = "alert alert-danger";
    alert.setAttribute("role", "alert");
    alert.textContent = text;
    place.prepend(alert);
  });
})();
