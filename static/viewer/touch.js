// Touch on the viewer's canvas (docs/touch.md): phones and tablets.
//
// Two modes, chosen in the toolbar and remembered in this browser:
// - "mouse" (default): one finger is the mouse. A tap clicks, a drag drags with button 1, a
//   long press right-clicks; two fingers moving together scroll (wheel); two fingers pinching
//   zoom the canvas locally (the desktop is not resized) and pan it while zoomed.
// - "direct": every finger goes to the desktop as a touch contact (host `touch` events, grouped
//   by `touch_frame`), ids 0..9; the desktop's Wayland programs get wl_touch.
//
// Touch pointers are taken in the capture phase on the stage, so the mouse handlers of
// input.js only ever see mice and pens.

const TAP_SLOP = 10; // CSS px a finger may wander and still tap
const LONG_PRESS_MS = 550;
const SCROLL_PX_PER_NOTCH = 40; // CSS px of two-finger travel per wheel notch
const PINCH_START = 24; // CSS px of change in finger distance that makes a pinch, not a scroll
const MAX_ZOOM = 5;
const MAX_CONTACTS = 10; // the host's touch slots

export class TouchInput {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {HTMLElement} stage  the canvas's container (captures touch pointers)
   * @param {import("./input.js").Input} input  sends through input.push (view-only aware)
   */
  constructor(canvas, stage, input) {
    this.canvas = canvas;
    this.stage = stage;
    this.input = input;
    this.mode = localStorage.getItem("wrd.touch") === "direct" ? "direct" : "mouse";
    this.fingers = new Map(); // pointerId -> {x, y, sx, sy} (client px; s: where it went down)
    this.gesture = null; // mouse mode: {kind: "pending"|"drag"|"pressed"|"two"|"scroll"|"pinch", ...}
    this.slots = new Map(); // direct mode: pointerId -> slot
    this.moved = new Map(); // direct mode: slot -> {x, y} not yet sent
    this.zoom = { scale: 1, x: 0, y: 0 };
    this.longPress = 0;
    this.rafPending = false;
    for (const type of ["pointerdown", "pointermove", "pointerup", "pointercancel"]) {
      stage.addEventListener(type, (e) => this.pointer(e), { capture: true });
    }
    stage.addEventListener("touchstart", (e) => { if (e.target === canvas) e.preventDefault(); }, { passive: false });
  }

  setMode(mode) {
    this.cancelAll();
    this.mode = mode === "direct" ? "direct" : "mouse";
    localStorage.setItem("wrd.touch", this.mode);
  }

  pointer(e) {
    if (e.pointerType !== "touch" || e.target !== this.canvas) return;
    e.stopPropagation();
    e.preventDefault();
    // The hidden textarea is not focused here: on a phone that would bring up its keyboard at
    // every tap (the on-screen keys' "Type" button does it when asked).
    if (e.type === "pointerdown") this.canvas.setPointerCapture?.(e.pointerId);
    if (this.mode === "direct") this.direct(e);
    else this.mouse(e);
  }

  /** Desktop pixels of a client position (the canvas's transform, zoom included, is in its rect). */
  desk(x, y) {
    return this.input.position({ clientX: x, clientY: y });
  }

  // -- direct touch ----------------------------------------------------------------------------

  direct(e) {
    if (e.type === "pointerdown") {
      const used = new Set(this.slots.values());
      let slot = 0;
      while (used.has(slot)) slot++;
      if (slot >= MAX_CONTACTS) return; // an eleventh finger is not passed on
      this.slots.set(e.pointerId, slot);
      this.flushMoves(false);
      this.input.push({ t: "touch", phase: "down", id: slot, ...this.desk(e.clientX, e.clientY) });
      this.input.push({ t: "touch_frame" });
      return;
    }
    const slot = this.slots.get(e.pointerId);
    if (slot === undefined) return;
    if (e.type === "pointermove") {
      this.moved.set(slot, this.desk(e.clientX, e.clientY));
      if (!this.rafPending) {
        this.rafPending = true;
        requestAnimationFrame(() => { this.rafPending = false; this.flushMoves(true); });
      }
      return;
    }
    this.flushMoves(false);
    this.slots.delete(e.pointerId);
    this.moved.delete(slot);
    if (e.type === "pointercancel") {
      this.slots.clear();
      this.moved.clear();
      this.input.push({ t: "touch", phase: "cancel", id: slot });
    } else {
      this.input.push({ t: "touch", phase: "up", id: slot, ...this.desk(e.clientX, e.clientY) });
    }
    this.input.push({ t: "touch_frame" });
  }

  flushMoves(frame) {
    if (!this.moved.size) return;
    for (const [slot, pos] of this.moved) this.input.push({ t: "touch", phase: "motion", id: slot, ...pos });
    this.moved.clear();
    if (frame) this.input.push({ t: "touch_frame" });
  }

  // -- touch as a mouse ------------------------------------------------------------------------

