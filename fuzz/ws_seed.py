"""Writes an SSE fixture's frames' data as WebSocket server-to-client text
messages (every third fragmented around a ping, every fifth masked), as an
AgentCore /ws agent sends them: the seeds of the ws_stream target.
Usage: ws_seed.py FIXTURE.sse > OUT
"""
import re, sys


def frame(op, data, fin=True, key=None):
    n = len(data)
    m = 0x80 if key else 0
    head = bytes([(0x80 if fin else 0) | op])
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([m | 127]) + n.to_bytes(8, "big")
    if key:
        head += key
        data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    return head + data


text = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
text = text.replace("\r\n", "\n").replace("\r", "\n")
out = b""
for i, block in enumerate(re.split(r"\n\n+", text)):
    lines = [l[5:] for l in block.split("\n") if l.startswith("data:")]
    data = "\n".join(l[1:] if l.startswith(" ") else l for l in lines).encode()
    key = b"\x11\x22\x33\x44" if i % 5 == 4 else None
    if i % 3 == 2 and len(data) > 1:
        h = len(data) // 2
        out += frame(1, data[:h], False, key) + frame(9, b"ping") + frame(0, data[h:], True, key)
    else:
        out += frame(1, data, True, key)
sys.stdout.buffer.write(out)
