"""A Wayland client that records every wl_keyboard event it gets, run as its own process.

``python key_recorder.py OUT.jsonl [--title TITLE] [--size WxH]`` maps a toplevel and
redraws it on every key press, as a client showing what is typed into it does (which keeps
the X server busy while keys arrive). It appends one JSON object per line to OUT.jsonl,
flushed at once:

* ``{"e": "ready"}`` once the window is committed with a buffer;
* ``{"e": "keymap", "format": 1, "size": N, "ok": true}`` for each keymap (compiled with
  libxkbcommon; ``ok`` is false when it did not compile);
* ``{"e": "enter", "serial": S, "keys": [...]}``, ``{"e": "leave", "serial": S}``;
* ``{"e": "modifiers", "serial": S, "mods": [depressed, latched, locked, group]}``;
* ``{"e": "key", "serial": S, "time": T, "key": K, "state": 1|0, "sym": KEYSYM, "utf8": "x"}``,
  the key decoded the way a client does it: with libxkbcommon, from the last keymap and
  modifiers received (``sym``/``utf8`` on presses only);
* ``{"e": "repeat_info", "rate": R, "delay": D}``.

It runs until it is terminated or the compositor goes away.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import mmap
import os
import signal
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from wlclient import Client, Toplevel

XKB_KEYMAP_FORMAT_TEXT_V1 = 1


def _libxkbcommon() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("xkbcommon") or "libxkbcommon.so.0")
    p, u32, i32 = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int
    for name, res, args in (
        ("xkb_context_new", p, [i32]),
        ("xkb_keymap_new_from_string", p, [p, ctypes.c_char_p, i32, i32]),
        ("xkb_keymap_unref", None, [p]),
        ("xkb_state_new", p, [p]),
        ("xkb_state_unref", None, [p]),
        ("xkb_state_update_mask", i32, [p, u32, u32, u32, u32, u32, u32]),
        ("xkb_state_key_get_one_sym", u32, [p, u32]),
        ("xkb_state_key_get_utf8", i32, [p, u32, ctypes.c_char_p, ctypes.c_size_t]),
    ):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


class Recorder:
    def __init__(self, out_path: str, title: str, size: tuple[int, int]) -> None:
        self.size = size
        self.out = open(out_path, "a", encoding="utf-8")
        self.xkb = _libxkbcommon()
        self.context = self.xkb.xkb_context_new(0)
        self.keymap: int | None = None
        self.state: int | None = None
        self.mods = (0, 0, 0, 0)
        self.client = Client()
        self.window = Toplevel(self.client, *size, 0xFF2266AA, title=title)
        self.window.commit()
        self.keyboard = self.client.seat().get_keyboard()
        d = self.keyboard.dispatcher
        d["keymap"] = self.keyboard_keymap
        d["enter"] = self.keyboard_enter
        d["leave"] = self.keyboard_leave
        d["key"] = self.keyboard_key
        d["modifiers"] = self.keyboard_modifiers
        d["repeat_info"] = self.keyboard_repeat_info
        self.client.roundtrip()
        self.write(e="ready")

    def write(self, **event: Any) -> None:
        self.out.write(json.dumps(event, ensure_ascii=False) + "\n")
        self.out.flush()

    def keyboard_keymap(self, keyboard: Any, fmt: int, fd: int, size: int) -> None:
        ok = False
        try:
            if fmt == XKB_KEYMAP_FORMAT_TEXT_V1 and size > 0:
                with mmap.mmap(fd, size, mmap.MAP_PRIVATE, mmap.PROT_READ) as m:
                    text = bytes(m[:size]).split(b"\0", 1)[0]
                keymap = self.xkb.xkb_keymap_new_from_string(self.context, text, XKB_KEYMAP_FORMAT_TEXT_V1, 0)
                if keymap:
                    if self.state:
                        self.xkb.xkb_state_unref(self.state)
                    if self.keymap:
                        self.xkb.xkb_keymap_unref(self.keymap)
                    self.keymap, self.state = keymap, self.xkb.xkb_state_new(keymap)
                    self._apply_mods()
                    ok = True
        finally:
            os.close(fd)
        self.write(e="keymap", format=fmt, size=size, ok=ok)

    def _apply_mods(self) -> None:
        if self.state:
            depressed, latched, locked, group = self.mods
            self.xkb.xkb_state_update_mask(self.state, depressed, latched, locked, 0, 0, group)

    def keyboard_enter(self, keyboard: Any, serial: int, surface: Any, keys: Any) -> None:
        data = bytes(keys or b"")
        pressed = [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data) - 3, 4)]
        self.write(e="enter", serial=serial, keys=pressed)

    def keyboard_leave(self, keyboard: Any, serial: int, surface: Any) -> None:
        self.write(e="leave", serial=serial)

    def keyboard_modifiers(self, keyboard: Any, serial: int, depressed: int, latched: int, locked: int,
                           group: int) -> None:
        self.mods = (depressed, latched, locked, group)
        self._apply_mods()
        self.write(e="modifiers", serial=serial, mods=list(self.mods))

    def keyboard_key(self, keyboard: Any, serial: int, time: int, key: int, state: int) -> None:
        event: dict[str, Any] = {"e": "key", "serial": serial, "time": time, "key": key, "state": state}
        if state == 1 and self.state:
            keycode = key + 8
            event["sym"] = self.xkb.xkb_state_key_get_one_sym(self.state, keycode)
            buf = ctypes.create_string_buffer(64)
            n = self.xkb.xkb_state_key_get_utf8(self.state, keycode, buf, len(buf))
            event["utf8"] = buf.raw[:max(0, min(n, len(buf) - 1))].decode("utf-8", "replace")
        self.write(**event)
        if state == 1:
            surface = self.window.surface
            surface.attach(self.window.buffer, 0, 0)
            surface.damage(0, 0, *self.size)
            surface.commit()
            self.client.display.flush()

    def keyboard_repeat_info(self, keyboard: Any, rate: int, delay: int) -> None:
        self.write(e="repeat_info", rate=rate, delay=delay)

    def run(self) -> None:
        while self.client.display.dispatch(block=True) != -1:
            pass
        self.write(e="disconnected")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--title", default="wrd-keys")
    parser.add_argument("--size", default="320x200")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    Recorder(args.out, args.title, (width, height)).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
