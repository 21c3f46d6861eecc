async def test_create_and_read_ticket(api, client):
    ticket = await api.ticket()
    response = await client.get(f"/v1/tickets/{ticket['id']}")
    assert response.status_code == 200
    assert response.json()["code"] == ticket["code"]
