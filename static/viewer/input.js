// Pointer, wheel, keyboard and IME input -> the host's input events (docs/session-host-protocol.md).
//
// Keys go by physical code (KeyboardEvent.code -> evdev) so shortcuts work whatever the
// browser's layout; a printable character that the session's layout would not give for that key
// (another layout, a dead-key composition, AltGr) is sent as text; IME compositions arrive as
// text on compositionend. Everything pressed is released when the page loses focus.

import { EVDEV, MODIFIER_CODES, layoutAgrees, printable } from "./keymap.js";

const BUTTONS = { 0: 1, 1: 2, 2: 3, 3: 8, 4: 9 };
const LINE_PIXELS = 40; // a "line" of wheel deltaMode 1, in pixels, for smooth scrolling
const NOTCH_PIXELS = 100; // smooth (touchpad) pixels per wheel notch on the desktop

export class Input {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {HTMLTextAreaElement} sink  a focused, invisible textarea that receives keys and IME
   * @param {(events:object[])=>void} send
   * @param {{paste?: (text:string)=>void, text?: (text:string)=>boolean}} hooks  text: true when it took the text
   */
  constructor(canvas, sink, send, hooks = {}) {
    this.canvas = canvas;
    this.sink = sink;
    this.send = send;
    this.hooks = hooks;
    this.enabled = true;
    this.down = new Map(); // code -> "key" | "text"
    this.buttons = new Set();
    this.queued = [];
    this.lastMove = null;
    this.flushScheduled = false;
    this.pendingPaste = null;
    this.listeners = [];
    this.attach();
  }

  on(target, type, fn, opts) {
    target.addEventListener(type, fn, opts);
    this.listeners.push([target, type, fn, opts]);
  }

  detach() {
    for (const [target, type, fn, opts] of this.listeners.reverse()) target.removeEventListener(type, fn, opts);
    this.listeners = [];
  }

  attach() {
    const c = this.canvas;
    this.on(c, "pointermove", (e) => this.pointerMove(e));
    this.on(c, "pointerdown", (e) => this.pointerButton(e, true));
    this.on(c, "pointerup", (e) => this.pointerButton(e, false));
    this.on(c, "contextmenu", (e) => e.preventDefault());
    this.on(c, "wheel", (e) => this.wheel(e), { passive: false });
    this.on(this.sink, "keydown", (e) => this.keyDown(e));
    this.on(this.sink, "keyup", (e) => this.keyUp(e));
    this.on(this.sink, "compositionstart", () => { this.sink.dataset.composing = "1"; });
    this.on(this.sink, "compositionend", (e) => { this.sink.dataset.composing = ""; this.composed(e); });
    this.on(this.sink, "paste", (e) => this.paste(e));
    this.on(this.sink, "input", (e) => this.inserted(e));
    this.on(window, "blur", () => this.releaseAll());
    this.on(document, "visibilitychange", () => { if (document.hidden) this.releaseAll(); });
  }

  composing() {
    return this.sink.dataset.composing === "1";
  }

