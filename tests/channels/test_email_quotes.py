"""Quote separation and threading hints for the Email channel."""

from __future__ import annotations

import time

import pytest

from omnicx.channels.email._html import html_to_text
from omnicx.channels.email._quotes import split_reply
from omnicx.channels.email._threading import ancestry, subject_key, thread_index_root


@pytest.mark.parametrize(("body", "new"), [
    # Gmail, English
    ("Sounds good.\n\nOn Mon, Mar 3, 2025 at 10:02 AM Support <s@example.com> wrote:\n> Hi\n",
     "Sounds good."),
    # Apple Mail, English, with a date and time
    ("Yes.\n\nOn 3 Mar 2025, at 10:02, Support <s@example.com> wrote:\n\n> Hi\n", "Yes."),
    # Gmail, German
    ("Passt so.\n\nAm Mo., 3. März 2025 um 10:02 Uhr schrieb Support <s@example.com>:\n> Hallo\n",
     "Passt so."),
    # Thunderbird, German
    ("Danke!\n\nAm 03.03.25 um 10:02 schrieb Support:\n> Hallo\n", "Danke!"),
    # Gmail, French
    ("Parfait.\n\nLe lun. 3 mars 2025 à 10:02, Support <s@example.com> a écrit :\n> Bonjour\n",
     "Parfait."),
    # Thunderbird, French
    ("Merci.\n\nLe 03/03/2025 à 10:02, Support a écrit :\n> Bonjour\n", "Merci."),
    # Outlook, English
    ("Please cancel.\n\nFrom: Support <s@example.com>\nSent: Monday, March 3, 2025 10:02 AM\n"
     "To: John <j@x.com>\nSubject: RE: Order\n\nHello John,\n", "Please cancel."),
    # Outlook, German
    ("Bitte stornieren.\n\nVon: Support <s@example.com>\nGesendet: Montag, 3. März 2025 10:02\n"
     "An: Hans <h@x.de>\nBetreff: AW: Bestellung\n\nHallo Hans\n", "Bitte stornieren."),
    # Outlook, French
    ("Merci\n\nDe : Support <s@example.com>\nEnvoyé : lundi 3 mars 2025 10:02\n"
     "À : Marie <m@x.fr>\nObjet : RE: Commande\n\nBonjour\n", "Merci"),
    # Old Outlook separators
    ("OK\n\n-----Original Message-----\nFrom: Support\nSent: today\n\ntext\n", "OK"),
    ("Gut\n\n-----Ursprüngliche Nachricht-----\nVon: Support\n\ntext\n", "Gut"),
    ("Bien\n\n----- Message d'origine -----\nDe : Support\n\ntexte\n", "Bien"),
    # Plain quotes without an attribution
    ("ok\n\n> earlier text\n> more\n", "ok"),
    # No quote at all
    ("Just a question about my invoice.\nThanks", "Just a question about my invoice.\nThanks"),
])
def test_new_text_is_separated_from_quoted_history(body: str, new: str) -> None:
    split = split_reply(body)
    assert split.text == new
    assert (split.quoted is not None) == (new != body)


def test_a_sentence_starting_with_on_is_not_an_attribution() -> None:
    body = "On Monday I wrote to you about the refund.\nStill waiting."
    assert split_reply(body).text == body


def test_inline_answers_between_quotes_are_kept() -> None:
    body = ("On Mon, Mar 3, 2025 at 10:02 AM Support <s@example.com> wrote:\n"
            "> What is your order number?\n10432\n> And your postcode?\n8001\n")
    split = split_reply(body)
    assert split.text == "10432\n8001"


def test_signature_and_mobile_footer_are_split_off() -> None:
    assert split_reply("Thanks!\n-- \nJane Doe\nACME").signature == "Jane Doe\nACME"
    split = split_reply("Danke\n\nVon meinem iPhone gesendet")
    assert (split.text, split.signature) == ("Danke", "Von meinem iPhone gesendet")


