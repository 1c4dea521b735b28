// The WebSocket protocol of /ws/stream: hello, settings, named frames, results and errors.
// One connection; the caller sends one frame at a time and gets each answer through `onResult`
// or `onFrameError` (matched to the frame by its id), and settings answers through `onSettings`.
// `onRefused` hears of a connection that failed before the hello: the browser does not say why (the
// server down, or the handshake refused: no token, another origin), so the page asks the REST API.

export class Stream {
  constructor({ onHello, onSettings, onSettingsError, onResult, onFrameError, onClose, onRefused } = {}) {
    this.handlers = { onHello, onSettings, onSettingsError, onResult, onFrameError, onClose, onRefused };
    this.ws = null;
    this.hello = null;     // the server's hello: version, max_frame_bytes, recognition, tracking, ...
    this.connecting = null;
  }

  get open() { return !!(this.ws && this.ws.readyState === WebSocket.OPEN && this.hello); }

  url() { return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/stream`; }

  /** Connect (once) and resolve with the hello message. */
  connect() {
    if (this.open) return Promise.resolve(this.hello);
    if (this.connecting) return this.connecting;
    this.connecting = new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url());
      ws.binaryType = "arraybuffer";
      let greeted = false, failed = false;
      const fail = (why) => {
        if (this.ws === ws) this.ws = null;
        this.connecting = null;
        reject(new Error(why));
        if (!failed && this.handlers.onRefused) this.handlers.onRefused();
        failed = true;
      };
      ws.onerror = () => { if (!greeted) fail("could not connect to the stream (server down, or this origin is not allowed: see --allow-origin)"); };
      ws.onclose = (ev) => {
        const was = this.ws === ws;
        if (was) { this.ws = null; this.hello = null; }
        if (!greeted) { fail(`the stream closed before the server said hello (${ev.code})`); return; }
        if (was && this.handlers.onClose) this.handlers.onClose(ev);
      };
      ws.onmessage = (ev) => {
        let msg;
        try { msg = JSON.parse(ev.data); } catch (e) { return; }
        if (msg.type === "hello" && !greeted) {
          greeted = true;
          this.ws = ws;
          this.hello = msg;
          this.connecting = null;
          if (this.handlers.onHello) this.handlers.onHello(msg);
          resolve(msg);
          return;
        }
        this.dispatch(msg);
      };
    });
    return this.connecting;
  }

  dispatch(msg) {
    const h = this.handlers;
    if (msg.type === "settings") { if (h.onSettings) h.onSettings(msg); }
    else if (msg.type === "result") { if (h.onResult) h.onResult(msg); }
    else if (msg.type === "error" && msg.frame != null) { if (h.onFrameError) h.onFrameError(msg); }
    else if (msg.type === "error") { if (h.onSettingsError) h.onSettingsError(msg); }
  }

  sendSettings(settings) {
    if (this.open) this.ws.send(JSON.stringify({ type: "settings", ...settings }));
  }

  /** Send one encoded frame under `id`, taken at `time` (seconds; the tracker's filters use it); false when
   *  the connection is not open. */
  sendFrame(id, bytes, time = performance.now() / 1000) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify({ type: "frame", id, time }));
    this.ws.send(bytes);
    return true;
  }

  close(reason) {
    const ws = this.ws;
    this.ws = null;
    this.hello = null;
    if (ws) ws.close(1000, reason || "closed by the page");
  }
}
