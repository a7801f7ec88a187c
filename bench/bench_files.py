"""File transfer benchmark: upload and download throughput through the real stack.

    .venv/bin/python bench/bench_files.py [--mib 256] [--runs 3] [--no-browser]

One session host (real Xvfb, an xterm) running as a throw-away Unix account, the console under
daphne, and two clients: plain HTTP over loopback (http.client: the resumable upload API in
8 MiB chunks, the streamed download read in 1 MiB pieces), and headless Debian Chromium
driving the viewer page's Files panel (file picker upload; a download link). Every byte goes
browser → daphne → the console's view → the host's socket → the user's ~/Uploads, and back
from ~/Downloads. Each transfer's SHA-256 is checked. Prints MB/s (10^6 bytes per second):
the median of ``--runs``. Not a pass/fail test; every process it starts is ended by pid, and
the account and its home are removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "viewer"))

from webconsole.config.testenv import ensure_test_environment  # noqa: E402

ensure_test_environment()  # its own var dir, uid range and home root: nothing of a real install is touched
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webconsole.config.django.test")

import harness  # noqa: E402

MiB = 1 << 20


class Http:
    def __init__(self, port: int, cookie: str) -> None:
        self.port = port
        self.csrf = secrets.token_hex(16)
        self.headers = {"Cookie": f"sessionid={cookie}; csrftoken={self.csrf}", "X-CSRFToken": self.csrf}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        self.conn.request(method, path, body=body, headers={**self.headers, **(headers or {})})
        response = self.conn.getresponse()
        return response, response.read()

    def upload(self, desktop: int, name: str, data: bytes, chunk: int) -> None:
        response, body = self.call("POST", f"/api/desktops/{desktop}/uploads/",
                                   json.dumps({"name": name, "size": len(data)}).encode(),
                                   {"Content-Type": "application/json"})
        assert response.status == 201, body
        url, offset = json.loads(body)["url"], 0
        view = memoryview(data)
        while offset < len(data):
            response, body = self.call("PATCH", url, view[offset:offset + chunk],
                                       {"Content-Type": "application/offset+octet-stream",
                                        "Upload-Offset": str(offset)})
            assert response.status == 200, body
            offset = int(response.getheader("Upload-Offset"))

    def download(self, desktop: int, name: str) -> str:
        self.conn.request("GET", f"/api/desktops/{desktop}/files/{quote(name)}", headers=self.headers)
        response = self.conn.getresponse()
        assert response.status == 200
        digest = hashlib.sha256()
        while block := response.read(MiB):
            digest.update(block)
        return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def rate(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=256, help="size of the file moved each way")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from tests.conftest import desktop_user
    from webconsole.accounts import unix

    workdir = Path(tempfile.mkdtemp(prefix="wrd-bench-files-"))
    user = desktop_user("bench-files")
    host = console = None
    results: dict[str, list[float]] = {}
    try:
        host = harness.start_host(workdir, width=1024, height=768, user=user)
        console = harness.Console(workdir)
        console.setup()
        owner = console.add_user("bench")
        desktop = console.add_desktop(owner["id"], host)
        console.start()
        home = Path(host.status["home"])
        data = os.urandom(args.mib * MiB)
        digest = hashlib.sha256(data).hexdigest()
        (home / "Downloads").mkdir(exist_ok=True)
        source = workdir / "payload.bin"
        source.write_bytes(data)
        shutil.copy(source, home / "Downloads" / "payload.bin")
        if user is not None:
            for path in (home / "Downloads", home / "Downloads" / "payload.bin"):
                os.chown(path, user.uid, user.gid)
        print(f"{args.mib} MiB each way, {args.runs} runs, {os.cpu_count()} cores; MB/s = 10^6 bytes/s")

        api = Http(console.port, owner["cookie"])
        for run in range(args.runs):
            name = f"http-{run}.bin"
            t0 = time.perf_counter()
            api.upload(desktop, name, data, 8 * MiB)
            results.setdefault("upload, HTTP client", []).append(rate(len(data), time.perf_counter() - t0))
            assert sha256_file(home / "Uploads" / name) == digest, "upload hash differs"
            (home / "Uploads" / name).unlink()
            t0 = time.perf_counter()
            assert api.download(desktop, "payload.bin") == digest, "download hash differs"
            results.setdefault("download, HTTP client", []).append(rate(len(data), time.perf_counter() - t0))

        if not args.no_browser:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = harness.launch_chromium(p)
                try:
                    context = harness.browser_context(browser, console, owner["cookie"], accept_downloads=True)
                    page = context.new_page()
                    page.goto(f"{console.url}/desktops/{desktop}/view")
                    page.wait_for_selector("[data-action=files]:not([hidden])")
                    for run in range(args.runs):
                        picked = workdir / f"chromium-{run}.bin"
                        os.link(source, picked)
                        t0 = time.perf_counter()
                        page.set_input_files("[data-action=files-input]", str(picked))
                        page.wait_for_selector(f".wrd-uploads li:has(.wrd-name:text-is('{picked.name}'))"
                                               "[data-state=done]", timeout=600000)
                        results.setdefault("upload, Chromium Files panel", []).append(
                            rate(len(data), time.perf_counter() - t0))
                        assert sha256_file(home / "Uploads" / picked.name) == digest, "upload hash differs"
                        (home / "Uploads" / picked.name).unlink()
                        page.evaluate("wrdFiles.toggle(true)")  # open (an upload opens it too)
                        link = ".wrd-downloads li[data-name='payload.bin'] a"
                        page.wait_for_selector(link)
                        t0 = time.perf_counter()
                        with page.expect_download(timeout=600000) as info:
                            page.click(link)
                        saved = Path(info.value.path())  # waits for the download to finish
                        results.setdefault("download, Chromium link", []).append(
                            rate(len(data), time.perf_counter() - t0))
                        assert sha256_file(saved) == digest, "download hash differs"
                        info.value.delete()
                    context.close()
                finally:
                    browser.close()

        print()
        print(f"{'path':<32} | median MB/s | runs")
        for name, values in results.items():
            print(f"{name:<32} | {statistics.median(values):11.1f} | {' '.join(f'{v:.1f}' for v in values)}")
    finally:
        if console is not None:
            console.close()
        if host is not None:
            host.close()
        shutil.rmtree(workdir, ignore_errors=True)
        if user is not None:
            from django.conf import settings

            unix.delete_system_account(name=user.name, remove_home=True, home_root=Path(settings.WRD_HOME_ROOT))
        shutil.rmtree(os.environ["WRD_TEST_RUN_DIR"], ignore_errors=True)


if __name__ == "__main__":
    main()
