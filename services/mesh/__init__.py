"""What every agent serves for the mesh itself: pings and the canary path through JetStream."""

from services.mesh.canary import CanaryLedger
from services.mesh.wiring import install_mesh

__all__ = ["CanaryLedger", "install_mesh"]
