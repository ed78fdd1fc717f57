// Small helpers for one message element (rendered by templates/chat/_message.html).
const NOTES = {
  cancelled: "Stopped.",
  interrupted: "The answer was cut short.",
  failed: "No answer: the model failed.",
};

export function setStatus(el, status) {
  el.dataset.status = status;
  el.querySelector("[data-note]").textContent = NOTES[status] || "";
  el.setAttribute("aria-busy", String(status === "streaming" || status === "pending"));
}

/** The info popover: model, preset and version, tokens, cost, time to first token, PII findings. */
export function fillInfo(el, message, presetName) {
  const entities = Object.entries((message.pii && message.pii.entities) || {});
  const values = {
    model: message.model || "—",
    preset: message.preset_version ? `${presetName || "Preset"} v${message.preset_version}` : "—",
    prompt_tokens: String(message.prompt_tokens ?? 0),
    completion_tokens: String(message.completion_tokens ?? 0),
    cost: message.cost ?? "0",
    ttft_ms: message.ttft_ms === null || message.ttft_ms === undefined ? "—" : `${message.ttft_ms} ms`,
    pii: entities.length ? entities.sort().map(([name, count]) => `${name} × ${count}`).join(", ") : "None",
  };
  for (const [field, value] of Object.entries(values)) {
    el.querySelector(`[data-field="${field}"]`).textContent = value;
  }
}

export function toggleVote(el, chosen) {
  for (const button of el.querySelectorAll('[data-action="vote"]')) {
    button.setAttribute("aria-pressed", String(button.dataset.vote === chosen));
  }
}

export function resetVotes(el) {
  toggleVote(el, null);
}

/** A rough count for the composer (about 4 characters per token); the server counts exactly. */
export function estimateTokens(text) {
  return text.trim() ? Math.ceil(text.length / 4) : 0;
}
