"""Helpers for the conversation page's browser tests: open a conversation, watch its answer arrive."""

from __future__ import annotations

import time
from typing import Any

from conversations.models import Conversation
from tests.ui.browser import sign_in

# Before the page's scripts: every text the streamed answer showed, and every socket the page opened
# (so a test can cut one, as a dropped line would).
WATCH_SOCKETS = """
window.__sockets = [];
const NativeSocket = window.WebSocket;
window.WebSocket = class extends NativeSocket {
  constructor(...args) { super(...args); window.__sockets.push(this); }
};
"""
WATCH_STREAM = (
    WATCH_SOCKETS
    + """
window.__answerTexts = [];
new MutationObserver(() => {
  const md = document.querySelector('[data-message][data-status="streaming"] [data-md]');
  if (md) {
    const text = md.textContent;
    if (window.__answerTexts.at(-1) !== text) window.__answerTexts.push(text);
  }
}).observe(document, { subtree: true, childList: true, characterData: true });
"""
)


def open_conversation(
    context: Any, page: Any, base: str, user: Any, conversation: Conversation, *, watch_text: bool = True
) -> None:
    """Sign in and open the conversation; `watch_text` records the streamed answer's every text (costly
    on a long answer, so a timing test leaves it out)."""
    context.add_init_script(WATCH_STREAM if watch_text else WATCH_SOCKETS)
    sign_in(context, base, user)
    page.goto(f"{base}/o/{conversation.org.slug}/chat/{conversation.pk}/")
    wait_until(page, "window.__sockets.length > 0 && window.__sockets.at(-1).readyState === 1")


def wait_until(page: Any, expression: str, timeout: float = 10.0) -> Any:
    """Poll `expression` until truthy. (page.wait_for_function evaluates with eval, which the page's
    policy refuses; page.evaluate does not.)"""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout}s: {expression}")
        time.sleep(0.05)


def send(page: Any, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_label("Message", exact=True).press("Enter")


def answers(page: Any) -> Any:
    return page.locator('[data-message][data-role="assistant"]')


def wait_for_answer(page: Any, index: int = -1, timeout: float = 30) -> Any:
    """The answer at `index` once it has finished (no longer pending or streaming)."""
    answer = answers(page).nth(index)
    finished = "xpath=self::*[not(@data-status='streaming') and not(@data-status='pending')]"
    answer.locator(finished).wait_for(timeout=timeout * 1000)
    return answer


def words(count: int) -> str:
    """The fake model's default reply of `count` tokens, as stored."""
    return "".join(f"w{i} " for i in range(count))
