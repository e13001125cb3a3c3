"""Streams one answer through Envoy with an official SDK and reports what the
SDK made of it, as one JSON line on stdout:

  {"sdk": ..., "tool_calls": [names...], "text": "...", "error": null}
  {"sdk": ..., "tool_calls": [...], "text": "...", "error": {"class": "...", "message": "..."}}

(`tool_calls` and `text` hold what the SDK yielded before it raised, if it did.)

Usage: sdk_stream.py anthropic|openai BASE_URL TOKEN

The Anthropic SDK sends its api key as `x-api-key`; the token goes in
`Authorization: Bearer` through default_headers. The OpenAI SDK sends its api key
as `Authorization: Bearer`, so the token is the api key.
"""

import json
import sys


def run_anthropic(base_url, token, calls, text):
    import anthropic

    client = anthropic.Anthropic(
        base_url=base_url,
        api_key="not-used",
        default_headers={"Authorization": f"Bearer {token}"},
        max_retries=0,
        timeout=20.0,
    )
    stream = client.messages.create(
        model="claude-sonnet-4-20250514",
        max_tokens=256,
        messages=[{"role": "user", "content": "What is the weather in SF?"}],
        tools=[{
            "name": "get_weather",
            "description": "Get the weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }],
        stream=True,
    )
    for event in stream:
        if event.type == "content_block_start" and event.content_block.type == "tool_use":
            calls.append(event.content_block.name)
        elif event.type == "content_block_delta" and event.delta.type == "text_delta":
            text.append(event.delta.text)


def run_openai(base_url, token, calls, text):
    import openai

    client = openai.OpenAI(base_url=base_url + "/v1", api_key=token, max_retries=0, timeout=20.0)
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "What is the weather in SF?"}],
        tools=[{
            "type": "function",
            "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
        }],
        stream=True,
    )
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                if call.function is not None and call.function.name:
                    calls.append(call.function.name)
            if choice.delta.content:
                text.append(choice.delta.content)


def main():
    sdk, base_url, token = sys.argv[1:4]
    run = {"anthropic": run_anthropic, "openai": run_openai}[sdk]
    calls, text = [], []
    result = {"sdk": sdk, "error": None}
    try:
        run(base_url, token, calls, text)
    except Exception as e:  # the point is to report what the SDK raised
        result["error"] = {"class": f"{type(e).__module__}.{type(e).__name__}", "message": str(e)}
    result["tool_calls"] = calls
    result["text"] = "".join(text)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
