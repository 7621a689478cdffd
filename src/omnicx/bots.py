"""Bots that answer first and hand over to a human: the runner and its rules.

    from omnicx.bots import BotRunner, asks_for_human, keywords, repeated_failures

    runner = BotRunner(history, my_bot, whatsapp,
                       rules=[asks_for_human(), keywords("complaint", "lawyer"),
                              repeated_failures(2)])
    runner.handle(interaction)          # or let the history call it after each commit

See ``docs/bots.md``; the bot itself implements `omnicx.typing.Bot`.
"""

from __future__ import annotations

from ._bots import (
    BotContext,
    BotOutcome,
    BotRunner,
    HandoverRule,
    asks_for_human,
    keywords,
    repeated_failures,
    when,
)

__all__ = [
    "BotContext",
    "BotOutcome",
    "BotRunner",
    "HandoverRule",
    "asks_for_human",
    "keywords",
    "repeated_failures",
    "when",
]
