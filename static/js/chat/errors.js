// What an error frame means to the person chatting, and what they can do about it.
const LIMITS = {
  org_rpm: "your organisation's requests per minute",
  user_rpm: "your requests per minute",
  key_rpm: "this key's requests per minute",
  org_tpm: "your organisation's tokens per minute",
  user_tpm: "your tokens per minute",
  key_tpm: "this key's tokens per minute",
  org_tokens_day: "your organisation's daily token quota",
  org_tokens_month: "your organisation's monthly token quota",
  user_tokens_day: "your daily token quota",
  user_tokens_month: "your monthly token quota",
  key_tokens_day: "this key's daily token quota",
  preset_tokens_day: "this preset's daily token quota",
  org_cost_day: "your organisation's daily budget",
  org_cost_month: "your organisation's monthly budget",
  user_cost_day: "your daily budget",
  user_cost_month: "your monthly budget",
};

// Refusals that waiting fixes: nothing was stored, the draft is back, and Retry after the server's
// retry_after (or this many seconds) usually finds room.
const BUSY = new Map([
  ["service_unavailable", { text: "The service is busy right now.", wait: 5 }],
  ["quota_store_unavailable", { text: "The service is busy right now.", wait: 5 }],
  ["overloaded", { text: "The service is at capacity right now.", wait: 2 }],
  ["shutting_down", { text: "This server is restarting.", wait: 1 }],
  ["too_many_frames", { text: "Too many messages at once: wait a moment.", wait: 1 }],
]);

const MODEL_FAILURES = new Set(["model_unavailable", "upstream_rejected", "internal_error", "upstream_interrupted"]);

export function limitName(limit) {
  return LIMITS[limit] || (limit ? `the ${limit.replaceAll("_", " ")} limit` : "a limit");
}

function resetText(resetAt) {
  const when = new Date(resetAt);
  if (Number.isNaN(when.getTime())) return "";
  const hours = Math.max(0, (when - Date.now()) / 3600000);
  const span = hours < 1 ? `${Math.ceil(hours * 60)} min` : `${Math.round(hours)} h`;
  return ` It resets at ${when.toLocaleString()} (in about ${span}).`;
}

/** { text, wait (seconds to count down), retry ("send" | "regenerate" | null) } for an error frame. */
export function describe(frame, { answered }) {
  const details = frame.details || {};
  const wait = frame.retry_after ?? details.retry_after ?? null;
  const busy = BUSY.get(frame.code);
  if (busy) return { text: busy.text, wait: wait ?? busy.wait, retry: answered ? "regenerate" : "send" };
  switch (frame.code) {
    case "rate_limited":
      return { text: `Slow down: you reached ${limitName(details.limit)}.`, wait: wait ?? 60, retry: "send" };
    case "quota_exceeded":
      return {
        text: `${capitalise(limitName(details.limit))} is used up.${resetText(details.reset_at)} An organisation admin can raise it.`,
        wait: null,
        retry: null,
      };
    case "budget_exceeded":
      return {
        text: `${capitalise(limitName(details.limit))} is spent.${resetText(details.reset_at)} An organisation admin can raise it.`,
        wait: null,
        retry: null,
      };
    case "turn_in_progress":
      return { text: "An answer is still being written in this conversation: wait for it, or stop it.", wait: null, retry: null };
    case "context_too_long":
    case "too_large":
      return { text: "Your message is too long for this conversation. Shorten it and send again.", wait: null, retry: null };
    case "preset_not_approved":
      return { text: "This conversation's preset has no version you may use yet. Ask its owner or an approver.", wait: null, retry: null };
    case "access_revoked":
      return { text: "You no longer have access to chat here. Reload the page or ask an organisation admin.", wait: null, retry: null };
    default:
      if (MODEL_FAILURES.has(frame.code) || answered) {
        return { text: "The model did not answer. Try again.", wait: null, retry: answered ? "regenerate" : "send" };
      }
      return { text: frame.message || "Something went wrong.", wait: null, retry: null };
  }
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
