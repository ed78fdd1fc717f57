// Chat navigation: the sidebar's search, inline rename and the preset picker. htmx does the requests;
// this module only adds what htmx leaves to the page (wired by data-* attributes, never inline).

// A refused rename or upgrade answers 4xx with the form and its message: show it rather than drop it.
document.body.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  const source = event.detail.requestConfig && event.detail.requestConfig.elt;
  if (status >= 400 && status < 500 && source && source.closest("[data-nav-swap-errors]")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// The search box filters as one types; Enter must not navigate to the bare list.
document.addEventListener("submit", (event) => {
  if (event.target.matches("[data-nav-search]")) event.preventDefault();
});

// Esc leaves a rename as it was (asked of htmx directly: the form may be newer than its processing).
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || !event.target.matches("[data-nav-rename]")) return;
  const cancel = event.target.form.querySelector("[data-nav-cancel]");
  const row = event.target.closest("li");
  if (cancel && row) window.htmx.ajax("GET", cancel.getAttribute("hx-get"), { target: row, swap: "outerHTML" });
});

// The picked preset is marked in the list: on a click, and again when a search redraws the list.
function markPicked(presetId) {
  document.querySelectorAll("[data-preset-option]").forEach((option) => {
    if (option.dataset.presetOption === presetId) option.setAttribute("aria-current", "true");
    else option.removeAttribute("aria-current");
  });
}

document.addEventListener("click", (event) => {
  const option = event.target.closest("[data-preset-option]");
  if (option) markPicked(option.dataset.presetOption);
});

document.body.addEventListener("htmx:afterSettle", () => {
  const picked = document.querySelector("#start-panel input[name=preset]");
  if (picked) markPicked(picked.value);
});