  push(event) {
    if (!this.enabled) return;
    this.queued.push(event);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  flush() {
    this.flushScheduled = false;
    if (this.lastMove) { this.queued.unshift(this.lastMove); this.lastMove = null; }
    if (this.queued.length) {
      const events = this.queued;
      this.queued = [];
      this.send(events);
    }
  }

  position(e) {
    const r = this.canvas.getBoundingClientRect();
    const x = Math.round((e.clientX - r.left) * this.canvas.width / r.width);
    const y = Math.round((e.clientY - r.top) * this.canvas.height / r.height);
    return {
      x: Math.max(0, Math.min(this.canvas.width - 1, x)),
      y: Math.max(0, Math.min(this.canvas.height - 1, y)),
    };
  }

  pointerMove(e) {
    if (!this.enabled) return;
    // Coalesce moves to one per animation frame; buttons and keys flush them in order.
    this.lastMove = { t: "move", ...this.position(e) };
    if (!this.moveTimer) {
      this.moveTimer = requestAnimationFrame(() => {
        this.moveTimer = 0;
        if (this.lastMove) { const m = this.lastMove; this.lastMove = null; this.push(m); }
      });
    }
  }

  takeMove() {
    if (this.lastMove) { const m = this.lastMove; this.lastMove = null; this.queued.push(m); }
  }

  pointerButton(e, down) {
    if (!this.enabled) return;
    e.preventDefault();
    this.focus();
    const button = BUTTONS[e.button];
    if (!button) return;
    if (down) { this.canvas.setPointerCapture?.(e.pointerId); this.buttons.add(button); }
    else this.buttons.delete(button);
    this.takeMove();
    this.push({ t: "move", ...this.position(e) });
    this.push({ t: "button", button, down });
  }

  wheel(e) {
    if (!this.enabled) return;
    e.preventDefault();
    let dx, dy;
    if (e.deltaMode === 1) { dx = e.deltaX / 3; dy = e.deltaY / 3; } // lines: 3 per notch
    else if (e.deltaMode === 2) { dx = e.deltaX * 3; dy = e.deltaY * 3; } // pages
    else if (notched(e.wheelDeltaX) && notched(e.wheelDeltaY) && (e.wheelDeltaX || e.wheelDeltaY)) {
      // A mouse wheel: Chromium reports multiples of 120 per notch (wheelDelta is +up).
      dx = -e.wheelDeltaX / 120; dy = -e.wheelDeltaY / 120;
    } else { dx = e.deltaX / NOTCH_PIXELS; dy = e.deltaY / NOTCH_PIXELS; } // smooth: fractions
    if (!dx && !dy) return;
    this.takeMove();
    this.push({ t: "move", ...this.position(e) });
    this.push({ t: "wheel", dx: round3(dx), dy: round3(dy) });
  }

  keyDown(e) {
    if (!this.enabled) return;
    if (e.isComposing || e.keyCode === 229 || e.key === "Process") return; // IME owns it
    if (e.key === "Dead") { e.preventDefault(); return; } // the composed character follows
    const code = EVDEV[e.code];
    const ctrlish = e.ctrlKey || e.metaKey || (e.altKey && !e.getModifierState("AltGraph"));
    if (ctrlish && e.code === "KeyV" && !e.altKey) {
      // Let the browser fire `paste` (clipboard text without a permission prompt), then send
      // the shortcut after the text reached the session's clipboard.
      this.pendingPaste = { code, timer: setTimeout(() => this.finishPaste(), 150) };
      this.down.set(e.code, "key");
      return;
    }
    if (printable(e.key) && !ctrlish && this.hooks.text?.(e.key)) { // the on-screen keyboard's latched modifiers
      e.preventDefault();
      this.down.set(e.code, "text");
      return;
    }
    e.preventDefault();
    this.takeMove();
    const altgr = e.getModifierState("AltGraph");
    const agrees = layoutAgrees(e.code, e.key, e.shiftKey, e.getModifierState("CapsLock"));
    if (printable(e.key) && !ctrlish && (code === undefined || altgr || !agrees)) {
      if (!e.repeat || !this.down.has(e.code)) this.down.set(e.code, "text");
      this.push({ t: "text", text: e.key });
      return;
    }
    if (code === undefined) {
      if (printable(e.key)) this.push({ t: "text", text: e.key });
      return;
    }
    this.down.set(e.code, "key");
    this.push({ t: "key", code, down: true });
  }

  keyUp(e) {
    if (!this.enabled) return;
    const kind = this.down.get(e.code);
    if (kind === undefined) return;
    e.preventDefault();
    this.down.delete(e.code);
    if (kind === "key") {
      if (this.pendingPaste && EVDEV[e.code] === this.pendingPaste.code) this.finishPaste();
      this.takeMove();
      this.push({ t: "key", code: EVDEV[e.code], down: false });
    }
  }

  paste(e) {
    const text = e.clipboardData?.getData("text/plain");
    e.preventDefault();
    if (text && this.hooks.paste) this.hooks.paste(text);
    this.finishPaste();
  }

  finishPaste() {
    if (!this.pendingPaste) return;
    clearTimeout(this.pendingPaste.timer);
    const { code } = this.pendingPaste;
    this.pendingPaste = null;
    this.push({ t: "key", code, down: true });
  }

  inserted(e) {
    // Text that arrived without a key we handled: an emoji/character picker, voice input,
    // an input method that commits without composition events. Keys we handled were
    // preventDefault()ed and produce no input event, so nothing is sent twice.
    if (this.composing()) return;
    if (this.enabled && e.inputType === "insertText" && e.data && !this.hooks.text?.(e.data)) {
      this.push({ t: "text", text: e.data });
    }
    this.sink.value = "";
  }

  composed(e) {
    if (!this.enabled) return;
    if (e.data) this.push({ t: "text", text: e.data });
    this.sink.value = "";
  }

  releaseAll() {
    if (this.pendingPaste) { clearTimeout(this.pendingPaste.timer); this.pendingPaste = null; }
    const had = this.down.size || this.buttons.size;
    this.down.clear();
    this.buttons.clear();
    if (had || this.enabled) this.push({ t: "release_all" });
  }

  focus() {
    if (document.activeElement !== this.sink) this.sink.focus({ preventScroll: true });
  }
}

function notched(v) {
  return typeof v === "number" && v % 120 === 0;
}

function round3(v) {
  return Math.round(v * 1000) / 1000;
}

export function isModifier(code) {
  return MODIFIER_CODES.has(code);
}
