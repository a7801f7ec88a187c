"""A small GTK 3 app for the touch tests, run inside a desktop with the system Python (PyGObject).

``python3 gtk_touch_app.py OUT.jsonl`` shows a window titled "wrd-touch" with a big button at
the top ("Tap me") and a scrolled list of 200 rows below it. It appends one JSON object per
line to OUT.jsonl, flushed at once, each with ``t``, the time.monotonic() it was written:

* ``{"e": "ready", "backend": "GdkWaylandDisplay"}`` once the window is drawn;
* ``{"e": "clicked", "n": N}`` each time the button is activated;
* ``{"e": "scrolled", "value": V}`` when the list's vertical position changes;
* ``{"e": "touch", "type": "touch-begin|touch-update|touch-end|touch-cancel"}`` for each touch
  event GTK reports on the window (it shows the events arrived as touch, not as a pointer);
* ``{"e": "key", "name": "F5", "state": MASK}`` for each key pressed;
* ``{"e": "button", "button": N}`` for each pointer button pressed;
* ``{"e": "menu", "shown": true|false}`` when the menu of the "Menu" button (right of "Tap me")
  opens or closes.
"""

from __future__ import annotations

import json
import sys
import time

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, GLib, Gtk  # noqa: E402

out = open(sys.argv[1], "a", buffering=1)


def record(**fields) -> None:
    out.write(json.dumps({**fields, "t": time.monotonic()}) + "\n")


window = Gtk.Window(title="wrd-touch")
window.set_default_size(500, 500)
box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL)
button = Gtk.Button(label="Tap me")
button.set_size_request(400, 150)
clicks = [0]


def clicked(_button) -> None:
    clicks[0] += 1
    record(e="clicked", n=clicks[0])


button.connect("clicked", clicked)
top = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL)
top.pack_start(button, True, True, 0)
menu = Gtk.Menu()
for label in ("First", "Second", "Third"):
    menu.append(Gtk.MenuItem(label=label))
menu.show_all()
menu.connect("show", lambda m: record(e="menu", shown=True))
menu.connect("hide", lambda m: record(e="menu", shown=False))
menu_button = Gtk.MenuButton(label="Menu")
menu_button.set_popup(menu)
menu_button.set_size_request(100, 150)
top.pack_start(menu_button, False, False, 0)
box.pack_start(top, False, False, 0)
scrolled = Gtk.ScrolledWindow()
scrolled.set_vexpand(True)
listbox = Gtk.ListBox()
for i in range(200):
    listbox.add(Gtk.Label(label=f"row {i}"))
scrolled.add(listbox)
scrolled.get_vadjustment().connect("value-changed", lambda adj: record(e="scrolled", value=adj.get_value()))
box.pack_start(scrolled, True, True, 0)
window.add(box)
window.connect("destroy", Gtk.main_quit)

TOUCH_TYPES = {Gdk.EventType.TOUCH_BEGIN: "touch-begin", Gdk.EventType.TOUCH_UPDATE: "touch-update",
               Gdk.EventType.TOUCH_END: "touch-end", Gdk.EventType.TOUCH_CANCEL: "touch-cancel"}


def on_event(event) -> None:
    """Every event GDK reads, seen before GTK dispatches it."""
    try:
        note(event)
    finally:
        Gtk.main_do_event(event)


def note(event) -> None:
    kind = TOUCH_TYPES.get(event.type)
    if kind is not None:
        record(e="touch", type=kind)
    elif event.type == Gdk.EventType.KEY_PRESS:
        record(e="key", name=Gdk.keyval_name(event.keyval), state=int(event.state))
    elif event.type == Gdk.EventType.BUTTON_PRESS:
        record(e="button", button=int(event.get_button()[1]))


Gdk.event_handler_set(on_event)
window.show_all()
GLib.timeout_add(300, lambda: record(e="ready", backend=type(window.get_display()).__name__) and False)
Gtk.main()
