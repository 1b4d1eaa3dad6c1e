"""The supply-chain agent: SBOMs, vulnerability findings and attestations.
It grows with the supply-chain issue."""
