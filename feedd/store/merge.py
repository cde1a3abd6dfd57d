"""The merge rules of SPEC §2, as pure functions: what a paper looks like after a dump saw it."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple, TypeVar

from feedd.parse.records import PaperRecord

T = TypeVar("T")


class PaperState(NamedTuple):
    """The stored, mergeable fields of one paper (everything but ids and times).

    A NamedTuple rather than a frozen dataclass: the upsert builds and compares one per record,
    and tuple construction and equality run in C (a frozen dataclass's __init__ does not).
    The field order is the column order the writers use.
    """

    title: str
    abstract: str
    authors_count: int | None
    authors: tuple[str, ...]
    organisation: str | None
    published: date | None
    upvotes: int | None
    upvotes_as_of: date | None
    arxiv_id: str | None
    code_urls: tuple[str, ...]

    @classmethod
    def from_record(cls, record: PaperRecord, reference_date: date | None) -> PaperState:
        upvotes = record.upvotes
        return cls(
            record.title,
            record.abstract,
            record.authors_count,
            tuple(record.authors),
            record.organisation,
            record.published,
            upvotes,
            None if upvotes is None else reference_date,
            record.arxiv_id,
            tuple(record.code_urls),
        )


def merge(stored: PaperState, incoming: PaperState) -> PaperState:
    """``stored`` updated with what ``incoming`` knows better; ``stored`` wins every tie."""
    take_upvotes = _newer_upvotes(stored, incoming)
    return PaperState(
        title=stored.title,
        abstract=incoming.abstract
        if len(incoming.abstract) > len(stored.abstract)
        else stored.abstract,
        authors_count=_known(stored.authors_count, incoming.authors_count),
        authors=stored.authors or incoming.authors,
        organisation=_known(stored.organisation, incoming.organisation),
        published=_known(stored.published, incoming.published),
        upvotes=incoming.upvotes if take_upvotes else stored.upvotes,
        upvotes_as_of=incoming.upvotes_as_of if take_upvotes else stored.upvotes_as_of,
        arxiv_id=_known(stored.arxiv_id, incoming.arxiv_id),
        code_urls=_union(stored.code_urls, incoming.code_urls),
    )


def visibly_changed(before: PaperState, after: PaperState) -> bool:
    """Whether a merge changed what a reader (or a subscription) can see.

    Everything but ``upvotes_as_of`` (and the title, which never changes): that date must be
    written, but a newer date alone tells no one anything new.
    """
    return before != after and _visible(before) != _visible(after)


def _visible(p: PaperState) -> tuple[object, ...]:
    return (
        p.abstract,
        p.authors_count,
        p.authors,
        p.organisation,
        p.published,
        p.upvotes,
        p.arxiv_id,
        p.code_urls,
    )


def _newer_upvotes(stored: PaperState, incoming: PaperState) -> bool:
    """Whether the incoming count replaces the stored one.

    A dump's reference date says how old its counts are; a dump without one counts as newest.
    Equal dates go to the incoming count (the later of two entries in one dump wins).
    """
    if incoming.upvotes is None:
        return False
    if stored.upvotes is None:
        return True
    return _as_of(incoming.upvotes_as_of) >= _as_of(stored.upvotes_as_of)


def _as_of(day: date | None) -> date:
    return date.max if day is None else day


def _known(stored: T | None, incoming: T | None) -> T | None:
    return stored if stored is not None else incoming


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(first + second))
