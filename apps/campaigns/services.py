"""Writes for partner campaigns (partner schema): the campaign copied from a brand program on
its first allocation, and bulk code generation.

Codes are loaded with PostgreSQL's COPY, never one query per code. When the schema holds no
codes yet, freshly generated codes (distinct across the whole batch) are copied straight into
the voucher table, while a thread generates the next chunk. Otherwise a few more codes than
needed are copied into a temporary table and
`INSERT … SELECT … WHERE NOT EXISTS … LIMIT n ON CONFLICT (code) DO NOTHING` keeps the new
ones, round after round until the count is reached.

This module is below the brand app (STYLE "Layout"): the brand job passes a callback that
records its own bookkeeping in each chunk's transaction instead of this module importing it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from typing import Any, Protocol, TypeVar

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from guardian.shortcuts import assign_perm
from psycopg.copy import QueuedLibpqWriter

from apps.accounts.models import Membership, User
from apps.campaigns.codegen import CodeFormat, CodeFormatError, generate_codes
from apps.campaigns.models import Campaign, Voucher

T = TypeVar("T")

# Codes per transaction: the progress bar moves once per chunk, and a failure loses at most one.
CHUNK = 100_000
# Codes per direct-path batch: kept distinct across its chunks by a set of those drawn, which
# this bounds so that 10M-code allocations keep memory flat.
BATCH = 1_000_000
_VOUCHERS = Voucher._meta.db_table
# Rounds in a row that add no code before giving up: the format's space is full in this schema.
MAX_STALLS = 5


class ProgressSink(Protocol):
    def update(self, percent: float, message: str = "") -> None: ...


class ProgramLike(Protocol):
    @property
    def pk(self) -> Any: ...

    def terms(self) -> dict[str, object]: ...


@transaction.atomic
def campaign_ensure(program: ProgramLike) -> tuple[Campaign, bool]:
    """The partner's campaign for `program`, created as a copy of the program's terms on the
    first allocation. Later program edits never change it: the codes already handed out keep
    the terms they were given with."""
    return Campaign.objects.get_or_create(program_id=program.pk, defaults=program.terms())


def campaign_grant_distributors(*, campaign: Campaign, partner_id: int) -> None:
    """Let every partner user of the partner distribute the campaign (one insert for all of
    them). They never get `change_campaign`: partners distribute, the brand edits."""
    users = User.objects.filter(
        memberships__partner_id=partner_id,
        memberships__role=Membership.Role.PARTNER_USER,
        is_active=True,
    )
    if users.exists():
        assign_perm("campaigns.distribute_campaign", users, campaign)


def vouchers_generate(
    campaign: Campaign,
    count: int,
    progress: ProgressSink | None = None,
    *,
    on_chunk: Callable[[int], None] | None = None,
    done_before: int = 0,
    total: int | None = None,
) -> int:
    """Add `count` new unique codes to `campaign`; returns how many were added (= count).

    Each chunk commits on its own with `on_chunk(added)` run inside the same transaction, so
    the caller's own count of codes made never disagrees with the table, even when the worker
    dies halfway. `done_before`/`total` only shape the progress message of a resumed run.
    """
    fmt = campaign.code_format()
    total = total or done_before + count
    added = 0
    stalls = 0
    while added < count:
        if _schema_has_codes():
            # Codes may collide with ones already here: draw a few extra so one round
            # usually suffices, and insert only as many new ones as are still needed.
            need = min(count - added, CHUNK)
            draw = min(need + need // 10 + 64, fmt.capacity() // 2)
            with transaction.atomic():
                _async_commit()
                made = _copy_via_temp(campaign, generate_codes(fmt, draw), need)
                _counted(campaign, made, on_chunk)
            added += made
            stalls = 0 if made else stalls + 1
            if stalls >= MAX_STALLS:
                raise CodeFormatError(
                    "generation_stalled",
                    "Almost every code this format can make already exists in this partner's "
                    f"project; {added:,} of {count:,} codes were added. Use a longer code or a "
                    "larger character set.",
                )
        else:
            # An empty table cannot hold any of a batch of distinct codes: copy straight in.
            chunks = _prefetched(_distinct_chunks(fmt, min(count - added, BATCH), CHUNK))
            with closing(chunks):
                for chunk in chunks:
                    with transaction.atomic():
                        _async_commit()
                        made = _load_direct(campaign, chunk)
                        _counted(campaign, made, on_chunk)
                    added += made
                    _report(progress, done_before + added, total)
                    if made < len(chunk):
                        break  # a concurrent writer arrived: the rest goes the careful way
            continue
        _report(progress, done_before + added, total)
    campaign.refresh_from_db(fields=["vouchers_count"])
    return added


def _async_commit() -> None:
    """Let this chunk's commit return without waiting for its WAL flush. Safe here: a chunk's
    codes and the caller's count of them commit together, so a server crash can only lose
    whole recent chunks, which a re-run makes again; and the job's final status update is an
    ordinary commit, which flushes everything before it."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _counted(campaign: Campaign, made: int, on_chunk: Callable[[int], None] | None) -> None:
    if made:
        Campaign.objects.filter(pk=campaign.pk).update(vouchers_count=F("vouchers_count") + made)
        if on_chunk:
            on_chunk(made)


