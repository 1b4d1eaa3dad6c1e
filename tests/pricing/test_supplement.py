"""Our price supplement over genai-prices: what it corrects, how it is validated, and when to drop it.

Expected amounts are computed by hand from Anthropic's published prices for Claude Sonnet 4
(https://docs.anthropic.com/en/docs/about-claude/pricing): $3 input / $15 output per MTok up to 200k
input tokens; above, $6 / $22.50 for all tokens of the call, cache multipliers on top (5-minute write
1.25x = $7.50, read 0.1x = $0.60).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import data_snapshot
from genai_prices.types import ModelPrice, TieredPrices
from pydantic import ValidationError

from services.pricing.genai import GenaiPricesSource, _tokens_only
from services.pricing.maintained import maintained_price_source
from services.pricing.models import Price, Usage
from services.pricing.supplement import (
    Supplement,
    SupplementEntry,
    SupplementIndex,
    parse_supplement,
    shipped_supplement,
)

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 1, 15, 12, tzinfo=UTC)
PLUS_2 = timezone(timedelta(hours=2))
MTOK = Decimal(1_000_000)
LIBRARY = GenaiPricesSource()  # genai-prices alone, no supplement: what we compare our entries with


def d(value: str) -> Decimal:
    return Decimal(value)


# Names Anthropic's API, Vertex-style ids and aliases use for Sonnet 4: genai-prices matches all of them
# to its `claude-sonnet-4-0`, so the entry must reach each.
SONNET_4_NAMES = [
    "claude-sonnet-4-20250514",
    "claude-sonnet-4-0",
    "claude-sonnet-4",
    "claude-sonnet-4@20250514",
]


@pytest.mark.parametrize("model", SONNET_4_NAMES)
def test_sonnet_4_above_200k_input_is_billed_at_long_context_rates(model: str) -> None:
    """A Sonnet 4 call above 200k input tokens (cache tokens included) pays $6/$22.50 and long cache rates."""
    usage = Usage(
        input_tokens=170_000, cache_read_tokens=20_000, cache_write_tokens=20_000, output_tokens=2_000
    )
    price = maintained_price_source().price("anthropic", model, usage, AT)
    assert price.input == 170_000 * d("6") / MTOK == d("1.02")
    assert price.cache_read == 20_000 * d("0.6") / MTOK == d("0.012")
    assert price.cache_write == 20_000 * d("7.5") / MTOK == d("0.15")
    assert price.output == 2_000 * d("22.5") / MTOK == d("0.045")
    assert price.total == d("1.02") + d("0.012") + d("0.15") + d("0.045") == d("1.227")
    assert price.tier == ">200k input"
    assert price.price_version == "supplement@2026-12-02:anthropic/claude-sonnet-4-0@base"


def test_sonnet_4_at_200k_input_keeps_the_base_rates() -> None:
    """Exactly 200k input tokens is not above the threshold: $3/$15, cache read $0.30, write $3.75."""
    usage = Usage(
        input_tokens=160_000, cache_read_tokens=20_000, cache_write_tokens=20_000, output_tokens=2_000
    )
    price = maintained_price_source().price("anthropic", "claude-sonnet-4-20250514", usage, AT)
    expected = (160_000 * d("3") + 20_000 * d("0.3") + 20_000 * d("3.75") + 2_000 * d("15")) / MTOK
    assert price.total == expected == d("0.591")
    assert price.tier is None
    # below the tier the supplement and the library agree to the last digit
    assert price.total == LIBRARY.price("anthropic", "claude-sonnet-4-20250514", usage, AT).total


def test_models_without_an_entry_keep_the_library_price() -> None:
    """The supplement changes nothing for a model it has no entry for (same amounts, same price_version)."""
    usage = Usage(input_tokens=250_000, cache_read_tokens=1_000, output_tokens=3_000)
    for provider, model in [
        ("anthropic", "claude-sonnet-4-5"),
        ("openai", "gpt-4.1"),
        ("google", "gemini-2.5-pro"),
    ]:
        assert maintained_price_source().price(provider, model, usage, AT) == LIBRARY.price(
            provider, model, usage, AT
        )


def test_an_entry_applies_from_its_start_date_in_utc() -> None:
    """A dated entry prices calls from its UTC start date on; before it, the library's price stands."""
    source = GenaiPricesSource(
        supplement=SupplementIndex(parse_supplement(_document(effective_from="2026-03-01")))
    )
    usage = Usage(input_tokens=300_000, output_tokens=1_000)
    # 2026-03-01 00:30 at UTC+2 is still 2026-02-28 in UTC
    before = source.price("anthropic", "claude-sonnet-4-0", usage, datetime(2026, 3, 1, 0, 30, tzinfo=PLUS_2))
    assert before.price_version.startswith("genai-prices==")
    assert before.total == (300_000 * d("3") + 1_000 * d("15")) / MTOK
    on = source.price("anthropic", "claude-sonnet-4-20250514", usage, datetime(2026, 3, 1, tzinfo=UTC))
    assert on.price_version == "supplement@2026-12-02:anthropic/claude-sonnet-4-0@from-2026-03-01"
    assert on.total == (300_000 * d("6") + 1_000 * d("22.5")) / MTOK


