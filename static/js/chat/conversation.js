// The conversation page: messages, the streamed answer, the composer and per-message actions.
// The answer streams over the conversation's websocket; only the answer being written is
// re-rendered (at most once per animation frame), never the history.
import { paint, renderMarkdown } from "./markdown.js";
import { ChatSocket } from "./socket.js";
import { describe } from "./errors.js";
import { fillInfo, estimateTokens, resetVotes, setStatus, toggleVote } from "./message.js";

const root = document.querySelector("[data-chat]");
const scroller = root.querySelector("[data-scroll]");
const list = root.querySelector("[data-messages]");
const errorBox = root.querySelector("[data-chat-error]");
const connection = root.querySelector("[data-connection]");
const announcer = root.querySelector("[data-announcer]");
const composer = root.querySelector("[data-composer]");
const input = root.querySelector("[data-composer-input]");
const sendButton = root.querySelector("[data-send]");
const stopButton = root.querySelector("[data-stop]");
const estimate = root.querySelector("[data-token-estimate]");
const template = root.querySelector("[data-message-template]");
const api = root.dataset.apiUrl;
const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";

const sources = new WeakMap(); // message element -> its Markdown source
let pending = null; // a frame sent and not yet acknowledged: { kind, content, clientId, user?, answer? }
let streaming = null; // the answer being written: { el, id, lastSeq, text }
let lastSent = null; // what to send again after a refusal
let countdown = null;
let paintQueued = false;
let lastPaint = { at: 0, cost: 0 };

// ---- messages ------------------------------------------------------------------------------

function messageElement(payload) {
  const el = template.content.firstElementChild.cloneNode(true);
  fill(el, payload);
  return el;
}

function fill(el, payload) {
  if (payload.id) el.dataset.id = payload.id;
  if (payload.seq) el.dataset.seq = payload.seq;
  el.dataset.role = payload.role;
  el.querySelector(".msg-author").textContent = payload.role === "user" ? "You" : "Assistant";
  setStatus(el, payload.status);
  if (payload.content !== undefined) setSource(el, payload.content, { final: payload.status !== "streaming" });
  if (payload.role === "assistant" && payload.model !== undefined) fillInfo(el, payload, root.dataset.presetName);
}

function setSource(el, source, options) {
  sources.set(el, source);
  // What people type is shown as they typed it; only answers are Markdown.
  paint(el.querySelector("[data-md]"), source, { ...options, plain: el.dataset.role === "user" });
}

function messages() {
  return [...list.querySelectorAll("[data-message]")];
}

function markLast() {
  const all = messages();
  for (const el of all) el.classList.remove("is-last-user", "is-last-answer");
  const lastUser = all.findLast((el) => el.dataset.role === "user");
  const lastAnswer = all.findLast((el) => el.dataset.role === "assistant");
  lastUser?.classList.add("is-last-user");
  if (lastAnswer && lastAnswer === all.at(-1)) lastAnswer.classList.add("is-last-answer");
}

function nearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}

function scrollToBottom() {
  scroller.scrollTop = scroller.scrollHeight;
}

function append(el) {
  const stick = nearBottom();
  list.append(el);
  markLast();
  if (stick || el.dataset.role === "user") scrollToBottom();
}

// ---- streaming -----------------------------------------------------------------------------

function startAnswer(afterUserSeq) {
  const el = messageElement({ role: "assistant", status: "streaming", content: "" });
  append(el);
  streaming = { el, id: null, lastSeq: 0, text: "", afterUserSeq };
  setBusy(true);
}

function onDelta(frame) {
  if (!streaming) return;
  if (streaming.id === null) streaming.id = frame.message_id;
  if (frame.message_id !== streaming.id || frame.seq <= streaming.lastSeq) return; // replayed: already shown
  streaming.lastSeq = frame.seq;
  streaming.text += frame.text;
  queuePaint();
}

// Text arriving faster than ~10 paints a second is batched: smooth to read, and cheap for the
// main thread however fast the model is. A slow paint (a long open block) spaces paints further.
const MIN_PAINT_MS = 100;