def _report(progress: ProgressSink | None, done: int, total: int) -> None:
    if progress:
        progress.update(
            done * 100 / total if total else 100, f"Generated {done:,} of {total:,} codes"
        )


def _distinct_chunks(fmt: CodeFormat, count: int, size: int) -> Iterator[list[str]]:
    """`count` codes in chunks of `size`, distinct across all chunks (set operations, not a
    loop per code). The validated count is at most half the format's capacity, so a round
    always finds fresh codes."""
    seen: set[str] = set()
    made = 0
    while made < count:
        n = min(size, count - made)
        fresh: set[str] = set()
        while len(fresh) < n:
            fresh |= set(generate_codes(fmt, n - len(fresh))) - seen
        seen |= fresh
        made += n
        # Sorted, the chunk goes into the unique code index leaf after leaf instead of at
        # random places: the load runs about a third faster. Every drawn code is kept, so the
        # order does not bias which codes exist.
        yield sorted(fresh)


def _prefetched(items: Iterator[T]) -> Generator[T, None, None]:
    """Yield from `items`, computing the next one in a thread while the caller works on the
    current one: the caller then mostly waits on PostgreSQL (COPY, the foreign-key checks at
    commit) with the GIL released, so generating codes costs almost no wall-clock time."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, items, None)
            yield item


def _schema_has_codes() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {Voucher._meta.db_table})")  # noqa: S608
        return bool(cursor.fetchone()[0])


def _load_direct(campaign: Campaign, codes: Sequence[str]) -> int:
    """COPY `codes` straight into the voucher table; 0 when a concurrent writer got a code
    there first (the copy is then undone and the caller goes the careful way)."""
    try:
        with transaction.atomic():
            return _copy_direct(campaign, codes)
    except IntegrityError:
        return 0


def _copy_text(lines_head: str, codes: Sequence[str]) -> str:
    """COPY text for `codes`, each line `lines_head` + code, built in C-speed joins. Format
    literals may contain a backslash, COPY's escape character: double it."""
    text = "\n".join(codes)
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if lines_head:
        text = lines_head + text.replace("\n", "\n" + lines_head)
    return text + "\n"


def _raw_cursor(cursor: Any) -> Any:
    # Django's wrapper around psycopg's cursor: COPY needs psycopg's own API.
    return cursor.cursor


def _copy_direct(campaign: Campaign, codes: Sequence[str]) -> int:
    limit = "\\N" if campaign.redemption_limit is None else str(campaign.redemption_limit)
    head = f"{campaign.pk}\tt\t0\t{limit}\t{timezone.now().isoformat()}\t"
    with connection.cursor() as cursor:
        raw = _raw_cursor(cursor)
        statement = (
            f"COPY {_VOUCHERS} (campaign_id, active, redeemed_quantity, redemption_limit, "
            "created_at, code) FROM STDIN"
        )
        # The queued writer sends from a thread, so Python builds the next piece meanwhile.
        with raw.copy(statement, writer=QueuedLibpqWriter(raw)) as copy:
            copy.write(_copy_text(head, codes))
    return len(codes)


def _copy_via_temp(campaign: Campaign, codes: Sequence[str], need: int) -> int:
    """Load `codes` (possibly more than `need`) into a temporary table and insert at most
    `need` of those that are new. NOT EXISTS makes the LIMIT count only new codes; ON
    CONFLICT is the backstop against a concurrent writer. The LIMIT picks in drawing order
    (unbiased); only the codes kept are sorted, for the index's sake."""
    with connection.cursor() as cursor:
        raw = _raw_cursor(cursor)
        cursor.execute("DROP TABLE IF EXISTS pg_temp.voucher_load")
        cursor.execute("CREATE TEMP TABLE voucher_load (code varchar(100)) ON COMMIT DROP")
        with raw.copy("COPY pg_temp.voucher_load (code) FROM STDIN") as copy:
            copy.write(_copy_text("", codes))
        cursor.execute(
            f"""
            INSERT INTO {_VOUCHERS}
                (campaign_id, code, active, redeemed_quantity, redemption_limit, created_at)
            SELECT %s, s.code, true, 0, %s, %s FROM (
                SELECT t.code FROM pg_temp.voucher_load t
                WHERE NOT EXISTS (SELECT 1 FROM {_VOUCHERS} v WHERE v.code = t.code)
                LIMIT %s
            ) s
            ORDER BY s.code
            ON CONFLICT (code) DO NOTHING
            """,  # noqa: S608 - the table name is the model's
            [campaign.pk, campaign.redemption_limit, timezone.now(), need],
        )
        made = cursor.rowcount
        cursor.execute("DROP TABLE IF EXISTS pg_temp.voucher_load")
    return made
