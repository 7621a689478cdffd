"""The ``omnicx`` command: a thin layer over the library's public API.

Each subcommand is one function ``cmd_<name>(history, args, out) -> int``
registered in `COMMANDS`; it calls the same methods a CRM would and prints
the result (``--json`` for machine-readable output). Errors from omnicx are
printed as one line and exit with status 2; nothing else is caught. The
encryption key, when there is one, comes from the ``OMNICX_KEY`` environment
variable (never from an argument, which other users could see).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from . import channels as channel_module
from ._adapters import adapter_channel
from ._demo import format_timeline, run_demo
from ._errors import ConfigurationError, OmnicxError
from ._history import History
from ._models import Contact
from ._open import open as open_history
from .typing import ChannelAdapter

__all__ = ["COMMANDS", "main"]

Command = Callable[[History, argparse.Namespace, TextIO], int]


def _json_default(value: Any) -> Any:
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=False)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _dump(value: Any, out: TextIO) -> None:
    print(json.dumps(value, default=_json_default, ensure_ascii=False, indent=1), file=out)


def _contact(history: History, query: str) -> Contact:
    if query.isdigit() and not query.startswith("0") and len(query) < 9:
        return history.contacts.get(int(query))
    found = history.contacts.find(query)
    if found is None:
        raise ConfigurationError(f"no contact has the address {query!r}")
    return found


def cmd_timeline(history: History, args: argparse.Namespace, out: TextIO) -> int:
    contact = _contact(history, args.contact)
    page = history.timeline(contact, limit=args.limit, before=args.before,
                            channels=args.channel or None)
    if args.json:
        _dump({"contact": contact, "items": page.items, "next_cursor": page.next_cursor}, out)
    else:
        print(f"{contact.display_name or 'contact'} #{contact.id}", file=out)
        print(format_timeline(page.items), file=out)
        if page.next_cursor:
            print(f"more: --before {page.next_cursor}", file=out)
    return 0


def cmd_contacts(history: History, args: argparse.Namespace, out: TextIO) -> int:
    if args.find:
        found = history.contacts.find(args.find)
        contacts = [found] if found else []
    else:
        contacts = list(history.contacts)
    if args.json:
        _dump(contacts, out)
        return 0
    for contact in contacts:
        addresses = ", ".join(str(a) for a in contact.addresses)
        crm = f" crm={contact.crm_id}" if contact.crm_id else ""
        print(f"#{contact.id:<6} {contact.display_name or '-':<24} {addresses}{crm}", file=out)
    return 0 if contacts or not args.find else 1


def cmd_gaps(history: History, args: argparse.Namespace, out: TextIO) -> int:
    gaps = history.gaps(include_closed=args.all)
    if args.json:
        _dump(gaps, out)
        return 0
    for gap in gaps:
        state = "open" if gap.open else f"closed {gap.closed_at:%Y-%m-%d %H:%M}"
        print(f"#{gap.id:<5} {gap.kind:<24} {gap.channel!s:<9} {gap.reference}"
              f"  since {gap.opened_at:%Y-%m-%d %H:%M} ({state}) {gap.detail or ''}", file=out)
    if not gaps:
        print("no open gaps" if not args.all else "no gaps", file=out)
    return 0


def cmd_quarantine(history: History, args: argparse.Namespace, out: TextIO) -> int:
    entries = history.quarantine()
    if args.json:
        _dump([attrs.evolve(e, body=b"") for e in entries], out)
        return 0
    for entry in entries:
        print(f"#{entry.id:<6} {entry.channel:<9} {entry.account:<24}"
              f" {entry.received_at:%Y-%m-%d %H:%M}  {entry.error}", file=out)
    if not entries:
        print("quarantine is empty", file=out)
    return 0


def cmd_report(history: History, args: argparse.Namespace, out: TextIO) -> int:
    counts = history.report()
    if args.json:
        _dump(counts, out)
        return 0
    for section, values in counts.items():
        print(f"{section}:", file=out)
        for key, count in values.items():
            print(f"  {key:<40} {count:>10,}", file=out)
    return 0


def cmd_verify(history: History, args: argparse.Namespace, out: TextIO) -> int:
    """Exit status 1 when any contact's hash chain disagrees with its rows."""
    report = history.verify()
    if args.json:
        _dump({"ok": report.ok, "contacts": report.contacts, "records": report.records,
               "problems": report.problems}, out)
    else:
        print(report, file=out)
    return 0 if report.ok else 1


def cmd_erase(history: History, args: argparse.Namespace, out: TextIO) -> int:
    contact = _contact(history, args.contact)
    if not args.yes:
        raise ConfigurationError(
            f"erasing contact #{contact.id} cannot be undone; repeat with --yes")
    erased = history.erase(contact, reason=args.reason)
    if args.json:
        _dump({"contact_id": contact.id, "erased": erased}, out)
    else:
        print(f"contact #{contact.id} erased: content of {erased} interactions destroyed",
              file=out)
    return 0


def cmd_export(history: History, args: argparse.Namespace, out: TextIO) -> int:
    if (args.contact is None) == (not args.all):
        raise ConfigurationError("export needs a contact, or --all")
    contact = None if args.all else _contact(history, args.contact)
    if args.output in (None, "-"):
        history.export(contact, out)
    else:
        written = history.export(contact, args.output)
        print(f"{written} lines written to {args.output}", file=sys.stderr)
    return 0


