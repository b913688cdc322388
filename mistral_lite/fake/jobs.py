"""Batch and fine-tuning jobs: their handlers and their lifecycles.

Jobs move one status per step. A step happens when ``batch_step`` seconds have passed (checked
lazily on every request, see :func:`advance_due`) or at once through :func:`tick`. A running
batch job runs up to ``BATCH_LINES_PER_STEP`` requests a step through the fake's own handlers
(the ``State.runner``), counting them in ``completed_requests``; the step that runs its last
request makes it SUCCESS and writes the output and error files into the files store.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from mistral_lite.fake.replies import JsonReply, Reply, api_error, find, not_found
from mistral_lite.fake.resources import page
from mistral_lite.fake.state import Job, State

__all__ = ["HANDLERS", "advance_due", "tick"]

BATCH_TERMINAL = frozenset({"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"})
FT_TERMINAL = frozenset({"SUCCESS", "FAILED", "FAILED_VALIDATION", "CANCELLED"})


def _timestamp(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# --- lifecycle ----------------------------------------------------------------------------


#: Requests a running batch job runs per step: a big job reports progress and never holds the
#: fake's lock for long.
BATCH_LINES_PER_STEP = 10_000


def _run_batch(state: State, job: Job) -> None:
    data = job.data
    outputs: list[dict[str, Any]] = job.extra.setdefault("outputs", [])
    errors: list[dict[str, Any]] = job.extra.setdefault("errors", [])
    requests: list[Any] = job.extra["requests"]
    start = int(job.extra.get("cursor", 0))
    stop = min(len(requests), start + BATCH_LINES_PER_STEP)
    for number in range(start, stop):
        request = requests[number]
        custom_id = request.get("custom_id", str(number)) if isinstance(request, Mapping) else str(number)
        body = request.get("body") if isinstance(request, Mapping) else None
        line_id = "batch-" + uuid.uuid4().hex[:8] + "-" + str(number)
        if not isinstance(body, Mapping):
            status, answer = 400, {"object": "error", "message": "Request has no JSON body",
                                   "type": "invalid_request_error", "param": None, "code": None}
        else:
            options = dict(body)
            options.pop("stream", None)
            if data.get("model") and "model" not in options and data["endpoint"] != "/v1/agents/completions":
                options["model"] = data["model"]
            if data.get("agent_id") and "agent_id" not in options:
                options["agent_id"] = data["agent_id"]
            assert state.runner is not None
            status, answer = state.runner(data["endpoint"], options)
        line: dict[str, Any] = {"id": line_id, "custom_id": custom_id,
                                "response": {"status_code": status, "body": answer}, "error": None}
        if status >= 400:
            message = answer.get("message") if isinstance(answer, Mapping) else None
            line["error"] = {"message": message if isinstance(message, str) else json.dumps(message),
                             "code": status}
            errors.append(line)
        else:
            outputs.append(line)
    job.extra["cursor"] = stop
    data.update(completed_requests=len(outputs) + len(errors), succeeded_requests=len(outputs),
                failed_requests=len(errors))
    if stop < len(requests):
        return  # still RUNNING: the next step runs the next slice
    data.update(status="SUCCESS", completed_at=int(state.now()))
    job.extra["results"] = outputs + errors
    for kind, lines in (("output_file", outputs), ("error_file", errors)):
        if lines or kind == "output_file":
            payload = "".join(json.dumps(line) + "\n" for line in lines).encode()
            sample = "batch_result" if kind == "output_file" else "batch_error"
            name = f"{data['id']}{'' if kind == 'output_file' else '_error'}.jsonl"
            stored = state.add_file(name, payload, "batch", sample_type=sample, source="mistral")
            data[kind] = stored.id


def _step_batch(state: State, job: Job) -> None:
    status = job.data["status"]
    if status == "QUEUED":
        job.data.update(status="RUNNING", started_at=int(state.now()))
    elif status == "RUNNING":
        _run_batch(state, job)
    elif status == "CANCELLATION_REQUESTED":
        job.data.update(status="CANCELLED", completed_at=int(state.now()))


def _step_ft(state: State, job: Job) -> None:
    data = job.data
    status = data["status"]
    following = {"QUEUED": "VALIDATING", "VALIDATING": "VALIDATED", "STARTED": "RUNNING",
                 "CANCELLATION_REQUESTED": "CANCELLED"}
    if status == "VALIDATED" and (data["auto_start"] or job.extra.get("started")):
        new = "RUNNING"
    elif status == "RUNNING":
        new = "SUCCESS"
        suffix = data.get("suffix") or "fake"
        model_id = f"ft:{data['model']}:{suffix}:{time.strftime('%Y%m%d')}:{data['id'][:8]}"
        root = state.models.get(data["model"], {})
        state.models[model_id] = dict(
            root or {"capabilities": {}, "max_context_length": 32768, "created": 0},
            id=model_id, object="model", created=int(state.now()), owned_by="fake-org", name=None,
            description=None, aliases=[], type="fine-tuned", job=data["id"], root=data["model"],
            archived=False)
        data.update(fine_tuned_model=model_id, trained_tokens=data["metadata"]["train_tokens"])
    elif status in following:
        new = following[status]
    else:
        return
    data.update(status=new, modified_at=int(state.now()))
    job.extra["events"].append({"name": "status-updated", "data": {"status": new},
                                "created_at": int(state.now())})


_STEPPERS: tuple[tuple[str, frozenset[str], Callable[[State, Job], None]], ...] = (
    ("batch_jobs", BATCH_TERMINAL, _step_batch),
    ("ft_jobs", FT_TERMINAL, _step_ft),
)


def tick(state: State) -> None:
    """Advance every unfinished job by one step now."""
    with state.lock:
        for attr, terminal, step in _STEPPERS:
            for job in list(getattr(state, attr).values()):
                if job.data["status"] not in terminal:
                    step(state, job)
                    job.due = state.next_due()


def advance_due(state: State) -> None:
    """Take every step whose time has come (called before each request is handled)."""
    with state.lock:
        now = state.now()
        for attr, terminal, step in _STEPPERS:
            for job in list(getattr(state, attr).values()):
                while job.due <= now and job.data["status"] not in terminal:
                    before = job.data["status"]
                    step(state, job)
                    job.due += state.batch_step
                    if job.data["status"] == before:
                        break


# --- batch handlers -----------------------------------------------------------------------


def _batch(state: State, job_id: str) -> Job:
    return find(state.batch_jobs, job_id, "Batch job")


def create_batch_job(state: State, o: dict[str, Any]) -> Reply:
    requests: list[Any] = list(o.get("requests") or [])
    with state.lock:
        for file_id in o.get("input_files") or ():
            stored = state.files.get(file_id)
            if stored is None:
                raise not_found("File", file_id)
            # the server's own reading (a bad line is a failed request), not the client's reader
            # (_bulk.jsonl.read_lines): the fake is the oracle the client's tests run against
            for raw in stored.data.decode("utf-8", "replace").splitlines():
                if raw.strip():
                    try:
                        requests.append(json.loads(raw))
                    except ValueError:
                        requests.append({"custom_id": None, "body": None})
    if not o.get("input_files") and not o.get("requests"):
        raise api_error(400, "Either input_files or requests must be provided")
    now = int(state.now())
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()), "object": "batch", "input_files": list(o.get("input_files") or []),
        "metadata": o.get("metadata"), "endpoint": o["endpoint"], "model": o.get("model"),
        "agent_id": o.get("agent_id"), "output_file": None, "error_file": None, "errors": [],
        "outputs": None, "status": "QUEUED", "created_at": now, "total_requests": len(requests),
        "completed_requests": 0, "succeeded_requests": 0, "failed_requests": 0,
        "started_at": None, "completed_at": None,
    }
    with state.lock:
        state.batch_jobs[data["id"]] = Job(data, state.next_due(), {"requests": requests, "results": None})
    return JsonReply(dict(data))


def _batch_view(job: Job, inline: bool) -> dict[str, Any]:
    view = dict(job.data)
    if inline and job.extra.get("results") is not None:
        view["outputs"] = list(job.extra["results"])
    return view


def get_batch_job(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        return JsonReply(_batch_view(_batch(state, o["job_id"]), bool(o.get("inline"))))


def cancel_batch_job(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        job = _batch(state, o["job_id"])
        if job.data["status"] in ("QUEUED", "RUNNING"):
            job.data["status"] = "CANCELLATION_REQUESTED"
            job.due = state.next_due()
        return JsonReply(_batch_view(job, False))


def delete_batch_job(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        _batch(state, o["job_id"])
        del state.batch_jobs[o["job_id"]]
    return JsonReply({"id": o["job_id"], "object": "batch", "deleted": True})


def list_batch_jobs(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        jobs = [dict(j.data) for j in state.batch_jobs.values()]
    after = _timestamp(o.get("created_after"))
    checks: list[tuple[str, Callable[[dict[str, Any], Any], bool]]] = [
        ("model", lambda j, v: j["model"] == v), ("agent_id", lambda j, v: j["agent_id"] == v),
        ("status", lambda j, v: j["status"] in (v if isinstance(v, list) else [v])),
        ("metadata", lambda j, v: all((j["metadata"] or {}).get(k) == x for k, x in v.items())),
    ]
    for key, check in checks:
        if o.get(key) is not None:
            jobs = [j for j in jobs if check(j, o[key])]
    if after is not None:
        jobs = [j for j in jobs if j["created_at"] >= after]
    jobs.sort(key=lambda j: (j["created_at"], j["id"]), reverse=o.get("order_by", "-created") != "created")
    return JsonReply({"object": "list", "data": page(jobs, o, 100), "total": len(jobs)})


# --- fine-tuning handlers -----------------------------------------------------------------

_FT_DEFAULTS = {"training_steps": None, "learning_rate": 0.0001, "weight_decay": 0.1,
                "warmup_fraction": 0.05, "epochs": None, "seq_len": None, "fim_ratio": 0.9}


def _ft(state: State, job_id: str) -> Job:
    return find(state.ft_jobs, job_id, "Fine-tuning job")


def _estimate(state: State, o: Mapping[str, Any]) -> dict[str, Any]:
    files: list[str] = [str(t.get("file_id")) if isinstance(t, Mapping) else str(t)
                        for t in o.get("training_files") or ()]
    for file_id in [*files, *(o.get("validation_files") or ())]:
        if file_id not in state.files:
            raise not_found("File", file_id)
    data_tokens: int = sum(len(state.files[f].data) // 4 + 1 for f in files)
    params = o.get("hyperparameters") or {}
    epochs = float(params.get("epochs") or 1.0)
    steps = int(params.get("training_steps") or max(1, round(data_tokens * epochs / 1000)))
    return {"expected_duration_seconds": 60 * steps, "cost": round(data_tokens * epochs * 4e-6, 4),
            "cost_currency": "USD", "train_tokens_per_step": 131072,
            "train_tokens": int(data_tokens * epochs), "data_tokens": data_tokens,
            "estimated_start_time": None, "epochs": epochs, "training_steps": steps}


def create_fine_tuning_job(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        estimate = _estimate(state, o)
    if o.get("dry_run"):
        return JsonReply(dict(estimate, object="job.metadata", deprecated=True, details=""))
    now = int(state.now())
    meta = {k: estimate[k] for k in ("expected_duration_seconds", "cost", "cost_currency",
                                     "train_tokens_per_step", "train_tokens", "data_tokens",
                                     "estimated_start_time")}
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()), "auto_start": o.get("auto_start", True), "model": o["model"],
        "status": "QUEUED", "created_at": now, "modified_at": now,
        "training_files": [t.get("file_id") if isinstance(t, Mapping) else t for t in o.get("training_files") or ()],
        "validation_files": list(o.get("validation_files") or []), "object": "job",
        "fine_tuned_model": None, "suffix": o.get("suffix"), "integrations": o.get("integrations") or [],
        "trained_tokens": None, "metadata": meta, "job_type": o.get("job_type") or "completion",
        "hyperparameters": dict(_FT_DEFAULTS, **(o.get("hyperparameters") or {})),
        "repositories": o.get("repositories") or [],
    }
    events = [{"name": "status-updated", "data": {"status": "QUEUED"}, "created_at": now}]
    with state.lock:
        state.ft_jobs[data["id"]] = Job(data, state.next_due(), {"events": events})
    return JsonReply(dict(data))


def _detailed(job: Job) -> dict[str, Any]:
    return dict(job.data, events=list(job.extra["events"]), checkpoints=[])


def get_fine_tuning_job(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        return JsonReply(_detailed(_ft(state, o["job_id"])))


def list_fine_tuning_jobs(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        jobs = [dict(j.data) for j in state.ft_jobs.values()]
    for key in ("model", "status", "suffix"):
        if o.get(key) is not None:
            jobs = [j for j in jobs if j[key] == o[key]]
    after, before = _timestamp(o.get("created_after")), _timestamp(o.get("created_before"))
    jobs = [j for j in jobs if (after is None or j["created_at"] >= after)
            and (before is None or j["created_at"] <= before)]
    jobs.sort(key=lambda j: (j["created_at"], j["id"]), reverse=True)
    return JsonReply({"object": "list", "data": page(jobs, o, 100), "total": len(jobs)})


def start_fine_tuning_job(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        job = _ft(state, o["job_id"])
        if job.data["status"] in FT_TERMINAL or job.data["status"] in ("RUNNING", "CANCELLATION_REQUESTED"):
            raise api_error(400, f"Job {o['job_id']} cannot be started in status {job.data['status']}")
        job.extra["started"] = True
        if job.data["status"] == "VALIDATED":
            job.data.update(status="STARTED", modified_at=int(state.now()))
            job.due = state.next_due()
        return JsonReply(_detailed(job))


def cancel_fine_tuning_job(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        job = _ft(state, o["job_id"])
        if job.data["status"] not in FT_TERMINAL:
            job.data.update(status="CANCELLATION_REQUESTED", modified_at=int(state.now()))
            job.due = state.next_due()
        return JsonReply(_detailed(job))


HANDLERS: dict[str, Callable[[State, dict[str, Any]], Reply]] = {
    "create_batch_job": create_batch_job, "get_batch_job": get_batch_job,
    "cancel_batch_job": cancel_batch_job, "list_batch_jobs": list_batch_jobs,
    "delete_batch_job": delete_batch_job,
    "create_fine_tuning_job": create_fine_tuning_job, "get_fine_tuning_job": get_fine_tuning_job,
    "list_fine_tuning_jobs": list_fine_tuning_jobs, "start_fine_tuning_job": start_fine_tuning_job,
    "cancel_fine_tuning_job": cancel_fine_tuning_job,
}
