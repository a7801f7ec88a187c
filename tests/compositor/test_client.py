"""HostClient against a scripted host on a Unix socket."""

from __future__ import annotations

import asyncio

from compositor.client import HostClient
from compositor.protocol import HostProtocol, encode_message


async def test_on_reply_runs_before_the_push_that_follows_the_reply(tmp_path):
    """The host writes a subscribe's reply and the stream's first frame together; the caller's
    ``on_reply`` must have recorded the stream id before that frame reaches ``on_push``
    (otherwise the first keyframe is taken for another stream's and dropped)."""
    path = tmp_path / "host.sock"

    async def host(reader, writer):
        protocol = HostProtocol()
        while data := await reader.read(1 << 16):
            protocol.receive_data(data)
            for msg in protocol.events():
                if msg.op == "subscribe":
                    writer.write(encode_message({"op": "ok", "id": msg.get("id"), "stream": 7})
                                 + encode_message({"op": "frame", "stream": 7, "seq": 1, "key": True}, b"key"))
                    await writer.drain()

    server = await asyncio.start_unix_server(host, path=str(path))
    seen: list[tuple[int | None, int | None]] = []
    state: dict[str, int | None] = {"stream": None}
    client = await HostClient(on_push=lambda m: seen.append((m.get("stream"), state["stream"]))).connect(path)
    try:
        for _ in range(20):
            state["stream"] = None
            await client.request("subscribe", on_reply=lambda r: state.update(stream=r.get("stream")))
            await asyncio.sleep(0)
        await asyncio.sleep(0.1)
        assert len(seen) == 20 and all(known == 7 for _, known in seen)
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
