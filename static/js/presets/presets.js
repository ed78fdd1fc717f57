// Preset pages: the Copy button of a new share link. Wired by data-copy, never by inline handlers.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.querySelector(button.dataset.copy);
  if (!field) return;
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    document.execCommand("copy"); // clipboard API refused (no secure context): the selected text
  }
  button.textContent = "Copied";
});
