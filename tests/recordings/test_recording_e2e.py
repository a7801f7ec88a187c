"""A desktop recorded for about a minute while it is typed into and a window moves across it,
then played in the console's player page by headless Chromium: ffprobe sees H.264 of the
right length, and the pictures Chromium shows at several moments match the desktop's own
screenshots taken at those moments. A browser viewer connects and leaves meanwhile: the
recording goes on across it, and the connection history links the connection to it.

Real pieces: a session host (sandboxed, real Xvfb), the console under daphne, the recorder
process as the product launches it (``manage.py record --detach``), ffprobe, Chromium.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "viewer"))

import harness

from tests.conftest import desktop_user

# A sampled video frame must be this close to the screenshot of its moment. The stream is
# H.264 at the shared quantiser (30, full-range BT.709) played back through Chromium's decoder
# and canvas: for this content (a terminal with text, a flat coloured window) the pictures
# measured 34-35 dB against the lossless screenshot of their moment, and 11-14 dB against
# those of the other moments (the window elsewhere, other text). 27 dB sits between with
# margin on both sides: coding noise passes, a frame of another moment or a stale area
# (a missed update: a window left where it was, a line of text missing) does not.
MATCH_PSNR = 27.0
SAMPLES = 6
RECORD_SECONDS = 60


def http_get(console, path: str, cookie: str | None = None, headers: dict | None = None):
    """(status, headers, body) of a GET on the console, redirects not followed."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", console.port, timeout=15)
    try:
        conn.request("GET", path, headers={**({"Cookie": f"sessionid={cookie}"} if cookie else {}),
                                           **(headers or {})})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "stream=codec_name,codec_type,width,height:format=duration", "-of", "json", str(path)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    for tool in ("Xvfb", "xterm", "xlogo", "xdotool", "ffprobe"):
        if shutil.which(tool) is None:
            pytest.skip(f"not installed: {tool}")
    if not Path(harness.CHROMIUM).exists():
        pytest.skip("not installed: chromium")
    workdir = tmp_path_factory.mktemp("recording")
    host = harness.start_host(workdir, width=1024, height=768, user=desktop_user("rec"))
    console = harness.Console(workdir)
    console.env["WRD_RECORDINGS_DIR"] = str(workdir / "recordings")
    console.env["WRD_NODE"] = "test"  # the node harness desktops are on
    recorder_pid = None
    try:
        console.setup()
        admin = console.add_user("admin", staff=True)
        alice = console.add_user("alice")
        bob = console.add_user("bob")
        desktop = console.add_desktop(alice["id"], host)
        console.start()
        yield {"host": host, "console": console, "admin": admin, "alice": alice, "bob": bob, "desktop": desktop,
               "workdir": workdir}
    finally:
        try:
            recorder_pid = console.django("""
from webconsole.recordings.models import Recording
out = {"pids": [r.recorder_pid for r in Recording.objects.filter(state="recording") if r.recorder_pid]}
""")["pids"]
        except Exception:
            recorder_pid = []
        for pid in recorder_pid or []:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        console.close()
        host.close()


def recording_row(console, recording_id: int) -> dict:
    return console.django(f"""
from webconsole.recordings.models import Recording
r = Recording.objects.get(pk={recording_id})
out = {{"state": r.state, "origin_us": r.origin_us, "pid": r.recorder_pid, "path": str(r.path),
        "duration": r.duration, "size": r.size, "error": r.error, "has_audio": r.has_audio}}
""")


def exec_in(host, *argv: str) -> None:
    host.request("exec", argv=list(argv))


# Three seconds of 440 Hz into the desktop's sound server, with the desktop's own Python.
TONE = ("python3 -c \"import math, sys; sys.stdout.buffer.write(b''.join("
        "int(9000 * math.sin(2 * math.pi * 440 * i / 48000)).to_bytes(2, 'little', signed=True) * 2 "
        "for i in range(3 * 48000)))\" | pacat --format=s16le --rate=48000 --channels=2")


