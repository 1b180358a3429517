"""Batch analysis on a Ray cluster: one task per input, models loaded once per worker (no Qt).

``emodesk analyze INPUT… --cluster local|auto|ray://HOST:PORT`` calls :func:`run_batch`. The design:

- **Workers** are Ray actors (:class:`_Worker`), one per CPU (or per ``gpus_per_task`` GPUs) of the
  cluster, at most one per input. Each builds one :class:`~emodesk.core.pipeline.Pipeline` when it
  starts, so models are resolved (``$EMODESK_MODEL_DIR``, the repo, the user folder, download) and their
  sha256 verified exactly as a local run does, once per worker, not once per input.
- **One task per input.** A worker runs the input through :func:`emodesk.core.analyze.analyze_source`,
  the very function a local ``emodesk analyze`` calls, into a private temporary folder, and returns the
  session JSON as bytes with the outcome. Workers need no shared filesystem for results; the **driver**
  writes ``DIR/<stem>.session.json`` (atomically) as each task finishes, with the same names a local run
  gives. Inputs must be readable by the workers under the name given (a shared mount, or a URL).
- **Faults.** A failed input is an outcome like any other (one line, exit 1); the others go on. A worker
  that dies mid-input (killed, out of memory, a lost node) loses only that input's task: a new worker is
  started and the input is run again from the start, at most ``retries`` more times. Nothing is written
  for an input until a worker has returned its whole session, so a lost worker never leaves a half or a
  duplicate session. Ctrl+C (KeyboardInterrupt) or ``stop`` cancels what is running (its workers are
  killed), keeps every session already written, and re-raises / returns.
- **Progress**: workers are threaded actors (two threads: the analysis, and a cheap ``progress()``
  call the driver polls), so the driver can show frames/s across the cluster and an ETA while inputs run.

Ray is imported only here, lazily: without the ``cluster`` extra a run fails with one line saying what
to install.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from emodesk.core.analyze import AnalysisOutcome, analyze_source, ensure_output_dir, unique_session_path
from emodesk.atomic import atomic_file
from emodesk.core.session import pid_alive
from emodesk.core.settings import Settings
from emodesk.errors import EmodeskError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'emodesk[cluster]'"
DEFAULT_RETRIES = 2  # a worker that dies mid-input: the input is run at most 1 + 2 times
POLL_S = 0.25  # how often the driver looks for finished tasks and for stop/Ctrl+C
PROGRESS_EVERY_S = 1.0  # how often it asks running workers how far they are


@dataclass(frozen=True)
class ClusterOptions:
    """Where and how wide to run. ``address``: ``local`` (start Ray on this machine), ``auto`` (the
    cluster this machine belongs to: ``$RAY_ADDRESS`` or the one ``ray start`` began here),
    ``ray://HOST:PORT`` (Ray Client) or a ``HOST:PORT`` GCS address."""

    address: str = "local"
    workers: int | None = None  # default: as many as the cluster's CPUs (or GPUs) allow
    gpus_per_task: float | None = None  # each worker reserves this many GPUs; pool = GPUs / this
    cpus_per_task: float = 1.0
    retries: int = DEFAULT_RETRIES


@dataclass(frozen=True)
class WorkerInfo:
    pid: int
    node: str  # host name of the machine it runs on
    models: tuple[Any, ...] = ()  # ModelInfo of the models it loaded
    error: str | None = None  # why its models could not be loaded


@dataclass(frozen=True)
class InputResult:
    """One input of the batch, done: the outcome as a local run reports it, with the driver's path."""

    index: int  # position in the batch
    target: str
    outcome: AnalysisOutcome
    attempts: int  # 1, or more when a worker died and the input was run again
    worker: WorkerInfo | None = None  # the worker that produced the outcome


@dataclass(frozen=True)
class RunningInput:
    target: str
    attempt: int
    pid: int | None  # the worker process analysing it (None until it first answers)
    node: str | None
    frames: int  # frames decoded so far in this attempt
    expected: int | None


@dataclass(frozen=True)
class BatchProgress:
    done: int  # inputs finished (any status)
    total: int
    frames: int  # frames decoded across the cluster (finished inputs + current attempts)
    elapsed_s: float
    running: tuple[RunningInput, ...] = ()
    eta_s: float | None = None

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise EmodeskError(f"--cluster needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def connect(address: str) -> bool:
    """Join (or, for ``local``, start) a Ray cluster; True when this call started one (shut it down
    after). A Ray already initialised in this process (a notebook, the test suite) is used as it is."""
    ray = _ray()
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}  # workers' logs stay in Ray's log files
    # ray.init puts its own crash handler on SIGTERM (it dumps a stack and exits 15); the caller's handler
    # (the CLI's: stop between tasks, keep the sessions, exit 143) is put back afterwards
    main = threading.current_thread() is threading.main_thread()
    on_sigterm = signal.getsignal(signal.SIGTERM) if main else None
    try:
        return _init(ray, address, quiet)
    finally:
        if on_sigterm is not None:
            signal.signal(signal.SIGTERM, on_sigterm)


