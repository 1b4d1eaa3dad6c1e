"""Cost-report planning (pure): which table answers which piece of an asked range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from services.token_costs.queries import Level, Segment, Source, build, plan_segments
from shared.messages.telemetry import Bucket, CostQuery

DAY = datetime(2026, 3, 2, tzinfo=UTC)


def kinds(segments: list[Segment]) -> list[tuple[str, datetime, datetime]]:
    return [(s.source.value, s.since, s.until) for s in segments]


def test_an_unaligned_range_reads_raw_only_at_its_partial_hours() -> None:
    """Partial hours read raw events, whole hours the hourly rollup, whole days the daily one."""
    since = DAY - timedelta(hours=2, minutes=20)  # 21:40 the day before
    until = DAY + timedelta(days=3, hours=5, minutes=10)
    assert kinds(plan_segments(since, until, rollup=True, daily=True)) == [
        ("raw", since, DAY - timedelta(hours=2)),
        ("hourly", DAY - timedelta(hours=2), DAY),
        ("daily", DAY, DAY + timedelta(days=3)),
        ("hourly", DAY + timedelta(days=3), DAY + timedelta(days=3, hours=5)),
        ("raw", DAY + timedelta(days=3, hours=5), until),
    ]


def test_without_the_daily_rollup_whole_days_read_hours() -> None:
    """A user or tag report (no daily rollup) reads the hourly rollup between its partial hours."""
    since, until = DAY + timedelta(minutes=1), DAY + timedelta(days=2, minutes=1)
    assert kinds(plan_segments(since, until, rollup=True, daily=False)) == [
        ("raw", since, DAY + timedelta(hours=1)),
        ("hourly", DAY + timedelta(hours=1), DAY + timedelta(days=2)),
        ("raw", DAY + timedelta(days=2), until),
    ]


def test_a_range_without_a_whole_hour_reads_raw_events() -> None:
    """Less than a whole hour between the ends: one raw piece."""
    since, until = DAY + timedelta(minutes=30), DAY + timedelta(hours=1, minutes=29)
    assert kinds(plan_segments(since, until, rollup=True, daily=True)) == [("raw", since, until)]


def test_aligned_ranges_read_no_raw_events() -> None:
    """Day-aligned: the daily rollup alone; hour-aligned: hours around it."""
    assert kinds(plan_segments(DAY, DAY + timedelta(days=2), rollup=True, daily=True)) == [
        ("daily", DAY, DAY + timedelta(days=2))
    ]
    since, until = DAY + timedelta(hours=3), DAY + timedelta(hours=9)
    assert kinds(plan_segments(since, until, rollup=True, daily=True)) == [("hourly", since, until)]


def test_hours_are_cut_in_utc_whatever_the_offset() -> None:
    """10:00 at +05:30 is 04:30 UTC: a partial hour, read raw (a rollup hour would add 30 minutes)."""
    india = timezone(timedelta(hours=5, minutes=30))
    since = datetime(2026, 3, 2, 10, 0, tzinfo=india)
    until = datetime(2026, 3, 2, 13, 0, tzinfo=india)
    pieces = plan_segments(since, until, rollup=True, daily=False)
    assert [(s.source, s.since.astimezone(UTC).time().isoformat()) for s in pieces] == [
        (Source.RAW, "04:30:00"),
        (Source.HOURLY, "05:00:00"),
        (Source.RAW, "07:00:00"),
    ]


def test_minute_buckets_and_tag_with_filter_read_raw_events_only() -> None:
    """The rollups cannot answer minute buckets, nor a tag narrowed by another dimension."""
    for fields in ({"bucket": "minute"}, {"group_by": "tag:feature", "project": "search"}):
        query = CostQuery.model_validate(
            {"since": DAY + timedelta(minutes=5), "until": DAY + timedelta(hours=5), **fields}
        )
        statements = build("team-a", query)
        assert "token_costs" not in statements.report.sql
        assert statements.report.sql.count("FROM token_events FINAL") == 1


def test_each_table_is_read_once_and_scoped_to_the_team() -> None:
    """Both raw edges are one read of the raw events; every read filters by the principal's team."""
    query = CostQuery.model_validate(
        {
            "since": DAY - timedelta(minutes=65),
            "until": DAY + timedelta(days=2, minutes=65),
            "group_by": "model",
        }
    )
    sql = build("team-a", query).report.sql
    assert sql.count("FROM token_events FINAL") == 1
    assert sql.count(" FROM token_") == 3  # raw edges, hours either side of the days, days
    assert sql.count("team_id = {team:String}") == 3


def test_one_statement_answers_totals_groups_and_series() -> None:
    """Totals, groups and points are grouping sets of one statement, and each row's level says which."""
    since, until = DAY - timedelta(minutes=65), DAY + timedelta(days=2, minutes=65)
    bucketed = build("t", CostQuery(since=since, until=until, group_by=["model", "user"], bucket=Bucket.DAY))
    assert "GROUPING SETS ((), (`model`, `user`), (`model`, `user`, bucket_start))" in bucketed.report.sql
    assert not bucketed.limited  # every group's points come back; the caller keeps the top groups
    # GROUPING() sets a bit per key not grouped by: model, user, bucket (the lowest bit).
    levels = [bucketed.level(bits) for bits in (0b111, 0b001, 0b000)]
    assert levels == [Level.TOTALS, Level.GROUP, Level.POINT]

    grouped = build("t", CostQuery(since=since, until=until, group_by=["model"], limit=5))
    assert "GROUPING SETS ((), (`model`))" in grouped.report.sql
    assert grouped.limited
    assert grouped.report.sql.endswith("LIMIT 7")
    assert [grouped.level(bits) for bits in (0b1, 0b0)] == [Level.TOTALS, Level.GROUP]

    series = build("t", CostQuery(since=since, until=until, bucket=Bucket.HOUR))
    assert "GROUPING SETS ((), (bucket_start))" in series.report.sql
    assert [series.level(bits) for bits in (0b1, 0b0)] == [Level.TOTALS, Level.POINT]

    totals = build("t", CostQuery(since=since, until=until))
    assert "GROUPING" not in totals.report.sql
    assert totals.level(0) is Level.TOTALS
