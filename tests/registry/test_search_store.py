"""Registry search on a real PostgreSQL: ordering by where the words match (name, then keywords and
summary, then description), paging across those tiers, and the capped, flagged total."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from services.registry import search as search_queries
from services.registry import store
from shared.messages.artifacts import Ecosystem

TEAM = str(uuid.uuid4())


async def _package(
    conn: asyncpg.Connection, name: str, *, keywords: list[str], summary: str, description: str
) -> None:
    package_id = await store.ensure_package(conn, TEAM, Ecosystem.PYPI, name, name)
    await store.refresh_package(
        conn,
        package_id,
        display_name=name,
        latest=None,
        stable=None,
        summary=summary,
        license="MIT",
        keywords=keywords,
        description=description,
    )


async def _seed(conn: asyncpg.Connection) -> None:
    # Repetition would win under a plain ts_rank_cd: six B hits and twenty C hits outscore one A hit.
    await _package(conn, "aaa-notes", keywords=[], summary="notes", description="quux " * 20)
    await _package(conn, "alpha", keywords=[], summary="quux " * 6, description="")
    await _package(conn, "beta", keywords=["quux"], summary="a library", description="")
    await _package(conn, "zeta-quux", keywords=[], summary="tools", description="")
    await _package(conn, "quux", keywords=[], summary="the one", description="")
    await _package(conn, "unrelated", keywords=["other"], summary="nothing", description="nothing")


async def _names(
    conn: asyncpg.Connection, q: str, limit: int = 20, offset: int = 0
) -> tuple[list[str], int, bool]:
    rows, total, estimated = await store.search(
        conn,
        TEAM,
        query=q,
        tsquery=search_queries.tsquery_of(q),
        name_tsquery=search_queries.tsquery_of(q, weights="A"),
        ecosystem=None,
        license=None,
        depends_on=None,
        limit=limit,
        offset=offset,
    )
    return [r.name for r in rows], total, estimated


async def test_exact_name_then_name_then_keywords_and_summary_then_description(
    migrated_pool: asyncpg.Pool,
) -> None:
    """A name match outranks any number of keyword/summary hits; those outrank any description hits."""
    async with migrated_pool.acquire() as conn:
        await _seed(conn)
        names, total, estimated = await _names(conn, "quux")
    assert names[:2] == ["quux", "zeta-quux"]
    assert set(names[2:4]) == {"alpha", "beta"}
    assert names[4:] == ["aaa-notes"]
    assert (total, estimated) == (5, False)


async def test_pages_cross_the_ranked_and_description_tiers_without_gaps(migrated_pool: asyncpg.Pool) -> None:
    """Pages of two, read in turn, give exactly the one-page order (ranked head, then the tail)."""
    async with migrated_pool.acquire() as conn:
        await _seed(conn)
        whole, _, _ = await _names(conn, "quux")
        paged: list[str] = []
        for offset in (0, 2, 4, 6):
            page, _, _ = await _names(conn, "quux", limit=2, offset=offset)
            paged += page
    assert paged == whole


async def test_a_total_beyond_the_cap_is_flagged_as_an_estimate(
    migrated_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Matches beyond the count cap flag total_is_estimate, total above the cap; within it, exact."""
    monkeypatch.setattr(store, "SEARCH_COUNT_CAP", 3)
    async with migrated_pool.acquire() as conn:
        await _seed(conn)
        await conn.execute("ANALYZE artifact_manager.packages")
        names, total, estimated = await _names(conn, "quux")
        assert len(names) == 5
        assert estimated
        assert total > 3
        _, total, estimated = await _names(conn, "zeta")
        assert (total, estimated) == (1, False)
