"""ClickHouse behind one async interface, with an in-process (chdb) and a server engine.

Both engines run the same SQL, with `{name:Type}` server-side parameters; see
`interface.py` for the contract and `database/clickhouse/README.md` for migrations.
"""

from .chdb_engine import ChdbClickHouse
from .errors import (
    ClickHouseClosedError,
    ClickHouseError,
    InvalidIdentifierError,
    InvalidInputError,
    QueryError,
    UnsupportedValueError,
)
from .factory import Engine, create_clickhouse
from .identifiers import quote_identifier, quote_table_name, validate_identifier
from .interface import ClickHouse
from .migrations import (
    DEFAULT_MIGRATIONS_DIRECTORY,
    Migration,
    MigrationChecksumError,
    MigrationError,
    apply_migrations,
    load_migrations,
)
from .server_engine import ServerClickHouse

__all__ = [
    "DEFAULT_MIGRATIONS_DIRECTORY",
    "ChdbClickHouse",
    "ClickHouse",
    "ClickHouseClosedError",
    "ClickHouseError",
    "Engine",
    "InvalidIdentifierError",
    "InvalidInputError",
    "Migration",
    "MigrationChecksumError",
    "MigrationError",
    "QueryError",
    "ServerClickHouse",
    "UnsupportedValueError",
    "apply_migrations",
    "create_clickhouse",
    "load_migrations",
    "quote_identifier",
    "quote_table_name",
    "validate_identifier",
]
