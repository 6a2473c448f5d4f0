"""The three JSON views; viewflow's node wrappers around them find the task, lock the process and check permissions."""
import json

from django.http import JsonResponse
from django.views import View


def start(request, **kwargs):
    """Under `wrap_start_view`: the start activation exists and is started by a user allowed to start the flow."""
    body = json.loads(request.body or b"{}")
    activation = request.activation
    activation.process.data = {"team": int(body["team"]), "title": str(body["title"])}
    activation.execute()
    task = activation.process.handle_task
    return JsonResponse({"process": activation.process.pk, "task": task.pk, "status": task.status}, status=201)


class AssignView(View):
    """Under `wrap_task_view(permission=can_assign)`: the task is still free and the caller holds its permission."""

    def post(self, request, **kwargs):
        activation = request.activation
        activation.assign(request.user)
        return JsonResponse({"task": activation.task.pk, "owner": request.user.pk, "status": activation.task.status})


def complete(request, **kwargs):
    """Under `wrap_view`: the caller owns the task and the activation is started; executing it ends the process."""
    activation = request.activation
    activation.execute()
    return JsonResponse({"process": activation.process.pk, "task": activation.task.pk, "status": activation.process.status})
