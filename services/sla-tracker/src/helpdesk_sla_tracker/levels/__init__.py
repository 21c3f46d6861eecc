"""SLA levels (versioned response targets) and the default level per department."""
