"""HostClient against a scripted host on a Unix socket."""

from __future__ import annotations

import asyncio
import socket

import pytest

from compositor import messages
from compositor.client import BlockingHostClient, HostClient, HostError
from compositor.protocol import HostProtocol, LocalProtocolError, encode_message


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


async def _scripted_host(path, answer):
    """A host that answers each request with ``answer(msg)``: the bytes to write."""

    async def host(reader, writer):
        protocol = HostProtocol()
        while data := await reader.read(1 << 16):
            protocol.receive_data(data)
            for msg in protocol.events():
                writer.write(answer(msg))
                await writer.drain()

    return await asyncio.start_unix_server(host, path=str(path))


async def test_typed_calls_and_pushes(tmp_path):
    path = tmp_path / "host.sock"

    def answer(msg):
        if msg.op == "subscribe":
            return (messages.pack(messages.SubscribeReply(stream=3, width=640, height=480), request_id=msg.get("id"))
                    + messages.pack(messages.Frame(stream=3, seq=1, rects=((0, 0, 1, 1),), payload=b"\0" * 4))
                    + encode_message({"op": "from-a-newer-host"}))
        if msg.op == "resize":
            return messages.pack(messages.ErrorReply("no resize today"), request_id=msg.get("id"))
        return messages.pack(messages.ErrorReply(f"refused {msg.op}"), request_id=None)

    server = await _scripted_host(path, answer)
    pushes: list[messages.Push] = []
    replies: list[messages.SubscribeReply] = []
    client = await HostClient(on_event=pushes.append).connect(path)
    try:
        reply = await client.call(messages.Subscribe(format="raw"), on_reply=replies.append)
        assert reply == messages.SubscribeReply(stream=3, width=640, height=480) and replies == [reply]
        with pytest.raises(HostError, match="no resize today"):
            await client.call(messages.Resize(width=800, height=600))
        client.send(messages.Ack(stream=3, seq=1))  # answered with an error: logged, not pushed
        await asyncio.sleep(0.1)
        assert pushes == [messages.Frame(stream=3, seq=1, rects=((0, 0, 1, 1),), payload=b"\0" * 4)]
        with pytest.raises(LocalProtocolError, match="no reply"):
            await client.call(messages.Keyframe(stream=3))
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("bad", [
    encode_message({"op": "ok", "id": 1, "stream": "three", "width": 1, "height": 1}),  # a malformed reply
    encode_message({"op": "cursor", "serial": 1, "width": 64, "height": 64, "xhot": 0, "yhot": 0}, b"short"),
])
async def test_a_host_that_misbehaves_loses_its_client(tmp_path, bad):
    """A malformed reply or push (a desktop's user may control their host) closes the
    connection: the caller gets HostError, nothing is handed on."""
    path = tmp_path / "host.sock"
    server = await _scripted_host(path, lambda msg: bad)
    pushes: list[messages.Push] = []
    client = await HostClient(on_event=pushes.append).connect(path)
    try:
        with pytest.raises(HostError, match="session host"):
            await client.call(messages.Subscribe(format="raw"))
        await asyncio.wait_for(client.closed.wait(), 5)
        assert pushes == []
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


def test_blocking_client_typed_call(tmp_path):
    import threading

    path = tmp_path / "host.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen()

    def host():
        conn, _ = listener.accept()
        protocol = HostProtocol()
        with conn:
            while data := conn.recv(1 << 16):
                protocol.receive_data(data)
                for msg in protocol.events():
                    if msg.op == "status":
                        conn.sendall(encode_message({"op": "ok", "id": msg.get("id"), "width": "wide"}))
                        continue
                    # a push first: the blocking client skips it
                    conn.sendall(messages.pack(messages.Pointer(1, 2))
                                 + messages.pack(messages.ExecReply(pid=4242), request_id=msg.get("id")))

    thread = threading.Thread(target=host, daemon=True)
    thread.start()
    try:
        with BlockingHostClient(path) as client:
            assert client.call(messages.Exec(argv=("true",))) == messages.ExecReply(pid=4242)
            assert client.request("exec", argv=["true"]).get("pid") == 4242
            with pytest.raises(HostError, match="malformed reply: reply to status"):
                client.call(messages.Status())
    finally:
        listener.close()
