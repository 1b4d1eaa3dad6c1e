"""The GitHub sync of prompts: a team's prompt repository (a repository of one of its account's App
installations, a branch and a folder), and applying `push` deliveries to it by reading the folder's
files through the installation token and handing each changed one to the LearningAgent.

Owned by the SuperAgent.
"""
