// The account pages' forms: htmx swaps in the section the server answers, including a refusal (4xx),
// which carries the message to show next to the form; and the new key's Copy button.

const SHOWN_REFUSALS = new Set([400, 403, 404, 409, 422]);

document.body.addEventListener("htmx:beforeSwap", (event) => {
  const target = event.detail.target;
  if (!target || !target.matches("[data-account-section]")) return;
  if (SHOWN_REFUSALS.has(event.detail.xhr.status)) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

document.body.addEventListener("htmx:afterSwap", (event) => {
  // After a swap, keyboard and screen-reader users land on what changed: the error, or the new secret.
  const section = event.detail.target;
  const focus = section && section.querySelector("[data-form-error], [data-new-key] [data-copy]");
  if (focus) {
    if (!focus.matches("button")) focus.setAttribute("tabindex", "-1");
    focus.focus();
  }
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  const status = button.parentElement.querySelector("[data-copy-status]");
  try {
    await navigator.clipboard.writeText(source.textContent);
    if (status) status.textContent = "Copied.";
  } catch (error) {
    // No clipboard permission (plain http, an old browser): select it for Ctrl+C instead.
    window.getSelection().selectAllChildren(source);
    if (status) status.textContent = "Selected: press Ctrl+C to copy.";
  }
});
