"""The versioned SQL schema, shared by every SQL backend.

Each migration is a list of statements written once, with three
placeholders a dialect fills in: ``{pk}`` (the integer primary key type),
``{int}`` (a 64-bit integer) and ``{blob}`` (binary), and one that stands for a
whole statement: ``{search_index}``, the full-text index table. Migrations only ever
append; a database records the last one applied in ``omnicx_meta``.

Times are integer microseconds since the Unix epoch, UTC, in every backend
(``docs/schema.md`` documents every table for CRM developers who read them).
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

_V1 = [
    """CREATE TABLE IF NOT EXISTS omnicx_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
    # Every payload ever accepted, verbatim: the archive that makes replay possible.
    """CREATE TABLE raw_payloads (
        id {pk},
        channel TEXT NOT NULL,
        account TEXT NOT NULL,
        received_at {int} NOT NULL,
        headers TEXT,
        body {blob},
        state TEXT NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'quarantined', 'replayed')),
        error TEXT,
        sealed {blob})""",
    "CREATE INDEX raw_payloads_quarantined ON raw_payloads (id) WHERE state = 'quarantined'",
    """CREATE TABLE contacts (
        id {pk},
        display_name TEXT,
        crm_id TEXT UNIQUE,
        created_at {int} NOT NULL,
        merged_into {int} REFERENCES contacts (id),
        erased_at {int},
        chain_head {blob},
        data_key {blob})""",
    "CREATE INDEX contacts_merged_into ON contacts (merged_into) WHERE merged_into IS NOT NULL",
    """CREATE TABLE addresses (
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        contact_id {int} NOT NULL REFERENCES contacts (id),
        name TEXT,
        created_at {int} NOT NULL,
        sealed {blob},
        PRIMARY KEY (kind, value))""",
    "CREATE INDEX addresses_contact ON addresses (contact_id)",
    """CREATE TABLE merges (
        id {pk},
        winner_id {int} NOT NULL REFERENCES contacts (id),
        loser_id {int} NOT NULL REFERENCES contacts (id),
        merged_at {int} NOT NULL,
        unmerged_at {int},
        reason TEXT)""",
    """CREATE TABLE conversations (
        id {pk},
        contact_id {int} NOT NULL REFERENCES contacts (id),
        channel TEXT NOT NULL,
        account TEXT NOT NULL,
        thread_key TEXT,
        subject TEXT,
        started_at {int} NOT NULL,
        last_activity_at {int} NOT NULL)""",
    """CREATE INDEX conversations_thread
        ON conversations (contact_id, channel, account, thread_key, last_activity_at)""",
    # One row per interaction, unique per provider id. Content columns are NULL
    # and ``sealed`` holds their ciphertext when encryption at rest is on.
    """CREATE TABLE interactions (
        id {pk},
        contact_id {int} NOT NULL REFERENCES contacts (id),
        conversation_id {int} NOT NULL REFERENCES conversations (id),
        channel TEXT NOT NULL,
        account TEXT NOT NULL,
        external_id TEXT NOT NULL,
        direction TEXT NOT NULL,
        kind TEXT NOT NULL,
        message_type TEXT,
        occurred_at {int} NOT NULL,
        received_at {int} NOT NULL,
        sender_kind TEXT,
        sender_value TEXT,
        sender_name TEXT,
        recipients TEXT,
        subject TEXT,
        text TEXT,
        html TEXT,
        attachments TEXT,
        reply_to TEXT,
        status TEXT,
        status_rank {int} NOT NULL DEFAULT -1,
        data TEXT,
        raw_id {int} REFERENCES raw_payloads (id),
        erased_at {int},
        sealed {blob},
        origin_id TEXT,
        chain_seq {int},
        digest {blob},
        hash {blob},
        prev_hash {blob},
        UNIQUE (channel, account, external_id))""",
    "CREATE INDEX interactions_timeline ON interactions (contact_id, occurred_at, id)",
    "CREATE INDEX interactions_conversation ON interactions (conversation_id, occurred_at)",
    # Append-only: delivery statuses, edits, revokes, reactions. ``interaction_id``
    # is NULL while the interaction they refer to has not arrived.
    """CREATE TABLE events (
        id {pk},
        interaction_id {int} REFERENCES interactions (id),
        channel TEXT NOT NULL,
        account TEXT NOT NULL,
        external_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT,
        occurred_at {int} NOT NULL,
        received_at {int} NOT NULL,
        error TEXT,
        data TEXT,
        raw_id {int} REFERENCES raw_payloads (id),
        erased_at {int},
        sealed {blob},
        chain_seq {int},
        digest {blob},
        hash {blob},
        prev_hash {blob},
        UNIQUE (channel, account, external_id, event_id))""",
    "CREATE INDEX events_interaction ON events (interaction_id)",
    """CREATE INDEX events_pending ON events (channel, account, external_id)
        WHERE interaction_id IS NULL""",
    # Erasures and retention runs, chained like the records they erase, so that
    # verify() can tell a legitimate erasure from content removed behind our back.
    """CREATE TABLE erasures (
        id {pk},
        contact_id {int} NOT NULL REFERENCES contacts (id),
        erased_at {int} NOT NULL,
        erased_before {int},
        reason TEXT,
        chain_seq {int} NOT NULL,
        hash {blob} NOT NULL,
        prev_hash {blob} NOT NULL)""",
    "CREATE INDEX erasures_contact ON erasures (contact_id)",
    # What is known to be missing; closed when it arrives.
    """CREATE TABLE gaps (
        id {pk},
        kind TEXT NOT NULL,
        channel TEXT NOT NULL,
        account TEXT NOT NULL,
        reference TEXT NOT NULL,
        contact_id {int} REFERENCES contacts (id),
        opened_at {int} NOT NULL,
        closed_at {int},
        detail TEXT,
        UNIQUE (kind, channel, account, reference))""",
    "CREATE INDEX gaps_open ON gaps (channel, account, reference) WHERE closed_at IS NULL",
    # Resume points of imports and mailbox syncs, written in the same transaction
    # as the data they cover.
    """CREATE TABLE cursors (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at {int} NOT NULL)""",
]

