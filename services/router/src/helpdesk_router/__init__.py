"""The router: routing policies per department and channel, agent routing profiles, and
the pure choice of an agent with its explanation (routing/)."""
