"""A refused action says who has the task and since when (docs/design.md §15), so a phone whose queued claim or
completion was refused can say "王伟 completed it at 14:02" instead of offering a retry that cannot succeed."""
from datetime import datetime


def test_a_refused_claim_and_completion_name_who_has_the_task(flow):
    cs = flow.demo.dept("CS")
    flow.template({"key": "callback", "name": "Callback", "steps": [
        {"key": "call", "title": "回电 Call back", "assignees": {"departments": [cs]}, "sla": "PT4H"}]})
    wo = flow.create("callback", title="回电客户")
    task = flow.open_tasks(wo["id"])[0]
    assert flow.act(task["id"], "claim", "cs.agent1").status_code == 200
    agent1 = flow.demo.uid("cs.agent1")

    late = flow.act(task["id"], "claim", "cs.agent2")
    assert late.status_code == 409
    error = late.json["error"]
    assert error["code"] == "task_taken" and error["details"]["status"] == "claimed"
    assert error["details"]["by"]["id"] == agent1 and error["details"]["by"]["name"]
    assert datetime.fromisoformat(error["details"]["at"]).tzinfo is not None
    # Acting on a colleague's task says the same.
    foreign = flow.act(task["id"], "complete", "cs.agent2")
    assert foreign.status_code == 409 and foreign.json["error"]["details"]["by"]["id"] == agent1

    flow.finish(wo["id"], "call", "cs.agent1")
    again = flow.act(task["id"], "complete", "cs.agent2")
    assert again.status_code == 409 and again.json["error"]["code"] == "task_completed"
    assert again.json["error"]["details"]["by"]["id"] == agent1 and again.json["error"]["details"]["at"]