# Every stored message moves its conversation's last_activity_at, so the
# column leaves the threading index: the update then writes no index entry, and
# on PostgreSQL it can stay on its page (a HOT update). Threading reads the
# column from the row it finds anyway.
_V2 = [
    "DROP INDEX conversations_thread",
    """CREATE INDEX conversations_thread
        ON conversations (contact_id, channel, account, thread_key)""",
]

# The status an interaction was stored with, chained with it (``""``: none), so
# that verify() can check the mutable ``status`` against it and the chained
# status events. NULL on rows stored before: they keep their original hash.
_V3 = [
    "ALTER TABLE interactions ADD COLUMN origin_status TEXT",
    # The person a raw payload is about, once known: erasing them empties it.
    "ALTER TABLE raw_payloads ADD COLUMN contact_id {int}",
    "CREATE INDEX raw_payloads_contact ON raw_payloads (contact_id)"
    " WHERE contact_id IS NOT NULL",
]

# The change feed and outbound webhooks (see `omnicx._feed`, `omnicx._webhooks`).
# ``changes.id`` is a commit-ordered position, not a sequence value: each
# writing transaction takes its block of positions from ``change_clock`` as
# its last statement, holding the row's lock until it commits, so positions
# become visible in order and a reader resuming after position N never
# skips a change that commits later (docs/storage.md, "The change feed").
_V4 = [
    # ``webhooks``: how many are active, read with the clock, so that a history
    # without webhooks spends no statement on the outbox.
    """CREATE TABLE change_clock (
        id {int} PRIMARY KEY,
        value {int} NOT NULL,
        webhooks {int} NOT NULL DEFAULT 0)""",
    "INSERT INTO change_clock (id, value, webhooks) VALUES (1, 0, 0)",
    """CREATE TABLE changes (
        id {int} PRIMARY KEY,
        kind TEXT NOT NULL,
        at {int} NOT NULL,
        contact_id {int},
        interaction_id {int},
        data TEXT)""",
    # ``events``: ',kind,kind,' or '*'. ``secret``: the signing secret, or its
    # ciphertext under the master key (``sealed``) when a key is set.
    """CREATE TABLE webhooks (
        id {pk},
        url TEXT NOT NULL,
        secret TEXT,
        sealed {blob},
        events TEXT NOT NULL,
        created_at {int} NOT NULL,
        active {int} NOT NULL DEFAULT 1)""",
    # The transactional outbox: one row per (webhook, change), written with the change.
    """CREATE TABLE webhook_deliveries (
        id {pk},
        webhook_id {int} NOT NULL,
        change_id {int} NOT NULL,
        contact_id {int},
        state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'delivered', 'dead')),
        attempts {int} NOT NULL DEFAULT 0,
        created_at {int} NOT NULL,
        next_attempt_at {int} NOT NULL,
        delivered_at {int},
        last_error TEXT,
        UNIQUE (webhook_id, change_id))""",
    """CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, change_id)
        WHERE state = 'pending'""",
    """CREATE INDEX webhook_deliveries_queue
        ON webhook_deliveries (webhook_id, contact_id, change_id) WHERE state = 'pending'""",
    "CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (id) WHERE state = 'dead'",
    # The delivery log: every attempt, with the receiver's answer.
    """CREATE TABLE webhook_attempts (
        id {pk},
        delivery_id {int} NOT NULL,
        attempted_at {int} NOT NULL,
        status_code {int},
        error TEXT,
        duration_us {int} NOT NULL)""",
    "CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id)",
]

# Full-text search (omnicx._search): one row of index terms per interaction with
# content. The table is the dialect's own (``{search_index}``: an FTS5 table on
# SQLite, a tsvector column with a GIN index on PostgreSQL; see
# omnicx.storage._fulltext).
_V5 = ["{search_index}"]

# KPI summaries (omnicx._kpis): one row per conversation, what `History.kpis`
# needs of it (its folded lifecycle, response times, backlog spans and the
# customer's messages per day and contact) as JSON, no content. A derived
# cache, kept up to date from the change feed when KPIs are read; the feed
# position it reflects is the ``kpi_summaries`` row of ``omnicx_meta``.
# Dropping its rows (or that meta row) only makes the next read rebuild it.
_V6 = [
    """CREATE TABLE kpi_summaries (
        conversation_id {int} PRIMARY KEY,
        summary TEXT NOT NULL)""",
]


MIGRATIONS: tuple[tuple[int, list[str]], ...] = (
    (1, _V1), (2, _V2), (3, _V3), (4, _V4), (5, _V5), (6, _V6))
SCHEMA_VERSION = MIGRATIONS[-1][0]