def _init(ray: Any, address: str, quiet: dict[str, Any]) -> bool:
    try:
        if address == "local":
            # "local" always starts a new Ray, even where `ray start` already runs one (that is "auto")
            ray.init(address="local", include_dashboard=False, **quiet)
            return True
        ray.init(address=address, **quiet)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError, ... for one cause
        first = _first_line(exc)
        if address.startswith("ray://") and "RAY_AUTH_MODE" not in os.environ:
            # Ray >= 2.5x clusters started with `ray start` want a token from Ray Client drivers
            first += " (if the cluster uses token authentication: RAY_AUTH_MODE=token and its token, see README)"
        raise EmodeskError(f"cannot reach the Ray cluster at {address!r}: {first}") from exc
    return False


class _Worker:
    """One Ray actor: a Pipeline loaded once, then any number of inputs, one at a time."""

    def __init__(self, settings: Settings, offline: bool, cpus: float) -> None:
        from emodesk.core.pipeline import Pipeline
        from emodesk.inference.providers import plan_runtime

        if offline:  # --offline on the driver: this worker must not download either
            os.environ["EMODESK_OFFLINE"] = "1"
        if settings.threads is None and plan_runtime().intra_op_threads > max(1, int(cpus)):
            # this worker reserved `cpus` cores of a bigger node: its models get as many threads, not the
            # node's (N workers x N threads would thrash). Where the local plan fits, settings stay as given.
            settings = replace(settings, threads=max(1, int(cpus)))
        self._lock = threading.Lock()
        self._frames: tuple[int, int | None] = (0, None)
        self._stop = threading.Event()
        self._pipeline = None
        error = None
        try:
            self._pipeline = Pipeline(settings)
        except EmodeskError as exc:
            error = str(exc)
            log.exception("worker could not load its models")
        models = tuple(self._pipeline.models) if self._pipeline is not None else ()
        _remove_dead_workers_folders()
        self.info = WorkerInfo(os.getpid(), socket.gethostname(), models, error)

    def ready(self) -> WorkerInfo:
        return self.info

    def progress(self) -> tuple[int, str, int, int | None]:
        with self._lock:
            done, expected = self._frames
        return self.info.pid, self.info.node, done, expected

    def _on_progress(self, done: int, expected: int | None) -> None:
        with self._lock:
            self._frames = (done, expected)

    def analyze(
        self, target: str, session_name: str, run_options: dict[str, Any], cwd: str
    ) -> tuple[AnalysisOutcome, bytes | None, WorkerInfo]:
        """Run one input exactly as a local ``emodesk analyze`` does; the session comes back as bytes.

        A relative input is opened from the driver's working folder ``cwd`` where this machine has it
        (the same machine, or a shared mount at the same place), so the session names it as a local run
        would; elsewhere it fails as a missing file. One input at a time per worker: chdir is safe here.
        """
        with self._lock:
            self._frames = (0, None)
        if self._pipeline is None:
            return AnalysisOutcome(target, "failed", error=self.info.error), None, self.info
        if os.path.isdir(cwd):
            os.chdir(cwd)
        with tempfile.TemporaryDirectory(prefix=f"{WORK_PREFIX}{os.getpid()}-") as tmp:
            outcome = analyze_source(
                self._pipeline, target, Path(tmp) / session_name, stop=self._stop, progress=self._on_progress, **run_options
            )
            data = outcome.session_path.read_bytes() if outcome.session_path is not None else None
        return outcome, data, self.info


WORK_PREFIX = "emodesk-worker-"  # + pid: a worker's temporary folder for the input it is analysing