def type_text(host, text: str) -> None:
    host.request("input", events=[{"t": "move", "x": 200, "y": 150}, {"t": "text", "text": text}])


@pytest.fixture(scope="module")
def recorded(stack):
    """Record about a minute; returns the recording, the samples (host-clock time, screenshot),
    the viewer's connect/disconnect times and the stop window."""
    from playwright.sync_api import sync_playwright

    console, host = stack["console"], stack["host"]
    started = console.django(f"""
from django.contrib.auth import get_user_model
from webconsole.desktops.models import DesktopSession
from webconsole.recordings import services
admin = get_user_model().objects.get(username="admin")
r = services.recording_start(desktop=DesktopSession.objects.get(pk={stack['desktop']}), user=admin, enqueue=False)
pid = services.recording_launch(recording=r)
out = {{"id": r.pk, "pid": pid}}
""")
    assert started["pid"], "the recorder did not start"
    rec_id = started["id"]
    deadline = time.monotonic() + 20
    while (row := recording_row(console, rec_id))["origin_us"] is None:
        assert time.monotonic() < deadline, f"no picture recorded: {row}"
        time.sleep(0.5)
    origin = row["origin_us"] / 1e6

    exec_in(host, "xlogo", "-geometry", "220x160+700+40", "-bg", "red", "-fg", "blue")
    samples: list[tuple[float, np.ndarray]] = []
    viewer_times: dict[str, float] = {}
    live: dict = {}
    positions = [(700, 40), (60, 520), (720, 560), (380, 300), (40, 40), (760, 300)]
    with sync_playwright() as p:
        browser = harness.launch_chromium(p)
        try:
            for i, (x, y) in enumerate(positions):
                exec_in(host, "xdotool", "search", "--sync", "--class", "xlogo", "windowmove", str(x), str(y))
                if i == 1:  # a program plays a tone: the recording has the desktop's sound too
                    exec_in(host, "sh", "-c", TONE)
                for word in (f"echo sample {i} ", "typing into the recorded desktop", "\n"):
                    type_text(host, word)
                    time.sleep(0.4)
                if i == 2:  # a browser viewer comes for a while and leaves
                    context = harness.browser_context(browser, console, stack["alice"]["cookie"],
                                                      viewport={"width": 1100, "height": 850})
                    page = context.new_page()
                    viewer_times["connect"] = time.monotonic()
                    page.goto(f"{console.url}/desktops/{stack['desktop']}/view")
                    page.wait_for_timeout(6000)
                    context.close()
                    viewer_times["disconnect"] = time.monotonic()
                time.sleep(1.5)  # the screen settles: the screenshot is what the recording shows
                before = time.monotonic()
                shot = host.screenshot()
                samples.append(((before + time.monotonic()) / 2, shot))
                if i == 3:  # the admin plays the recording while it is still being written
                    live = play_live(browser, stack, started["id"], samples[1][0] - origin)
                    live["at"] = time.monotonic() - origin
                # spread the samples over the minute
                time.sleep(max(0.0, origin + (i + 1) * RECORD_SECONDS / SAMPLES - 1.0 - time.monotonic()))
        finally:
            browser.close()
    time.sleep(max(0.0, origin + RECORD_SECONDS - time.monotonic()))
    stop_asked = time.monotonic()
    console.django(f"""
from webconsole.recordings import services
from webconsole.recordings.models import Recording
services.recording_stop(recording=Recording.objects.get(pk={rec_id}), user=None)
""")
    stop_done = time.monotonic()
    deadline = time.monotonic() + 20
    while (row := recording_row(console, rec_id))["state"] == "recording":
        assert time.monotonic() < deadline, "the recording did not finish after its stop"
        time.sleep(0.5)
    return {"id": rec_id, "row": row, "origin": origin, "samples": samples, "viewer": viewer_times,
            "stop": (stop_asked, stop_done), "live": live}


