"""The SuperAgent: the one HTTP edge. Authenticates, authorises and routes to the other agents."""