def _remove_dead_workers_folders() -> None:
    """Delete the temporary folders of workers on this node that were killed mid-input (their input was
    run again elsewhere); a live worker's folder is left alone."""
    for folder in Path(tempfile.gettempdir()).glob(f"{WORK_PREFIX}*-*"):
        pid = folder.name[len(WORK_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _is_camera(target: str) -> bool:
    # the same test open_source makes: a worker's camera (if it has one) is not the one the user meant
    return target.isdigit() or target.startswith("/dev/video")


_actor_class: Any = None


def _worker_class() -> Any:
    global _actor_class
    if _actor_class is None:
        # two threads per actor: analyze() on one, progress() answered on the other while it runs
        _actor_class = _ray().remote(max_concurrency=2)(_Worker)
    return _actor_class


def pool_size(options: ClusterOptions, inputs: int, resources: dict[str, float]) -> int:
    """Workers to start: what the cluster's CPUs (or GPUs) hold, at most ``options.workers``, at most one
    per input, at least one."""
    if options.gpus_per_task:
        gpus = resources.get("GPU", 0.0)
        if gpus < options.gpus_per_task:
            raise EmodeskError(f"--gpus-per-task {options.gpus_per_task:g}: the Ray cluster has {gpus:g} GPU(s)")
        capacity = int(gpus // options.gpus_per_task)
    else:
        capacity = int(resources.get("CPU", 0.0) // options.cpus_per_task)
    if options.workers and options.workers > capacity:
        log.warning("%d workers asked for; the cluster has room for %d now", options.workers, capacity)
    return max(1, min(options.workers or capacity, capacity or 1, inputs))


@dataclass(eq=False)  # identity: a task is itself across retries
class _Task:
    index: int
    target: str
    session_path: Path
    attempt: int = 1
    actor: Any = None
    pid: int | None = None
    node: str | None = None
    frames: int = 0
    expected: int | None = None


def run_batch(
    targets: Sequence[str],
    out_dir: Path,
    settings: Settings,
    options: ClusterOptions = ClusterOptions(),
    *,
    run_options: dict[str, Any] | None = None,
    offline: bool = False,
    stop: threading.Event | None = None,
    on_ready: Callable[[WorkerInfo, int], None] | None = None,
    on_result: Callable[[InputResult], None] | None = None,
    on_progress: Callable[[BatchProgress], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> list[InputResult]:
    """Analyse every target on the cluster; write each session into ``out_dir`` as its task finishes.

    ``run_options`` go to ``analyze_source`` unchanged (live, realtime, max_frames, duration_s).
    ``on_ready(first worker, pool size)`` once the models are loaded; ``on_result`` per input as it
    finishes; ``on_progress`` about every second; ``on_warning`` for retries. Returns the results in
    input order (inputs cancelled by ``stop`` are missing). A worker that cannot load its models raises
    EmodeskError before any input runs; KeyboardInterrupt cancels the running tasks and re-raises.
    """
    ray = _ray()
    from ray.exceptions import RayError, RayTaskError

    out_dir = ensure_output_dir(Path(out_dir))
    run_options = dict(run_options or {})
    taken: set[Path] = set()
    queue = deque(_Task(i, str(t), unique_session_path(out_dir, t, taken)) for i, t in enumerate(targets))
    total = len(queue)
    if not total:
        return []
    started_here = connect(options.address)
    actor_options = {"num_cpus": options.cpus_per_task, "num_gpus": options.gpus_per_task or 0, "max_restarts": 0}
    actors: list[Any] = []
    results: dict[int, InputResult] = {}
    warn = on_warning or (lambda line: log.warning("%s", line))

    def new_actor() -> Any:
        actor = _worker_class().options(**actor_options).remote(settings, offline, options.cpus_per_task)
        actors.append(actor)
        return actor

    def replace_worker() -> None:
        """A new worker for a lost one, while the cluster still has room (a lost node shrinks the pool);
        with no worker left, one is asked for anyway and waits for resources (an autoscaler, a node
        coming back, or Ctrl+C)."""
        try:
            room = pool_size(options, total, ray.cluster_resources())
        except EmodeskError:  # the GPUs went with the node
            room = 0
        if len(actors) < room or not actors:
            if not room:
                warn("no room left on the cluster for a worker; waiting for resources (Ctrl+C cancels)")
            idle.append(new_actor())

    def retire(actor: Any) -> None:
        if actor in actors:
            actors.remove(actor)
        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # already gone
            log.debug("actor already gone", exc_info=True)

    try:
        size = pool_size(options, total, ray.cluster_resources())
        idle = deque(new_actor() for _ in range(size))
        # every worker loads its models before any input is sent: a model problem is one line, not N
        try:
            infos = ray.get([a.ready.remote() for a in idle])
        except RayError as exc:  # e.g. emodesk (or this version of it) is not installed on a node
            raise EmodeskError(f"a cluster worker could not start: {_first_line(exc)}") from exc
        broken = next((i for i in infos if i.error), None)
        if broken is not None:
            raise EmodeskError(f"worker on {broken.node}: {broken.error}")
        if on_ready is not None:
            on_ready(infos[0], size)
        t0 = time.monotonic()
        running: dict[Any, _Task] = {}  # task ObjectRef -> task
        finished_frames = 0
        finished_inputs_frames: list[int] = []
        last_poll = 0.0
        polls: dict[Any, tuple[_Task, Any]] = {}  # progress() call -> (task, the worker asked)

        def report() -> None:
            if on_progress is None:
                return
            now_frames = finished_frames + sum(t.frames for t in running.values())
            elapsed = time.monotonic() - t0
            eta = None
            if now_frames and elapsed > 0:
                # frames still to go: the running inputs' rest, and the waiting ones at the mean so far
                known = finished_inputs_frames + [t.expected for t in running.values() if t.expected]
                mean = sum(known) / len(known) if known else None
                left = sum(max((t.expected or t.frames) - t.frames, 0) for t in running.values())
                if mean is not None:
                    left += mean * len(queue)
                    eta = left / (now_frames / elapsed)
            on_progress(
                BatchProgress(
                    done=len(results),
                    total=total,
                    frames=now_frames,
                    elapsed_s=elapsed,
                    running=tuple(RunningInput(t.target, t.attempt, t.pid, t.node, t.frames, t.expected) for t in running.values()),
                    eta_s=eta,
                )
            )

        def poll_progress() -> None:
            """Take the answers that have come to earlier progress() calls and ask again; never blocks."""
            answered, _ = ray.wait(list(polls), num_returns=len(polls), timeout=0) if polls else ([], [])
            for ref in answered:
                task, actor = polls.pop(ref)
                try:
                    pid, node, frames, expected = ray.get(ref)
                except RayError:
                    continue  # it died: the task's own result says so
                if task.actor is actor and task in running.values():  # not an earlier attempt's answer
                    task.pid, task.node, task.frames, task.expected = pid, node, frames, expected
            asked = {id(task) for task, _ in polls.values()}
            for task in running.values():
                if id(task) not in asked:
                    polls[task.actor.progress.remote()] = (task, task.actor)

        def finish(task: _Task, outcome: AnalysisOutcome, data: bytes | None, worker: WorkerInfo | None) -> None:
            nonlocal finished_frames
            path = None
            error = outcome.error
            status = outcome.status
            if data is not None:
                try:
                    with atomic_file(task.session_path) as out:
                        out.write(data)
                    path = task.session_path
                except EmodeskError as exc:
                    status, error = "failed", str(exc)
            # the worker's temporary paths mean nothing here: the session is where the driver wrote it
            outcome = replace(outcome, status=status, error=error, session_path=path, journal_path=None)
            finished_frames += outcome.counts.delivered
            if outcome.counts.delivered:
                finished_inputs_frames.append(outcome.counts.delivered)
            result = InputResult(task.index, task.target, outcome, task.attempt, worker)
            results[task.index] = result
            if on_result is not None:
                on_result(result)

        while queue or running:
            while queue and idle:
                task = queue.popleft()
                if _is_camera(task.target):
                    error = f"{task.target}: cameras are analysed on this machine, not on a cluster worker (leave out --cluster)"
                    finish(task, AnalysisOutcome(task.target, "failed", error=error), None, None)
                    continue
                task.actor = idle.popleft()
                task.pid = task.node = None
                task.frames, task.expected = 0, None
                ref = task.actor.analyze.remote(task.target, task.session_path.name, run_options, os.getcwd())
                running[ref] = task
            if stop is not None and stop.is_set():
                break
            done, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
            for ref in done:
                task = running.pop(ref)
                try:
                    outcome, data, worker = ray.get(ref)
                except RayTaskError as exc:  # a bug in the worker code: one line here, the traceback with -vv
                    log.debug("worker error on %s", task.target, exc_info=exc)
                    idle.append(task.actor)
                    error = f"{task.target}: internal error on the worker ({type(exc.cause).__name__}: {exc.cause})"
                    finish(task, AnalysisOutcome(task.target, "failed", error=error), None, None)
                    continue
                except RayError as exc:  # the worker process or its node is gone (actor died, result lost)
                    cause = _first_line(exc)
                    where = f"worker {task.pid} on {task.node}" if task.pid else "its worker"
                    retire(task.actor)
                    replace_worker()
                    if task.attempt <= options.retries:
                        warn(f"{task.target}: {where} died mid-input; running it again (attempt {task.attempt + 1} of {options.retries + 1})")
                        task.attempt += 1
                        queue.appendleft(task)
                    else:
                        error = f"{task.target}: the worker analysing it died {task.attempt} times ({cause[:120]}); no session written"
                        finish(task, AnalysisOutcome(task.target, "failed", error=error), None, None)
                    continue
                idle.append(task.actor)
                finish(task, outcome, data, worker)
            now = time.monotonic()
            if now - last_poll >= PROGRESS_EVERY_S and running:
                last_poll = now
                poll_progress()
                report()
        report()
    except KeyboardInterrupt:
        log.info("interrupted: cancelling %d running task(s)", len(actors))
        raise
    finally:
        # running tasks end with their workers, so nothing half is written (a copy: retire() edits actors)
        for actor in list(actors):  # noqa: PERF101
            retire(actor)
        if started_here:
            ray.shutdown()
    return [results[i] for i in sorted(results)]
