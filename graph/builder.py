"""Build the orchestrator graph (never at import time)."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph

from graph import nodes
from graph.nodes import GraphDeps
from graph.state import RunState


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None) -> Any:
    """Compile plan → policy → approve → execute → respond with the given checkpointer."""
    g = StateGraph(RunState, context_schema=GraphDeps)
    g.add_node("plan", nodes.plan)
    g.add_node("policy", nodes.policy)
    g.add_node("approve", nodes.approve)
    g.add_node("execute", nodes.execute)
    g.add_node("respond", nodes.respond)
    g.add_edge(START, "plan")
    g.add_edge("plan", "policy")
    g.add_conditional_edges("policy", nodes.after_policy)
    g.add_conditional_edges("approve", nodes.after_approve)
    g.add_edge("execute", "respond")
    g.add_edge("respond", END)
    return g.compile(checkpointer=checkpointer)
