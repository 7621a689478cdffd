"""Import a mailbox archive, then watch a late parent close the gap it left.

Run: python examples/email_archive.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import omnicx
from omnicx.channels import Email

SUPPORT = Email(mailbox="support@example.com", also=["help@example.com"])


def message(sender: str, to: str, subject: str, msgid: str, date: str, body: str,
            in_reply_to: str | None = None) -> str:
    thread = f"In-Reply-To: <{in_reply_to}>\nReferences: <{in_reply_to}>\n" if in_reply_to else ""
    return (f"From: {sender}\nTo: {to}\nSubject: {subject}\nMessage-ID: <{msgid}>\n"
            f"Date: {date}\n{thread}Content-Type: text/plain; charset=utf-8\n\n{body}\n")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        mbox = Path(tmp) / "support.mbox"
        mails = [
            message("Jane Doe <jane@example.org>", "support@example.com", "Order 10432",
                    "q1@example.org", "Mon, 3 Mar 2025 09:00:00 +0000",
                    "My parcel has not arrived."),
            # our answer is not in this archive (it sits in the Sent folder)...
            message("Jane Doe <jane@example.org>", "support@example.com", "Re: Order 10432",
                    "q2@example.org", "Mon, 3 Mar 2025 12:00:00 +0000",
                    "It arrived, thanks!\n\nOn Mon, 3 Mar 2025 at 10:00, Example Support "
                    "<help@example.com> wrote:\n> It ships today.", in_reply_to="a1@example.com"),
            message("Anna Keller <anna@example.ch>", "support@example.com", "AW: Newsletter",
                    "n1@example.ch", "Mon, 3 Mar 2025 13:00:00 +0000", "Bitte abmelden."),
        ]
        mbox.write_text("".join(f"From x Mon Mar  3 09:00:00 2025\n{m}\n" for m in mails))
        with omnicx.open(Path(tmp) / "history.db") as history:
            receipt = history.import_path(mbox, channel=SUPPORT)
            print(f"imported: stored {receipt.stored}, open gaps {len(history.gaps())}")
            # ...and arrives later, from the Sent folder: the gap closes.
            sent = message("Example Support <help@example.com>", "jane@example.org",
                           "Re: Order 10432", "a1@example.com", "Mon, 3 Mar 2025 10:00:00 +0000",
                           "It ships today.", in_reply_to="q1@example.org")
            history.receive(SUPPORT, body=sent.encode())
            print(f"after the Sent copy: open gaps {len(history.gaps())}")
            jane = history.contacts.find("jane@example.org")
            assert jane is not None
            for item in reversed(history.timeline(jane).items):
                print(f"  {item.occurred_at:%H:%M} {item.direction:<8} conversation "
                      f"{item.conversation_id}: {item.text}")


if __name__ == "__main__":
    main()
