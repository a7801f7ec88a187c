"""aardwolf (PyPI, an asyncio RDP client that is not built on FreeRDP) driven over stdin and
stdout, for the interoperability tests. It runs in the clients' own venv (.venv-rdp-clients,
``make clients-venv``), never in the product's, so it imports nothing from the project.

    python aardwolf_client.py PORT USER PASSWORD WIDTH HEIGHT BPP [tls|nla] [clipboard]

``tls`` (the default) offers TLS security only. ``nla`` lets aardwolf choose, as it does with a
password: it offers HYBRID_EX, HYBRID, TLS and standard RDP security, and after CredSSP reads
the Early User Authorization Result PDU when the server grants HYBRID_EX. It prints
``{"connected": true, "protocol": P, "authz_result": R}`` (the granted security protocol and,
under HYBRID_EX, the authorization result; else null) or ``{"error": "..."}`` and exits; once
connected it answers each JSON command line with one JSON line carrying the command's ``id``.
With ``clipboard`` it joins the clipboard channel (aardwolf's own CLIPRDR, with file streaming)
and takes the file commands below; without it, no channel at all.


- ``{"op": "screenshot", "path": P}``: the desktop as aardwolf drew it, as a PNG;
- ``{"op": "scancodes", "codes": [[code, extended], ...]}``: each key pressed and released;
- ``{"op": "unicode", "text": T}``: each UTF-16 code unit of T as a TS_UNICODE_KEYBOARD_EVENT,
  pressed and released (a character outside the BMP is two events, a surrogate pair);
- ``{"op": "remote_files"}``: the files the server's clipboard offers, as aardwolf fetched
  their FileGroupDescriptorW when the server announced it: ``files: [{name, size}]``;
- ``{"op": "download", "index": I, "dir": D}``: that file fetched with FileContents requests
  (its size, then 64 KiB ranges) into folder D under its offered name: ``bytes``, ``seconds``;
- ``{"op": "copy_files", "paths": [P, ...]}``: those local files put on the client's
  clipboard, announced to the server as FileGroupDescriptorW, served on its requests;
- ``{"op": "quit"}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from aardwolf.commons.factory import RDPConnectionFactory
from aardwolf.commons.iosettings import RDPIOSettings
from aardwolf.commons.queuedata.constants import VIDEO_FORMAT
from aardwolf.extensions.RDPECLIP.channel import RDPECLIPChannel
from aardwolf.protocol.x224.constants import SUPP_PROTOCOLS


class CodeUnit:
    """One UTF-16 code unit for aardwolf's ``send_key_char``, whose event writes
    ``unicodeCode[0].encode("utf-16-le")``: a str cannot carry a lone surrogate that way (and a
    whole astral character would write four bytes into the two-byte field)."""

    def __init__(self, unit: int) -> None:
        self.unit = unit

    def __getitem__(self, index: int) -> CodeUnit:
        return self

    def encode(self, encoding: str) -> bytes:
        return self.unit.to_bytes(2, "little")


def code_units(text: str) -> list[int]:
    raw = text.encode("utf-16-le")
    return [int.from_bytes(raw[i:i + 2], "little") for i in range(0, len(raw), 2)]


def reply(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def file_entry(descriptor) -> dict:
    return {"name": descriptor.fileName, "size": (descriptor.fileSizeHigh << 32) | descriptor.fileSizeLow}


async def main(port: int, user: str, password: str, width: int, height: int, bpp: int, security: str,
               clipboard: bool) -> int:
    settings = RDPIOSettings()
    settings.channels = [RDPECLIPChannel] if clipboard else []
    settings.video_width, settings.video_height = width, height
    settings.video_bpp_min = min(bpp, 16)
    settings.video_bpp_max = bpp
    settings.video_bpp_supported = [bpp]
    settings.supported_protocols = SUPP_PROTOCOLS.SSL if security == "tls" else None
    settings.clipboard_use_pyperclip = False
    settings.video_out_format = VIDEO_FORMAT.RAW
    url = f"rdp+ntlm-password://{user}:{password}@127.0.0.1:{port}"
    connection = RDPConnectionFactory.from_url(url, settings).get_connection(settings)
    _, err = await connection.connect()
    if err is not None:
        reply(error=f"{type(err).__name__}: {err}")
        return 1
    reply(connected=True, protocol=int(connection.x224_protocol),
          authz_result=getattr(connection, "authz_result", None))
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            command = json.loads(line)
            op, ident = command["op"], command.get("id")
            if op == "quit":
                reply(id=ident)
                break
            if op == "screenshot":
                if not connection.desktop_buffer_has_data:
                    reply(id=ident, ok=False)
                    continue
                connection.get_desktop_buffer(VIDEO_FORMAT.PIL).convert("RGB").save(command["path"], "PNG")
            elif op == "scancodes":
                for code, extended in command["codes"]:
                    for pressed in (True, False):
                        await connection.send_key_scancode(code, pressed, bool(extended))
            elif op == "unicode":
                for unit in code_units(command["text"]):
                    for pressed in (True, False):
                        await connection.send_key_char(CodeUnit(unit), pressed)
            elif op == "remote_files":
                reply(id=ident, ok=True, files=[file_entry(d) for d in connection.get_remote_file_list()])
                continue
            elif op == "download":
                connection.set_download_directory(command["dir"])
                started = time.monotonic()
                try:
                    count = await connection.download_file(command["index"])
                except Exception as exc:  # the test reads what went wrong
                    reply(id=ident, ok=False, error=f"{type(exc).__name__}: {exc}")
                    continue
                reply(id=ident, ok=True, bytes=count, seconds=time.monotonic() - started)
                continue
            elif op == "copy_files":
                await connection.set_current_clipboard_files([Path(p) for p in command["paths"]])
            reply(id=ident, ok=True)
    finally:
        await connection.terminate()
    return 0


if __name__ == "__main__":
    port, user, password, width, height, bpp = sys.argv[1:7]
    options = sys.argv[7:]
    security = "nla" if "nla" in options else "tls"
    unknown = set(options) - {"tls", "nla", "clipboard"}
    if unknown:
        sys.exit(f"unknown options {sorted(unknown)}: tls, nla, clipboard")
    sys.exit(asyncio.run(main(int(port), user, password, int(width), int(height), int(bpp), security,
                              "clipboard" in options)))
