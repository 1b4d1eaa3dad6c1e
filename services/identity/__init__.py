"""Identity owned by the SuperAgent: GitHub accounts, installations, teams, users, sessions, API keys."""
