// The on-screen keyboard (docs/touch.md): the keys a phone's own keyboard lacks (Esc, Tab,
// Ctrl, Alt, Shift, Super, arrows, Home/End/PgUp/PgDn, Del, F1-F12), and a button that brings up
// the phone's keyboard for text (the viewer's hidden textarea, handled by input.js).
//
// Modifiers are sticky: a tap latches one (shown pressed) for the next key, from this keyboard
// or typed on the phone's; a second tap releases it. Keys go as evdev codes (host `key` events).

const KEYS = [
  // [label, evdev code, kind]  kind: "mod" (sticky) or "key"
  [["Esc", 1], ["Tab", 15], ["Ctrl", 29, "mod"], ["Alt", 56, "mod"], ["Shift", 42, "mod"], ["Super", 125, "mod"],
    ["←", 105], ["↑", 103], ["↓", 108], ["→", 106]],
  [["Home", 102], ["End", 107], ["PgUp", 104], ["PgDn", 109], ["Del", 111], ["⌫", 14], ["↵", 28]],
  Array.from({ length: 12 }, (_, i) => [`F${i + 1}`, i < 10 ? 59 + i : 87 + (i - 10)]),
];
const KEY_NAMES = { "←": "Left", "↑": "Up", "↓": "Down", "→": "Right", "⌫": "Backspace", "↵": "Enter" };

// Characters the phone's keyboard types that have a key of their own on a US layout: with a
// latched modifier they go as that key (Ctrl + c is a shortcut, not the text "c").
const LETTER_CODES = "qwertyuiop".split("").map((c, i) => [c, 16 + i])
  .concat("asdfghjkl".split("").map((c, i) => [c, 30 + i]))
  .concat("zxcvbnm".split("").map((c, i) => [c, 44 + i]))
  .concat("1234567890".split("").map((c, i) => [c, 2 + i]));
const CHAR_CODES = new Map([...LETTER_CODES, [" ", 57]]);

export class OnScreenKeyboard {
  /**
   * @param {HTMLElement} panel  the keyboard's container (filled here)
   * @param {import("./input.js").Input} input
   * @param {() => void} layoutChanged  called when the panel shows or hides
   */
  constructor(panel, input, layoutChanged) {
    this.panel = panel;
    this.input = input;
    this.layoutChanged = layoutChanged;
    this.latched = new Set(); // evdev codes of latched modifiers
    this.build();
  }

  build() {
    for (const row of KEYS) {
      const div = document.createElement("div");
      div.className = "wrd-osk-row";
      for (const [label, code, kind] of row) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = label;
        b.dataset.code = String(code);
        b.setAttribute("aria-label", KEY_NAMES[label] || label);
        if (kind === "mod") {
          b.dataset.mod = "1";
          b.setAttribute("aria-pressed", "false");
        }
        // pointerdown, not click: the canvas keeps the focus (a phone keyboard stays open).
        b.addEventListener("pointerdown", (e) => { e.preventDefault(); this.press(code, kind === "mod"); });
        b.addEventListener("click", (e) => {
          if (e.detail === 0) this.press(code, kind === "mod"); // keyboard activation of the button
        });
        div.appendChild(b);
      }
      this.panel.appendChild(div);
    }
    const typing = document.createElement("button");
    typing.type = "button";
    typing.className = "wrd-osk-type";
    typing.textContent = "⌨ Type";
    typing.title = "Bring up this device's keyboard";
    typing.addEventListener("click", () => this.input.sink.focus());
    this.panel.children[1].appendChild(typing);
  }

  get shown() {
    return !this.panel.hidden;
  }

  toggle(show = !this.shown) {
    this.panel.hidden = !show;
    if (!show) this.release();
    this.layoutChanged();
  }

  press(code, modifier) {
    if (modifier) {
      if (this.latched.has(code)) this.latched.delete(code);
      else this.latched.add(code);
      this.show();
      return;
    }
    this.tap(code);
  }

  /** Tap ``code`` with the latched modifiers held, then release them. */
  tap(code) {
    const mods = [...this.latched];
    for (const m of mods) this.input.push({ t: "key", code: m, down: true });
    this.input.push({ t: "key", code, down: true });
    this.input.push({ t: "key", code, down: false });
    for (const m of mods.reverse()) this.input.push({ t: "key", code: m, down: false });
    this.release();
  }

  /** Text typed on the phone's keyboard: taken here (true) when a modifier is latched and
   * the character has a key, so Ctrl + c is a shortcut. */
  text(data) {
    if (!this.latched.size || [...data].length !== 1) return false;
    const lower = data.toLowerCase();
    const code = CHAR_CODES.get(lower);
    if (code === undefined) return false;
    if (data !== lower) this.latched.add(42); // an upper-case letter: with Shift
    this.tap(code);
    return true;
  }

  release() {
    this.latched.clear();
    this.show();
  }

  show() {
    for (const b of this.panel.querySelectorAll("[data-mod]")) {
      b.setAttribute("aria-pressed", this.latched.has(Number(b.dataset.code)) ? "true" : "false");
    }
  }
}
