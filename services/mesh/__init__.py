"""What every agent serves for the mesh itself: pings and the canary path through JetStream."""

from services.mesh.canary import CanaryLedger
from services.mesh.purge import TeamDataPurge, TeamPurger
from services.mesh.wiring import MeshHandles, install_mesh

__all__ = ["CanaryLedger", "MeshHandles", "TeamDataPurge", "TeamPurger", "install_mesh"]