def test_quote_separation_is_linear_on_hostile_input() -> None:
    hostile = "On " + "a " * 20000 + "\n" + ("From:" + " " * 5000 + "x\n") * 10 + "- a\n" * 5000
    started = time.perf_counter()
    split_reply(hostile)
    assert time.perf_counter() - started < 2.0  # about 0.05 s


def test_html_to_text_marks_quotes_and_drops_styles() -> None:
    html = ("<html><head><style>p{}</style><title>t</title></head><body><p>Hello&nbsp;there</p>"
            "<ul><li>one</li><li>two</li></ul><blockquote>old<br>text</blockquote>"
            "<script>alert(1)</script></body></html>")
    assert html_to_text(html) == "Hello there\n- one\n- two\n> old\n> text"


def test_html_to_text_outlook_reply_header_starts_the_quote() -> None:
    html = ('<div>Neu</div><div id="appendonsend"></div><hr>'
            '<div id="divRplyFwdMsg"><b>Von:</b> Support</div><div>Alt</div>')
    text = html_to_text(html)
    assert text.splitlines()[0] == "Neu"
    assert all(line.startswith(">") for line in text.splitlines()[1:])


@pytest.mark.parametrize(("subject", "key"), [
    ("Re: Order 12", "order 12"),
    ("RE: Fwd: AW: WG: Order 12", "order 12"),
    ("Re[2]: Order 12", "order 12"),
    ("Re(3): Order 12", "order 12"),
    ("SV: VS: Antw: RV: TR: RIF: R: Order 12", "order 12"),
    ("Réf : Order 12", "réf : order 12"),  # not a reply prefix: kept
    ("[support-list] Re: Order  12", "order 12"),
    ("Re : Order 12", "order 12"),
    ("回复\uff1aOrder 12", "order 12"),
    ("Order 12", "order 12"),
    ("Re:", None),
    ("(no subject)", None),
    ("", None),
    (None, None),
])
def test_subject_key_strips_prefixes_in_many_languages(
    subject: str | None, key: str | None
) -> None:
    assert subject_key(subject) == key


def test_ancestry_orders_references_and_puts_the_parent_last() -> None:
    assert ancestry("m4", ("m1", "m2", "m3"), ("m3",)) == (("m1", "m2", "m3"), "m3")
    # only In-Reply-To
    assert ancestry("m2", (), ("m1",)) == (("m1",), "m1")
    # only References: the last one is the parent
    assert ancestry("m3", ("m1", "m2"), ()) == (("m1", "m2"), "m2")
    # In-Reply-To disagrees with the end of References: it wins the parent slot
    assert ancestry("m4", ("m1", "m2", "m3"), ("m2",)) == (("m1", "m3", "m2"), "m2")


def test_ancestry_survives_loops_self_references_and_duplicates() -> None:
    assert ancestry("m1", ("m1",), ("m1",)) == ((), None)
    assert ancestry("m3", ("m1", "m2", "m1", "m3", "m2"), ()) == (("m1", "m2"), "m2")
    refs, parent = ancestry("x", ("a", "b", "a", "b", "a"), ("b",))
    assert len(refs) == len(set(refs)) and "x" not in refs and parent == "b"


def test_thread_index_root_is_the_first_22_bytes() -> None:
    assert thread_index_root("AQHbjE3rT6F5mYqGf0C3a2NhZmEqXrNiR3xw") == \
        "0101db8c4deb4fa179998a867f40b76b636166612a5e"
    assert thread_index_root("short") is None
    assert thread_index_root(None) is None


def test_html_to_text_survives_unclosed_and_stray_tags() -> None:
    html = "<div><blockquote><p>old<p>older</blockquote></span><p>new again</div>"
    assert html_to_text(html) == "> old\n> older\nnew again"


def test_html_to_text_is_fast_on_hostile_nesting() -> None:
    html = "<div>" * 20000 + "</span>" * 20000 + "x"
    started = time.perf_counter()
    assert html_to_text(html) == "x"
    assert time.perf_counter() - started < 5.0  # about 1 s; quadratic would take minutes
