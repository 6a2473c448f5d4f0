"""Baton's bench template as a viewflow flow: start -> one human task claimable by a team's members -> end.

A lead starts a process for a team (Django permission `START`); the task it creates carries the team's permission
(`team_permission(n)`, granted to the team's Django group), so exactly the group's members may assign it to
themselves (viewflow's claim); its owner then executes it, which ends the process. The flow locks the process row
with `SELECT ... FOR UPDATE` (viewflow's recommended lock on PostgreSQL): without a lock two members claiming at
once would both be told they won.
"""
from viewflow import this
from viewflow.workflow import flow, lock
from viewflow.workflow.models import Process

from . import views

PERMISSION_APP = Process._meta.app_label
START = "start_team_process"


def team_permission(team: int, qualified: bool = True) -> str:
    codename = f"handle_team_{team}"
    return f"{PERMISSION_APP}.{codename}" if qualified else codename


class TeamTask(flow.View):
    """A human task whose claim (viewflow's assign) answers JSON."""

    assign_view_class = views.AssignView


class TeamFlow(flow.Flow):
    lock_impl = lock.select_for_update_lock

    start = flow.Start(views.start).Permission(f"{PERMISSION_APP}.{START}").Next(this.handle)
    handle = (
        TeamTask(views.complete)
        .Permission(lambda activation: team_permission(activation.process.data["team"]))
        .onCreate(this.remember_task)
        .Next(this.end)
    )
    end = flow.End()

    def remember_task(self, activation):
        """Hand the task just created to the start view, which answers its id (as Baton answers its task's)."""
        activation.process.handle_task = activation.task
