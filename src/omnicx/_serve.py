"""``omnicx serve``: the channel config file and uvicorn around `webhook_app`.

`load_channels` reads ``[[channel]]`` tables from TOML; a table may add
``bearer_token`` or ``hmac_secret`` to wrap its channel in
`omnicx.channels.Authenticated` (the only way an email channel is served).
`serve` checks every channel before binding the port (an empty secret, a
channel that accepts unsigned requests: `ConfigurationError`), then runs
uvicorn, with the read API (``omnicx._api``) at ``/api`` when the config's
``[api]`` table or ``$OMNICX_API_TOKEN`` gives it a token. With ``workers >
1`` (a store whose `Capabilities` allow several writing processes, e.g.
PostgreSQL) each worker process opens its own history from the environment
(`worker_app`) and group-commits on its own.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tomllib
from pathlib import Path
from typing import Any, TextIO

from . import channels as channel_module
from ._adapters import adapter_channel
from ._api import api_app, api_tokens
from ._enums import Channel
from ._errors import ConfigurationError
from ._history import History
from ._open import open as open_history
from ._server import ASGIApp, webhook_app
from .channels import Authenticated
from .typing import ChannelAdapter

__all__ = ["load_channels", "serve", "worker_app"]

_WORKER_ENV = "OMNICX_SERVE_WORKER"
_AUTH_KEYS = ("bearer_token", "hmac_secret")


def load_channels(path: str | Path) -> list[ChannelAdapter]:
    """Channels from a TOML file: ``[[channel]]`` tables with ``type`` and arguments.

    ``bearer_token`` / ``hmac_secret`` in a table wrap that channel in
    `Authenticated`.
    """
    try:
        config = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read channel config {path}: {exc}") from exc
    by_type: dict[str, Any] = {}
    for name in channel_module.__all__:
        kind = getattr(getattr(channel_module, name), "channel", None)
        if isinstance(kind, Channel):  # adapters, not settings or wrappers
            by_type[kind.value] = getattr(channel_module, name)
    adapters: list[ChannelAdapter] = []
    for table in config.get("channel", []):
        options = dict(table)
        kind = options.pop("type", None)
        auth = {key: options.pop(key) for key in _AUTH_KEYS if key in options}
        if kind not in by_type:
            raise ConfigurationError(f"unknown channel type {kind!r}; known: {sorted(by_type)}")
        try:
            adapter: ChannelAdapter = by_type[kind](**options)
            if auth:
                adapter = Authenticated(adapter=adapter, **auth)
        except TypeError as exc:
            raise ConfigurationError(f"bad options for {kind} channel: {exc}") from exc
        adapters.append(adapter)
    if not adapters:
        raise ConfigurationError(f"{path} configures no [[channel]]")
    return adapters


def serve(history: History, *, channels: str, host: str, port: int, workers: int = 1,
          db: str | None = None, schema: str | None = None, out: TextIO | None = None) -> None:
    """Check the channels in the config file ``channels``, then run uvicorn until stopped."""
    try:
        import uvicorn
    except ImportError as exc:
        raise ConfigurationError("serve needs the server extra: pip install 'omnicx[server]'"
                                 ) from exc
    adapters = load_channels(channels)
    # Both refuse what cannot be served (an unsigned channel, a short API token) before binding.
    app = _app(history, adapters, channels)
    if workers > 1 and not history.store.capabilities.multi_process:
        raise ConfigurationError(
            "--workers needs a store that several processes may write (PostgreSQL, a"
            " SQLite file); this one is one process only")
    out = out or sys.stdout
    for adapter in adapters:
        print(f"POST http://{host}:{port}/{adapter_channel(adapter).value}/{adapter.account}",
              file=out)
    if api_tokens(channels) is not None:
        print(f"GET  http://{host}:{port}/api/... (read API, bearer token;"
              " /api/openapi.json describes it)", file=out)
    print(f"GET  http://{host}:{port}/healthz, /readyz", file=out, flush=True)
    if history.tenant is not None:
        print(f"receiving into tenant {history.tenant} (docs/tenancy.md)", file=out, flush=True)
    _log_to_stderr()
    # uvicorn's access log would print query strings (a WhatsApp verify token):
    # the app logs one line per request itself, without them.
    if workers > 1:
        os.environ[_WORKER_ENV] = json.dumps({"db": db, "schema": schema,
                                              "tenant": history.tenant,
                                              "region": history.default_region,
                                              "channels": str(Path(channels).resolve())})
        uvicorn.run("omnicx._serve:worker_app", factory=True, host=host, port=port,
                    workers=workers, access_log=False, log_level="info")
    else:
        uvicorn.run(app, host=host, port=port, access_log=False, log_level="info")


def worker_app() -> ASGIApp:
    """The app of one ``--workers`` process, configured from the environment."""
    try:
        config = json.loads(os.environ[_WORKER_ENV])
    except (KeyError, ValueError) as exc:
        raise ConfigurationError(f"{_WORKER_ENV} is missing or not JSON") from exc
    _log_to_stderr()
    history = open_history(config["db"], schema=config["schema"],
                           default_region=config.get("region"),
                           tenant=config.get("tenant"))  # the tenant serve was started with
    return _app(history, load_channels(config["channels"]), config["channels"])


def _app(history: History, adapters: list[ChannelAdapter], config: str) -> ASGIApp:
    """The webhook app, with the read API at ``/api`` when a token is configured."""
    tokens = api_tokens(config)
    mount = {"/api": api_app(history, tokens=tokens)} if tokens is not None else None
    return webhook_app(history, adapters, mount=mount)


def _log_to_stderr() -> None:
    logger = logging.getLogger("omnicx")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