def _document(**changes: str) -> str:
    fields = {
        "provider": "anthropic",
        "model": "claude-sonnet-4-0",
        "why": "no long-context tier",
        "source": "https://docs.anthropic.com/en/docs/about-claude/pricing",
        "checked": "2026-12-02",
        "input": '{base: "3", tiers: [{start: 200000, price: "6"}]}',
        "output": '{base: "15", tiers: [{start: 200000, price: "22.5"}]}',
    }
    fields.update(changes)
    lines = ["entries:", "  - provider: " + fields.pop("provider")]
    input_rate, output_rate = fields.pop("input"), fields.pop("output")
    lines += [f"    {key}: {value}" for key, value in fields.items() if value != "<absent>"]
    lines += ["    prices:", f"      input_mtok: {input_rate}", f"      output_mtok: {output_rate}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"input": "{base: 3.0, tiers: [{start: 200000, price: '6'}]}"}, "base"),
        ({"output": "22.5"}, "output_mtok"),
        ({"source": "<absent>"}, "source"),
        ({"source": "the pricing page"}, "source"),
        ({"checked": "<absent>"}, "checked"),
        ({"why": "''"}, "why"),
        (
            {"input": '{base: "3", tiers: [{start: 200000, price: "6"}, {start: 100000, price: "5"}]}'},
            "tiers",
        ),
        ({"input": '{base: "-1", tiers: [{start: 200000, price: "6"}]}'}, "base"),
        ({"color": "red"}, "color"),
    ],
)
def test_a_bad_supplement_is_refused_at_load_naming_the_field(changes: dict[str, str], field: str) -> None:
    """Floats, missing source or check date, unordered tiers, negative prices, unknown keys: refused."""
    with pytest.raises(ValidationError) as info:
        parse_supplement(_document(**changes))
    assert field in str(info.value)


def test_two_entries_for_one_model_and_start_are_refused() -> None:
    """Two entries for the same model from the same date would make the price depend on file order."""
    entry = _document().split("entries:\n", 1)[1]
    with pytest.raises(ValidationError, match="two entries"):
        parse_supplement("entries:\n" + entry + entry)


def test_the_shipped_supplement_loads_with_source_and_date_per_entry() -> None:
    """The packaged file validates; each entry names an https provider page and a past check date."""
    entries = shipped_supplement().supplement.entries
    assert entries
    for entry in entries:
        assert entry.source.scheme == "https"
        assert entry.checked <= datetime.now(UTC).date()


def test_only_the_maintained_factory_builds_a_genai_source() -> None:
    """No production module builds a GenaiPricesSource itself, so none can miss the supplement."""
    offenders = []
    for package in ("agents", "services", "shared", "mno"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "id", getattr(node.func, "attr", None)) == "GenaiPricesSource"
                    and path != ROOT / "services/pricing/maintained.py"
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
    wiring = (ROOT / "agents/monitoring/agent.py").read_text("utf-8")
    assert "price_book(pool, maintained_price_source())" in wiring


# ---- when to drop an entry: the installed genai-prices is compared with each of ours -----------------


def _entries() -> Iterator[SupplementEntry]:
    yield from shipped_supplement().supplement.entries


def _library_price(entry: SupplementEntry, at: datetime) -> ModelPrice:
    snapshot = data_snapshot.get_snapshot()
    provider = next((p for p in snapshot.providers if p.id == entry.provider), None)
    assert provider is not None, f"genai-prices no longer knows provider {entry.provider}: review the entry"
    model = next((m for m in provider.models if m.id == entry.model), None)
    assert model is not None, f"genai-prices no longer knows {entry.provider}/{entry.model}: review the entry"
    return model.get_prices(at)


def _tiers(model_price: ModelPrice) -> set[tuple[str, int]]:
    """(price field, tier start) of every tier of the price."""
    return {
        (name, tier.start)
        for name, value in vars(model_price).items()
        if isinstance(value, TieredPrices)
        for tier in value.tiers
    }


def _probes(starts: set[int]) -> list[Usage]:
    """Calls just at and just above every tier start (and a small one), with every token kind."""
    probes = [Usage(input_tokens=1_000, cache_read_tokens=500, cache_write_tokens=300, output_tokens=700)]
    for start in sorted(starts):
        for total in (start, start + 1):
            probes.append(
                Usage(
                    input_tokens=total - 30_000,
                    cache_read_tokens=20_000,
                    cache_write_tokens=10_000,
                    output_tokens=4_000,
                    reasoning_tokens=1_000,
                )
            )
    return probes


