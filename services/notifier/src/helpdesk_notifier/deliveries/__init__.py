"""The admin API over deliveries and endpoints."""