  mouse(e) {
    const id = e.pointerId;
    if (e.type === "pointerdown") {
      this.fingers.set(id, { x: e.clientX, y: e.clientY, sx: e.clientX, sy: e.clientY });
      if (this.fingers.size === 1) {
        this.gesture = { kind: "pending" };
        clearTimeout(this.longPress);
        this.longPress = setTimeout(() => this.rightClick(id), LONG_PRESS_MS);
      } else if (this.fingers.size === 2) {
        this.startTwo();
      }
      return;
    }
    const finger = this.fingers.get(id);
    if (!finger) return;
    if (e.type === "pointermove") {
      finger.x = e.clientX;
      finger.y = e.clientY;
      this.moveOne(finger);
      this.moveTwo();
      return;
    }
    // up or cancel
    this.fingers.delete(id);
    clearTimeout(this.longPress);
    const g = this.gesture;
    if (!g) return;
    if (g.kind === "pending" && e.type === "pointerup") {
      const at = this.desk(finger.sx, finger.sy);
      this.input.push({ t: "move", ...at });
      this.input.push({ t: "button", button: 1, down: true });
      this.input.push({ t: "button", button: 1, down: false });
    } else if (g.kind === "drag") {
      this.input.push({ t: "move", ...this.desk(finger.x, finger.y) });
      this.input.push({ t: "button", button: 1, down: false });
    }
    if (this.fingers.size === 0) this.gesture = null;
    else if (["two", "scroll", "pinch"].includes(g.kind)) this.gesture = { kind: "done" }; // lift the other too
  }

  rightClick(id) {
    const finger = this.fingers.get(id);
    if (!finger || this.gesture?.kind !== "pending") return;
    this.gesture = { kind: "pressed" };
    this.input.push({ t: "move", ...this.desk(finger.sx, finger.sy) });
    this.input.push({ t: "button", button: 3, down: true });
    this.input.push({ t: "button", button: 3, down: false });
  }

  moveOne(finger) {
    const g = this.gesture;
    if (this.fingers.size !== 1 || !g) return;
    if (g.kind === "pending" && Math.hypot(finger.x - finger.sx, finger.y - finger.sy) > TAP_SLOP) {
      clearTimeout(this.longPress);
      this.gesture = { kind: "drag" };
      this.input.push({ t: "move", ...this.desk(finger.sx, finger.sy) });
      this.input.push({ t: "button", button: 1, down: true });
    }
    if (this.gesture.kind === "drag") this.input.push({ t: "move", ...this.desk(finger.x, finger.y) });
  }

  twoFingers() {
    const [a, b] = [...this.fingers.values()];
    return { cx: (a.x + b.x) / 2, cy: (a.y + b.y) / 2, dist: Math.hypot(a.x - b.x, a.y - b.y) };
  }

  startTwo() {
    clearTimeout(this.longPress);
    if (this.gesture?.kind === "drag") this.input.push({ t: "button", button: 1, down: false });
    const t = this.twoFingers();
    const r = this.canvas.getBoundingClientRect(); // with transform-origin 0 0: layout box + translation
    const base = { left: r.left - this.zoom.x, top: r.top - this.zoom.y };
    this.gesture = { kind: "two", start: t, last: t, rest: 0, restX: 0, zoom0: { ...this.zoom }, base };
  }

  moveTwo() {
    const g = this.gesture;
    if (this.fingers.size !== 2 || !g || !["two", "scroll", "pinch"].includes(g.kind)) return;
    const t = this.twoFingers();
    if (g.kind === "two") {
      if (Math.abs(t.dist - g.start.dist) > PINCH_START) g.kind = "pinch";
      else if (Math.hypot(t.cx - g.start.cx, t.cy - g.start.cy) > TAP_SLOP) g.kind = "scroll";
      else return;
    }
    if (g.kind === "scroll") {
      // Content follows the fingers: fingers moving up scroll down (wheel dy > 0), left: right.
      g.rest += (g.last.cy - t.cy) / SCROLL_PX_PER_NOTCH;
      g.restX += (g.last.cx - t.cx) / SCROLL_PX_PER_NOTCH;
      const dy = Math.trunc(g.rest), dx = Math.trunc(g.restX);
      if (dx || dy) {
        g.rest -= dy;
        g.restX -= dx;
        this.input.push({ t: "move", ...this.desk(t.cx, t.cy) });
        this.input.push({ t: "wheel", dx, dy });
      }
    } else {
      this.pinch(g, t);
    }
    g.last = t;
  }

  /** Zoom about the fingers' first centre, and pan with the centre as it moves. */
  pinch(g, t) {
    const z0 = g.zoom0;
    const scale = Math.min(MAX_ZOOM, Math.max(1, z0.scale * (t.dist / Math.max(1, g.start.dist))));
    const { left, top } = g.base;
    // The point under the first centre, in the canvas's own (untransformed) CSS pixels.
    const px = (g.start.cx - left - z0.x) / z0.scale;
    const py = (g.start.cy - top - z0.y) / z0.scale;
    this.zoom = { scale, x: t.cx - left - px * scale, y: t.cy - top - py * scale };
    if (scale === 1) this.zoom = { scale: 1, x: 0, y: 0 };
    this.applyZoom();
  }

  applyZoom() {
    const { scale, x, y } = this.zoom;
    this.canvas.style.transformOrigin = "0 0";
    this.canvas.style.transform = scale === 1 ? "" : `translate(${x}px, ${y}px) scale(${scale})`;
    this.canvas.dataset.zoom = scale.toFixed(2);
  }

  resetZoom() {
    this.zoom = { scale: 1, x: 0, y: 0 };
    this.applyZoom();
  }

  cancelAll() {
    clearTimeout(this.longPress);
    if (this.gesture?.kind === "drag") this.input.push({ t: "button", button: 1, down: false });
    if (this.slots.size) {
      this.input.push({ t: "touch", phase: "cancel", id: 0 });
      this.input.push({ t: "touch_frame" });
    }
    this.gesture = null;
    this.fingers.clear();
    this.slots.clear();
    this.moved.clear();
  }
}
