"""A tiny MCP server (the official Python SDK, Streamable HTTP transport) for the
real-client tests in tests/mcp.rs: Envoy's `agent` cluster points at it.

Usage: mcp_server.py [--json]

  --json   answer POSTs with plain `application/json` instead of event streams

It binds a free loopback port and prints, one JSON line each, on stdout:

  {"port": N, "sdk": "<mcp version>"}     once it listens (endpoint: /mcp)
  {"called": "<tool>", "arguments": {...}} each time a tool actually runs

It exits when its standard input closes (the test that started it is gone).
Tools: get_weather (the tests allow it) and delete_everything (denied).
Works with mcp 2.x (MCPServer) and 1.x (FastMCP).
"""

import asyncio
import json
import os
import socket
import sys
import threading
from importlib.metadata import version


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def build_app(json_response):
    try:
        from mcp.server.mcpserver import MCPServer  # mcp 2.x
    except ImportError:
        MCPServer = None
    if MCPServer is not None:
        server = MCPServer("toolguard-test")
    else:
        from mcp.server.fastmcp import FastMCP  # mcp 1.x

        server = FastMCP("toolguard-test", json_response=json_response)

    @server.tool()
    def get_weather(city: str) -> str:
        """Get the weather for a city."""
        say({"called": "get_weather", "arguments": {"city": city}})
        return f"Sunny in {city}, 21 C"

    @server.tool()
    def delete_everything(confirm: bool = True) -> str:
        """Delete every file the agent can reach."""
        say({"called": "delete_everything", "arguments": {"confirm": confirm}})
        return "everything deleted"

    if MCPServer is not None:
        return server.streamable_http_app(json_response=json_response)
    return server.streamable_http_app()


def exit_when_stdin_closes():
    def watch():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main():
    json_response = "--json" in sys.argv[1:]
    import uvicorn

    app = build_app(json_response)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    exit_when_stdin_closes()

    async def serve():
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
                return
            await asyncio.sleep(0.02)
        say({"port": sock.getsockname()[1], "sdk": version("mcp")})
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    main()
