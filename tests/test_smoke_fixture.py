def test_fixture_works(client, demo, auth):
    r = client.get("/api/v1/me", headers=auth.headers("admin"))
    assert r.status_code == 200
    assert r.json["roles"] == ["admin"]
