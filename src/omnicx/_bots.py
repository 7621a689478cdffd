"""Bots answer first and hand over to a human when a rule says so.

A `BotRunner` pairs a bot (``omnicx.typing.Bot``: a name and an ``answer``
method) with the channel it answers through and the rules that end its turn.
Give it each new inbound interaction (``runner.handle(interaction)``, or
subscribe it to the history so it sees every one after commit) and it:

1. leaves automatic replies and anything that is not the customer alone;
2. takes unassigned conversations (``assign(to="bot:<name>")``) unless
   ``claim_new=False``, and leaves conversations someone else handles;
3. asks the rules, in order: the first that gives a reason hands the
   conversation over (``handover(to="human", reason=…)``);
4. otherwise asks the bot; its answer is sent with `History.send` (so it is
   recorded, threaded and counted as a bot answer, not a human first
   response); no answer is a failure, and the rules are asked again.

Every decision is an event in the contact's chain (assign, handover) or an
interaction (the bot's answer), so KPIs count containment and handovers, and
a restarted runner carries on where it stopped: failures are counted from
the stored conversation, not from memory.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import attrs

from ._errors import OmnicxError
from ._lifecycle import AUTOMATIC_TYPES, ConversationState
from ._models import Contact, Interaction

if TYPE_CHECKING:
    from ._history import History
    from .typing import Bot, Sender

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


@attrs.frozen(kw_only=True)
class BotContext:
    """What a bot and the rules know about the conversation when a message arrives.

    ``failures`` counts the customer's messages since the bot took the
    conversation that got no answer from it (the current one not included).
    """

    conversation: ConversationState
    failures: int
    history: History


HandoverRule = Callable[[Interaction, BotContext], str | None]
"""Returns the reason to hand over to a human, or ``None`` to let the bot go on."""


def _fold(text: str) -> str:
    """Lower case without accents, so "Mitarbeiter", "MITARBEITER" and "mitarbéiter" match."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _word(word: str) -> str:
    """A word or phrase as a pattern: whole words, or a stem when it ends in ``*``."""
    folded = _fold(word).strip()
    if folded.endswith("*"):
        return r"(?<!\w)" + re.escape(folded[:-1])
    return r"(?<!\w)" + re.escape(folded) + r"(?!\w)"


def keywords(*words: str, reason: str | None = None) -> HandoverRule:
    """Hand over when the message contains one of ``words``: whole words or phrases,
    any case, accents ignored; ``"mitarbeiter*"`` matches every word that starts so
    (inflected forms: Mitarbeiterin, оператором)."""
    parts = [_word(w) for w in words if w.strip().strip("*")]
    pattern = re.compile("|".join(parts)) if parts else None

    def rule(message: Interaction, context: BotContext) -> str | None:
        if pattern is None or not message.text:
            return None
        found = pattern.search(_fold(message.text))
        return None if found is None else (reason or f"mentioned {found.group(0)!r}")

    return rule


# "I want a person" in the languages of issue #14 and a few more; phrases, not
# single words, where a word alone is too common ("agent" in "user agent").
_HUMAN_PHRASES = (
    # en
    "human", "humans", "a person", "real person", "an agent", "live agent",
    "customer service", "speak to someone", "talk to someone", "representative*",
    "operator",
    # de
    "mensch", "menschen", "mitarbeiter*", "echte person", "kundendienst",
    "sachbearbeiter*", "berater*",
    # fr
    "humain", "une personne", "conseiller*", "conseillere*", "un agent", "operateur*",
    "service client",
    # it
    "operatore", "operatrice", "una persona", "persona reale", "assistenza clienti",
    # es
    "humano", "una persona real", "un agente", "operador*", "atencion al cliente",
    # nl, pt, pl, sv, tr, ru, uk
    "medewerker*", "een mens", "atendente", "um humano", "konsultant*", "człowiek*",
    "handlaggare", "manniska", "temsilci*", "musteri hizmetleri", "оператор*", "человек*",
    "консультант*", "людин*",
)


def asks_for_human(extra: Iterable[str] = ()) -> HandoverRule:
    """Hand over when the customer asks for a person (phrases in about ten languages,
    plus ``extra``)."""
    return keywords(*_HUMAN_PHRASES, *extra, reason="the customer asked for a person")