def _instants(entry: SupplementEntry) -> list[datetime]:
    checked = datetime.combine(entry.checked, time(12), UTC)
    start = None if entry.effective_from is None else datetime.combine(entry.effective_from, time(12), UTC)
    return [at for at in (start, checked, datetime.now(UTC)) if at is not None]


def _problems(entry: SupplementEntry) -> list[str]:
    """Why `entry` should be dropped or re-checked against the installed genai-prices (empty: keep it)."""
    ours = GenaiPricesSource(supplement=SupplementIndex(Supplement(entries=(entry,))))
    own_tiers = _tiers(entry.prices.model_price())
    name = f"{entry.provider}/{entry.model}"
    problems = []
    for at in _instants(entry):
        library = _library_price(entry, at)
        unknown = _tiers(library) - own_tiers
        if unknown:
            problems.append(
                f"{at:%Y-%m-%d}: genai-prices has tiers {sorted(unknown)} for {name} our entry lacks"
            )
        differences: list[tuple[Usage, Price, Price]] = []
        for usage in _probes({start for _, start in own_tiers | _tiers(library)}):
            mine = ours.price(entry.provider, entry.model, usage, at)
            theirs = LIBRARY.price(entry.provider, entry.model, usage, at)
            if mine.total != theirs.total:
                differences.append((usage, mine, theirs))
        if not differences:
            problems.append(f"{at:%Y-%m-%d}: genai-prices prices {name} as our entry does: it is redundant")
        # Below every tier of ours the entry adds nothing: there the library must agree with it.
        lowest = min((start for _, start in own_tiers), default=0)
        for usage, mine, theirs in differences:
            if usage.total_input_tokens <= lowest:
                problems.append(
                    f"{at:%Y-%m-%d}: genai-prices' base price for {name} differs from ours "
                    f"({theirs.total} vs {mine.total} for {usage.total_input_tokens} input tokens)"
                )
    return problems


@pytest.mark.parametrize("entry", list(_entries()), ids=lambda entry: f"{entry.provider}/{entry.model}")
def test_each_entry_still_corrects_the_installed_library(entry: SupplementEntry) -> None:
    """Fails once genai-prices prices the model as we do (drop the entry) or differently again (re-check)."""
    problems = _problems(entry)
    assert problems == [], f"{problems}: re-check {entry.source} and services/pricing/supplement.yaml"


def _copy_of_library(model: str, **changes: object) -> SupplementEntry:
    """An entry with the library's own current prices for anthropic/`model`, then `changes`."""
    library = _library_price(_entry_for(model), datetime.now(UTC))
    prices: dict[str, object] = {}
    for name in ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok"):
        value = getattr(library, name, None)
        if isinstance(value, TieredPrices):
            tiers = [{"start": tier.start, "price": str(tier.price)} for tier in value.tiers]
            prices[name] = {"base": str(value.base), "tiers": tiers}
        elif value is not None:
            prices[name] = str(value)
    prices.update(changes)
    return _entry_for(model, prices)


def _entry_for(model: str, prices: dict[str, object] | None = None) -> SupplementEntry:
    return SupplementEntry.model_validate(
        {
            "provider": "anthropic",
            "model": model,
            "why": "test",
            "source": "https://docs.anthropic.com/en/docs/about-claude/pricing",
            "checked": "2026-12-02",
            "prices": prices or {"input_mtok": "1", "output_mtok": "1"},
        }
    )


def test_the_library_check_flags_redundant_and_stale_entries() -> None:
    """Entries equal to the library, lacking one of its tiers, or with another base price: all flagged."""
    redundant = _problems(_copy_of_library("claude-sonnet-4-5"))
    assert redundant
    assert all("redundant" in problem for problem in redundant)
    lacking = _problems(_copy_of_library("claude-sonnet-4-5", output_mtok="15"))
    assert any("has tiers [('output_mtok', 200000)]" in problem for problem in lacking)
    other_base = _problems(
        _copy_of_library(
            "claude-sonnet-4-0", input_mtok={"base": "4", "tiers": [{"start": 200000, "price": "6"}]}
        )
    )
    assert any("base price" in problem for problem in other_base)
    assert (
        _problems(
            _copy_of_library(
                "claude-sonnet-4-0", input_mtok={"base": "3", "tiers": [{"start": 200000, "price": "6"}]}
            )
        )
        == []
    )


@pytest.mark.parametrize("entry", list(_entries()), ids=lambda entry: f"{entry.provider}/{entry.model}")
def test_each_entry_takes_the_exact_per_token_path(entry: SupplementEntry) -> None:
    """A supplement price holds only units our Usage carries, so the library's own calc never replaces it."""
    assert _tokens_only(entry.prices.model_price())
