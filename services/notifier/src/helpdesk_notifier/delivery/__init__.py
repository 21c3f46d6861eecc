"""Outbound deliveries: stored, claimed, attempted, signed, retried, dead-lettered."""
