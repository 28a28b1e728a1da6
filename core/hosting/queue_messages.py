"""huey's queue messages as JSON instead of pickle: a queue shared over a network must not be a way to run code in
a consumer. A message holds a run folder's path, a few numbers and huey's own timestamps."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from huey.registry import Message
from huey.serializer import Serializer


def _to_json(value: Any) -> Any:
    if isinstance(value, Message):
        return {"__message__": [_to_json(item) for item in value]}
    if isinstance(value, datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, (list, tuple)):
        return [_to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _to_json(item) for key, item in value.items()}
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if "__message__" in value:
            return Message(*[_from_json(item) for item in value["__message__"]])
        if "__datetime__" in value:
            return datetime.fromisoformat(value["__datetime__"])
        return {key: _from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    return value


class JsonSerializer(Serializer):
    """huey's messages (a run folder's path and a few numbers) as JSON instead of pickle."""

    def _serialize(self, data: Any) -> bytes:
        return json.dumps(_to_json(data)).encode()

    def _deserialize(self, data: bytes) -> Any:
        return _from_json(json.loads(data))
