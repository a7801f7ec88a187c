// The viewer page: one WebSocket to /ws/desktops/<id>/, a canvas, input, clipboard, sizing,
// reconnect with back-off and overlays. Wire format: docs/viewer-protocol.md.

import { decode, encode } from "./protocol.js";
import { Display, webCodecsUsable } from "./display.js";
import { Input } from "./input.js";
import { attachMicrophone } from "./microphone.js";
import { AudioOut } from "./audio.js";
import { OnScreenKeyboard } from "./osk.js";
import { TouchInput } from "./touch.js";

const CLOSE_MESSAGES = {
  4401: ["Not signed in", "Sign in again to view this desktop.", false],
  4403: ["Access denied", "You do not have access to this desktop.", false],
  4404: ["No such desktop", "This desktop does not exist.", false],
  4409: ["Desktop stopped", "This desktop is not running.", false],
  4410: ["Sharing ended", "The owner stopped sharing this desktop, or the share expired.", false],
};
const RESIZE_DEBOUNCE_MS = 400;
// Stream presets the server knows (by name only: it maps them to encoder options).
export const PRESETS = { quality: "Quality", balanced: "Balanced", low: "Low bandwidth" };
const DEFAULT_PRESET = "balanced";
const STATS_EVERY_MS = 1000;
const MAX_CLIPBOARD_BYTES = 16 * 1024 * 1024; // UTF-8 (the session's limit: compositor.messages)

export class Viewer {
  constructor(root, config) {
    this.root = root;
    this.config = config; // {wsUrl, viewOnly, format: "auto"|"h264"|"jpeg"}
    this.canvas = root.querySelector("canvas");
    this.stage = root.querySelector(".wrd-stage");
    this.overlay = root.querySelector(".wrd-overlay");
    this.sink = root.querySelector(".wrd-keys");
    this.panel = root.querySelector(".wrd-clipboard");
    this.ws = null;
    this.format = null;
    this.width = 0;
    this.height = 0;
    this.viewOnly = !!config.viewOnly;
    this.mode = localStorage.getItem("wrd.scale") || "fit";
    this.resizeToWindow = localStorage.getItem("wrd.resize") === "1";
    this.preset = storedPreset();
    this.awaitingSubscribed = 0; // subscribes sent and not yet answered: frames meanwhile are stale
    this.backoff = 500;
    this.reconnectTimer = 0;
    this.stopped = false;
    this.lastClipboard = null;
    this.events = new EventTarget();
    this.stats = { messages: 0, bytes: 0, opened: 0 };
    this.rate = { at: performance.now(), bytes: 0, drawn: 0, fps: 0, kibps: 0 };
    this.display = new Display(this.canvas, {
      ack: (seq) => this.sendOp({ op: "ack", seq }),
      keyframe: () => this.sendOp({ op: "keyframe" }),
      decoderFailed: (e) => this.decoderFailed(e),
      drawn: (info) => this.events.dispatchEvent(new CustomEvent("drawn", { detail: info })),
    });
    this.input = new Input(this.canvas, this.sink, (events) => this.sendOp({ op: "input", events }), {
      paste: (text) => this.sendClipboard(text),
      text: (text) => this.osk.text(text),
    });
    this.audio = new AudioOut(root.querySelector(".wrd-bar"), (header) => this.sendOp(header));
    this.touch = new TouchInput(this.canvas, this.stage, this.input);
    this.osk = new OnScreenKeyboard(root.querySelector(".wrd-osk"), this.input, () => {
      this.applyMode();
      if (this.resizeToWindow) this.scheduleResize(); // the keys take room from the stage
    });
    this.bindUi();
    this.microphone = attachMicrophone(this, root.querySelector("[data-action=microphone]"));
    this.applyMode();
    this.showPreset();
    setInterval(() => this.updateStats(), STATS_EVERY_MS);
  }

  async start() {
    const wanted = this.config.format || "auto";
    this.preferred = wanted === "auto" ? ((await webCodecsUsable()) ? "h264" : "jpeg") : wanted;
    this.connect();
  }

  // -- connection -------------------------------------------------------------------------