SEEK_AND_DRAW = """async (t) => {
    const v = document.getElementById('player');
    const presented = new Promise((resolve) => { v.requestVideoFrameCallback(resolve); setTimeout(resolve, 1000); });
    await new Promise((resolve) => { v.addEventListener('seeked', resolve, {once: true}); v.currentTime = t; });
    await presented;
    const c = document.createElement('canvas');
    c.width = v.videoWidth; c.height = v.videoHeight;
    c.getContext('2d').drawImage(v, 0, 0);
    return c.toDataURL('image/png');
}"""


def drawn(data_url: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB"))


def play_live(browser, stack, recording_id: int, t: float) -> dict:
    """The player page on a recording still being written: its duration then, and the picture
    at ``t`` (seconds into the file)."""
    context = harness.browser_context(browser, stack["console"], stack["admin"]["cookie"],
                                      viewport={"width": 1200, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"{stack['console'].url}/recordings/{recording_id}/")
        page.wait_for_function("() => document.getElementById('player').readyState >= 1", timeout=20000)
        live_badge = page.locator("[data-live]").count()
        duration = page.evaluate("document.getElementById('player').duration")
        picture = drawn(page.evaluate(SEEK_AND_DRAW, t))
        return {"duration": duration, "picture": picture, "badge": live_badge}
    finally:
        context.close()


def test_ffprobe_sees_h264_of_the_recorded_length(recorded):
    row = recorded["row"]
    assert row["state"] == "finished", (row["error"], row)
    info = ffprobe(Path(row["path"]))
    video = [s for s in info["streams"] if s["codec_type"] == "video"]
    assert [s["codec_name"] for s in video] == ["h264"]
    assert [s["codec_name"] for s in info["streams"] if s["codec_type"] == "audio"] == ["aac"]
    assert row["has_audio"]
    assert (video[0]["width"], video[0]["height"]) == (1024, 768)
    duration = float(info["format"]["duration"])
    low, high = (t - recorded["origin"] for t in recorded["stop"])
    assert low - 1.0 <= duration <= high + 1.0, f"duration {duration:.2f} s, stopped between {low:.2f} and {high:.2f}"
    assert abs(row["duration"] - duration) < 1.0
    assert duration > RECORD_SECONDS - 1


def test_decoded_file_matches_the_desktop_at_each_sample(recorded):
    """The file itself, decoded by FFmpeg (PyAV): the picture shown at each sample's moment is
    the desktop's screenshot of that moment."""
    import av

    with av.open(recorded["row"]["path"]) as container:
        stream = container.streams.video[0]
        decoded = [(float(frame.pts * stream.time_base), frame.to_ndarray(format="rgb24"))
                   for frame in container.decode(stream)]
    for i, (when, shot) in enumerate(recorded["samples"]):
        t = when - recorded["origin"]
        shown = [picture for pts, picture in decoded if pts <= t][-1]
        assert psnr(shown, shot) >= MATCH_PSNR, f"sample {i} at {t:.2f} s: {psnr(shown, shot):.1f} dB"


def test_chromium_plays_it_and_frames_match_the_desktop(stack, recorded):
    """Seek the console's player to each sample's moment; the picture there is the desktop
    as its screenshot showed it then (and not as at the other moments)."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    console = stack["console"]
    with sync_playwright() as p:
        browser = harness.launch_chromium(p)
        try:
            context = harness.browser_context(browser, console, stack["admin"]["cookie"],
                                              viewport={"width": 1200, "height": 1000})
            page = context.new_page()
            page.goto(f"{console.url}/recordings/{recorded['id']}/")
            page.wait_for_function("() => document.getElementById('player').readyState >= 1", timeout=20000)
            duration = page.evaluate("document.getElementById('player').duration")
            assert abs(duration - recorded["row"]["duration"]) < 1.0
            page.screenshot(path=str(stack["workdir"] / "player.png"))
            print("player page screenshot:", stack["workdir"] / "player.png")
            pictures = []
            for when, _ in recorded["samples"]:
                t = when - recorded["origin"]
                # 'seeked' can fire before the sought frame is the one a canvas draws: SEEK_AND_DRAW
                # waits for it to be presented too (requestVideoFrameCallback), at most a second.
                data_url = page.evaluate(SEEK_AND_DRAW, t)
                png = base64.b64decode(data_url.split(",", 1)[1])
                pictures.append(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")))
            page.goto(f"{console.url}/desktops/{stack['desktop']}/recordings")
            page.screenshot(path=str(stack["workdir"] / "history.png"), full_page=True)
            # The history's link opens the player where the viewer's connection began.
            page.click(f'[data-recording-link="{recorded["id"]}"]')
            page.wait_for_function("() => document.getElementById('player').readyState >= 1 && "
                                   "document.getElementById('player').currentTime > 0", timeout=20000)
            at = page.evaluate("document.getElementById('player').currentTime")
            expected = recorded["viewer"]["connect"] - recorded["origin"]
            assert abs(at - expected) < 2.0, f"opened at {at:.1f} s, the connection began at {expected:.1f} s"
        finally:
            browser.close()
    shots = [shot for _, shot in recorded["samples"]]
    for i, (picture, shot) in enumerate(zip(pictures, shots, strict=True)):  # to look at after a failure
        Image.fromarray(picture).save(stack["workdir"] / f"sample-{i}-played.png")
        Image.fromarray(shot).save(stack["workdir"] / f"sample-{i}-desktop.png")
    print("samples in", stack["workdir"])
    table = [[psnr(pic[:shot.shape[0], :shot.shape[1]], shot) for shot in shots] for pic in pictures]
    print("PSNR (rows: frames sampled in Chromium, columns: screenshots)")
    for row in table:
        print(" ".join(f"{v:6.1f}" for v in row))
    for i, row in enumerate(table):
        assert row[i] >= MATCH_PSNR, f"sample {i}: {row[i]:.1f} dB against its own screenshot"
        others = [v for j, v in enumerate(row) if j != i]
        assert row[i] > max(others) + 3, f"sample {i} is no closer to its own moment than to others: {row}"


def test_chromium_plays_it_while_it_is_still_recorded(recorded):
    """Played in the console mid-recording (after the fourth sample): the page says it is
    live, the file then lasts up to a few seconds short of that moment (the latest fragment is
    still being written), and the second sample's moment shows the desktop as it was then."""
    live, shot = recorded["live"], recorded["samples"][1][1]
    print(f"live: played {live['at']:.1f} s into the recording, the file then lasted {live['duration']:.1f} s, "
          f"sample 1 at {psnr(live['picture'][:shot.shape[0], :shot.shape[1]], shot):.1f} dB")
    assert live["badge"] == 1
    assert live["at"] - 6.0 <= live["duration"] <= live["at"] + 0.5, (live["duration"], live["at"])
    assert psnr(live["picture"][:shot.shape[0], :shot.shape[1]], shot) >= MATCH_PSNR


def test_recording_went_on_across_a_viewer_and_history_links_it(stack, recorded):
    console = stack["console"]
    history = console.django(f"""
from webconsole.recordings.models import Connection
out = {{"rows": [(c.kind, c.user.username, c.closed_at is not None) for c in
                 Connection.objects.filter(desktop_id={stack['desktop']})]}}
""")["rows"]
    assert ["browser", "alice", True] in history
    # Samples after the viewer left were recorded (checked frame by frame above); the file's
    # pictures did not stop at the disconnect.
    after = [t for t, _ in recorded["samples"] if t > recorded["viewer"]["disconnect"]]
    assert len(after) >= 2
    status, _, body = http_get(console, f"/desktops/{stack['desktop']}/recordings", stack["admin"]["cookie"])
    assert status == 200
    assert f'data-recording-link="{recorded["id"]}"'.encode() in body, "the connection links to its recording"


def test_only_admins_fetch_or_play_it(stack, recorded):
    console, rid = stack["console"], recorded["id"]
    for who, code in (("bob", 404), ("alice", 404), ("admin", 206)):
        cookie = stack[who]["cookie"]
        status, _, _ = http_get(console, f"/recordings/{rid}/file.mp4", cookie, {"Range": "bytes=0-99"})
        assert status == code, (who, status)
        status, _, _ = http_get(console, f"/recordings/{rid}/", cookie)
        assert status == (200 if who == "admin" else 404), (who, status)
    status, headers, body = http_get(console, f"/recordings/{rid}/file.mp4", stack["admin"]["cookie"],
                                     {"Range": "bytes=0-99"})
    assert len(body) == 100 and body[4:8] == b"ftyp"
    assert headers["Content-Range"].startswith("bytes 0-99/")
    status, _, _ = http_get(console, f"/recordings/{rid}/file.mp4")
    assert status == 302  # to the login page


def test_reconcile_continues_a_dead_recorder_and_applies_the_policy(stack, recorded):
    """A recorder killed while its desktop runs: its file is kept (playable to where it got)
    and reconcile continues the recording in a new one; with WRD_RECORD_ALL_DESKTOPS a running
    desktop without a recording gets one."""
    console = stack["console"]
    first = console.django(f"""
from django.contrib.auth import get_user_model
from webconsole.desktops.models import DesktopSession
from webconsole.recordings import services
r = services.recording_start(desktop=DesktopSession.objects.get(pk={stack['desktop']}),
                             user=get_user_model().objects.get(username="admin"), enqueue=False)
out = {{"id": r.pk, "pid": services.recording_launch(recording=r)}}
""")
    deadline = time.monotonic() + 20
    def fragments_on_disk() -> int:  # pictures written out, not only the header (or held in the muxer)
        path = Path(recording_row(console, first["id"])["path"])
        return path.read_bytes().count(b"moof") if path.exists() else 0

    while fragments_on_disk() < 2:
        assert time.monotonic() < deadline, "the recorder wrote nothing"
        type_text(stack["host"], "echo before the recorder dies\n")  # updates push fragments out
        time.sleep(0.5)
    os.kill(first["pid"], signal.SIGKILL)
    reconcile = """
from webconsole.recordings import services
from webconsole.recordings.models import Recording
out = {"result": services.recordings_reconcile(),
       "live": [(r.pk, r.requested_by.username if r.requested_by else None, services.recorder_alive(r))
                for r in Recording.objects.filter(state="recording")]}
"""
    try:
        after = console.django(reconcile)
        dead = recording_row(console, first["id"])
        assert dead["state"] == "finished" and dead["error"] == "recorder ended unexpectedly", dead
        assert float(ffprobe(Path(dead["path"]))["format"]["duration"]) > 1.0, "the cut file still plays"
        assert after["result"] == {"settled": 1, "started": 1}
        ((second, asked_by, alive),) = after["live"]
        assert second != first["id"] and asked_by == "admin" and alive
        # Stopped from another node (the console there cannot signal it): this node's
        # reconcile carries the stop out.
        console.env["WRD_NODE"] = "elsewhere"
        console.django(f"""
from webconsole.recordings import services
from webconsole.recordings.models import Recording
services.recording_stop(recording=Recording.objects.get(pk={second}), user=None)
""")
        console.env["WRD_NODE"] = "test"
        time.sleep(5.5)
        assert recording_row(console, second)["state"] == "recording"
        console.django(reconcile)
        deadline = time.monotonic() + 20
        while recording_row(console, second)["state"] == "recording":
            assert time.monotonic() < deadline, "reconcile did not carry out the stop"
            time.sleep(0.5)
        assert console.django(reconcile)["live"] == [], "a stopped recording is not continued"
        console.env["WRD_RECORD_ALL_DESKTOPS"] = "1"
        policy = console.django(reconcile)
        ((third, asked_by, alive),) = policy["live"]
        assert asked_by is None and alive and policy["result"]["started"] == 1
        console.django(f"""
from webconsole.recordings import services
from webconsole.recordings.models import Recording
services.recording_stop(recording=Recording.objects.get(pk={third}), user=None)
""")
    finally:
        console.env["WRD_NODE"] = "test"
        console.env.pop("WRD_RECORD_ALL_DESKTOPS", None)
