"""Bots answer first and hand over to a human; KPIs count it."""

from __future__ import annotations

import datetime as dt

import pytest

import omnicx
from omnicx.bots import BotContext, BotRunner, asks_for_human, keywords, repeated_failures, when
from omnicx.testing import WebChatPayloads
from test_translation import Widget

T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)


class FaqBot:
    name = "faq"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def answer(self, message: omnicx.Interaction, context: BotContext) -> str | None:
        self.asked.append(message.text or "")
        if message.text and "opening hours" in message.text.lower():
            return "We are open Monday to Friday, 8:00 to 18:00."
        if message.text and "explode" in message.text:
            raise RuntimeError("bug in the bot")
        return None


class Scene:
    def __init__(self, history: omnicx.History) -> None:
        self.history = history
        self.chat = WebChatPayloads(site="shop")
        self.widget = Widget(self.chat.channel.account)
        self.bot = FaqBot()
        self.runner = BotRunner(history, self.bot, self.widget)
        self.n = 0

    def customer(self, text: str, minutes: float, session: str = "s1",
                 visitor: str = "v1") -> omnicx.Interaction:
        self.n += 1
        body, headers = self.chat.message(f"m{self.n}", text=text, session=session,
                                          visitor=visitor,
                                          at=T0 + dt.timedelta(minutes=minutes))
        (item,) = self.history.receive(self.chat.channel, body=body,
                                       headers=headers).interactions
        return item


def test_bot_answers_and_is_not_a_human_first_response(history: omnicx.History) -> None:
    scene = Scene(history)
    first = scene.customer("What are your opening hours?", 0)
    outcome = scene.runner.handle(first)
    assert outcome.action == "answered" and outcome.reply is not None
    assert scene.widget.sent[0].text.startswith("We are open")
    assert outcome.reply.conversation_id == first.conversation_id
    state = history.conversations.state(first)
    assert state.assignee == "bot:faq"
    history.conversations.resolve(first, by="bot:faq")
    report = history.kpis(since=T0)
    assert report.total.first_response.count == 0  # the bot's answer is not a person's
    assert (report.total.bot_conversations, report.total.bot_contained) == (1, 1)


def test_asking_for_a_person_hands_over(history: omnicx.History) -> None:
    scene = Scene(history)
    scene.runner.handle(scene.customer("What are your opening hours?", 0))
    outcome = scene.runner.handle(scene.customer("Ich möchte mit einem MITARBEITER sprechen",
                                                 1))
    assert (outcome.action, outcome.reason) == ("handover", "the customer asked for a person")
    state = history.conversations.state(outcome_conversation(history))
    assert (state.assignee, state.handovers) == ("human", 1)
    # The bot leaves the conversation to people from now on.
    later = scene.runner.handle(scene.customer("What are your opening hours?", 2))
    assert (later.action, later.reason) == ("skipped", "handled by human")
    assert len(scene.widget.sent) == 1
    assert history.kpis(since=T0).total.handed_over == 1


def outcome_conversation(history: omnicx.History) -> int:
    contact = next(iter(history.contacts))
    return history.timeline(contact, limit=1).items[0].conversation_id


def test_repeated_failures_hand_over_and_survive_a_restart(history: omnicx.History) -> None:
    scene = Scene(history)
    first = scene.runner.handle(scene.customer("Where is parcel 4711?", 0))
    assert (first.action, first.reason) == ("skipped", "the bot had no answer")
    # A new runner (a restarted process) counts the failure from the history.
    restarted = BotRunner(history, scene.bot, scene.widget, rules=[repeated_failures(2)])
    second = restarted.handle(scene.customer("Hello?? parcel 4711", 1))
    assert (second.action, second.reason) == ("handover",
                                              "the bot could not answer 2 times")


def test_a_broken_bot_is_a_failure_not_a_crash(history: omnicx.History) -> None:
    scene = Scene(history)
    outcome = scene.runner.handle(scene.customer("make it explode", 0))
    assert (outcome.action, outcome.reason) == ("skipped", "the bot failed: RuntimeError")


def test_rules_keywords_when_and_assigned_conversations(history: omnicx.History) -> None:
    scene = Scene(history)
    runner = BotRunner(history, scene.bot, scene.widget, rules=[
        keywords("Anwalt", "lawyer", reason="legal"),
        when(lambda message, context: len(message.text or "") > 200, "too long for a bot")])
    legal = runner.handle(scene.customer("My LAWYER will call you", 0))
    assert (legal.action, legal.reason) == ("handover", "legal")
    long_one = runner.handle(scene.customer("x " * 150, 0, session="s2", visitor="v2"))
    assert (long_one.action, long_one.reason) == ("handover", "too long for a bot")
    # a conversation an agent already has is not the bot's
    agent = scene.customer("hello", 0, session="s3", visitor="v3")
    history.conversations.assign(agent, to="agent:17")
    assert runner.handle(agent).reason == "handled by agent:17"
    # unassigned conversations stay alone when the runner does not claim them
    shy = BotRunner(history, scene.bot, scene.widget, claim_new=False)
    other = scene.customer("opening hours?", 0, session="s4", visitor="v4")
    assert shy.handle(other).reason == "handled by None"
    with pytest.raises(ValueError):
        repeated_failures(0)


def test_human_phrases_in_many_languages() -> None:
    rule = asks_for_human()

    class Message:
        def __init__(self, text: str) -> None:
            self.text = text

    for text in ("I want to talk to a real person", "Je veux parler à un conseiller",
                 "Vorrei parlare con un operatore", "Quiero hablar con un agente",
                 "Kan ik een medewerker spreken?",
                 "Соедините с оператором, пожалуйста",  # noqa: RUF001
                 "Bitte einen Menschen!"):
        assert rule(Message(text), None) is not None, text  # type: ignore[arg-type]
    for text in ("What is your user agent string?", "My order 4711", "humanitarian aid"):
        assert rule(Message(text), None) is None, text  # type: ignore[arg-type]