function queuePaint() {
  if (paintQueued) return;
  paintQueued = true;
  const interval = Math.min(250, Math.max(MIN_PAINT_MS, lastPaint.cost * 12));
  const wait = Math.max(0, lastPaint.at + interval - performance.now());
  setTimeout(() => requestAnimationFrame(paintStreaming), wait);
}

function paintStreaming() {
  paintQueued = false;
  if (!streaming) return;
  const stick = nearBottom();
  const started = performance.now();
  paintTail(streaming);
  lastPaint = { at: started, cost: performance.now() - started };
  if (stick) scrollToBottom();
}

// Finished blocks of the answer are parsed once and frozen; each paint re-parses only the open
// tail after the last blank line outside a code fence. The whole answer is parsed once more at the
// end (onDone), so a construct split across blocks still renders right.
function paintTail(turn) {
  if (!turn.frozen) {
    const md = turn.el.querySelector("[data-md]");
    turn.frozen = document.createElement("div");
    turn.tail = document.createElement("div");
    turn.frozen.className = turn.tail.className = "md-part";
    md.replaceChildren(turn.frozen, turn.tail);
    turn.frozenUpTo = 0;
  }
  const cut = stableBoundary(turn.text, turn.frozenUpTo);
  if (cut > turn.frozenUpTo) {
    turn.frozen.append(renderMarkdown(turn.text.slice(turn.frozenUpTo, cut), { final: false }));
    turn.frozenUpTo = cut;
  }
  turn.tail.replaceChildren(renderMarkdown(turn.text.slice(turn.frozenUpTo), { final: false }));
  sources.set(turn.el, turn.text);
}

