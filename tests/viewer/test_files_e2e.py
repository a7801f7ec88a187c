"""Files in and out through the browser, end to end: a real session host running as the
desktop's own Unix account, daphne, headless Debian Chromium driving the viewer page's Files
panel. Hashes compare what the browser had with what lands in the user's folders, and back."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import secrets
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import desktop_user, wait_until

pytestmark = pytest.mark.timeout(300)

MiB = 1024 * 1024


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def shot(page, stack, name: str) -> None:
    """A screenshot of the page, in WRD_TEST_SCREENSHOTS when set (to look at), else the run's
    own folder."""
    folder = Path(os.environ.get("WRD_TEST_SCREENSHOTS") or stack["workdir"])
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name))


def home_of(stack) -> Path:
    return Path(stack["host"].status["home"])


def open_files(browser, stack, *, user="alice"):
    from harness import browser_context

    console = stack["console"]
    context = browser_context(browser, console, stack[user]["cookie"], viewport={"width": 1280, "height": 860},
                              accept_downloads=True)
    page = context.new_page()
    page.goto(f"{console.url}/desktops/{stack['desktop']}/view")
    page.wait_for_selector("[data-action=files]:not([hidden])", timeout=20000)
    return page


def upload_row(page, name: str) -> str:
    return f".wrd-uploads li:has(.wrd-name:text-is({json.dumps(name)}))"


class Api:
    """The console's REST API over plain HTTP with a user's session cookie (and a CSRF pair)."""

    def __init__(self, stack, user="alice") -> None:
        self.port = stack["console"].port
        self.csrf = secrets.token_hex(16)
        self.cookie = f"sessionid={stack[user]['cookie']}; csrftoken={self.csrf}"

    def call(self, method: str, path: str, body: bytes | dict | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        head = {"Cookie": self.cookie, "X-CSRFToken": self.csrf, **(headers or {})}
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            head.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=head)
            response = conn.getresponse()
            data = response.read()
            return response.status, dict(response.getheaders()), data
        finally:
            conn.close()

    def create(self, desktop: int, name: str, size: int):
        return self.call("POST", f"/api/desktops/{desktop}/uploads/", {"name": name, "size": size})

    def patch(self, url: str, offset: int, data: bytes):
        return self.call("PATCH", url, data, {"Content-Type": "application/offset+octet-stream",
                                              "Upload-Offset": str(offset)})


# -- uploads ------------------------------------------------------------------------------


def test_a_100_mb_upload_through_the_file_picker_arrives_whole(browser, stack, tmp_path):
    source = tmp_path / "big upload.bin"
    with open(source, "wb") as f:
        for _ in range(100):
            f.write(os.urandom(MiB))
    page = open_files(browser, stack)
    try:
        started = time.monotonic()
        page.set_input_files("[data-action=files-input]", str(source))
        row = upload_row(page, source.name)
        page.wait_for_selector(f"{row}[data-state=done]", timeout=180000)
        took = time.monotonic() - started
        shot(page, stack, "files-upload.png")
        target = home_of(stack) / "Uploads" / source.name
        assert sha256_file(target) == sha256_file(source)
        user = desktop_user("viewer")
        if user is not None:  # the host wrote it as the desktop's user, not as the console's
            assert target.stat().st_uid == user.uid
        assert "In ~/Uploads as big upload.bin" in page.inner_text(row)
        print(f"100 MiB through Chromium in {took:.1f} s ({100 / took:.0f} MiB/s)")
    finally:
        page.context.close()


def test_an_upload_cut_off_resumes_from_its_offset(browser, stack):
    """A chunk's connection is reset: the page asks where the upload is (HEAD) and goes on from
    there; the file, dropped on the desktop, arrives whole."""
    page = open_files(browser, stack)
    patches: list[int] = []
    state = {"aborted": None}

    def route(r):
        if r.request.method == "PATCH":
            offset = int(r.request.headers["upload-offset"])
            patches.append(offset)
            if len(patches) == 3 and state["aborted"] is None:
                state["aborted"] = offset
                r.abort("connectionreset")
                return
        r.continue_()

    try:
        page.route("**/api/desktops/*/uploads/*", route)
        digest = page.evaluate("""async () => {
            // 30 MiB made here, dropped on the desktop like a file from the user's computer.
            const bytes = new Uint8Array(30 * 1024 * 1024);
            for (let i = 0; i < bytes.length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
            const file = new File([bytes], "dropped.bin", { type: "application/octet-stream" });
            const dt = new DataTransfer();
            dt.items.add(file);
            const stage = document.querySelector(".wrd-stage");
            const drag = (type) => stage.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true,
                                                                             cancelable: true }));
            drag("dragenter");
            drag("dragover");
            window.dropShown = !document.querySelector(".wrd-drop").hidden;
            await new Promise((r) => setTimeout(r, 50));
            window.wrdDrop = () => drag("drop");
            const hash = await crypto.subtle.digest("SHA-256", bytes);
            return [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
        }""")
        assert page.evaluate("window.dropShown")
        shot(page, stack, "files-drop.png")
        page.evaluate("wrdDrop()")
        assert page.evaluate("document.querySelector('.wrd-drop').hidden")
        page.wait_for_selector(f"{upload_row(page, 'dropped.bin')}[data-state=done]", timeout=120000)
        chunk = page.evaluate("wrdFiles.opts.chunk_bytes")
        assert state["aborted"] == 2 * chunk, patches
        # After the reset the upload went on at the offset it had reached, never from 0.
        after = patches[patches.index(state["aborted"]) + 1:]
        assert after[0] == state["aborted"] and after == sorted(after) and 0 not in after, patches
        assert sha256_file(home_of(stack) / "Uploads" / "dropped.bin") == digest
    finally:
        page.context.close()


def test_an_upload_left_by_a_closed_page_resumes_in_a_new_one(browser, stack, tmp_path):
    """The page goes away mid-upload; the same file picked again in a new page resumes where
    the desktop's host says it stopped (the upload's URL was kept in the browser)."""
    from harness import browser_context

    source = tmp_path / "resumed.bin"
    source.write_bytes(os.urandom(40 * MiB))
    console = stack["console"]
    context = browser_context(browser, console, stack["alice"]["cookie"], viewport={"width": 1280, "height": 860})
    first = context.new_page()
    patches: list[int] = []

    def hold_third(r):
        if r.request.method == "PATCH":
            patches.append(int(r.request.headers["upload-offset"]))
            if len(patches) >= 3:
                return  # held: the page closes with this chunk in flight
        r.continue_()

    try:
        first.route("**/api/desktops/*/uploads/*", hold_third)
        first.goto(f"{console.url}/desktops/{stack['desktop']}/view")
        first.wait_for_selector("[data-action=files]:not([hidden])")
        first.set_input_files("[data-action=files-input]", str(source))
        deadline = time.monotonic() + 60
        while len(patches) < 3 and time.monotonic() < deadline:
            first.wait_for_timeout(100)  # route handlers run while Playwright is waited on
        assert len(patches) >= 3, patches
        shot(first, stack, "files-progress.png")
        chunk = first.evaluate("wrdFiles.opts.chunk_bytes")
        first.close()
        assert not (home_of(stack) / "Uploads" / "resumed.bin").exists()

        second = context.new_page()
        resumed: list[int] = []
        second.on("request", lambda r: r.method == "PATCH" and resumed.append(int(r.headers["upload-offset"])))
        second.goto(f"{console.url}/desktops/{stack['desktop']}/view")
        second.wait_for_selector("[data-action=files]:not([hidden])")
        # Where the host says the upload stopped: the two chunks let through at least (the
        # held one may still have reached it as the page closed), never the whole file.
        stopped = second.evaluate("""async () => {
            const key = Object.keys(localStorage).find(k => k.startsWith("wrd.upload.") && k.endsWith(".resumed.bin"));
            const r = await fetch(localStorage.getItem(key), {method: "HEAD", cache: "no-store"});
            return Number(r.headers.get("Upload-Offset"));
        }""")
        assert 2 * chunk <= stopped < source.stat().st_size, (stopped, patches)
        second.set_input_files("[data-action=files-input]", str(source))
        second.wait_for_selector(f"{upload_row(second, 'resumed.bin')}[data-state=done]", timeout=120000)
        assert resumed[0] == stopped, (resumed, stopped, patches)
        assert sha256_file(home_of(stack) / "Uploads" / "resumed.bin") == sha256_file(source)
    finally:
        context.close()


# -- downloads ----------------------------------------------------------------------------


def test_a_file_sent_with_wrd_send_downloads_in_chromium(browser, stack, tmp_path):
    host = stack["host"]
    home = home_of(stack)
    # Made and sent inside the desktop, as its user, by the command on the session's PATH.
    host.request("exec", argv=["sh", "-c", "head -c 25000000 /dev/urandom > send-me.bin && wrd-send send-me.bin "
                                           "> wrd-send.out 2>&1"])
    wait_until(lambda: (home / "Downloads" / "send-me.bin").exists(), 30, message="wrd-send")
    page = open_files(browser, stack)
    try:
        page.click("[data-action=files]")
        link = ".wrd-downloads li[data-name='send-me.bin'] a"
        page.wait_for_selector(link, timeout=15000)
        shot(page, stack, "files-panel.png")
        with page.expect_download(timeout=60000) as info:
            page.click(link)
        download = info.value
        assert download.suggested_filename == "send-me.bin"
        saved = tmp_path / "got.bin"
        download.save_as(saved)
        assert sha256_file(saved) == sha256_file(home / "send-me.bin")
        assert "is in the browser's Files panel" in (home / "wrd-send.out").read_text()
    finally:
        page.context.close()


def test_downloads_take_a_byte_range(stack):
    home = home_of(stack)
    (home / "Downloads").mkdir(exist_ok=True)
    data = os.urandom(5000)
    path = home / "Downloads" / "ranged é.bin"
    path.write_bytes(data)
    user = desktop_user("viewer")
    if user is not None:
        os.chown(path, user.uid, user.gid)
    api = Api(stack)
    url = f"/api/desktops/{stack['desktop']}/files/{quote(path.name)}"
    status, headers, body = api.call("GET", url, headers={"Range": "bytes=1000-1999"})
    assert (status, headers["Content-Range"], body) == (206, "bytes 1000-1999/5000", data[1000:2000])
    status, headers, body = api.call("GET", url)
    assert status == 200 and body == data
    assert "filename*=utf-8''ranged%20%C3%A9.bin" in headers["Content-Disposition"]
    assert api.call("GET", url, headers={"Range": "bytes=6000-"})[0] == 416


# -- bad input ----------------------------------------------------------------------------


def _raw_patch(port: int, path: str, cookie: str, csrf: str, *, length_header: str, body_mib: int) -> bytes:
    """A PATCH whose headers announce ``length_header``, then up to ``body_mib`` MiB of body;
    what the server answered (it may close the connection while the body is still going)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall((f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n"
                      f"X-CSRFToken: {csrf}\r\nContent-Type: application/offset+octet-stream\r\n"
                      f"Upload-Offset: 0\r\n{length_header}\r\n\r\n").encode())
        chunked = "chunked" in length_header
        try:
            for _ in range(body_mib):
                block = b"x" * MiB
                sock.sendall(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
        except OSError:  # refused and closed mid-body
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
        return answer


def test_request_bodies_past_the_bound_are_refused_before_they_are_buffered(stack):
    api = Api(stack)
    status, _, body = api.create(stack["desktop"], "liar.bin", 1000)
    url = json.loads(body)["url"]
    log = stack["console"].workdir / "daphne.log"
    start = log.stat().st_size
    began = time.monotonic()
    answer = _raw_patch(api.port, url, api.cookie, api.csrf, length_header=f"Content-Length: {10 * 1024**3}",
                        body_mib=2)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    answer = _raw_patch(api.port, url, api.cookie, api.csrf, length_header="Transfer-Encoding: chunked",
                        body_mib=64)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - began < 20
    text = log.read_bytes()[start:].decode(errors="replace")
    assert "request refused: a body of 10737418240 bytes announced" in text
    assert "request refused: more than" in text
    assert api.call("HEAD", url)[1]["Upload-Offset"] == "0"  # and the console still answers


def _tree(root: Path, skip: tuple[str, ...]) -> dict[str, tuple[int, float]]:
    """Every path under ``root`` but the ``skip`` folders, with size and mtime."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel.split(os.sep)[0] in skip:
            dirnames[:] = []
            continue
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.join(rel, name)] = (st.st_size, st.st_mtime)
    return out


def test_bad_uploads_are_refused_logged_and_write_nothing_outside(stack, tmp_path):
    from harness import start_host

    console, desktop = stack["console"], stack["desktop"]
    home = home_of(stack)
    user = desktop_user("viewer")
    (home / "Uploads").mkdir(exist_ok=True)
    outside = home / "outside-target.txt"
    outside.write_text("precious")
    (home / "Uploads" / "planted.txt").unlink(missing_ok=True)
    (home / "Uploads" / "planted.txt").symlink_to(outside)
    (home / "Downloads").mkdir(exist_ok=True)
    (home / "Downloads" / "link-out").unlink(missing_ok=True)
    (home / "Downloads" / "link-out").symlink_to("/etc/shadow")
    if user is not None:
        for p in (outside, home / "Uploads", home / "Downloads"):
            os.chown(p, user.uid, user.gid)
        os.lchown(home / "Uploads" / "planted.txt", user.uid, user.gid)

    # Another desktop, of another user, must not notice any of this.
    other_user = desktop_user("files-other")
    other = start_host(tmp_path, width=640, height=480, user=other_user)
    try:
        other_home = Path(other.status["home"])
        other_before = _tree(other_home, ())
        before = _tree(home, ("Uploads", "Downloads"))
        log_start = (console.workdir / "daphne.log").stat().st_size
        api = Api(stack)

        for name in ["..", "../../etc/cron.d/x", "/etc/passwd", "a\x1b[31mb", "a\nb", "evil\u202etxt.exe",
                     "x" * 300, ".wrd-partial"]:
            status, _, body = api.create(desktop, name, 10)
            assert status == 400, (name, status, body)
        status, _, body = api.create(desktop, "huge.bin", 10 * 1024**3)
        assert status == 413 and b"over the upload limit" in body
        assert api.create(desktop, "neg.bin", -1)[0] == 400

        # more bytes than declared
        status, headers, body = api.create(desktop, "small.bin", 100)
        assert status == 201, body
        url = json.loads(body)["url"]
        status, _, body = api.patch(url, 0, b"x" * 150)
        assert status == 413 and b"more than the 100 declared" in body
        # a chunk past the chunk limit, a wrong offset, a missing offset, a forged or foreign token
        assert api.patch(url, 0, b"x" * (9 * MiB))[0] == 413
        status, headers, _ = api.patch(url, 50, b"x" * 10)
        assert status == 409 and headers["Upload-Offset"] == "0"
        assert api.call("PATCH", url, b"x", {"Content-Type": "application/offset+octet-stream"})[0] == 400
        assert api.patch(url[:-3] + "abc", 0, b"x")[0] == 404
        assert Api(stack, "bob").patch(url, 0, b"x")[0] in (403, 404)
        status, headers, _ = api.call("HEAD", url)
        assert status == 200 and headers["Upload-Offset"] == "0"

        # a symbolic link planted in ~/Uploads under the upload's name is left alone
        status, _, body = api.create(desktop, "planted.txt", 6)
        url = json.loads(body)["url"]
        status, _, body = api.patch(url, 0, b"attack")
        assert status == 200 and json.loads(body)["stored_as"] == "planted (1).txt"
        assert outside.read_text() == "precious" and (home / "Uploads" / "planted.txt").is_symlink()

        # downloads: links out, names that climb, files that are not there
        listed = json.loads(api.call("GET", f"/api/desktops/{desktop}/files/")[2])["files"]
        assert "link-out" not in [f["name"] for f in listed]
        for name in ["link-out", "..", ".wrd-partial", "%2e%2e", quote("a\x1bb"), "missing"]:
            status, _, _ = api.call("GET", f"/api/desktops/{desktop}/files/{name}")
            assert status in (400, 404), (name, status)
        assert Api(stack, "bob").call("GET", f"/api/desktops/{desktop}/files/")[0] in (403, 404)

        # nothing outside the two folders changed, in this home or the other desktop's
        assert _tree(home, ("Uploads", "Downloads")) == before
        assert _tree(other_home, ()) == other_before
        assert not (other_home / "Uploads").exists()
        assert other.request("status").header["uid"] == (other_user.uid if other_user else os.getuid())
        assert stack["host"].request("status").header["session"]  # this desktop's host too
        # every refusal left a line in the console's log
        log = (console.workdir / "daphne.log").read_bytes()[log_start:].decode(errors="replace")
        refusals = re.findall(r"file transfer refused: (.*) desktop=", log)
        assert len(refusals) >= 16, log[-3000:]
        assert any("over the upload limit" in r for r in refusals)
        assert any("more than the 100 declared" in r for r in refusals)
        assert any("control character" in r for r in refusals)

        # ~/Uploads itself replaced by a link to elsewhere: refused by the host, which says so
        host_log = stack["workdir"] / "host.log"
        host_log_start = host_log.stat().st_size
        elsewhere = home / "elsewhere"
        elsewhere.mkdir()
        if user is not None:  # a folder the user could write: only the link check stops it
            os.chown(elsewhere, user.uid, user.gid)
        (home / "Uploads").rename(home / "Uploads.real")
        (home / "Uploads").symlink_to(elsewhere)
        try:
            status, _, body = api.create(desktop, "through-link.txt", 3)
            assert status == 409 and b"not a folder" in body, body
            assert list(elsewhere.iterdir()) == []
            assert "refused file_put: ~/Uploads is not a folder" in host_log.read_text()[host_log_start:]
        finally:
            (home / "Uploads").unlink()
            (home / "Uploads.real").rename(home / "Uploads")
            elsewhere.rmdir()
    finally:
        other.close()


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_download_to_a_client_that_stops_reading_is_not_buffered_whole(stack):
    """The streamed download waits for the client: 300 MiB to a reader that stops after its
    first bytes leave daphne's memory where it was."""
    import socket

    home = home_of(stack)
    (home / "Downloads").mkdir(exist_ok=True)
    path = home / "Downloads" / "slow-reader.bin"
    size = 300 * MiB
    with open(path, "wb") as f:
        f.truncate(size)  # sparse: read at memory speed
    user = desktop_user("viewer")
    if user is not None:
        os.chown(path, user.uid, user.gid)
    api = Api(stack)
    daphne = stack["console"].proc.pid
    before = _rss(daphne)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.connect(("127.0.0.1", api.port))
        sock.sendall((f"GET /api/desktops/{stack['desktop']}/files/slow-reader.bin HTTP/1.1\r\n"
                      f"Host: 127.0.0.1\r\nCookie: {api.cookie}\r\nConnection: close\r\n\r\n").encode())
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first[:100]
        time.sleep(4)  # the host could hand over all 300 MiB in this time
        grown = _rss(daphne) - before
        received = len(first.split(b"\r\n\r\n", 1)[1])
        while chunk := sock.recv(1 << 20):
            received += len(chunk)
    assert grown < 64 * MiB, f"daphne grew by {grown / MiB:.0f} MiB while the client did not read"
    assert received == size
    path.unlink()


def test_a_view_only_page_offers_downloads_but_no_upload(browser, stack):
    from harness import browser_context

    console = stack["console"]
    context = browser_context(browser, console, stack["alice"]["cookie"])
    page = context.new_page()
    try:
        page.goto(f"{console.url}/desktops/{stack['desktop']}/view?view_only=1")
        page.wait_for_selector("[data-action=files]:not([hidden])")
        page.click("[data-action=files]")
        assert page.is_visible(".wrd-files-down") and not page.is_visible(".wrd-files-up")
    finally:
        context.close()


def test_the_download_list_is_pushed_to_the_open_panel_without_polling(browser, stack):
    host = stack["host"]
    home = home_of(stack)
    name = f"pushed-{secrets.token_hex(4)}.txt"
    page = open_files(browser, stack)
    list_url = f"/api/desktops/{stack['desktop']}/files/"
    listed: list[float] = []  # when the page asked the API for the list
    page.on("request", lambda r: listed.append(time.monotonic()) if r.url.endswith(list_url) else None)
    try:
        page.wait_for_selector("#wrd-viewer[data-state=connected]", timeout=20000)
        page.click("[data-action=files]")
        page.wait_for_selector(".wrd-downloads li", timeout=10000)  # the first list, shown
        page.wait_for_timeout(500)
        asked = len(listed)
        assert asked <= 1  # the page's first look, at most (the socket's list may come first)
        row = f".wrd-downloads li[data-name='{name}']"
        assert not page.query_selector(row)
        # Written in the desktop, as its user, while the panel is open.
        host.request("exec", argv=["sh", "-c", f"printf 'hello' > Downloads/{name}"])
        start = time.monotonic()
        page.wait_for_selector(row, timeout=3000)
        appeared = time.monotonic() - start
        shot(page, stack, "files-pushed.png")
        print(f"pushed download list: the file appeared in the panel {appeared * 1000:.0f} ms after the write")
        assert appeared < 1.0, f"the file appeared after {appeared:.2f} s"
        assert page.text_content(f"{row} .wrd-note").startswith("5 B")
        (home / "Downloads" / name).unlink()
        start = time.monotonic()
        page.wait_for_selector(row, state="detached", timeout=3000)
        assert time.monotonic() - start < 1.0
        page.wait_for_timeout(3500)  # longer than the old poll interval
        assert len(listed) == asked, f"the page asked for the list {len(listed) - asked} more times"
    finally:
        page.context.close()
