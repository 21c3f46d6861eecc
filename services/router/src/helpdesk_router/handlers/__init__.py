"""Consumer handlers: ticket events (tickets.py) and agent events (agents.py)."""