  connect() {
    clearTimeout(this.reconnectTimer);
    this.showOverlay("Connecting…", "", false);
    const ws = new WebSocket(this.config.wsUrl);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.stats.opened++;
      this.backoff = 500;
      this.awaitingSubscribed = 0;
      this.display.reset();
      this.subscribe(this.preferred);
      this.audio.connectedChanged(true);
    };
    // Events of a socket we already replaced (reconnect, retry) are ignored.
    ws.onmessage = (e) => { if (ws === this.ws) this.onMessage(e.data); };
    ws.onclose = (e) => { if (ws === this.ws) this.onClose(e); };
  }

  onClose(e) {
    this.ws = null;
    this.display.reset();
    this.audio.connectedChanged(false);
    this.input.enabled = false;
    const known = CLOSE_MESSAGES[e.code];
    if (known || this.stopped) {
      const [title, text] = known || ["Desktop stopped", this.stopReason || ""];
      this.showOverlay(title, e.code === 4410 && this.stopReason ? this.stopReason : text, true);
      this.root.dataset.state = e.code === 4403 ? "forbidden" : e.code === 4401 ? "unauthenticated"
        : e.code === 4410 ? "revoked" : "stopped";
      return;
    }
    const delay = Math.min(this.backoff, 10000) * (0.75 + Math.random() * 0.5);
    this.backoff = Math.min(this.backoff * 2, 10000);
    this.root.dataset.state = "reconnecting";
    this.showOverlay("Connection lost", `Reconnecting in ${(delay / 1000).toFixed(1)} s… (${e.reason || e.code})`, true);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  sendOp(header, payload) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(encode(header, payload));
  }

  subscribe(format) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    this.format = format;
    this.display.reset();
    this.awaitingSubscribed++;
    // A deflate-compressed socket may be sent images left for that compression ("indexed").
    const compressed = /permessage-deflate/.test(this.ws.extensions || "");
    this.sendOp({ op: "subscribe", format, preset: this.preset, compressed });
  }

  /** A preset chosen in the toolbar: remembered, and the stream re-subscribed with it. */
  setPreset(name) {
    if (!Object.hasOwn(PRESETS, name) || name === this.preset) return;
    this.preset = name;
    localStorage.setItem("wrd.preset", name);
    this.showPreset();
    if (this.format) this.subscribe(this.format);
  }

  showPreset() {
    this.root.dataset.preset = this.preset;
    this.root.querySelector("[data-action=preset]").value = this.preset;
    this.updateStats();
  }

  /** The toolbar's stats: the preset the server confirmed, frames drawn and KiB received a second. */
  updateStats() {
    const now = performance.now(), r = this.rate;
    const seconds = (now - r.at) / 1000;
    if (seconds >= STATS_EVERY_MS / 2000) {
      r.fps = (this.display.stats.drawn - r.drawn) / seconds;
      r.kibps = (this.stats.bytes - r.bytes) / 1024 / seconds;
      Object.assign(r, { at: now, bytes: this.stats.bytes, drawn: this.display.stats.drawn });
    }
    const active = this.root.dataset.activePreset;
    const label = active ? PRESETS[active] : "—";
    this.root.querySelector(".wrd-stats").textContent =
      `${label} · ${r.fps.toFixed(0)} fps · ${r.kibps.toFixed(r.kibps < 10 ? 1 : 0)} KiB/s`;
  }

  decoderFailed(e) {
    console.warn("wrd: H.264 decoder failed, switching to JPEG", e);
    this.preferred = "jpeg";
    if (this.format !== "jpeg") this.subscribe("jpeg");
  }

  onMessage(data) {
    this.stats.messages++;
    this.stats.bytes += data.byteLength;
    let msg;
    try {
      msg = decode(data);
    } catch (e) {
      console.warn("wrd: bad message from server", e);
      return;
    }
    const { header, payload } = msg;
    switch (header.op) {
      case "frame":
        // Frames before the answer to our latest subscribe belong to the stream we left.
        if (this.awaitingSubscribed === 0 && (header.format === undefined || header.format === this.format)) {
          this.display.frame(header, payload);
        }
        break;
      case "subscribed":
        this.awaitingSubscribed = Math.max(0, this.awaitingSubscribed - 1);
        if (this.awaitingSubscribed > 0) break; // a later subscribe is on its way
        this.format = header.format;
        this.root.dataset.activePreset = header.preset || DEFAULT_PRESET;
        this.updateStats();
        this.viewOnly = !!header.view_only;
        this.root.dataset.format = header.format;
        this.root.dataset.viewOnly = this.viewOnly ? "1" : "0";
        this.input.enabled = !this.viewOnly;
        this.sizeChanged(header.width, header.height);
        this.hideOverlay();
        this.root.dataset.state = "connected";
        if (this.resizeToWindow) this.scheduleResize();
        break;
      case "view_only": // the owner of a shared desktop handed control over or took it back
        this.viewOnly = !!header.view_only;
        this.root.dataset.viewOnly = this.viewOnly ? "1" : "0";
        this.input.enabled = !this.viewOnly;
        break;
      case "resized":
        this.sizeChanged(header.width, header.height);
        break;
      case "audio":
        this.audio.packet(header, payload);
        break;
      case "audio_subscribed":
        this.audio.subscribed(header);
        break;
      case "cursor":
        this.setCursor(header, payload);
        break;
      case "clipboard":
        this.clipboardFromDesktop(header.is_text ? new TextDecoder().decode(payload) : null);
        break;
      case "downloads": // the desktop's ~/Downloads changed: the Files panel's list (files.js)
        try {
          const files = JSON.parse(new TextDecoder().decode(payload));
          this.root.dispatchEvent(new CustomEvent("wrd-downloads", { detail: files }));
        } catch (e) {
          console.warn("wrd: bad download list from server", e);
        }
        break;
      case "bye":
        this.stopped = true;
        this.stopReason = header.reason || "";
        break;
      case "error":
        console.warn("wrd: server says", header.error);
        break;
      default:
        break; // pointer and future ops
    }
  }

  sizeChanged(width, height) {
    this.width = width;
    this.height = height;
    this.display.resize(width, height);
    this.applyMode();
  }

  // -- cursor -----------------------------------------------------------------------------

  setCursor(header, rgba) {
    const { width, height, xhot, yhot } = header;
    if (!width || !height || !rgba.some((_, i) => i % 4 === 3 && rgba[i] !== 0)) {
      this.canvas.style.cursor = "none";
      return;
    }
    const c = document.createElement("canvas");
    c.width = width;
    c.height = height;
    c.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
    const hx = Math.min(xhot, width - 1), hy = Math.min(yhot, height - 1);
    this.canvas.style.cursor = `url(${c.toDataURL()}) ${hx} ${hy}, default`;
    this.root.dataset.cursorSerial = String(header.serial);
  }

  // -- clipboard --------------------------------------------------------------------------

  clipboardFromDesktop(text) {
    if (typeof text !== "string") return;
    this.lastClipboard = text;
    this.panel.querySelector("textarea").value = text;
    if (document.hasFocus() && navigator.clipboard?.writeText) {
      navigator.clipboard.writeText(text).catch(() => {}); // not permitted: the panel has it
    }
  }

  sendClipboard(text) {
    if (this.viewOnly || typeof text !== "string" || text === this.lastClipboard) return;
    const bytes = new TextEncoder().encode(text);
    const note = this.panel.querySelector(".wrd-clipboard-note");
    if (bytes.length > MAX_CLIPBOARD_BYTES) {
      note.textContent = `Not sent: ${(bytes.length / 1048576).toFixed(1)} MB of text is over the ` +
        `${MAX_CLIPBOARD_BYTES / 1048576} MB clipboard limit.`;
      note.hidden = false;
      return;
    }
    note.hidden = true;
    this.lastClipboard = text;
    this.sendOp({ op: "clipboard" }, bytes);
  }

  async pullBrowserClipboard() {
    if (this.viewOnly || !navigator.clipboard?.readText) return;
    try {
      const perm = await navigator.permissions?.query({ name: "clipboard-read" });
      if (perm && perm.state === "denied") return;
      this.sendClipboard(await navigator.clipboard.readText());
    } catch { /* not permitted without a gesture: the panel and Ctrl+V still work */ }
  }

  // -- sizing -----------------------------------------------------------------------------

  applyMode() {
    this.root.dataset.scale = this.mode;
    const c = this.canvas;
    if (!this.width) return;
    if (this.mode === "1:1" || this.resizeToWindow) {
      // One desktop pixel per device pixel; the stage scrolls if the desktop is larger.
      c.style.width = `${this.width / devicePixelRatio}px`;
      c.style.height = `${this.height / devicePixelRatio}px`;
      return;
    }
    const sw = this.stage.clientWidth, sh = this.stage.clientHeight;
    const scale = Math.min(sw / this.width, sh / this.height);
    c.style.width = `${Math.floor(this.width * scale)}px`;
    c.style.height = `${Math.floor(this.height * scale)}px`;
  }

  scheduleResize() {
    clearTimeout(this.resizeTimer);
    this.resizeTimer = setTimeout(() => {
      if (!this.resizeToWindow || this.viewOnly) return;
      const w = Math.floor(this.stage.clientWidth * devicePixelRatio) & ~1;
      const h = Math.floor(this.stage.clientHeight * devicePixelRatio) & ~1;
      if (w !== this.width || h !== this.height) this.sendOp({ op: "resize", width: w, height: h });
    }, RESIZE_DEBOUNCE_MS);
  }

  async toggleFullscreen() {
    if (document.fullscreenElement) {
      await document.exitFullscreen();
      return;
    }
    await this.root.requestFullscreen();
    // In fullscreen, Chromium lets a page take the keys it otherwise keeps (Ctrl+W, Ctrl+T,
    // Ctrl+N, Alt+Tab where the OS allows); Esc must then be held to leave fullscreen.
    // dataset.keyboardLock says whether the browser granted it ("on"), refused it or lacks it.
    try {
      await navigator.keyboard.lock();
      this.root.dataset.keyboardLock = "on";
    } catch {
      this.root.dataset.keyboardLock = "unavailable";
    }
  }

  fullscreenChanged() {
    if (document.fullscreenElement) return;
    navigator.keyboard?.unlock?.();
    this.root.dataset.keyboardLock = "off";
    this.input.releaseAll(); // leaving fullscreen by a held Esc: nothing stays pressed
  }

  // -- UI ---------------------------------------------------------------------------------

  bindUi() {
    const q = (sel) => this.root.querySelector(sel);
    q("[data-action=fit]").addEventListener("click", () => this.setMode("fit"));
    q("[data-action=native]").addEventListener("click", () => this.setMode("1:1"));
    q("[data-action=fullscreen]").addEventListener("click", () => this.toggleFullscreen());
    document.addEventListener("fullscreenchange", () => this.fullscreenChanged());
    q("[data-action=resize]").addEventListener("change", (e) => {
      this.resizeToWindow = e.target.checked;
      localStorage.setItem("wrd.resize", this.resizeToWindow ? "1" : "0");
      this.applyMode();
      this.scheduleResize();
    });
    q("[data-action=resize]").checked = this.resizeToWindow;
    q("[data-action=preset]").addEventListener("change", (e) => this.setPreset(e.target.value));
    const touchMode = q("[data-action=touch-mode]");
    const showTouchMode = () => {
      touchMode.setAttribute("aria-pressed", this.touch.mode === "direct" ? "true" : "false");
      this.root.dataset.touch = this.touch.mode;
    };
    touchMode.addEventListener("click", () => {
      this.touch.setMode(this.touch.mode === "direct" ? "mouse" : "direct");
      showTouchMode();
    });
    showTouchMode();
    q("[data-action=keys]").addEventListener("click", (e) => {
      this.osk.toggle();
      e.currentTarget.setAttribute("aria-pressed", this.osk.shown ? "true" : "false");
    });
    q("[data-action=fit]").addEventListener("click", () => this.touch.resetZoom());
    q("[data-action=clipboard]").addEventListener("click", () => {
      this.panel.hidden = !this.panel.hidden;
    });
    q("[data-action=clipboard-send]").addEventListener("click", () => {
      this.lastClipboard = null;
      this.sendClipboard(this.panel.querySelector("textarea").value);
    });
    q("[data-action=clipboard-copy]").addEventListener("click", () => {
      navigator.clipboard?.writeText(this.panel.querySelector("textarea").value).catch(() => {});
    });
    q("[data-action=retry]").addEventListener("click", () => {
      this.stopped = false;
      if (this.ws) { const old = this.ws; this.ws = null; old.close(); }
      this.connect();
    });
    window.addEventListener("resize", () => { this.applyMode(); if (this.resizeToWindow) this.scheduleResize(); });
    window.addEventListener("focus", () => this.pullBrowserClipboard());
    this.canvas.addEventListener("pointerdown", () => this.input.focus());
    this.stage.addEventListener("click", () => this.input.focus());
  }

  setMode(mode) {
    this.mode = mode;
    localStorage.setItem("wrd.scale", mode);
    this.applyMode();
    this.input.focus();
  }

  showOverlay(title, text, showRetry) {
    this.overlay.hidden = false;
    this.overlay.querySelector("h2").textContent = title;
    this.overlay.querySelector("p").textContent = text;
    this.overlay.querySelector("[data-action=retry]").hidden = !showRetry;
  }

  hideOverlay() {
    this.overlay.hidden = true;
    // A re-subscribe chosen from the toolbar leaves the focus there (keyboard use of the control).
    if (!this.root.querySelector(".wrd-bar").contains(document.activeElement)) this.input.focus();
  }
}

function storedPreset() {
  const name = localStorage.getItem("wrd.preset");
  return Object.hasOwn(PRESETS, name ?? "") ? name : DEFAULT_PRESET;
}

export async function main() {
  const root = document.getElementById("wrd-viewer");
  const cfg = JSON.parse(document.getElementById("wrd-config").textContent);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const params = new URLSearchParams(location.search);
  const viewer = new Viewer(root, {
    wsUrl: `${scheme}//${location.host}${cfg.ws_path}${params.get("view_only") === "1" ? "?view_only=1" : ""}`,
    viewOnly: cfg.view_only || params.get("view_only") === "1",
    format: params.get("format") || "auto",
  });
  window.wrdViewer = viewer; // for tests and the bench harness
  await viewer.start();
}
