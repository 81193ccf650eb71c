"""The orchestrator: LangGraph state and nodes, policy, approvals, execution and the engine facade."""
