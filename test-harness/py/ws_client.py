"""A WebSocket client on the `websockets` library, for tests/websocket.rs.

Usage: ws_client.py URL [HEADER=VALUE ...]
Connects (with those extra request headers), sends one text message (unless
the agent has already closed), reads
every message until the connection closes, and prints one JSON line:
  {"messages": [...], "code": N, "reason": "..."}      after an upgrade
  {"status": N, "body": "...", "headers": {...}}       when the upgrade is refused
The client offers permessage-deflate, as browsers do; the filter must remove it.
"""
import asyncio, json, sys
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


async def main():
    url = sys.argv[1]
    headers = [tuple(a.split("=", 1)) for a in sys.argv[2:]]
    try:
        async with connect(url, additional_headers=headers, compression="deflate",
                           max_size=None, open_timeout=20, close_timeout=5) as ws:
            try:
                await ws.send(json.dumps({"type": "user", "text": "hello"}))
            except ConnectionClosed:
                # A short script can end (close 1000) before this send: what
                # the agent sent is still read below.
                pass
            messages = []
            try:
                async for m in ws:
                    messages.append(m if isinstance(m, str) else m.hex())
            except ConnectionClosed:
                pass
            rcvd = ws.protocol.close_rcvd
            print(json.dumps({"messages": messages,
                              "code": rcvd.code if rcvd else None,
                              "reason": rcvd.reason if rcvd else None}))
    except InvalidStatus as e:
        r = e.response
        print(json.dumps({"status": r.status_code, "body": r.body.decode("utf-8", "replace"),
                          "headers": {k.lower(): v for k, v in r.headers.raw_items()}}))


asyncio.run(main())
