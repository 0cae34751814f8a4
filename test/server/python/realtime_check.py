"""Runs the Python `realtime` client (PyPI) against a server: broadcast, presence and postgres_changes, one JSON line per event."""
import asyncio
import json
import logging
import os
import sys

from realtime import AsyncRealtimeClient


def plain(value):
    """Callbacks receive dicts or pydantic models; both as JSON-ready values."""
    if hasattr(value, "model_dump"):
        return value.model_dump(by_alias=True)
    return value


def emit(kind, value=None):
    print(json.dumps({"kind": kind, "value": plain(value)}, default=plain), flush=True)


async def main():
    url = os.environ["REALTIME_URL"]
    token = os.environ["REALTIME_TOKEN"]
    topic = os.environ["REALTIME_TOPIC"]
    client = AsyncRealtimeClient(url, token, auto_reconnect=False)
    await client.connect()
    done = asyncio.Event()
    seen = set()

    def note(kind, value):
        emit(kind, value)
        seen.add(kind)
        if {"broadcast", "presence", "change"} <= seen:
            done.set()

    channel = client.channel(topic, {"config": {"broadcast": {"self": True}, "presence": {"key": "py-client"}}})
    channel.on_broadcast("greet", lambda payload: note("broadcast", payload))
    channel.on_presence_sync(lambda: note("presence", channel.presence_state()) if channel.presence_state() else None)
    channel.on_postgres_changes("INSERT", table="notes", schema="public", callback=lambda payload: note("change", payload))
    channel.on_system(lambda payload: emit("system", payload))

    subscribed = asyncio.Event()
    channel_ref = await channel.subscribe(lambda state, error: (emit("state", str(state)), subscribed.set() if str(state).endswith("SUBSCRIBED") else None))
    await asyncio.wait_for(subscribed.wait(), 10)
    await channel_ref.send_broadcast("greet", {"from": "python"})
    await channel_ref.track({"lang": "python"})
    emit("ready")
    try:
        await asyncio.wait_for(done.wait(), 15)
    finally:
        await client.close()


logging.basicConfig(level=logging.WARNING)
asyncio.run(main())
