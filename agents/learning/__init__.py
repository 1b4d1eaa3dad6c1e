"""The learning agent. Prompts as code, experiments and scores: grows with the Prompt-as-Code issue."""
