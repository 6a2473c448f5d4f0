"""`manage.py bench_setup --clients N --group-size G`: the peer's people, as bench_claims.py sets up Baton's.

One lead and one staff member per client; the leads may start the flow, the staff are in teams of --group-size
(a Django group holding the team's task permission). Prints JSON: the leads' and staff's ids and bearer tokens, and
each staff member's team.
"""
import json

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand
from django.db import transaction
from viewflow.workflow.models import Process

from peerflow.auth import issue_token
from peerflow.flows import START, team_permission

PASSWORD = "bench-password-1"


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, required=True)
        parser.add_argument("--group-size", type=int, required=True)

    @transaction.atomic
    def handle(self, *args, clients, group_size, **options):
        password_hash = make_password(PASSWORD)  # one hash shared by everyone: sign-in is not measured
        content_type = ContentType.objects.get_for_model(Process)
        start = Permission.objects.create(codename=START, name="Can start a team process", content_type=content_type)
        leads_group = Group.objects.create(name="leads")
        leads_group.permissions.add(start)
        leads, staff, teams = [], [], []
        for i in range(clients):
            lead = User.objects.create(username=f"bench.lead{i}", password=password_hash)
            lead.groups.add(leads_group)
            leads.append(lead)
        for team in range(0, clients // group_size):
            group = Group.objects.create(name=f"bench-team-{team}")
            group.permissions.add(Permission.objects.create(codename=team_permission(team, qualified=False),
                                                            name=f"Can handle team {team}'s tasks", content_type=content_type))
            for i in range(team * group_size, (team + 1) * group_size):
                member = User.objects.create(username=f"bench.staff{i}", password=password_hash)
                member.groups.add(group)
                staff.append(member)
                teams.append(team)
        people = {"leads": [{"id": u.pk, "token": issue_token(u)} for u in leads],
                  "staff": [{"id": u.pk, "token": issue_token(u), "team": t} for u, t in zip(staff, teams)]}
        self.stdout.write(json.dumps(people))
