// Small things every page needs, without inline scripts (CSP script-src 'self').
// A table that is wider than its box scrolls inside it; such a box gets a tab stop and a
// name, so a keyboard user can scroll it too (WCAG 2.1.1). Boxes that fit get neither.
(function () {
  "use strict";

  function mark() {
    document.querySelectorAll(".table-scroll").forEach(function (box) {
      var table = box.querySelector("table");
      var caption = box.closest("section") && box.closest("section").querySelector("h2, h3");
      if (box.scrollWidth > box.clientWidth + 1) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        var name = (table && table.getAttribute("aria-label")) || (caption && caption.textContent) || document.title;
        box.setAttribute("aria-label", name.trim());
      } else {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mark);
  } else {
    mark();
  }
  window.addEventListener("resize", mark);
})();
