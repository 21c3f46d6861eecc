"""What every helpdesk HTTP service shares: the error format and body limit, JSON responses,
health/readiness/metrics endpoints, API-key authentication against ticket-api, cursors, and
``serve`` (uvicorn in process, or N workers on SO_REUSEPORT sockets)."""
