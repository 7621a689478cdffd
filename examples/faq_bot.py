"""A FAQ bot that answers web chat customers first and hands over to a person.

The bot knows three answers. It takes every new conversation, answers what
it knows, and hands the conversation to the human queue when the customer
asks for a person or when it could not help twice. Everything it does is in
the history (its answers as interactions, its assignments and handovers as
conversation changes), so the KPIs count containment and handovers.

Here the widget is a stand-in that prints what would be shown to the
customer; in production it is your chat widget's `omnicx.typing.Sender`.

Run: python examples/faq_bot.py
"""

from __future__ import annotations

import datetime as dt
import json

import omnicx
from omnicx import Outgoing, SendResult
from omnicx.bots import BotContext, BotRunner, asks_for_human, keywords, repeated_failures
from omnicx.channels import WebChat

ANSWERS = {
    ("opening", "hours", "open"): "We are open Monday to Friday, 8:00 to 18:00.",
    ("return", "refund"): "You can return anything within 30 days: shop.example.ch/returns.",
    ("shipping", "delivery", "ship"): "Parcels leave our warehouse within one working day.",
}


class FaqBot:
    """Answers when a message mentions a known topic; otherwise admits it cannot."""

    name = "faq"

    def answer(self, message: omnicx.Interaction, context: BotContext) -> str | None:
        words = set((message.text or "").lower().replace("?", " ").split())
        for topic, answer in ANSWERS.items():
            if words.intersection(topic):
                return answer
        return None


class PrintingWidget:
    """What the chat widget would show the customer."""

    channel = omnicx.Channel.WEBCHAT
    address_kinds = ("webchat",)

    def __init__(self, account: str) -> None:
        self.account = account
        self.count = 0

    def send(self, message: Outgoing) -> SendResult:
        self.count += 1
        print(f"    bot  > {message.text}")
        return SendResult(external_id=f"widget-{self.count}")


def main() -> None:
    chat = WebChat(secret="shared-with-the-widget", site="shop.example.ch")
    history = omnicx.open(":memory:")
    runner = BotRunner(history, FaqBot(), PrintingWidget(chat.account),
                       rules=[asks_for_human(), keywords("lawyer", "Anwalt", reason="legal"),
                              repeated_failures(2)])
    start = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    conversations = {
        "v1": ["What are your opening hours?", "And how long does shipping take?"],
        "v2": ["My parcel 4711 never arrived", "It has been two weeks!"],
        "v3": ["Can I talk to a real person please?"],
    }
    for n, (visitor, texts) in enumerate(conversations.items()):
        print(f"conversation with {visitor}:")
        for m, text in enumerate(texts):
            body = json.dumps({"site": chat.site, "events": [{
                "type": "message", "id": f"{visitor}-{m}", "session": visitor,
                "from": "visitor", "visitor": {"id": visitor}, "text": text,
                "at": (start + dt.timedelta(minutes=10 * n + m)).isoformat()}]}).encode()
            (item,) = history.receive(chat, body=body, headers=chat.sign(body)).interactions
            print(f"    {visitor:<4} > {text}")
            outcome = runner.handle(item)
            if outcome.action == "handover":
                print(f"    (handed over to a person: {outcome.reason})")
        if visitor == "v1":
            history.conversations.resolve(item, by="bot:faq")
    total = history.kpis(since=start).total
    print(f"bot conversations {total.bot_conversations}, contained {total.bot_contained},"
          f" handed over {total.handed_over} (rate {total.handover_rate:.0%})")


if __name__ == "__main__":
    main()
