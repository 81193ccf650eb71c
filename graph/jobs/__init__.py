"""Long work off the chat path: job kinds, the runner, the relay and the queue facade (Dramatiq underneath)."""
