"""The service kit: what every helpdesk service is built from.

``app.create_service_app`` (error format, auth, ``/healthz`` ``/readyz`` ``/metrics``, HTTP
metrics by route template, body limit, OpenAPI), ``settings.ServiceSettings``,
``cli.ServiceCli`` (``serve | migrate | …``), ``worker`` (the event worker as one call),
``serve`` (uvicorn, N workers), ``migrations``, ``retention``, ``db``, ``auth``, cursors
(``pagination``) and JSON responses. docs/new-service.md shows how a service uses them."""