def repeated_failures(limit: int = 2) -> HandoverRule:
    """Hand over when the bot could not answer ``limit`` messages of this conversation."""
    if limit < 1:
        raise ValueError("limit must be at least 1")

    def rule(message: Interaction, context: BotContext) -> str | None:
        if context.failures >= limit:
            return f"the bot could not answer {context.failures} times"
        return None

    return rule


def when(predicate: Callable[[Interaction, BotContext], bool], reason: str) -> HandoverRule:
    """Hand over when ``predicate`` (your own rule) says so."""

    def rule(message: Interaction, context: BotContext) -> str | None:
        return reason if predicate(message, context) else None

    return rule


@attrs.frozen(kw_only=True)
class BotOutcome:
    """What the runner did with one message: ``"answered"``, ``"handover"`` or
    ``"skipped"`` (with why), and the bot's answer when it sent one."""

    action: str
    reason: str | None = None
    reply: Interaction | None = None


class BotRunner:
    """Runs ``bot`` on a history's inbound messages, answering through ``channel``."""

    def __init__(self, history: History, bot: Bot, channel: Sender, *,
                 rules: Sequence[HandoverRule] | None = None, claim_new: bool = True) -> None:
        self.history = history
        self.bot = bot
        self.channel = channel
        self.assignee = f"bot:{bot.name}"
        self.rules = list(rules) if rules is not None else [asks_for_human(),
                                                            repeated_failures(2)]
        self.claim_new = claim_new

    def handle(self, interaction: Interaction) -> BotOutcome:
        """Decide and act on one stored inbound interaction."""
        if str(interaction.direction) != "inbound":
            return BotOutcome(action="skipped", reason="not from the customer")
        if interaction.message_type in AUTOMATIC_TYPES or str(interaction.kind) == "system":
            return BotOutcome(action="skipped", reason="an automatic message")
        conversations = self.history.conversations
        state = conversations.state(interaction.conversation_id)
        if state.assignee is None and self.claim_new:
            conversations.assign(interaction, to=self.assignee, by=self.assignee,
                                 at=interaction.occurred_at)
            state = conversations.state(interaction.conversation_id)
        if state.assignee != self.assignee:
            return BotOutcome(action="skipped", reason=f"handled by {state.assignee}")
        context = BotContext(conversation=state, failures=self._failures(interaction, state),
                             history=self.history)
        handover = self._ask_rules(interaction, context)
        if handover is not None:
            return handover
        text: str | None = None
        failure: str | None = None
        try:
            text = self.bot.answer(interaction, context)
        except OmnicxError:
            raise
        except Exception as exc:  # a broken bot must not keep the customer from a person
            failure = f"the bot failed: {type(exc).__name__}"
        if text:
            reply = self.history.send(self.channel, to=self._contact(interaction), text=text,
                                      reply_to=interaction)
            return BotOutcome(action="answered", reply=reply)
        context = attrs.evolve(context, failures=context.failures + 1)
        handover = self._ask_rules(interaction, context)
        if handover is not None:
            return handover
        return BotOutcome(action="skipped", reason=failure or "the bot had no answer")

    def __call__(self, interaction: Interaction) -> BotOutcome:
        return self.handle(interaction)

    def _ask_rules(self, interaction: Interaction, context: BotContext) -> BotOutcome | None:
        for rule in self.rules:
            reason = rule(interaction, context)
            if reason:
                self.history.conversations.handover(
                    interaction, to="human", reason=reason, by=self.assignee)
                return BotOutcome(action="handover", reason=reason)
        return None

    def _contact(self, interaction: Interaction) -> Contact:
        return self.history.contacts.get(interaction.contact_id)

    def _failures(self, interaction: Interaction, state: ConversationState) -> int:
        """Customer messages since the bot took over that no answer followed."""
        taken = [c.occurred_at for c in state.changes if c.assignee == self.assignee]
        since = _us(max(taken)) if taken else None
        failures, waiting = 0, False
        with self.history.store.reading() as tx:
            rows = list(tx.activity(None, conversation_ids=[interaction.conversation_id]))
        for interaction_id, _, _, _, direction, kind, message_type, occurred_us in rows:
            if interaction_id == interaction.id or (since is not None
                                                    and occurred_us < since):
                continue
            if kind == "system" or message_type in AUTOMATIC_TYPES:
                continue
            if direction == "inbound":
                failures += waiting  # the previous message got no answer
                waiting = True
            elif direction == "outbound":
                waiting = False
        return failures + waiting


def _us(at: dt.datetime) -> int:
    delta = at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
