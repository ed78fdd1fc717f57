// The conversation websocket, reconnected with backoff when it drops (docs/websocket.md).
// Close codes that mean "you may not" are final; anything else is a dropped line worth retrying.
const FINAL_CODES = new Set([4401, 4403, 4404, 4429]);
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];
// A handshake the server had no room for opens, gets one `overloaded` frame with one of these reasons
// and closes with 4503. It is not a line that came back: the backoff goes on, no sooner than the
// frame's retry_after, and the page never sees the frame (no turn of its own was refused).
const NO_ROOM_REASONS = new Set(["socket_limit", "socket_share", "socket_rate", "socket_busy"]);

export class ChatSocket {
  constructor(path, { onFrame, onOpen, onDown, onFinal }) {
    this.url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
    this.handlers = { onFrame, onOpen, onDown, onFinal };
    this.attempt = 0;
    this.socket = null;
    this.timer = null;
  }

  get open() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  connect() {
    clearTimeout(this.timer);
    const socket = new WebSocket(this.url);
    const attemptBefore = this.attempt;
    let noRoomWait = 0;
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.handlers.onOpen();
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return; // the server only sends JSON; anything else is not ours to act on
      }
      if (frame.type === "error" && NO_ROOM_REASONS.has(frame.details?.reason)) {
        this.attempt = attemptBefore;
        noRoomWait = (frame.retry_after || 0) * 1000;
        return;
      }
      this.handlers.onFrame(frame);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (FINAL_CODES.has(event.code)) {
        this.handlers.onFinal(event.code);
        return;
      }
      const backoff = Math.max(BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)], noRoomWait);
      const wait = backoff * (0.8 + Math.random() * 0.4);
      this.attempt += 1;
      this.handlers.onDown(Math.round(wait));
      this.timer = setTimeout(() => this.connect(), wait);
    });
  }

  /** Drop this socket and connect again after the backoff: its server is going away. */
  reconnect() {
    if (this.socket !== null) this.socket.close();
  }

  send(frame) {
    if (!this.open) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }
}
