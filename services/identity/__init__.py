"""Identity: GitHub accounts, installations, teams, users, sessions, API keys, plans.

Owned by the SuperAgent.
"""
