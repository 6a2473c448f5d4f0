"""The peer of bench_claims.py: Baton's bench template as a django-viewflow 2 flow, behind three JSON endpoints.

    POST /api/start/                                  {"team": n, "title": ...}  -> 201 {"process", "task"}
    POST /api/<process>/handle/<task>/assign/         claim: the task becomes the caller's
    POST /api/<process>/handle/<task>/execute/        complete: the task is done and the process ends

Everything a deployment of viewflow does is viewflow's own: the node URLs and view wrappers (`start_view_path`,
`assign_path`, `view_path`, which lock the process and check permissions), the activations (`execute`, `assign`),
its Process and Task models and Django's permission checks. Only the three views that answer JSON, the bearer-token
middleware and the settings are this project's.
"""
