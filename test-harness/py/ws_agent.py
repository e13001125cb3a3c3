"""A WebSocket agent upstream for tests/websocket.rs, written on raw asyncio so
the test decides every byte and how the bytes are cut into TCP writes.

Usage: ws_agent.py  (prints its port, then serves until killed)

A connection's request path picks what it replays:
  /ws?script=FILE&chunk=N   FILE is a JSON array of strings, sent as text
                            messages; N bytes per TCP write (0: one write).
Every third message goes out in two fragments with a ping between them.
Before the script the agent sends one message, {"seen": {...}}, naming the
upgrade request's path, Authorization and Sec-WebSocket-Extensions as it got
them. At the end it sends a close frame (1000) and closes.

Next to FILE it writes FILE.out.json: the exact bytes it sends after the 101
("wire", hex), what a client must receive when nothing is denied ("expected",
hex: a ping inside a fragmented text message arrives before that message, since
the filter holds only the message), and per message the length of "expected"
up to that message's data ("cut_at").
"""
import asyncio, base64, hashlib, json, socket, sys
from urllib.parse import urlsplit, parse_qs

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode, payload, fin=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + payload


def build(messages):
    wire, expected, cut_at = b"", b"", []
    for i, text in enumerate(messages):
        data = text.encode()
        if i % 3 == 2 and len(data) > 1:
            half = len(data) // 2
            first, ping, last = frame(1, data[:half], False), frame(9, b"p%d" % i), frame(0, data[half:])
            wire += first + ping + last
            expected += ping
            cut_at.append(len(expected))
            expected += first + last
        else:
            cut_at.append(len(expected))
            wire += frame(1, data)
            expected += frame(1, data)
    return wire, expected, cut_at


async def drain_client(reader):
    try:
        while await reader.read(65536):
            pass
    except (ConnectionError, asyncio.IncompleteReadError):
        pass


async def handle(reader, writer):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
        return
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    accept = base64.b64encode(hashlib.sha1((headers.get("sec-websocket-key", "") + GUID).encode()).digest()).decode()
    writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
    query = parse_qs(urlsplit(path).query)
    script = query.get("script", [None])[0]
    chunk = int(query.get("chunk", ["0"])[0])
    seen = {"seen": {"path": path, "authorization": headers.get("authorization"),
                     "extensions": headers.get("sec-websocket-extensions")}}
    messages = [json.dumps(seen)]
    if script:
        with open(script) as f:
            messages += json.load(f)
    wire, expected, cut_at = build(messages)
    close = frame(8, (1000).to_bytes(2, "big"))
    if script:
        with open(script + ".out.json", "w") as f:
            json.dump({"wire": wire.hex(), "expected": expected.hex(), "cut_at": cut_at}, f)
    asyncio.ensure_future(drain_client(reader))
    try:
        step = chunk or len(wire) or 1
        for at in range(0, len(wire), step):
            writer.write(wire[at:at + step])
            await writer.drain()
            if step >= 16:
                await asyncio.sleep(0.001)
        writer.write(close)
        await writer.drain()
        await asyncio.sleep(0.5)
    except ConnectionError:
        pass
    writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    for s in server.sockets:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
