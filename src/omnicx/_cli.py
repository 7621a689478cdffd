"""The ``omnicx`` command: a thin layer over the library's public API.

Each subcommand is one function ``cmd_<name>(history, args, out) -> int``
registered in `COMMANDS`; it calls the same methods a CRM would and prints
the result (``--json`` for machine-readable output, times in ISO 8601 as
``export`` writes them). Errors from omnicx are printed as one line and exit
with status 2; a reader that stops early (``| head``) ends the command
quietly; nothing else is caught. Only the commands in `CREATES` may create a
database: the others, given a path that does not exist, say so instead of
leaving an empty history behind. Secrets never come from arguments, which
other users of the machine can read: the encryption key from ``OMNICX_KEY``,
a channel's credentials from the TOML file ``--channels`` names.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from . import channels as channel_module
from ._adapters import adapter_channel
from ._demo import run_demo
from ._display import format_timeline
from ._errors import ConfigurationError, OmnicxError
from ._feed import Change
from ._history import History
from ._models import Contact
from ._open import open as open_history
from ._serve import load_channels, serve
from ._webhooks import DeliveryReport, DeliveryWorker
from .typing import Sender

__all__ = ["COMMANDS", "CREATES", "load_channels", "main"]

Command = Callable[[History, argparse.Namespace, TextIO], int]


def _json_default(value: Any) -> Any:
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=False)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()  # ISO 8601, as `export` writes times
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return dict(value)
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


def _person(history: History, contact: Contact) -> Contact:
    """``contact`` with every address of its group, as a person is shown.

    Without the key of an encrypted history the stored addresses are blind
    index tokens and the name is sealed: neither is shown rather than those.
    """
    if history.key_missing:
        return attrs.evolve(contact, addresses=(), display_name=None)
    return attrs.evolve(contact, addresses=history.contacts.addresses(contact))


def _line(contact: Contact, sealed: bool = False) -> str:
    addresses = ("(addresses encrypted: set OMNICX_KEY)" if sealed
                 else ", ".join(str(a) for a in contact.addresses))
    crm = f" crm={contact.crm_id}" if contact.crm_id else ""
    merged = f" (merged into #{contact.merged_into})" if contact.merged_into else ""
    return f"#{contact.id:<6} {contact.display_name or '-':<24} {addresses}{crm}{merged}"


def cmd_timeline(history: History, args: argparse.Namespace, out: TextIO) -> int:
    contact = _contact(history, args.contact)
    page = history.timeline(contact, limit=args.limit, before=args.before,
                            channels=args.channel or None)
    if args.json:
        _dump({"contact": _person(history, contact), "items": page.items,
               "next_cursor": page.next_cursor}, out)
    else:
        print(f"{contact.display_name or 'contact'} #{contact.id}", file=out)
        width = shutil.get_terminal_size((100, 24)).columns
        print(format_timeline(page.items, width=width, max_lines=args.lines), file=out)
        if page.next_cursor:
            print(f"more: --before {page.next_cursor}", file=out)
    return 0


def cmd_search(history: History, args: argparse.Namespace, out: TextIO) -> int:
    contact = _contact(history, args.contact) if args.contact else None
    hits = history.search(args.query, contact=contact, channels=args.channel or None,
                          since=_when(args.since), until=_when(args.until), limit=args.limit)
    if args.json:
        _dump([{"interaction": h.interaction, "score": h.score, "snippet": h.snippet,
                "highlights": h.highlights} for h in hits], out)
        return 0
    for hit in hits:
        item = hit.interaction
        print(f"#{item.id:<6} {item.occurred_at:%Y-%m-%d %H:%M} {item.channel!s:<9}"
              f" {item.direction!s:<8} contact #{item.contact_id:<5} {hit.marked()}", file=out)
    if not hits:
        print("nothing found", file=out)
    return 0 if hits else 1


def cmd_contacts(history: History, args: argparse.Namespace, out: TextIO) -> int:
    if args.find:
        found = history.contacts.find(args.find)
        contacts = [found] if found else []
    else:
        contacts = list(history.contacts)
    contacts = [_person(history, contact) for contact in contacts]
    if args.json:
        _dump(contacts, out)
        return 0
    for contact in contacts:
        print(_line(contact, sealed=history.key_missing), file=out)
    return 0 if contacts or not args.find else 1


def cmd_merge(history: History, args: argparse.Namespace, out: TextIO) -> int:
    winner, loser = _contact(history, args.winner), _contact(history, args.loser)
    merged = _person(history, history.contacts.merge(winner, loser, reason=args.reason))
    if args.json:
        _dump(merged, out)
    else:
        print(f"contact #{loser.id} merged into #{merged.id}", file=out)
        print(_line(merged), file=out)
    return 0


def cmd_unmerge(history: History, args: argparse.Namespace, out: TextIO) -> int:
    winner, loser = _contact(history, args.winner), _contact(history, args.loser)
    apart = history.contacts.unmerge(winner, loser)
    if args.json:
        _dump(apart, out)
    else:
        print(f"contact #{loser.id} stands alone again", file=out)
        for contact in apart:
            print(_line(_person(history, contact)), file=out)
    return 0


def cmd_link(history: History, args: argparse.Namespace, out: TextIO) -> int:
    linked = history.contacts.link(_contact(history, args.contact), crm_id=args.crm_id)
    if args.json:
        _dump(_person(history, linked), out)
    else:
        print(f"contact #{linked.id} linked to CRM id {linked.crm_id}", file=out)
    return 0


def _sender(args: argparse.Namespace) -> Sender:
    """The channel of ``--channels`` (and ``--channel``) that ``send`` goes through."""
    if not args.channels:
        raise ConfigurationError(
            "send needs a channel file: --channels FILE or OMNICX_CHANNELS (see docs/cli.md)")
    senders = [a for a in load_channels(args.channels) if isinstance(a, Sender)]
    names = [f"{adapter_channel(s).value}/{s.account}" for s in senders]
    if args.channel:
        wanted = args.channel.strip()
        senders = [s for s, name in zip(senders, names, strict=True)
                   if wanted in (name, adapter_channel(s).value)]
    if len(senders) != 1:
        which = "matches" if not senders else "is ambiguous among"
        raise ConfigurationError(
            f"--channel {args.channel or '(none)'} {which} the senders of {args.channels}:"
            f" {', '.join(names) or 'none'}; name one as TYPE or TYPE/ACCOUNT")
    return senders[0]


def _recipient(history: History, query: str) -> Contact | str:
    """A known contact (by id or address), else the address itself: a new contact."""
    try:
        return _contact(history, query)
    except ConfigurationError:  # no contact has it (an unknown id stays an error)
        return query


def cmd_send(history: History, args: argparse.Namespace, out: TextIO) -> int:
    channel = _sender(args)
    text = sys.stdin.read() if args.text == "-" else args.text
    if not (text or "").strip():
        raise ConfigurationError("send needs --text (or --text - to read it from stdin)")
    sent = history.send(channel, to=_recipient(history, args.to), text=text,
                        subject=args.subject)
    if args.json:
        _dump(sent, out)
    else:
        to = ", ".join(str(a) for a in sent.recipients)
        print(f"sent #{sent.id} via {sent.channel}/{sent.account} to {to}: status"
              f" {sent.status}, provider id {sent.external_id}", file=out)
    return 0


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
        # Sealed like the payload (it may quote it) when the key is not at hand.
        error = ("(sealed: give the key)" if entry.error and entry.error.startswith("sealed:")
                 else entry.error)
        print(f"#{entry.id:<6} {entry.channel:<9} {entry.account:<24}"
              f" {entry.received_at:%Y-%m-%d %H:%M}  {error}", file=out)
    if not entries:
        print("quarantine is empty", file=out)
    return 0


def _when(text: str | None) -> dt.datetime | None:
    """An ISO 8601 date or time from the command line; naive means UTC."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigurationError(f"not an ISO 8601 date or time: {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def cmd_report(history: History, args: argparse.Namespace, out: TextIO) -> int:
    """Lifetime counts; with --kpis, --html or a period, the service KPIs."""
    since, until = _when(args.since), _when(args.until)
    if args.html or args.kpis or since or until:
        report = history.kpis(since=since, until=until, by=args.by, bucket=args.bucket)
        if args.html:
            from ._report import render_html

            Path(args.html).write_text(render_html(report), encoding="utf-8")
            print(f"wrote {args.html}", file=out)
        if args.json:
            _dump(report.to_dict(), out)
        elif not args.html:
            for group in (report.total, *report.groups):
                print(f"{group.key:<20} conversations {group.conversations:>7,}"
                      f"  first response {_median(group.first_response)}"
                      f"  resolution {_median(group.resolution)}"
                      f"  unresolved {group.unresolved:,}", file=out)
        return 0
    counts = history.report()
    if args.json:
        _dump(counts, out)
        return 0
    for section, values in counts.items():
        print(f"{section}:", file=out)
        for key, count in values.items():
            print(f"  {key:<40} {count:>10,}", file=out)
    return 0


def _median(durations: Any) -> str:
    median = durations.median
    return "-" if median is None else str(median).split(".")[0]


def cmd_conversation(history: History, args: argparse.Namespace, out: TextIO) -> int:
    """Show or change a conversation's state: resolve, reopen, pending, snooze, assign,
    handover."""
    conversations = history.conversations
    if args.action != "show":
        kwargs: dict[str, Any] = {"by": args.by}
        if args.action in ("assign", "handover"):
            if args.action == "assign" and not args.to:
                raise ConfigurationError("assign needs --to")
            kwargs.update(to=args.to or "human", team=args.team)
        if args.action in ("handover", "resolve", "reopen", "pending", "snooze"):
            kwargs["reason"] = args.reason
        if args.action == "snooze":
            until = _when(args.until)
            if until is None:
                raise ConfigurationError("snooze needs --until")
            kwargs["until"] = until
        getattr(conversations, args.action)(args.id, **kwargs)
    state = conversations.state(args.id)
    if args.json:
        _dump(state, out)
    else:
        print(f"conversation #{state.conversation_id}: {state.state}"
              f" (assignee {state.assignee or '-'}, team {state.team or '-'},"
              f" reopened {state.reopened}, handovers {state.handovers})", file=out)
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


def cmd_serve(history: History, args: argparse.Namespace, out: TextIO) -> int:
    # Outbound webhooks go out from this (the main) process, on a thread of their own.
    worker = None if args.no_deliver else DeliveryWorker(history).start()
    try:
        serve(history, channels=args.channels, host=args.host, port=args.port,
              workers=args.workers, db=args.db, schema=args.schema, out=out)
    finally:
        if worker is not None:
            worker.stop(timeout=15)
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


def _change_line(change: Change) -> dict[str, Any]:
    return {"id": change.id, "cursor": change.cursor, "kind": change.kind,
            "at": change.at.isoformat(), "contact_id": change.contact_id,
            "interaction_id": change.interaction_id, "data": dict(change.data)}


def cmd_changes(history: History, args: argparse.Namespace, out: TextIO) -> int:
    """Print the feed after ``--after``; with ``--follow``, keep printing what commits."""
    cursor = args.after
    printed = 0
    try:
        while True:
            page = history.changes(after=cursor, limit=args.limit, kinds=args.kind or None)
            for change in page.items:
                if args.json:
                    print(json.dumps(_change_line(change), ensure_ascii=False), file=out)
                else:
                    data = " ".join(f"{k}={v}" for k, v in sorted(change.data.items()))
                    print(f"#{change.id} {change.at:%Y-%m-%d %H:%M:%S} {change.kind}"
                          f" contact={change.contact_id} interaction={change.interaction_id}"
                          f" {data}".rstrip(), file=out)
                printed += 1
            out.flush()
            cursor = page.next_cursor
            if args.max is not None and printed >= args.max:
                break
            if not page.items:
                if not args.follow:
                    break
                time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    print(f"resume with: --after {cursor}", file=sys.stderr)
    return 0


def cmd_deliver(history: History, args: argparse.Namespace, out: TextIO) -> int:
    """Deliver due webhooks: one pass with ``--once``, else until interrupted."""
    if args.once:
        report = history.webhooks.deliver(limit=args.limit, timeout=args.timeout)
        totals = attrs.asdict(report)
    else:
        def show(report: DeliveryReport) -> None:
            print(f"delivered {report.delivered}, failed {report.failed}, dead {report.dead}",
                  file=sys.stderr, flush=True)

        worker = DeliveryWorker(history, interval=args.interval, limit=args.limit,
                                timeout=args.timeout, on_pass=None if args.quiet else show)
        try:
            worker.run()
        except KeyboardInterrupt:
            worker.stop()
        totals = attrs.asdict(worker.total)
    if args.json:
        _dump(totals, out)
    else:
        print(", ".join(f"{key} {value:,}" for key, value in totals.items()), file=out)
    return 0


def cmd_webhooks(history: History, args: argparse.Namespace, out: TextIO) -> int:
    """Add, list, disable webhooks; list and re-send dead letters."""
    hooks = history.webhooks
    result: Any
    if args.action == "add":
        if not args.url:
            raise ConfigurationError("webhooks add needs a URL")
        hook = hooks.add(args.url, secret=os.environ.get("OMNICX_WEBHOOK_SECRET"),
                         events=args.event or None)
        # The secret is printed once, here, for the receiver's configuration.
        result = {"id": hook.id, "url": hook.url, "secret": hook.secret,
                  "events": sorted(hook.events) if hook.events else "*"}
    elif args.action == "list":
        result = [{"id": h.id, "url": h.url, "active": h.active,
                   "events": sorted(h.events) if h.events else "*"} for h in hooks.all()]
    elif args.action == "disable":
        hooks.disable(_number(args.url))
        result = {"disabled": _number(args.url)}
    elif args.action == "dead":
        result = [attrs.asdict(d) for d in hooks.dead(limit=args.limit)]
    elif args.action == "prune":
        result = {"pruned": hooks.prune(older_than=dt.timedelta(days=args.older_than_days))}
    else:  # resend
        ids = [d.id for d in hooks.dead(limit=args.limit)] if args.url in (None, "all") \
            else [_number(args.url)]
        result = {"resent": hooks.resend(ids)}
    if args.json or args.action in ("add", "dead"):
        _dump(result, out)
    elif isinstance(result, list):
        for row in result:
            print(f"#{row['id']} {row['url']} events={row['events']}"
                  f"{'' if row['active'] else ' (disabled)'}", file=out)
    else:
        print(", ".join(f"{key} {value}" for key, value in result.items()), file=out)
    return 0


def _number(text: str | None) -> int:
    if text is None or not text.isdigit():
        raise ConfigurationError(f"not an id: {text!r}")
    return int(text)


def _duration(text: str) -> float:
    """Seconds from ``"420"``, ``"90s"``, ``"7m"``, ``"1h30m"`` or ``"1h2m3s"``."""
    match = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*"
                         r"(?:(\d+(?:\.\d+)?)s?)?\s*", text)
    if not text.strip() or match is None:
        raise ConfigurationError(f"not a duration: {text!r} (try 420, 7m or 1h30m)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def cmd_record(history: History, args: argparse.Namespace, out: TextIO) -> int:
    """Record a call, letter, fax, visit or note (`History.record`)."""
    import datetime as dt

    from ._blobs import FileBlobStore

    try:
        when = dt.datetime.fromisoformat(args.at) if args.at else None
    except ValueError as exc:
        raise ConfigurationError(f"--at: not an ISO 8601 time: {args.at!r}") from exc
    # A contact id names a known contact; an address may also be a new one.
    contact: Contact | str = args.contact
    if args.contact.isdigit() and not args.contact.startswith("0") and len(args.contact) < 9:
        contact = history.contacts.get(int(args.contact))
    interaction = history.record(
        channel=args.channel, direction=args.direction, contact=contact, occurred_at=when,
        text=args.text, subject=args.subject,
        duration=_duration(args.duration) if args.duration else None,
        attachments=args.attach or (), external_id=args.external_id, name=args.name,
        blobs=FileBlobStore(args.media_dir))
    if args.json:
        _dump(interaction, out)
    else:
        print(f"interaction #{interaction.id} ({interaction.channel} {interaction.direction}"
              f" {interaction.kind}) for contact #{interaction.contact_id}", file=out)
    return 0


def cmd_poll(history: History, args: argparse.Namespace, out: TextIO) -> int:
    """Poll Telegram's getUpdates once (or ``--forever``) and store what came."""
    token = os.environ.get("OMNICX_TELEGRAM_TOKEN")
    if not token:
        raise ConfigurationError(
            "poll needs the bot token in OMNICX_TELEGRAM_TOKEN (not an argument: other"
            " users could read it from the process list)")
    telegram = channel_module.Telegram(bot_token=token, poll_timeout=args.timeout,
                                       base_url=args.api_url)
    total = {"stored": 0, "duplicates": 0, "updates": 0, "quarantined": 0}
    with telegram:
        while True:
            receipt = history.poll(telegram, limit=args.limit)
            for key in total:
                total[key] += getattr(receipt, key)
            if not args.forever:
                break
            if not args.json:
                print(", ".join(f"{k} {v}" for k, v in total.items()), file=out, flush=True)
    if args.json:
        _dump(total, out)
    else:
        print(", ".join(f"{k} {v}" for k, v in total.items()), file=out)
    return 0


COMMANDS: dict[str, tuple[Command, str]] = {
    "import": (cmd_import, "import mail: an .eml file, an mbox, a Maildir (resumable)"),
    "timeline": (cmd_timeline, "a contact's unified timeline, newest first"),
    "contacts": (cmd_contacts, "list contacts, or find one by phone or email"),
    "search": (cmd_search, "full-text search over subjects and texts, best first"),
    "gaps": (cmd_gaps, "what is known to be missing from the history"),
    "verify": (cmd_verify, "check every hash chain; exit 1 if anything was tampered with"),
    "erase": (cmd_erase, "crypto-shred a person's content (GDPR erasure)"),
    "export": (cmd_export, "a person's complete history as JSON Lines"),
    "quarantine": (cmd_quarantine, "payloads that could not be parsed"),
    "report": (cmd_report, "counts, or the service KPIs (--kpis, --html FILE)"),
    "conversation": (cmd_conversation, "show, resolve, assign or hand over a conversation"),
    "serve": (cmd_serve, "run the webhook receiver (needs omnicx[server])"),
    "changes": (cmd_changes, "the change feed after a cursor; --follow tails it"),
    "deliver": (cmd_deliver, "deliver outbound webhooks until interrupted (or --once)"),
    "webhooks": (cmd_webhooks, "add, list, disable webhooks; list and re-send dead letters"),
    "record": (cmd_record, "record a call, video call, letter, fax, visit or note"),
    "poll": (cmd_poll, "fetch a Telegram bot's updates with getUpdates (no public URL)"),
    "merge": (cmd_merge, "merge two contacts that are one person (recorded, undoable)"),
    "unmerge": (cmd_unmerge, "undo a merge: both contacts stand alone again"),
    "link": (cmd_link, "record the CRM's own id for a contact"),
    "send": (cmd_send, "send a message through a configured channel and record it"),
}

#: The commands (or "command action"s) that may create a database: they make sense
#: on an empty history. Every other command, given a path that does not exist, says so.
CREATES = frozenset({"import", "serve", "send", "record", "poll", "webhooks add"})


def _creates(args: argparse.Namespace) -> bool:
    action = getattr(args, "action", None)
    return args.command in CREATES or f"{args.command} {action}" in CREATES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omnicx", description="A gapless contact history.")
    parser.add_argument("--db", default=os.environ.get("OMNICX_DB", "omnicx.db"),
                        help="SQLite path or postgresql:// URL (env OMNICX_DB)")
    parser.add_argument("--schema", default=None, help="PostgreSQL schema (default omnicx)")
    parser.add_argument("--tenant", default=os.environ.get("OMNICX_TENANT") or None,
                        help="the tenant (company or brand) to work on (env OMNICX_TENANT;"
                             " default: the default tenant)")
    parser.add_argument("--region", default=os.environ.get("OMNICX_REGION") or None, metavar="CODE",
                        help="read national phone numbers in this region, e.g. CH"
                             " (env OMNICX_REGION)")
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
            command.add_argument("--lines", type=int, default=4, metavar="N",
                                 help="lines of text shown per interaction (0: all)")
        elif name == "search":
            command.add_argument("query", help="words, each matched by its stem")
            command.add_argument("--contact", help="contact id, phone number or email")
            command.add_argument("--channel", action="append", help="only these channels")
            command.add_argument("--since", help="from (ISO 8601, UTC if naive)")
            command.add_argument("--until", help="until, exclusive (ISO 8601, UTC if naive)")
            command.add_argument("--limit", type=int, default=20)
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
        elif name == "changes":
            command.add_argument("--after", help="cursor printed by the previous run")
            command.add_argument("--limit", type=int, default=500, help="changes per read")
            command.add_argument("--kind", action="append", help="only these change kinds")
            command.add_argument("--follow", action="store_true",
                                 help="keep printing new changes until interrupted")
            command.add_argument("--interval", type=float, default=1.0,
                                 help="seconds between polls with --follow")
            command.add_argument("--max", type=int, help="stop after this many changes")
        elif name == "deliver":
            command.add_argument("--once", action="store_true", help="one pass, then exit")
            command.add_argument("--interval", type=float, default=1.0,
                                 help="seconds to wait when nothing is due")
            command.add_argument("--limit", type=int, default=500, help="deliveries per pass")
            command.add_argument("--timeout", type=float, default=10.0,
                                 help="seconds a receiver has to answer")
            command.add_argument("--quiet", action="store_true", help="no progress on stderr")
        elif name == "webhooks":
            command.add_argument("action",
                                 choices=("add", "list", "disable", "dead", "resend", "prune"))
            command.add_argument("url", nargs="?",
                                 help="add: the URL; disable/resend: an id (resend: or all)")
            command.add_argument("--event", action="append",
                                 help="add: only these change kinds (default: all)")
            command.add_argument("--older-than-days", type=float, default=30,
                                 help="prune: forget deliveries delivered this long ago")
            command.add_argument("--limit", type=int, default=100)
        elif name == "record":
            command.add_argument("--channel", required=True,
                                 help="phone, video, letter, fax, visit, note...")
            command.add_argument("--direction", required=True,
                                 choices=["inbound", "outbound", "internal"])
            command.add_argument("--contact", required=True,
                                 help="contact id, phone number or email")
            command.add_argument("--at", help="when, ISO 8601 (default: now)")
            command.add_argument("--text", help="what was said or written")
            command.add_argument("--subject")
            command.add_argument("--duration", help="420, 7m or 1h30m")
            command.add_argument("--attach", action="append", help="a file (repeatable)")
            command.add_argument("--external-id", help="makes recording it twice a duplicate")
            command.add_argument("--name", help="the contact's name")
            command.add_argument("--media-dir", default="omnicx-media",
                                 help="where attachment files are stored")
        elif name == "poll":
            command.add_argument("channel", choices=["telegram"], help="what to poll")
            command.add_argument("--timeout", type=int, default=0,
                                 help="long-polling wait in seconds (e.g. 30 with --forever)")
            command.add_argument("--limit", type=int, default=100, help="updates per call")
            command.add_argument("--forever", action="store_true", help="keep polling")
            command.add_argument("--api-url", default="https://api.telegram.org",
                                 help="the Bot API server (a local one, a test double)")
        elif name == "report":
            command.add_argument("--kpis", action="store_true", help="the service KPIs")
            command.add_argument("--html", help="write the KPI report as one HTML file")
            command.add_argument("--since", help="period start (ISO 8601, UTC if naive)")
            command.add_argument("--until", help="period end (default: now)")
            command.add_argument("--by", default="channel",
                                 choices=["channel", "team", "agent", "day", "week"])
            command.add_argument("--bucket", default="day", choices=["day", "week"])
        elif name == "conversation":
            command.add_argument("id", type=int, help="conversation id")
            command.add_argument("action", nargs="?", default="show",
                                 choices=["show", "resolve", "reopen", "pending", "snooze",
                                          "assign", "handover"])
            command.add_argument("--to", help="assignee: agent:17, team:billing, bot:faq, human")
            command.add_argument("--team", help="the team it goes to")
            command.add_argument("--by", help="who makes the change")
            command.add_argument("--reason", help="why (kept as content)")
            command.add_argument("--until", help="snooze until (ISO 8601)")
        elif name == "serve":
            command.add_argument("--channels", required=True, help="channel config (TOML)")
            command.add_argument("--host", default="127.0.0.1")
            command.add_argument("--port", type=int, default=8000)
            command.add_argument("--workers", type=int, default=1,
                                 help="server processes, each group-committing (PostgreSQL)")
            command.add_argument("--no-deliver", action="store_true",
                                 help="do not deliver outbound webhooks from this process")
        elif name in ("merge", "unmerge"):
            command.add_argument("winner", help="the contact that stays (id, phone or email)")
            command.add_argument("loser", help="the contact merged into it")
            if name == "merge":
                command.add_argument("--reason", help="recorded with the merge")
        elif name == "link":
            command.add_argument("contact", help="contact id, phone number or email")
            command.add_argument("crm_id", help="the CRM's id for this person")
        elif name == "send":
            command.add_argument("--channels", default=os.environ.get("OMNICX_CHANNELS"),
                                 metavar="FILE",
                                 help="channel config (TOML, as for serve; env OMNICX_CHANNELS)")
            command.add_argument("--channel", metavar="C",
                                 help="TYPE or TYPE/ACCOUNT when the file has several")
            command.add_argument("--to", required=True, metavar="CONTACT",
                                 help="contact id, phone number or email")
            command.add_argument("--text", required=True, help="the message; - reads stdin")
            command.add_argument("--subject", metavar="S", help="subject line (email)")
    return parser


def _run(args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "demo":
        print(f"Building a demo history in {args.output} through History.receive():", file=out)
        run_demo(args.output, out=out)
        print(f"\nExplore it: omnicx --db {args.output} timeline anna.keller@example.ch",
              file=out)
        return 0
    command, _ = COMMANDS[args.command]
    with open_history(args.db, schema=args.schema, default_region=args.region, tenant=args.tenant,
                      create=_creates(args)) as history:
        return command(history, args, out)


def _reader_gone(out: TextIO) -> None:
    """Point ``out`` at /dev/null, so that flushing at exit raises nothing again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file: nothing to flush
        pass


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        code = _run(args, out)
        out.flush()  # a closed pipe shows here, inside the handler below
    except OmnicxError as exc:
        print(f"omnicx: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader (head, less) stopped reading: stop too, quietly, with the
        # status a process killed by SIGPIPE has, as other Unix tools do.
        _reader_gone(out)
        return 141
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
