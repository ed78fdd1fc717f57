// Model output is untrusted: Markdown is parsed by marked, then everything goes through DOMPurify
// before it touches the page. Links open in a new tab without a referrer or an opener.
import { marked } from "../../vendor/marked/marked.esm.js";
import DOMPurify from "../../vendor/dompurify/purify.es.mjs";
import hljs from "../../vendor/highlight/highlight.min.js";

// Raw HTML in model output is shown as text, and images as links: nothing the model writes becomes
// markup with handlers or a request to another site (which the page's policy would refuse and report).
const escapeHtml = (text) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

marked.use({
  renderer: {
    html({ text }) {
      return escapeHtml(text);
    },
    image({ href, text }) {
      return `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`;
    },
  },
});

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

const PURIFY = { RETURN_DOM_FRAGMENT: true, FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select"], FORBID_ATTR: ["style"] };

/** Safe DOM for `source`; `final` adds code highlighting and copy buttons (skipped while streaming). */
export function renderMarkdown(source, { final = true } = {}) {
  const html = marked.parse(source, { async: false, gfm: true });
  const fragment = DOMPurify.sanitize(html, PURIFY);
  if (final) {
    for (const code of fragment.querySelectorAll("pre > code")) decorateCode(code);
  }
  return fragment;
}

function decorateCode(code) {
  const language = [...code.classList].find((c) => c.startsWith("language-"))?.slice(9);
  try {
    if (language && hljs.getLanguage(language)) hljs.highlightElement(code);
    else code.classList.add("hljs");
  } catch {
    code.classList.add("hljs"); // an odd block stays plain text rather than breaking the message
  }
  const pre = code.parentElement;
  pre.classList.add("code-block");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "copy-code";
  button.dataset.copyCode = "";
  button.textContent = "Copy code";
  pre.prepend(button);
}

/** Replace `element`'s children with `source` rendered (as plain text when `options.plain`). */
export function paint(element, source, options = {}) {
  if (options.plain) element.textContent = source;
  else element.replaceChildren(renderMarkdown(source, options));
}
