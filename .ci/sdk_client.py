#!/usr/bin/env python3
"""sdk_client.py - the official Python MCP SDK (1.x) as a downstream client of `hub serve`, with its own
sampling, elicitation and roots callbacks, checking that what server-everything asks during a call made through
hub reaches THIS client's callbacks (issue 13), and that hub serves the upstream resources, templates, subscriptions and
prompts.

    sdk_client.py --url http://127.0.0.1:PORT/mcp        (hub serve --http)
    sdk_client.py --stdio -- HUB --config F serve --stdio (hub serve --stdio)

Prints one line per check ("ok NAME" / "FAIL NAME: why"); exit 0 when all passed, 1 otherwise.
"""
from __future__ import annotations

import asyncio
import json
import sys
from contextlib import AsyncExitStack

from mcp import ClientSession, StdioServerParameters, types

ANSWER = "sampled by the python client"
failures: list[str] = []


def check(name: str, ok: bool, why: str = "") -> None:
    print(f"ok {name}" if ok else f"FAIL {name}: {why[:400]}")
    if not ok:
        failures.append(name)


async def sampling(_context, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text=ANSWER), model="python-client"
    )


async def elicitation(_context, params) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"color": "red", "number": 7, "pets": "cats"})


async def roots(_context) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[types.Root(uri="file:///python/client/root", name="client-root")])


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


updated = asyncio.Event()


async def on_message(message) -> None:
    if isinstance(message, types.ServerNotification) and isinstance(message.root, types.ResourceUpdatedNotification):
        updated.set()


async def run(argv: list[str]) -> None:
    async with AsyncExitStack() as stack:
        if argv[0] == "--url":
            from mcp.client.streamable_http import streamablehttp_client

            read, write, _ = await stack.enter_async_context(streamablehttp_client(argv[1]))
        else:
            from mcp.client.stdio import stdio_client

            cmd = argv[argv.index("--") + 1 :]
            params = StdioServerParameters(command=cmd[0], args=cmd[1:])
            read, write = await stack.enter_async_context(stdio_client(params))
        session = await stack.enter_async_context(
            ClientSession(read, write, sampling_callback=sampling, elicitation_callback=elicitation,
                          list_roots_callback=roots, message_handler=on_message)
        )
        init = await session.initialize()
        caps = init.capabilities
        check("hub serves resources and prompts", caps.resources is not None and caps.prompts is not None, str(caps))
        tools = {t.name for t in (await session.list_tools()).tools}
        want = {"everything__trigger-sampling-request", "everything__trigger-elicitation-request",
                "everything__get-roots-list", "everything__trigger-sampling-request-async",
                "everything__trigger-elicitation-request-async"}
        check("server-everything's client-capability tools listed through hub", want <= tools, str(sorted(tools)))

        r = await session.call_tool("everything__trigger-sampling-request", {"prompt": "hi", "maxTokens": 20})
        check("sampling answered by the python client's callback", ANSWER in text_of(r), text_of(r))
        r = await session.call_tool("everything__trigger-elicitation-request", {})
        check("elicitation answered by the python client's callback", "red" in text_of(r) and not r.isError,
              text_of(r))
        # The -async variants: server-everything asks hub to run the request as a task (2025-11-25 tasks) and
        # polls it; hub's task asks this client (plainly, as the Python SDK declares no tasks).
        r = await session.call_tool("everything__trigger-sampling-request-async", {"prompt": "hi", "maxTokens": 20})
        check("an async (task) sampling request answered by the python client's callback",
              "COMPLETED" in text_of(r) and ANSWER in text_of(r), text_of(r))
        r = await session.call_tool("everything__trigger-elicitation-request-async", {})
        check("an async (task) elicitation answered by the python client's callback",
              "red" in text_of(r) and "Task created" in text_of(r), text_of(r))
        r = await session.call_tool("everything__get-roots-list", {})
        check("roots are the python client's", "file:///python/client/root" in text_of(r), text_of(r))

        progress: list[float] = []

        async def on_progress(p: float, total: float | None, message: str | None) -> None:
            progress.append(p)

        r = await session.call_tool("everything__trigger-long-running-operation", {"duration": 1, "steps": 3},
                                    progress_callback=on_progress)
        check("progress of a long-running operation reaches the client", len(progress) == 3, str(progress))

        resources = (await session.list_resources()).resources
        check("upstream resources listed", any(str(x.uri).startswith("demo://resource/static/") for x in resources),
              str([str(x.uri) for x in resources][:5]))
        templates = (await session.list_resource_templates()).resourceTemplates
        check("upstream templates listed", any("{resourceId}" in t.uriTemplate for t in templates),
              str([t.uriTemplate for t in templates]))
        read = await session.read_resource("demo://resource/dynamic/text/3")
        check("a template resource read through hub", "3" in json.dumps(read.model_dump(mode="json")),
              str(read)[:200])
        prompts = {p.name for p in (await session.list_prompts()).prompts}
        check("upstream prompts namespaced", "everything__args-prompt" in prompts, str(sorted(prompts)))
        got = await session.get_prompt("everything__args-prompt", {"city": "Lyon"})
        check("a prompt with arguments", any("Lyon" in getattr(m.content, "text", "") for m in got.messages),
              str(got)[:200])
        watched = "demo://resource/static/document/features.md"
        await session.subscribe_resource(watched)
        await session.call_tool("everything__toggle-subscriber-updates", {})
        try:
            await asyncio.wait_for(updated.wait(), timeout=20)
            check("a subscribed resource's update reaches the client", True)
        except asyncio.TimeoutError:
            check("a subscribed resource's update reaches the client", False, "no resources/updated within 20 s")
        await session.call_tool("everything__toggle-subscriber-updates", {})
        await session.unsubscribe_resource(watched)

        try:
            await session.get_prompt("everything__args-prompt", {})
            check("a prompt missing its required argument is refused", False, "no error")
        except Exception as e:  # noqa: BLE001 - the SDK raises McpError
            check("a prompt missing its required argument is refused", "missing required argument" in str(e), str(e))


def main() -> int:
    try:
        asyncio.run(asyncio.wait_for(run(sys.argv[1:]), timeout=120))
    except Exception as e:  # noqa: BLE001 - any failure is reported, not raised
        check("session", False, repr(e))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
