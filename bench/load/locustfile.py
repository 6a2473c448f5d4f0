"""Many phones at once: warehouse staff read their inbox, claim and complete; leads open and follow work orders;
quality follows andons. Run through bench/load/run_load.py (which seeds the people this file signs in as).

BATON_LOAD_PEOPLE names a JSON file: {"password", "staff": [logins], "leads": [...], "quality": [...],
"template", "andons": [ids], "metrics": bool}.
"""
import itertools
import json
import os
import random
import uuid
from datetime import datetime, timezone

from locust import HttpUser, between, events, task

PEOPLE = json.loads(open(os.environ["BATON_LOAD_PEOPLE"]).read())
V1 = "/api/v1"
# 409s the product answers on purpose (someone else won the claim, the task moved on): counted, not failures.
EXPECTED_CONFLICTS = {"task_taken", "task_completed", "task_cancelled", "invalid_transition", "stale_version", "task_not_open",
                      "not_claimable", "conflict"}
conflicts: dict[str, int] = {}


def _cycle(kind: str):
    return itertools.cycle(PEOPLE[kind])


_logins = {kind: _cycle(kind) for kind in ("staff", "leads", "quality")}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class Phone(HttpUser):
    abstract = True
    kind = "staff"
    wait_time = between(0.5, 2.5)  # a person tapping, reading, tapping again

    def on_start(self):
        self.login = next(_logins[self.kind])
        with self.client.post(f"{V1}/auth/login", json={"login": self.login, "password": PEOPLE["password"]},
                              name="POST /auth/login", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"sign-in {response.status_code}")
                self.token = None
                return
            self.token = response.json()["token"]
        self.client.headers["Authorization"] = f"Bearer {self.token}"

    def _post(self, path: str, body: dict, name: str, ok=(200, 201)):
        """POST with an Idempotency-Key, as the phone app does; expected 409s count apart, other errors fail."""
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        with self.client.post(path, json=body, headers=headers, name=name, catch_response=True) as response:
            if response.status_code in ok:
                response.success()
            elif response.status_code == 409:
                code = (response.json().get("error") or {}).get("code", "conflict")
                conflicts[f"{name} {code}"] = conflicts.get(f"{name} {code}", 0) + 1
                if code in EXPECTED_CONFLICTS:
                    response.success()
                else:
                    response.failure(f"409 {code}")
            else:
                response.failure(f"{response.status_code} {response.text[:200]}")
            return response


class StaffPhone(Phone):
    """Warehouse staff: the inbox is the home screen."""

    weight = 8
    kind = "staff"

    def on_start(self):
        super().on_start()
        self.inbox = {"mine": [], "pool": []}

    @task(10)
    def read_inbox(self):
        response = self.client.get(f"{V1}/tasks/inbox", name="GET /tasks/inbox")
        if response.status_code == 200:
            self.inbox = response.json()

    @task(4)
    def claim(self):
        if not self.inbox["pool"]:
            return
        item = random.choice(self.inbox["pool"][:10])
        self._post(f"{V1}/tasks/{item['id']}/claim", {"occurred_at": _now()}, "POST /tasks/{id}/claim")
        self.inbox["pool"].remove(item)

    @task(4)
    def complete(self):
        mine = [t for t in self.inbox["mine"] if t["status"] in ("claimed", "open")]
        if not mine:
            return
        item = mine[0]
        outcome = (item.get("outcomes") or [None])[0]
        response = self._post(f"{V1}/tasks/{item['id']}/complete", {"outcome": outcome, "note": "done by load test",
                                                                    "data": {}, "occurred_at": _now()},
                              "POST /tasks/{id}/complete")
        self.inbox["mine"].remove(item)
        return response

    @task(2)
    def open_task(self):
        items = self.inbox["mine"] + self.inbox["pool"]
        if items:
            self.client.get(f"{V1}/tasks/{random.choice(items)['id']}", name="GET /tasks/{id}")

    @task(2)
    def notifications(self):
        self.client.get(f"{V1}/notifications?unread=true&per_page=20", name="GET /notifications")


class LeadPhone(Phone):
    """Leads open work orders for the warehouse and follow them."""

    weight = 2
    kind = "leads"

    @task(3)
    def create_work_order(self):
        body = {"template": PEOPLE["template"], "title": f"Count bin {random.randint(1, 999):03d}",
                "priority": random.choice(["P2", "P3"]), "data": {"bin": f"A-{random.randint(1, 99):02d}"}}
        self._post(f"{V1}/work-orders", body, "POST /work-orders", ok=(201,))

    @task(4)
    def list_work_orders(self):
        response = self.client.get(f"{V1}/work-orders?per_page=20", name="GET /work-orders")
        if response.status_code == 200 and response.json()["items"]:
            item = random.choice(response.json()["items"])
            self.client.get(f"{V1}/work-orders/{item['id']}", name="GET /work-orders/{id}")

    @task(2)
    def andon(self):
        self.client.get(f"{V1}/andon?per_page=20", name="GET /andon")
        if PEOPLE["andons"]:
            self.client.get(f"{V1}/andon/{random.choice(PEOPLE['andons'])}", name="GET /andon/{id}")

    @task(1)
    def metrics(self):
        if PEOPLE.get("metrics"):
            self.client.get(f"{V1}/metrics/summary", name="GET /metrics/summary")


class QualityPhone(Phone):
    """Quality follows the andons and their recall progress."""

    weight = 1
    kind = "quality"

    @task(3)
    def andon_list(self):
        self.client.get(f"{V1}/andon?per_page=20", name="GET /andon")

    @task(3)
    def andon_detail(self):
        if PEOPLE["andons"]:
            self.client.get(f"{V1}/andon/{random.choice(PEOPLE['andons'])}", name="GET /andon/{id}")

    @task(1)
    def inbox(self):
        self.client.get(f"{V1}/tasks/inbox", name="GET /tasks/inbox")


@events.quitting.add_listener
def _report_conflicts(environment, **_kwargs):
    path = os.environ.get("BATON_LOAD_CONFLICTS")
    if path:
        with open(path, "w") as out:
            json.dump(conflicts, out)
