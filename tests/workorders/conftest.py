import pytest


class Flow:
    """Drive templates, work orders and tasks through the HTTP API."""

    def __init__(self, client, auth, demo):
        self.client = client
        self.auth = auth
        self.demo = demo
        self._headers = {}

    def h(self, login):
        if login not in self._headers:
            self._headers[login] = self.auth.headers(login)
        return self._headers[login]

    def template(self, body, login="admin"):
        response = self.client.post("/api/v1/templates", json=body, headers=self.h(login))
        assert response.status_code == 201, response.json
        return response.json

    def create(self, template, login="lead.cs", **fields):
        body = {"template": template, "title": fields.pop("title", f"{template} work"), **fields}
        response = self.client.post("/api/v1/work-orders", json=body, headers=self.h(login))
        assert response.status_code == 201, response.json
        return response.json

    def detail(self, wo_id, login="admin"):
        response = self.client.get(f"/api/v1/work-orders/{wo_id}", headers=self.h(login))
        assert response.status_code == 200, response.json
        return response.json

    def open_tasks(self, wo_id, step=None):
        tasks = [t for t in self.detail(wo_id)["tasks"] if t["status"] in ("open", "claimed")]
        return [t for t in tasks if step is None or t["step"] == step]

    def act(self, task_id, action, login, **body):
        return self.client.post(f"/api/v1/tasks/{task_id}/{action}", json=body, headers=self.h(login))

    def inbox(self, login, **query):
        response = self.client.get("/api/v1/tasks/inbox", query_string=query, headers=self.h(login))
        assert response.status_code == 200, response.json
        return response.json

    def finish(self, wo_id, step, login, **body):
        (task,) = self.open_tasks(wo_id, step)
        response = self.act(task["id"], "complete", login, **body)
        assert response.status_code == 200, response.json
        return response.json


@pytest.fixture
def flow(client, auth, demo):
    return Flow(client, auth, demo)
