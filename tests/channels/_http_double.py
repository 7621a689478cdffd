"""A scripted httpx.MockTransport handler that records requests (the provider boundary)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Answers from a script (the last answer repeats) and records every request."""

    def __init__(self, *responses: httpx.Response | Handler) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        return answer(request) if callable(answer) else answer

    def json(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)