def load_channels(path: str | Path) -> list[ChannelAdapter]:
    """Channels from a TOML file: ``[[channel]]`` tables with ``type`` and arguments."""
    try:
        config = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read channel config {path}: {exc}") from exc
    by_type = {adapter_channel(getattr(channel_module, name)).value: getattr(channel_module, name)
               for name in channel_module.__all__
               if hasattr(getattr(channel_module, name), "channel")}
    adapters: list[ChannelAdapter] = []
    for table in config.get("channel", []):
        options = dict(table)
        kind = options.pop("type", None)
        if kind not in by_type:
            raise ConfigurationError(f"unknown channel type {kind!r}; known: {sorted(by_type)}")
        try:
            adapters.append(by_type[kind](**options))
        except TypeError as exc:
            raise ConfigurationError(f"bad options for {kind} channel: {exc}") from exc
    if not adapters:
        raise ConfigurationError(f"{path} configures no [[channel]]")
    return adapters


def cmd_serve(history: History, args: argparse.Namespace, out: TextIO) -> int:
    try:
        import uvicorn
    except ImportError as exc:
        raise ConfigurationError("serve needs the server extra: pip install 'omnicx[server]'"
                                 ) from exc
    from ._server import webhook_app

    adapters = load_channels(args.channels)
    for adapter in adapters:
        print(f"POST http://{args.host}:{args.port}/{adapter_channel(adapter).value}/"
              f"{adapter.account}",
              file=out)
    uvicorn.run(webhook_app(history, adapters), host=args.host, port=args.port,
                log_level="info")
    return 0


def cmd_import(history: History, args: argparse.Namespace, out: TextIO) -> int:
    from ._mailimport import ImportProgress

    channel = channel_module.Email(mailbox=args.mailbox, also=tuple(args.also or ()))

    def show(step: ImportProgress) -> None:
        share = f" {step.fraction:6.1%}" if step.fraction is not None else ""
        print(f"\rimport{share} {step.messages:>9,} messages: {step.stored:,} stored, "
              f"{step.duplicates:,} duplicates, {step.quarantined:,} quarantined",
              end="", file=sys.stderr, flush=True)

    receipt = history.import_path(args.path, channel=channel, batch_size=args.batch_size,
                                  progress=None if args.quiet else show)
    if not args.quiet:
        print(file=sys.stderr)
    counts = {"stored": receipt.stored, "duplicates": receipt.duplicates,
              "updates": receipt.updates, "quarantined": receipt.quarantined,
              "gaps_opened": receipt.gaps_opened, "gaps_closed": receipt.gaps_closed}
    if args.json:
        _dump(counts, out)
    else:
        print(", ".join(f"{key} {value:,}" for key, value in counts.items()), file=out)
    return 0


COMMANDS: dict[str, tuple[Command, str]] = {
    "import": (cmd_import, "import mail: an .eml file, an mbox, a Maildir (resumable)"),
    "timeline": (cmd_timeline, "a contact's unified timeline, newest first"),
    "contacts": (cmd_contacts, "list contacts, or find one by phone or email"),
    "gaps": (cmd_gaps, "what is known to be missing from the history"),
    "verify": (cmd_verify, "check every hash chain; exit 1 if anything was tampered with"),
    "erase": (cmd_erase, "crypto-shred a person's content (GDPR erasure)"),
    "export": (cmd_export, "a person's complete history as JSON Lines"),
    "quarantine": (cmd_quarantine, "payloads that could not be parsed"),
    "report": (cmd_report, "counts by channel, direction and status"),
    "serve": (cmd_serve, "run the webhook receiver (needs omnicx[server])"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omnicx", description="A gapless contact history.")
    parser.add_argument("--db", default=os.environ.get("OMNICX_DB", "omnicx.db"),
                        help="SQLite path or postgresql:// URL (env OMNICX_DB)")
    parser.add_argument("--schema", default=None, help="PostgreSQL schema (default omnicx)")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="build a demo history and print its timeline")
    demo.add_argument("--output", default="omnicx-demo.db", help="where to write the demo")
    for name, (_, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        if name not in ("serve", "export"):
            command.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "timeline":
            command.add_argument("contact", help="contact id, phone number or email")
            command.add_argument("--limit", type=int, default=50)
            command.add_argument("--before", help="cursor from the previous page")
            command.add_argument("--channel", action="append", help="only these channels")
        elif name == "contacts":
            command.add_argument("--find", help="a phone number or email")
        elif name == "gaps":
            command.add_argument("--all", action="store_true", help="include closed gaps")
        elif name == "erase":
            command.add_argument("contact", help="contact id, phone number or email")
            command.add_argument("--yes", action="store_true", help="really erase")
            command.add_argument("--reason", default="erasure request",
                                 help="recorded with the erasure")
        elif name == "export":
            command.add_argument("contact", nargs="?", help="contact id, phone number or email")
            command.add_argument("--all", action="store_true", help="everybody, streamed")
            command.add_argument("--output", "-o", help="file to write (default: stdout)")
        elif name == "import":
            command.add_argument("path", help=".eml file, mbox file, Maildir or .eml directory")
            command.add_argument("--mailbox", required=True,
                                 help="our address: mail from it is outbound")
            command.add_argument("--also", action="append", help="an alias of the mailbox")
            command.add_argument("--batch-size", type=int, default=200)
            command.add_argument("--quiet", action="store_true", help="no progress on stderr")
        elif name == "serve":
            command.add_argument("--channels", required=True, help="channel config (TOML)")
            command.add_argument("--host", default="127.0.0.1")
            command.add_argument("--port", type=int, default=8000)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            print(f"Building a demo history in {args.output} through History.receive():",
                  file=out)
            run_demo(args.output, out=out)
            print(f"\nExplore it: omnicx --db {args.output} timeline anna.keller@example.ch",
                  file=out)
            return 0
        command, _ = COMMANDS[args.command]
        with open_history(args.db, schema=args.schema) as history:
            return command(history, args, out)
    except OmnicxError as exc:
        print(f"omnicx: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
