"""All state the engine owns: the SQL workspace, the append-only event log, approvals and the inbox."""