function stableBoundary(text, from) {
  let cut = from;
  let inFence = false;
  let start = from;
  for (let end = text.indexOf("\n", start); end !== -1; end = text.indexOf("\n", start)) {
    const line = text.slice(start, end);
    if (/^ {0,3}(```|~~~)/.test(line)) inFence = !inFence;
    else if (!inFence && line.trim() === "" && start > from) cut = end + 1;
    start = end + 1;
  }
  return cut;
}

function onDone(frame) {
  const message = frame.message;
  if (message.role !== "assistant") return;
  if (!streaming) {
    if (!list.querySelector(`[data-id="${message.id}"]`)) append(messageElement(message));
    return;
  }
  if (streaming.id !== null && streaming.id !== message.id) return;
  if (message.status === "pending" || message.status === "streaming") {
    // Stored as last flushed by another process: keep what is shown and ask again shortly.
    streaming.id = message.id;
    setTimeout(resume, 1000);
    return;
  }
  const el = streaming.el;
  streaming = null;
  fill(el, message);
  finishTurn();
  announcer.textContent = `Answer: ${message.content.slice(0, 500)}`;
  if (message.status === "interrupted") {
    showError({ text: "The model stopped part-way through this answer. Retry for a new one.", retry: "regenerate" });
  } else if (message.status === "failed") {
    showError(describe({ code: message.error_code || "model_unavailable" }, { answered: true }));
  }
  refreshContext();
}

function finishTurn() {
  pending = null;
  setBusy(false);
  markLast();
}

function setBusy(busy) {
  root.toggleAttribute("data-busy", busy);
  input.disabled = busy;
  sendButton.disabled = busy;
  stopButton.hidden = !busy;
  if (!busy) input.focus();
}

// ---- frames --------------------------------------------------------------------------------

function onFrame(frame) {
  switch (frame.type) {
    case "ack":
      return onAck(frame.message);
    case "delta":
      return onDelta(frame);
    case "done":
      return onDone(frame);
    case "message":
      return onDone({ message: frame.message });
    case "error":
      return onError(frame);
    default:
      return undefined;
  }
}

function onAck(message) {
  if (!pending) return;
  const sent = pending;
  pending = null;
  if (sent.kind === "edit") {
    while (sent.user.nextElementSibling) sent.user.nextElementSibling.remove(); // its answers, now superseded
    sent.user.replaceWith(messageElement(message));
  } else if (sent.kind === "regenerate") {
    sent.answer.remove(); // superseded: kept on the server, out of the conversation
  } else {
    fill(sent.optimistic, message);
  }
  startAnswer(message.seq);
}

function onError(frame) {
  const sent = pending;
  const answered = streaming !== null;
  if (sent) {
    // Refused before anything was stored: the conversation is as it was, the draft goes back.
    sent.optimistic?.remove();
    if (sent.kind === "edit") sent.user.hidden = false;
    if (sent.kind === "send") input.value = sent.content;
  }
  if (streaming) {
    setStatus(streaming.el, "failed");
    setSource(streaming.el, streaming.text, { final: true });
    streaming = null;
  }
  finishTurn();
  autogrow();
  showError(describe(frame, { answered }));
  // The process behind this socket is draining: a new socket reaches one that will answer.
  if (frame.code === "shutting_down") socket.reconnect();
}

// ---- sending -------------------------------------------------------------------------------

function newClientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function send(kind, content, extra = {}) {
  clearError();
  const clientId = kind === "regenerate" ? "" : newClientId();
  const frame = kind === "regenerate" ? { type: kind } : { type: kind, content, client_id: clientId };
  if (!socket.send(frame)) {
    showError({ text: "Not connected to the server: reconnecting. Your message is kept; send it again then.", retry: null });
    return false;
  }
  pending = { kind, content, clientId, ...extra };
  lastSent = { kind, content };
  setBusy(true);
  return true;
}

function submit() {
  const content = input.value;
  if (!content.trim() || pending || streaming) return;
  const optimistic = messageElement({ role: "user", status: "pending", content });
  if (!send("send", content, { optimistic })) return;
  append(optimistic);
  input.value = "";
  autogrow();
}

function retry(kind) {
  if (kind === "regenerate") {
    const answer = messages().findLast((el) => el.dataset.role === "assistant");
    if (answer) send("regenerate", "", { answer });
  } else if (input.value.trim()) {
    submit();
  } else if (lastSent?.content) {
    input.value = lastSent.content;
    submit();
  }
}

function stop() {
  if (!streaming) return;
  // While the line is down, the stop waits for the new socket (onOpen): it must not be lost.
  streaming.stopWanted = !socket.send(streaming.id ? { type: "stop", message_id: streaming.id } : { type: "stop" });
}

// ---- reconnecting and resuming ---------------------------------------------------------------

async function resume() {
  if (!streaming || !socket.open) return;
  if (streaming.id === null) streaming.id = await answerAfter(streaming.afterUserSeq);
  if (streaming.id === null) return;
  socket.send({ type: "resume", message_id: streaming.id, after_seq: streaming.lastSeq });
}

async function answerAfter(userSeq) {
  // The socket dropped before the first delta named the answer: it is the next message stored.
  const response = await fetch(`${api}messages/`, { headers: { Accept: "application/json" } });
  if (!response.ok) return null;
  const { results } = await response.json();
  const answer = results.find((m) => m.role === "assistant" && !m.superseded && m.seq > userSeq);
  return answer ? answer.id : null;
}

function onOpen() {
  connection.textContent = "";
  if (pending && pending.kind === "send") {
    // The frame may never have arrived: its client_id makes sending it again safe (the server replays).
    socket.send({ type: "send", content: pending.content, client_id: pending.clientId });
  } else if (pending) {
    location.reload(); // an edit or regenerate has no replay: show what the server stored, and follow it
    return;
  }
  resume();
  if (streaming?.stopWanted) stop();
}

function onDown(wait) {
  connection.textContent = `Disconnected. Reconnecting in ${Math.ceil(wait / 1000)} s…`;
}

function onFinal(code) {
  setBusy(false);
  input.disabled = true;
  sendButton.disabled = true;
  const text = code === 4401 ? "Your session ended: sign in again." : "You can no longer chat in this conversation.";
  showError({ text, retry: null });
}

// ---- errors --------------------------------------------------------------------------------

function clearError() {
  clearInterval(countdown);
  errorBox.replaceChildren();
  errorBox.hidden = true;
}

function showError({ text, wait = null, retry: retryKind = null }) {
  clearError();
  errorBox.hidden = false;
  const box = document.createElement("div");
  box.className = "notice error";
  const message = document.createElement("p");
  message.textContent = text;
  const hint = document.createElement("p");
  hint.dataset.countdown = "";
  box.append(message, hint);
  if (retryKind) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.retry = retryKind;
    button.textContent = "Retry";
    box.append(button);
    if (wait) startCountdown(hint, button, wait);
  }
  errorBox.append(box);
  if (nearBottom()) scrollToBottom();
}

function startCountdown(hint, button, seconds) {
  let left = Math.ceil(seconds);
  button.disabled = true;
  const tick = () => {
    if (left <= 0) {
      clearInterval(countdown);
      hint.textContent = "You can try again now.";
      button.disabled = false;
      return;
    }
    hint.textContent = `Try again in ${left} s.`;
    left -= 1;
  };
  tick();
  countdown = setInterval(tick, 1000);
}

// ---- actions on messages ------------------------------------------------------------------

async function copy(button, text) {
  try {
    await navigator.clipboard.writeText(text);
    flash(button, "Copied");
  } catch {
    flash(button, "Copy failed");
  }
}

function flash(button, text) {
  const original = button.textContent;
  button.textContent = text;
  setTimeout(() => (button.textContent = original), 1500);
}

function editMessage(el) {
  if (pending || streaming) return;
  const editor = document.createElement("form");
  editor.className = "edit-form";
  const label = document.createElement("label");
  label.className = "visually-hidden";
  label.htmlFor = "edit-input";
  label.textContent = "Edit your message";
  const area = document.createElement("textarea");
  area.id = "edit-input";
  area.value = sources.get(el) ?? "";
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "primary";
  save.textContent = "Save and send";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.textContent = "Cancel";
  editor.append(label, area, save, cancel);
  el.hidden = true;
  el.after(editor);
  area.focus();
  const close = () => {
    editor.remove();
    el.hidden = false;
  };
  cancel.addEventListener("click", close);
  editor.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!area.value.trim()) return;
    editor.remove();
    if (!send("edit", area.value, { user: el })) el.hidden = false;
  });
}

async function vote(button) {
  const el = button.closest("[data-message]");
  const chosen = button.dataset.vote;
  const undo = button.getAttribute("aria-pressed") === "true";
  const url = `${api}messages/${el.dataset.id}/feedback/`;
  const response = await fetch(url, {
    method: undo ? "DELETE" : "PUT",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
    body: undo ? undefined : JSON.stringify({ vote: chosen }),
  });
  if (!response.ok) {
    showError({ text: "Your vote could not be saved. Try again." });
    return;
  }
  if (undo) {
    resetVotes(el);
    el.querySelector("[data-reason-form]").hidden = true;
  } else {
    toggleVote(el, chosen);
    const form = el.querySelector("[data-reason-form]");
    form.hidden = false;
    form.dataset.vote = chosen;
    form.querySelector("input").focus();
  }
}

async function sendReason(form) {
  const el = form.closest("[data-message]");
  const reason = form.querySelector("input").value;
  const response = await fetch(`${api}messages/${el.dataset.id}/feedback/`, {
    method: "PUT",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
    body: JSON.stringify({ vote: form.dataset.vote, reason }),
  });
  if (response.ok) {
    form.hidden = true;
    announcer.textContent = "Thanks for the feedback.";
  }
}

root.addEventListener("click", (event) => {
  const target = event.target.closest("button");
  if (!target || !root.contains(target)) return;
  const el = target.closest("[data-message]");
  const action = target.dataset.action;
  if (target.hasAttribute("data-copy-code")) copy(target, target.parentElement.querySelector("code").textContent);
  else if (action === "copy") copy(target, sources.get(el) ?? "");
  else if (action === "edit") editMessage(el);
  else if (action === "regenerate" && !pending && !streaming) send("regenerate", "", { answer: el });
  else if (action === "vote") vote(target);
  else if (target.dataset.retry) retry(target.dataset.retry);
  else if (target === stopButton) stop();
  else if (target.hasAttribute("data-load-older")) loadOlder();
  else if (target.hasAttribute("data-context-toggle")) toggleContext(target);
  else if (target.hasAttribute("data-context-close")) toggleContext(root.querySelector("[data-context-toggle]"));
});

root.addEventListener("submit", (event) => {
  const form = event.target;
  if (form === composer) {
    event.preventDefault();
    submit();
  } else if (form.hasAttribute("data-reason-form")) {
    event.preventDefault();
    sendReason(form);
  }
});

// An info popover opened near the bottom would hide below the fold: bring it into view.
root.addEventListener(
  "toggle",
  (event) => {
    if (event.target.matches?.(".msg-info") && event.target.open) {
      event.target.querySelector("dl").scrollIntoView({ block: "nearest" });
    }
  },
  true,
);

// ---- the composer --------------------------------------------------------------------------

function autogrow() {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 240)}px`;
  estimate.textContent = `≈ ${estimateTokens(input.value)} tokens`;
}

input.addEventListener("input", autogrow);
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && streaming) stop();
});

