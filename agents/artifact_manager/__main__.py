import sys

from agents.artifact_manager.agent import AGENT, setup
from shared.runtime import run_agent

sys.exit(run_agent(AGENT, setup))
