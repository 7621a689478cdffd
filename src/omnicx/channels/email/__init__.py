"""Email: RFC 5322 parsing, quote splitting, threading, IMAP pull and SMTP send.

- `_channel`: the `Email` adapter (verify/parse/send) and its settings.
- `_mime`: the standard library's parser, plus the charset and header
  repairs real mail needs; `_html` turns HTML bodies into text.
- `_quotes`: splits the new answer from the quoted history.
- `_threading`: References, Thread-Index and subject keys.
- `_imap`, `_mailsources`, `_smtp`: where mail comes from and goes to.
"""

from __future__ import annotations

from ._channel import Email, IMAPSettings, SMTPSettings

__all__ = ["Email", "IMAPSettings", "SMTPSettings"]