// ---- older messages ------------------------------------------------------------------------

let loadingOlder = false;

async function loadOlder() {
  const marker = list.querySelector("[data-older]");
  if (!marker || loadingOlder) return;
  loadingOlder = true;
  try {
    const response = await fetch(`${root.dataset.olderUrl}?before_seq=${marker.dataset.beforeSeq}`);
    if (!response.ok) return;
    const parsed = new DOMParser().parseFromString(await response.text(), "text/html");
    const before = scroller.scrollHeight;
    const nodes = [...parsed.body.children].map((node) => document.adoptNode(node));
    marker.replaceWith(...nodes);
    for (const el of nodes) if (el.matches("[data-message]")) upgrade(el);
    scroller.scrollTop += scroller.scrollHeight - before; // keep the reader where they were
    watchOlder();
  } finally {
    loadingOlder = false;
  }
}

const olderObserver = new IntersectionObserver(
  (entries) => {
    if (entries.some((entry) => entry.isIntersecting)) loadOlder();
  },
  { root: scroller, rootMargin: "200px 0px 0px 0px" },
);

function watchOlder() {
  olderObserver.disconnect();
  const marker = list.querySelector("[data-older]");
  if (marker) olderObserver.observe(marker);
}

function upgrade(el) {
  const md = el.querySelector("[data-md]");
  setSource(el, md.textContent, { final: true });
}

