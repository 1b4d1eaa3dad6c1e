"""What every agent serves for the mesh itself: pings and the canary path through JetStream."""

from shared.mesh.canary import CanaryLedger
from shared.mesh.purge import TeamDataPurge, TeamPurger
from shared.mesh.wiring import MeshHandles, install_mesh

__all__ = ["CanaryLedger", "MeshHandles", "TeamDataPurge", "TeamPurger", "install_mesh"]
