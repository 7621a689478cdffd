"""A synthetic but real-world shaped mail corpus, for big imports and benchmarks.

`synthetic_mail(i)` cycles through conversation shapes: customer questions,
Gmail/Outlook style replies in English, German and French (quoted history,
encoded words, quoted-printable, base64, HTML alternatives), attachments,
our own answers and out-of-office replies. Every message has a unique
Message-ID and a References chain within its thread.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.header
import email.utils
import quopri
from pathlib import Path

_CUSTOMERS = [
    ("Jane Doe", "jane.doe@gmail.com", "en"),
    ("Jürgen Weiß", "j.weiss@mueller-soehne.de", "de"),
    ("Hélène Dubois", "helene.dubois@orange.fr", "fr"),
    ("Łukasz Nowak", "lukasz.nowak@example.pl", "en"),
]
_NEW = {
    "en": "Hi,\n\nthe parcel for order {n} arrived damaged. Can you send a replacement?\n\nThanks",
    "de": "Guten Tag,\n\ndie Lieferung zu Auftrag {n} ist beschädigt angekommen. "
          "Bitte um Ersatz.\n\n"
          "Mit freundlichen Grüßen",
    "fr": "Bonjour,\n\nle colis de la commande {n} est arrivé abîmé. Pouvez-vous le remplacer ?\n\n"
          "Cordialement",
}
_ATTRIBUTION = {
    "en": "On Mon, 3 Mar 2025 at 10:02, Example Support <support@example.com> wrote:",
    "de": "Am Mo., 3. März 2025 um 10:02 Uhr schrieb Example Support <support@example.com>:",
    "fr": "Le lun. 3 mars 2025 à 10:02, Example Support <support@example.com> a écrit :",
}
_PREFIX = {"en": "Re", "de": "AW", "fr": "RE"}


def _encoded(text: str) -> str:
    return email.header.Header(text, "utf-8").encode() if not text.isascii() else text


def synthetic_mail(i: int) -> bytes:
    thread = i // 5
    name, address, lang = _CUSTOMERS[thread % len(_CUSTOMERS)]
    position = i % 5
    order = 10000 + thread
    subject = f"Order {order}"
    day = 1 + (thread % 28)
    date = email.utils.format_datetime(
        dt.datetime(2025, 3, day, 8 + position, i % 60, 0, tzinfo=dt.UTC))
    msgid = f"<m{i}.t{thread}@{'example.com' if position % 2 else address.split('@')[1]}>"
    refs = " ".join(f"<m{j}.t{thread}@{'example.com' if (j % 5) % 2 else address.split('@')[1]}>"
                    for j in range(thread * 5, i))
    outbound = position % 2 == 1
    sender = "Example Support <support@example.com>" if outbound else \
        f"{_encoded(name)} <{address}>"
    recipient = f"{_encoded(name)} <{address}>" if outbound else "support@example.com"
    body = _NEW[lang].format(n=order)
    if position:
        body += "\n\n" + _ATTRIBUTION[lang] + "\n" + "\n".join(
            "> " + line for line in _NEW[lang].format(n=order).splitlines())
    headers = [
        f"Received: from mx.example.net by mx.example.com; {date}",
        f"From: {sender}",
        f"To: {recipient}",
        f"Subject: {_PREFIX[lang] + ': ' if position else ''}{_encoded(subject)}",
        f"Date: {date}",
        f"Message-ID: {msgid}",
        "MIME-Version: 1.0",
    ]
    if refs:
        headers += [f"References: {refs}", f"In-Reply-To: {refs.split()[-1]}"]
    if position == 4 and not outbound:
        headers.append("Auto-Submitted: auto-replied")
    if i % 3 == 0:
        html = "<html><body>" + "".join(f"<p>{line}</p>" for line in body.splitlines()) + \
            "</body></html>"
        parts = [
            "Content-Type: multipart/alternative; boundary=\"alt\"", "",
            "--alt", "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable", "",
            quopri.encodestring(body.encode()).decode(), "--alt",
            "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: base64", "",
            base64.encodebytes(html.encode()).decode(), "--alt--", "",
        ]
    elif i % 7 == 0:
        parts = [
            "Content-Type: multipart/mixed; boundary=\"mix\"", "",
            "--mix", "Content-Type: text/plain; charset=iso-8859-1",
            "Content-Transfer-Encoding: quoted-printable", "",
            quopri.encodestring(body.encode("iso-8859-1", "replace")).decode(), "--mix",
            "Content-Type: application/pdf",
            f"Content-Disposition: attachment; filename=\"inv{i}.pdf\"",
            "Content-Transfer-Encoding: base64", "",
            base64.encodebytes(bytes(range(256)) * 12).decode(), "--mix--", "",
        ]
    else:
        parts = ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
                 body, ""]
    text = "\r\n".join(headers + parts)
    return text.replace("\n", "\r\n").replace("\r\r\n", "\r\n").encode("utf-8")


def write_mbox(path: Path, count: int, *, start: int = 0) -> Path:
    """Write ``count`` synthetic messages as an mbox (mboxrd escaping)."""
    with path.open("wb") as out:
        for i in range(start, start + count):
            out.write(b"From MAILER-DAEMON Mon Mar  3 10:00:00 2025\n")
            for line in synthetic_mail(i).replace(b"\r\n", b"\n").splitlines(keepends=True):
                out.write(b">" + line if line.lstrip(b">").startswith(b"From ") else line)
            out.write(b"\n")
    return path
