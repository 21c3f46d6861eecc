"""Every action, applied by a rule through the write-back (or queued for the notifier)."""

from tests.rule_engine.conftest import any_of, cond, make_rule, make_sla_level
from tests.rule_engine.rule_builders import send_email


async def ticket(client, ticket_id):
    response = await client.get(f"/v1/tickets/{ticket_id}")
    return response.json() if response.status_code == 200 else None


async def test_ticket_changing_actions(api, client, rules, engine, sla):
    await make_sla_level(sla, "silver")
    dept = await api.department()
    agent = await api.agent([dept["id"]])
    cases = [
        (
            {"type": "transfer", "department_id": dept["id"], "agent_id": agent["id"]},
            lambda t: (t["department_id"], t["agent_id"]) == (dept["id"], agent["id"]),
        ),
        ({"type": "resolve"}, lambda t: t["status"] == "resolved"),
        ({"type": "change_priority", "priority": "urgent"}, lambda t: t["priority"] == "urgent"),
        ({"type": "change_sla_level", "sla_level": "silver"}, lambda t: t["sla_level"] == "silver"),
        ({"type": "mark_spam"}, lambda t: t["status"] == "spam"),
        (
            {
                "type": "change_subject",
                "subject": "[{{ ticket.priority | upper }}] {{ ticket.subject }}",
            },
            lambda t: t["subject"] == "[MEDIUM] case-5",
        ),
        ({"type": "add_tags", "tags": ["a", "b"]}, lambda t: t["tags"] == ["keep", "a", "b"]),
        ({"type": "remove_tags", "tags": ["keep"]}, lambda t: t["tags"] == []),
        ({"type": "delete"}, lambda t: t["status"] == "deleted"),
    ]
    for index, (action, _) in enumerate(cases):
        await make_rule(
            rules,
            name=f"case {index}",
            conditions=any_of([cond("subject", "is", f"case-{index}")]),
            actions=[action],
        )
    tickets = [await api.ticket(subject=f"case-{i}", tags=["keep"]) for i in range(len(cases))]
    await engine.drain()
    for (action, check), created in zip(cases, tickets, strict=True):
        current = await ticket(client, created["id"])
        assert check(current), (action, current)


async def test_mark_not_spam_and_purge(api, client, rules, engine):
    await make_rule(
        rules,
        trigger="status_changed",
        conditions=any_of([cond("status", "is", "spam"), cond("subject", "contains", "legit")]),
        actions=[{"type": "mark_not_spam"}],
    )
    await make_rule(
        rules,
        trigger="status_changed",
        conditions=any_of([cond("status", "is", "spam"), cond("subject", "contains", "junk")]),
        actions=[{"type": "purge"}],
    )
    legit = await api.ticket(subject="legit question")
    junk = await api.ticket(subject="junk offer")
    await engine.drain()
    for t in (legit, junk):
        await client.patch(f"/v1/tickets/{t['id']}", json={"status": "spam"})
    await engine.drain()
    assert (await ticket(client, legit["id"]))["status"] == "new"
    assert await ticket(client, junk["id"]) is None
    history = (await client.get(f"/v1/tickets/{junk['id']}/history")).json()["items"]
    assert history[-1]["action"] == "purged" and history[-1]["actor"]["kind"] == "rule"


async def test_outbound_actions_are_queued_for_the_notifier(api, client, rules, engine):
    rule = await make_rule(
        rules,
        name="Acknowledge and tell the team",
        actions=[
            {"type": "send_answer", "body": "Hi, we got {{ ticket.code }}: {{ ticket.subject }}"},
            send_email(
                "team@example.com",
                subject="New: {{ ticket.subject }}",
                body="From {{ ticket.customer_email }}",
            ),
            {"type": "call_url", "url": "https://hooks.example.com/new?code={{ ticket.code }}"},
            {
                "type": "http_request",
                "method": "POST",
                "url": "https://crm.example.com/tickets",
                "headers": {"X-Ticket": "{{ ticket.code }}"},
                "body": '{"subject": "{{ ticket.subject }}"}',
            },
        ],
    )
    created = await api.ticket(subject="Login broken", customer={"email": "dora@example.com"})
    await engine.drain()
    requests = [n["request"] for n in await engine.notifications()]
    code = created["code"]
    assert [r["kind"] for r in requests] == [
        "send_answer",
        "send_email",
        "call_url",
        "http_request",
    ]
    assert requests[0]["to"] == ["dora@example.com"]
    assert requests[0]["body"] == f"Hi, we got {code}: Login broken"
    assert requests[1] == {
        **requests[1],
        "to": ["team@example.com"],
        "subject": "New: Login broken",
        "body": "From dora@example.com",
    }
    assert (
        requests[2]["url"] == f"https://hooks.example.com/new?code={code}"
        and requests[2]["method"] == "GET"
    )
    assert (
        requests[3]["headers"] == {"X-Ticket": code}
        and requests[3]["body"] == '{"subject": "Login broken"}'
    )
    assert len({r["dedupe_key"] for r in requests}) == 4
    # The answer is on the ticket too, by the rule.
    messages = (await client.get(f"/v1/tickets/{created['id']}/messages")).json()["items"]
    (answer,) = [m for m in messages if m["author_kind"] == "system"]
    assert answer["body"] == requests[0]["body"] and answer["to"] == ["dora@example.com"]
    history = (await client.get(f"/v1/tickets/{created['id']}/history")).json()["items"]
    assert any(
        h["action"] == "message_added" and h["actor"]["name"] == rule["name"] for h in history
    )


async def test_templates_are_sandboxed(api, rules, engine):
    rule = await make_rule(
        rules,
        actions=[
            send_email(
                "x@example.com", subject="s", body="{{ ''.__class__.__mro__[1].__subclasses__() }}"
            )
        ],
    )
    created = await api.ticket()
    await engine.drain()
    assert await engine.notifications() == []
    trace = (
        await rules.get(f"/v1/tickets/{created['id']}/evaluations", params={"rule_id": rule["id"]})
    ).json()
    (result,) = trace["items"][0]["results"]
    assert any("sandbox" in e for e in result["actions"]["errors"])
