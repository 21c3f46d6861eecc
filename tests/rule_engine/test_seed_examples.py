"""The seed examples of the issue, end to end through the real handler and ticket-api."""

from tests.rule_engine.conftest import any_of, cond, make_rule, make_sla_level


async def history_actions(client, ticket_id):
    items = (await client.get(f"/v1/tickets/{ticket_id}/history")).json()["items"]
    return [
        (h["actor"]["kind"], h["actor"]["name"], h["action"], h["field"], h["after"]) for h in items
    ]


async def test_billing_or_payment_goes_to_billing(api, client, rules, engine):
    billing = await api.department("Billing")
    rule = await make_rule(
        rules,
        name="Billing questions to Billing",
        trigger="ticket_created",
        conditions=any_of(
            [cond("subject", "contains", "billing")],
            [cond("subject", "contains", "payment")],
            [cond("body", "contains", "billing")],
            [cond("body", "contains", "payment")],
        ),
        actions=[{"type": "transfer", "department_id": billing["id"]}],
    )
    by_subject = await api.ticket(subject="PAYMENT failed twice")
    by_body = await api.ticket(subject="Question", message={"body": "About my Billing address"})
    unrelated = await api.ticket(subject="Printer on fire")
    await engine.drain()

    for ticket in (by_subject, by_body):
        current = (await client.get(f"/v1/tickets/{ticket['id']}")).json()
        assert current["department_id"] == billing["id"]
        assert (
            "rule",
            rule["name"],
            "transferred",
            "department_id",
            billing["id"],
        ) in await history_actions(client, ticket["id"])
    assert (await client.get(f"/v1/tickets/{unrelated['id']}")).json()["department_id"] is None


async def test_social_tickets_go_to_marketing_and_a_named_agent(api, client, rules, engine):
    marketing = await api.department("Marketing")
    mia = await api.agent([marketing["id"]], name="Mia")
    await make_rule(
        rules,
        name="Social to Marketing",
        conditions=any_of(
            [cond("channel", "in", ["facebook", "twitter", "instagram", "whatsapp"])]
        ),
        actions=[{"type": "transfer", "department_id": marketing["id"], "agent_id": mia["id"]}],
    )
    social = await api.ticket(channel="twitter", subject="@acme your app is down")
    mail = await api.ticket(channel="email", subject="Your app is down")
    await engine.drain()
    social_now = (await client.get(f"/v1/tickets/{social['id']}")).json()
    assert (social_now["department_id"], social_now["agent_id"]) == (marketing["id"], mia["id"])
    assert (await client.get(f"/v1/tickets/{mail['id']}")).json()["agent_id"] is None


async def test_sla_rule_sets_a_level_on_urgent_tickets_and_stops_other_rules(
    api, client, rules, engine, sla
):
    await make_sla_level(sla, "gold")
    sla = await make_rule(
        rules,
        name="Urgent gets Gold",
        kind="sla",
        conditions=any_of([cond("priority", "is", "urgent")]),
        actions=[{"type": "change_sla_level", "sla_level": "gold"}, {"type": "stop_rules"}],
    )
    tagger = await make_rule(
        rules,
        name="Tag everything",
        conditions={"every_ticket": True},
        actions=[{"type": "add_tags", "tags": ["triage"]}],
    )
    urgent = await api.ticket(priority="urgent")
    normal = await api.ticket(priority="low")
    await engine.drain()

    urgent_now = (await client.get(f"/v1/tickets/{urgent['id']}")).json()
    assert urgent_now["sla_level"] == "gold"
    assert urgent_now["tags"] == []
    normal_now = (await client.get(f"/v1/tickets/{normal['id']}")).json()
    assert normal_now["sla_level"] is None and normal_now["tags"] == ["triage"]
    assert ("sla_rule", sla["name"], "updated", "sla_level", "gold") in await history_actions(
        client, urgent["id"]
    )

    trace = (
        await rules.get(f"/v1/tickets/{urgent['id']}/evaluations", params={"rule_id": tagger["id"]})
    ).json()
    outcomes = [r["outcome"] for item in trace["items"] for r in item["results"]]
    assert "skipped" in outcomes
    reasons = [r.get("reason", "") for item in trace["items"] for r in item["results"]]
    assert any("Urgent gets Gold" in reason for reason in reasons)
