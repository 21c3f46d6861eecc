"""make run finds the services in the Procfile: migrations, URLs, services still to come."""

from pathlib import Path

from helpdesk_devstack.stack import (
    ServiceEndpoint,
    migration_commands,
    pending_services,
    service_endpoints,
)

PROCFILE = """\
# a comment
ticket-api: helpdesk-ticket-api serve
relay: helpdesk-ticket-api relay
rule-worker: helpdesk-rule-engine worker
rule-engine: helpdesk-rule-engine serve
not-installed: helpdesk-not-installed serve
#   sla-tracker: helpdesk-sla-tracker serve
"""


def test_services_are_found_in_the_procfile(tmp_path: Path):
    procfile = tmp_path / "Procfile"
    procfile.write_text(PROCFILE)
    assert migration_commands(procfile) == [
        ("helpdesk-ticket-api", "migrate"),
        ("helpdesk-rule-engine", "migrate"),
        ("helpdesk-not-installed", "migrate"),
    ]
    assert service_endpoints(procfile) == [
        ServiceEndpoint("ticket-api", "http://127.0.0.1:8000"),
        ServiceEndpoint("rule-engine", "http://127.0.0.1:8001"),
        # Not installed here: no port to show.
        ServiceEndpoint("not-installed", None),
    ]
    assert pending_services(procfile) == ["sla-tracker"]


def test_the_repository_procfile_runs_its_services():
    procfile = Path(__file__).resolve().parents[2] / "Procfile"
    assert [e.name for e in service_endpoints(procfile)] == [
        "ticket-api",
        "rule-engine",
        "router",
        "notifier",
        "sla-tracker",
        "scheduler",
    ]
