"""Agent notifications: which events concern which agent, their preferences, and the
in-app list."""
