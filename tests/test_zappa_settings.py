"""zappa_settings.json names only importable, callable handlers and valid schedules."""
import importlib
import json
import re
from pathlib import Path

import pytest

SETTINGS = json.loads((Path(__file__).resolve().parent.parent / "zappa_settings.json").read_text())
RATE = re.compile(r"^rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)$")
CRON_FIELD = re.compile(r"^[\d*?,/\-LW#A-Z]+$")


def schedule_is_valid(expression: str) -> bool:
    """EventBridge schedule syntax: rate(N unit) with singular for 1, or cron() with six fields."""
    if RATE.match(expression):
        return True
    match = re.match(r"^cron\((.+)\)$", expression)
    if not match:
        return False
    fields = match.group(1).split()
    return len(fields) == 6 and all(CRON_FIELD.match(f) for f in fields) and "?" in (fields[2], fields[4])


def _stage(name):
    stage = dict(SETTINGS[name])
    if "extends" in stage:
        stage = {**_stage(stage["extends"]), **{k: v for k, v in stage.items() if k != "extends"}}
    return stage


@pytest.mark.parametrize("stage", sorted(SETTINGS))
def test_stage_is_deployable(stage):
    settings = _stage(stage)
    assert settings["runtime"] in ("python3.12", "python3.13")
    module, _, attr = settings["app_function"].rpartition(".")
    assert module == "app.wsgi" and attr == "app"
    assert settings["aws_environment_variables"]["BATON_ENV"] == "production"
    assert settings["aws_environment_variables"]["BATON_SSM_PREFIX"].startswith(f"/baton/{stage}/")
    # Secrets never appear as literals: they come from SSM.
    for forbidden in ("SECRET_KEY", "DATABASE_URL", "VAPID_PRIVATE_KEY"):
        assert forbidden not in settings["aws_environment_variables"]
    assert settings["vpc_config"]["SubnetIds"] and settings["vpc_config"]["SecurityGroupIds"]
    assert "tests/**" in settings["exclude_glob"] and "static/src/**" in settings["exclude_glob"]
    kinds = set()
    for event in settings["events"]:
        module_name, _, func_name = event["function"].rpartition(".")
        handler = getattr(importlib.import_module(module_name), func_name)
        assert callable(handler)
        if "expression" in event:
            assert schedule_is_valid(event["expression"]), event["expression"]
            kinds.add("schedule")
        else:
            source = event["event_source"]
            assert source["arn"].startswith("arn:aws:sqs:") and source["batch_size"] >= 1
            assert "ReportBatchItemFailures" in source.get("function_response_types", [])
            kinds.add("sqs")
    assert kinds == {"schedule", "sqs"}


@pytest.mark.parametrize("expression,ok", [("rate(1 minute)", True), ("rate(5 minutes)", True), ("rate(1 minutes)", False),
                                           ("rate(0 minutes)", False), ("cron(0 12 * * ? *)", True), ("cron(0 12 * * *)", False),
                                           ("every minute", False)])
def test_schedule_parser(expression, ok):
    assert schedule_is_valid(expression) is ok
