"""The agent processes of the mesh. Their names are used for micro-service names and subjects."""

from enum import StrEnum


class AgentName(StrEnum):
    SUPER_AGENT = "super_agent"
    MONITORING = "monitoring"
    ARTIFACT_MANAGER = "artifact_manager"
    SUPPLY_CHAIN = "supply_chain"
    LEARNING = "learning"

    @property
    def service_name(self) -> str:
        """The NATS micro-service name, e.g. `mno-monitoring` (letters, digits, `-`, `_` only)."""
        return f"mno-{self.value.replace('_', '-')}"


ALL_AGENTS: tuple[AgentName, ...] = tuple(AgentName)
