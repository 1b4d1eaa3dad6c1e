"""The schema migrations, shipped inside the installed package (an image or wheel finds them here).

postgres/<schema>/NNNN_name.sql   one folder per agent schema (see shared.db.migrations)
clickhouse/NNNN_name.sql          the same SQL for chdb and a ClickHouse server
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
POSTGRES_MIGRATIONS = ROOT / "postgres"
CLICKHOUSE_MIGRATIONS = ROOT / "clickhouse"
