"""Specialist agents: typed operations they may propose, and how each is executed and undone."""
