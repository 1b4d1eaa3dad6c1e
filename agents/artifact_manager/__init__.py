"""The artifact manager agent: packages, versions and files (PostgreSQL) and their blobs.
It grows with the artifact registry issue."""
