"""Playbooks: declarative recurring workflows (YAML), compiled to checkpointed graphs, run as jobs.

``schema`` validates a playbook, ``compiler`` turns it into a LangGraph graph whose actions are engine
runs, ``runner`` starts, resumes, retries and replays runs, ``schedule`` claims slots exactly once.
"""
