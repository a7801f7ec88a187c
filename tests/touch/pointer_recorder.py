"""A Wayland client without touch support: it takes only a wl_pointer (as foot does) and
records its button events, run as its own process in a desktop.

``python pointer_recorder.py OUT.jsonl [--title TITLE]`` maps a 300x200 toplevel and appends
one JSON object per line to OUT.jsonl, flushed at once: ``{"e": "ready"}``, then
``{"e": "enter"}``, ``{"e": "button", "button": 272, "state": 1|0, "x": X, "y": Y}`` (the
last motion's surface-local position).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compositor" / "wayland"))

from wlclient import Client, Toplevel


class Recorder:
    def __init__(self, out_path: str, title: str) -> None:
        self.out = open(out_path, "a", encoding="utf-8")
        self.client = Client()
        self.window = Toplevel(self.client, 300, 200, 0xFF33AA66, title=title)
        self.window.commit()
        self.position = (0.0, 0.0)
        self.pointer = self.client.seat().get_pointer()
        d = self.pointer.dispatcher
        d["enter"] = lambda p, serial, surface, x, y: self.moved(x, y, "enter")
        d["motion"] = lambda p, time, x, y: self.moved(x, y)
        d["button"] = self.button
        self.client.roundtrip()
        self.write(e="ready")

    def write(self, **event: Any) -> None:
        self.out.write(json.dumps(event) + "\n")
        self.out.flush()

    def moved(self, x: float, y: float, event: str | None = None) -> None:
        self.position = (x, y)
        if event:
            self.write(e=event)

    def button(self, pointer: Any, serial: int, time: int, button: int, state: int) -> None:
        self.write(e="button", button=button, state=state, x=self.position[0], y=self.position[1])

    def run(self) -> None:
        while self.client.display.dispatch(block=True) != -1:
            pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--title", default="wrd-pointer-only")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    Recorder(args.out, args.title).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
