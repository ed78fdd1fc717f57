// Light, dark, or the system's choice; applied before the first paint (a classic, blocking script)
// so a dark page never flashes light. The choice is kept in localStorage.
(function () {
  "use strict";
  var KEY = "chatpresets-theme";
  var root = document.documentElement;

  function stored() {
    try { return localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function systemDark() {
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }
  function apply(choice) {
    var dark = choice ? choice === "dark" : systemDark();
    root.dataset.theme = dark ? "dark" : "light";
  }

  apply(stored());
  if (window.matchMedia) {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", function () { apply(stored()); });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-theme-toggle]");
    if (!button) return;
    var next = root.dataset.theme === "dark" ? "light" : "dark";
    try { localStorage.setItem(KEY, next); } catch (e) { /* private mode: this page only */ }
    apply(next);
  });
  document.addEventListener("change", function (event) {
    var select = event.target.closest && event.target.closest("[data-org-switcher] select");
    if (select) window.location.assign(select.value);
  });
})();
