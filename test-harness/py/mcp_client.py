"""An MCP client (the official Python SDK: streamable HTTP client transport and
ClientSession) talking to an MCP server through Envoy, for tests/mcp.rs. It
reports what the SDK made of each step as one JSON line on stdout:

  {"sdk": "<mcp version>",
   "tools": [names from list_tools],
   "allowed": {"ok": true, "is_error": false, "text": "..."},
   "denied": {"ok": false, "error": {"class": "...", "message": "...", "code": N}}}

A step that returns a result has "ok": true; one that raises has "ok": false and
the exception (class, str, and the JSON-RPC code when the SDK gives one); when
the denied call's error ends the whole session instead of the call (mcp 1.x
raises the HTTP 403 itself), "session_aborted": true.
A failure before the steps (connect, initialize) is reported as
{"sdk": ..., "fatal": {"class", "message"}}.

Usage: mcp_client.py URL TOKEN ALLOWED_TOOL DENIED_TOOL

The token goes in `Authorization: Bearer` on every HTTP request of the session.
Works with mcp 2.x (streamable_http_client + an httpx2 client holding the
header) and 1.x (streamablehttp_client(url, headers=...)).
"""

import asyncio
import contextlib
import json
import sys
from importlib.metadata import version


def describe(exc):
    # anyio task groups wrap errors in ExceptionGroups: report the first leaf.
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    out = {"class": type(exc).__name__, "message": str(exc)}
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    if code is not None:
        out["code"] = code
    return out


@contextlib.asynccontextmanager
async def transport(url, headers):
    try:
        from mcp.client.streamable_http import streamable_http_client  # mcp 2.x
    except ImportError:
        streamable_http_client = None
    if streamable_http_client is not None:
        from mcp.shared._httpx_utils import create_mcp_http_client

        async with create_mcp_http_client(headers=headers) as http:
            async with streamable_http_client(url, http_client=http) as streams:
                yield streams[0], streams[1]
    else:
        from mcp.client.streamable_http import streamablehttp_client  # mcp 1.x

        async with streamablehttp_client(url, headers=headers) as streams:
            yield streams[0], streams[1]


def result_text(result):
    parts = []
    for block in getattr(result, "content", None) or []:
        text = getattr(block, "text", None)
        if text is not None:
            parts.append(text)
    return "".join(parts)


async def call(session, name, arguments):
    try:
        result = await asyncio.wait_for(session.call_tool(name, arguments), 20)
    except Exception as exc:  # noqa: BLE001 - the test reports what users see
        return {"ok": False, "error": describe(exc)}
    return {
        "ok": True,
        "is_error": bool(getattr(result, "is_error", getattr(result, "isError", False))),
        "text": result_text(result),
    }


async def run(url, token, allowed, denied, report):
    from mcp import ClientSession

    headers = {"Authorization": f"Bearer {token}"}
    async with transport(url, headers) as (read, write):
        async with ClientSession(read, write) as session:
            await asyncio.wait_for(session.initialize(), 20)
            listed = await asyncio.wait_for(session.list_tools(), 20)
            report["tools"] = [t.name for t in listed.tools]
            report["allowed"] = await call(session, allowed, {"city": "Paris"})
            report["denied"] = await call(session, denied, {"confirm": True})


def main():
    url, token, allowed, denied = sys.argv[1:5]
    report = {"sdk": version("mcp")}
    try:
        asyncio.run(asyncio.wait_for(run(url, token, allowed, denied, report), 60))
    except BaseException as exc:  # noqa: BLE001
        if "denied" in report:
            report["teardown_error"] = describe(exc)
        elif "allowed" in report:
            # The denied call took the whole session down (mcp 1.x raises the
            # HTTP status of a POST out of its transport task group).
            report["denied"] = {"ok": False, "error": describe(exc), "session_aborted": True}
        else:
            report["fatal"] = describe(exc)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
