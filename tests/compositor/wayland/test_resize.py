"""The session screen shrinks through RandR: a maximised Wayland window follows, wl_output too."""

from __future__ import annotations

from tests.compositor.wayland.conftest import Session

MODELINE = ["800x600", "40.00", "800", "840", "968", "1056", "600", "601", "605", "628", "-hsync", "+vsync"]


def test_randr_resize_resizes_maximised_window(session: Session, need) -> None:
    need("foot", "xrandr")
    session.spawn(["foot", "--maximized", "--", "sh"])
    session.wait_for(lambda: session.windows().get("foot", (0, 0, 0, 0))[3] > 900, what="maximised foot")
    for argv in (["xrandr", "--newmode", *MODELINE], ["xrandr", "--addmode", "screen", "800x600"],
                 ["xrandr", "--output", "screen", "--mode", "800x600"]):
        result = session.run(argv)
        assert result.returncode == 0, result.stderr
    session.wait_for(lambda: "screen resized width=800 height=600" in session.log_text(), what="RandR seen")
    _, x, y, w, h = session.wait_for(  # type: ignore[misc]
        lambda: (win := session.windows().get("foot")) and win[3] <= 800 and win[4] <= 600 and win,
        what="foot shrunk to the new screen")
    assert w >= 780 and h >= 500, "still maximised: fills the smaller screen"
    # foot drew at the new size: its right edge is inside the visible screen.
    screen = session.screen()
    assert screen[y + 5:y + h - 5, x + 5:x + w - 5, :3].any()


def test_wl_output_follows_randr(session: Session, need) -> None:
    need("xrandr")
    from pywayland.protocol.wayland import WlOutput

    from tests.compositor.wayland.wlclient import Client

    client = Client(str(session.runtime / "wayland-0"))
    modes: list[tuple[int, int]] = []
    output = client.bind(WlOutput, 3)
    output.dispatcher["mode"] = lambda o, flags, w, h, refresh: modes.append((w, h))
    client.roundtrip()
    assert modes == [(session.width, session.height)]
    for argv in (["xrandr", "--newmode", *MODELINE], ["xrandr", "--addmode", "screen", "800x600"],
                 ["xrandr", "--output", "screen", "--mode", "800x600"]):
        assert session.run(argv).returncode == 0
    session.wait_for(lambda: client.roundtrip() >= 0 and (800, 600) in modes, what="new wl_output mode")
    client.close()