// ---- the context panel -------------------------------------------------------------------------

function toggleContext(button) {
  const panel = root.querySelector("#context-panel");
  const open = panel.hidden;
  panel.hidden = !open;
  button.setAttribute("aria-expanded", String(open));
  if (open) button.dispatchEvent(new CustomEvent("context-open"));
}

function refreshContext() {
  const panel = root.querySelector("#context-panel");
  if (!panel.hidden) root.querySelector("[data-context-toggle]").dispatchEvent(new CustomEvent("context-open"));
}

// ---- code themes follow the page theme ---------------------------------------------------------

function syncCodeTheme() {
  const theme = document.documentElement.dataset.theme;
  for (const link of document.querySelectorAll("link[data-code-theme]")) link.disabled = link.dataset.codeTheme !== theme;
}
new MutationObserver(syncCodeTheme).observe(document.documentElement, { attributeFilter: ["data-theme"] });
syncCodeTheme();

// ---- start ---------------------------------------------------------------------------------

for (const el of messages()) upgrade(el);
markLast();
scrollToBottom();
watchOlder();
errorBox.hidden = true;

const socket = new ChatSocket(root.dataset.socketPath, { onFrame, onOpen, onDown, onFinal });
const unfinished = messages().at(-1);
if (unfinished && unfinished.dataset.role === "assistant" && ["pending", "streaming"].includes(unfinished.dataset.status)) {
  // Opened (or reloaded) while an answer is being written: follow it from its first delta.
  streaming = { el: unfinished, id: unfinished.dataset.id, lastSeq: 0, text: "", afterUserSeq: 0 };
  setBusy(true);
}
socket.connect();
