"""`mno config check --plans-seen`: the paid Marketplace plans on record that the mapping misses."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import yaml

from services.identity.subscriptions import SubscriptionBook
from services.marketplace.models import MarketplacePurchaseEvent
from tests.fixtures.mesh import REPO
from tests.marketplace.factories import ENTERPRISE, ORG, TEAM, payload, purchase


def config_check(config: Path, dsn: str, *extra: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MNO_")}
    return subprocess.run(
        [sys.executable, "-m", "mno.cli", "config", "check", str(config), *extra],
        cwd=REPO,
        env={**clean, "MNO_POSTGRES_DSN": dsn},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_config_check_names_each_paid_plan_seen_without_a_mapping(
    migrated_pool: asyncpg.Pool, fresh_database: str, tmp_path: Path
) -> None:
    """With a subscriber on a paid plan the mapping lacks, `--plans-seen` names that plan id on
    stderr and exits 1; mapped plans are not named; without the flag nothing is read."""
    book = SubscriptionBook({str(TEAM["id"]): "team"}, "free", timedelta(days=30))
    for plan, github_id in ((ENTERPRISE, ORG["id"]), (TEAM, 5)):
        body = payload("purchased", datetime.now(UTC), purchase(plan, account={**ORG, "id": github_id}))
        async with migrated_pool.acquire() as conn, conn.transaction():
            await book.apply_event(
                conn, MarketplacePurchaseEvent.model_validate(body), delivery_id=str(uuid.uuid4())
            )

    config = tmp_path / "mapped.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "postgres": {"dsn": fresh_database},
                "accounts": {"marketplace_plans": {str(TEAM["id"]): "free"}},
            }
        )
    )
    checked = await asyncio.to_thread(config_check, config, fresh_database, "--plans-seen")

    assert checked.returncode == 1, checked.stderr
    assert f"paid Marketplace plan {ENTERPRISE['id']} ('Enterprise') is not mapped" in checked.stderr
    assert f"plan {TEAM['id']} " not in checked.stderr
    assert "Traceback" not in checked.stderr
    plain = await asyncio.to_thread(config_check, config, fresh_database)
    assert plain.returncode == 0, plain.stderr
