"""Transactional run folders: atomic writes, a lock, the settings check and the staged rerun.

A run folder (`kerascl recipe NAME --out DIR`) goes through three stages, recorded in `DIR/state.json`:

| stage | on disk | a rerun with the same settings |
|---|---|---|
| `training` | `config.json`, `history.csv`, `backup/` (the last finished epoch) | continues from the backup |
| `pretrained` | + `backbone.keras`, `pretrained.weights.h5` (the whole trained method) | runs the probes, no training |
| `complete` | + `metrics.json`, the pictures | reuses the results (`--force` runs again) |

Every result file is written to a temporary name in the same folder and renamed into place (`os.replace`), so a
file is either the old one or the new one, never half-written. While a run uses the folder it holds `DIR/run.lock`
(pid, host, start time, command); a second run into the same folder stops at once. A rerun with other settings is
refused with the differing keys listed, unless `force` (start over) is given; over finished results the new run
works in `DIR/rerun/` and replaces the old results only when it has finished, so a failed rerun leaves them as
they were.

Examples:
    >>> with RunLock("runs/byol"):
    ...     plan = plan_run("runs/byol", run_settings(recipe.resolved(), "jax"))
    ...     write_json_atomic(os.path.join(plan.work_dir, "config.json"), {"recipe": "byol"})
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import shutil
import socket
import sys
import tempfile
from typing import Any, Callable, Iterator

LOCK_FILE = "run.lock"
STATE_FILE = "state.json"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
BACKUP_DIR = "backup"
#: The whole trained method, kept from the end of training until the probes have finished.
PRETRAINED_WEIGHTS = "pretrained.weights.h5"
#: Where a forced rerun over finished results works until it has finished.
RERUN_DIR = "rerun"
#: Files a run writes (besides a recipe's extra files, listed under `files` in `metrics.json`).
RUN_FILES = (CONFIG_FILE, HISTORY_FILE, METRICS_FILE, "backbone.keras", "curves.png", "embedding.png",
             "content_style.png", PRETRAINED_WEIGHTS, STATE_FILE)

#: Settings that never change what a run computes.
IGNORED_SETTINGS = frozenset({"verbose", "description", "source"})
#: Settings that only change the probes and pictures: once training has finished they may differ on a rerun
#: (the kNN monitor and collapse monitor used the probe splits during training, but not the weights).
PROBE_SETTINGS = frozenset({"probe_train_limit", "probe_test_limit", "shapes_test", "knn_k", "knn_temperature",
                            "linear_epochs", "few_shot_shots", "few_shot_episodes", "robustness", "separability",
                            "embedding_plot", "embedding_samples", "eval_dir"})


class RunFolderError(ValueError):
    """A run folder cannot be used as asked; the message says why and which flag or folder fixes it."""


class RunFolderBusy(RunFolderError):
    """Another live run holds the folder's lock."""


# ------------------------------------------------------------------------------------------------ atomic writes
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """A temporary path beside `path` (same folder, same extension) that replaces `path` when the block succeeds.

    Write the file to the yielded path; on success it is renamed over `path` (`os.replace`, atomic on one file
    system), on an exception it is removed and `path` is left as it was.

    Args:
        path: The final file.

    Yields:
        The temporary path to write to.

    Examples:
        >>> with atomic_path("runs/byol/curves.png") as tmp:
        ...     fig.savefig(tmp)
    """
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(name)
    if name.endswith(".weights.h5"):  # Keras checks this double suffix
        stem, ext = name[: -len(".weights.h5")], ".weights.h5"
    handle, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{ext}", dir=folder)
    os.close(handle)
    os.remove(tmp)  # writers such as Keras's save refuse or ask before overwriting an existing file
    try:
        yield tmp
        if not os.path.exists(tmp):
            raise FileNotFoundError(f"Nothing was written to {tmp!r} for {path!r}.")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Writes `text` to `path` atomically (temporary file in the same folder, flushed to disk, renamed)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())


def write_json_atomic(path: str | os.PathLike, payload: Any, default: Callable[[Any], Any] | None = str) -> None:
    """Writes `payload` as indented JSON to `path` atomically; `default` converts values JSON cannot hold."""
    write_text_atomic(path, json.dumps(payload, indent=2, default=default) + "\n")


def read_json(path: str | os.PathLike) -> dict | None:
    """The JSON object in `path`, or None when the file is missing or not valid JSON."""
    try:
        with open(path) as handle:
            value = json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


# --------------------------------------------------------------------------------------------------------- lock
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except OSError:
        return True
    return True


class RunLock:
    """`run_dir/run.lock` while a run uses the folder: created exclusively, holding pid, host, start and command.

    A lock whose process is gone (same host, pid no longer running) is taken over with a printed note; a live
    one, or one from another host, raises `RunFolderBusy` naming the process and what to do.

    Args:
        run_dir: The run folder (created if missing).

    Examples:
        >>> with RunLock("runs/byol"):
        ...     run_everything()
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = os.fspath(run_dir)
        self.path = os.path.join(self.run_dir, LOCK_FILE)
        self.held = False
        self.note: str | None = None

    def _record(self) -> dict:
        return {"pid": os.getpid(), "host": socket.gethostname(),
                "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]) if sys.argv else ""}

    def acquire(self) -> "RunLock":
        """Takes the lock (see the class).

        Returns:
            self; `self.note` says when a stale lock was taken over.

        Raises:
            RunFolderBusy: another live run holds it.
        """
        os.makedirs(self.run_dir, exist_ok=True)
        record = self._record()
        for _ in range(3):
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = read_json(self.path)
                if not self._stale(holder):
                    raise RunFolderBusy(self._busy_message(holder)) from None
                if read_json(self.path) != holder:  # another run took it over meanwhile: look again
                    continue
                self.note = (f"Note: took over the stale lock {self.path} of pid {holder['pid']} "
                             f"(started {holder.get('started', '?')}), which is no longer running.")
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.path)
                continue
            with os.fdopen(descriptor, "w") as handle:
                json.dump(record, handle)
                handle.flush()
                os.fsync(handle.fileno())
            self.held = True
            if self.note:
                print(self.note)
            return self
        raise RunFolderBusy(self._busy_message(read_json(self.path)))

    @staticmethod
    def _stale(holder: dict | None) -> bool:
        if not holder or not isinstance(holder.get("pid"), int):
            return False  # being written right now, or not ours to judge: refuse with the path to delete
        if holder.get("host") != socket.gethostname():
            return False
        return holder["pid"] != os.getpid() and not _pid_alive(holder["pid"])

    def _busy_message(self, holder: dict | None) -> str:
        if holder:
            who = (f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"
                   + (f": {holder['command']}" if holder.get("command") else ""))
        else:
            who = "a process whose lock file cannot be read"
        return (f"The run folder {self.run_dir!r} is in use by another run ({who}). Wait for it to finish or stop "
                f"it, or pass another --out. If no run uses the folder any more, delete {self.path}.")

    def release(self) -> None:
        """Removes the lock file if this process holds it."""
        if not self.held:
            return
        holder = read_json(self.path)
        if holder and holder.get("pid") == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
        self.held = False

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


# ------------------------------------------------------------------------------------------------------ settings
def run_settings(resolved: dict, backend: str) -> dict:
    """The flat settings of a run, as the keys `--set` takes (`width`, `partition.size`), plus `recipe`, `method`
    and `backend`; `resolved` is `Recipe.resolved()` or a `config.json` dict."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        else:
            flat[prefix] = value

    for key in ("recipe", "method"):
        flat[key] = resolved.get(key)
    walk("", resolved.get("config") or {})
    walk("", resolved.get("options") or {})
    flat["backend"] = backend
    return json.loads(json.dumps(flat, default=str))  # tuples -> lists, as read back from config.json


def settings_diff(old: dict, new: dict, ignore: frozenset | set = IGNORED_SETTINGS) -> list[tuple[str, Any, Any]]:
    """`(key, old value, new value)` for every setting that differs (a key missing on one side counts, except a
    setting that is None on the other: an optional setting added since the old run, left unset), sorted."""
    missing = object()
    rows = []
    for key in sorted(set(old) | set(new)):
        if key in ignore:
            continue
        before, after = old.get(key, missing), new.get(key, missing)
        if (before is missing and after is None) or (before is None and after is missing):
            continue
        if before != after:
            rows.append((key, "(unset)" if before is missing else before, "(unset)" if after is missing else after))
    return rows


def format_diff(rows: list[tuple[str, Any, Any]]) -> str:
    """One `key: old -> new` per line (indented), JSON-formatted values."""
    return "\n".join(f"  {key}: {json.dumps(before)} -> {json.dumps(after)}" for key, before, after in rows)


# ------------------------------------------------------------------------------------------------------- stages
@dataclasses.dataclass
class FolderState:
    """What a folder holds.

    Attributes:
        kind: `"empty"` (no run), `"unfinished"` or `"complete"`.
        stage: `state.json`'s stage (`training`, `pretrained`, `complete`), inferred for older folders.
        settings: `run_settings` of its `config.json`, or None.
        progress: an unfinished run has something worth keeping (a backup, or finished training).
        state: the `state.json` dict (empty when missing).
    """

    kind: str
    stage: str | None = None
    settings: dict | None = None
    progress: bool = False
    state: dict = dataclasses.field(default_factory=dict)


def backup_epoch(folder: str) -> int:
    """The last finished epoch saved in `folder/backup` (0 when there is none)."""
    meta = read_json(os.path.join(folder, BACKUP_DIR, "training_metadata.json")) or {}
    return int(meta.get("epoch", 0) or 0)


def inspect_folder(folder: str) -> FolderState:
    """Reads the stage of the run in `folder` (see the module docstring)."""
    config = read_json(os.path.join(folder, CONFIG_FILE))
    if config is None:
        return FolderState("empty")
    state = read_json(os.path.join(folder, STATE_FILE)) or {}
    settings = run_settings(config, config.get("backend"))
    stage = state.get("stage")
    if stage is None:  # a folder written before state.json existed
        stage = "complete" if os.path.exists(os.path.join(folder, METRICS_FILE)) else "training"
    if stage == "complete":
        return FolderState("complete", stage, settings, True, state)
    backup = os.path.join(folder, BACKUP_DIR)
    progress = (stage == "pretrained" and os.path.exists(os.path.join(folder, PRETRAINED_WEIGHTS))) or (
        os.path.isdir(backup) and bool(os.listdir(backup)))
    if stage == "pretrained" and not progress:
        stage = "training"
    return FolderState("unfinished", stage, settings, progress, state)


def write_state(folder: str, stage: str, **facts: Any) -> None:
    """Records the run's stage (and facts the later stages need) in `folder/state.json`, atomically."""
    write_json_atomic(os.path.join(folder, STATE_FILE), {"stage": stage, **facts})


def clear_run(folder: str, extra_files: tuple[str, ...] = ()) -> None:
    """Removes a run's files (`RUN_FILES`, `backup/`, `extra_files`) from `folder`; other files stay."""
    for name in RUN_FILES + tuple(extra_files):
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            os.remove(os.path.join(folder, name))
    shutil.rmtree(os.path.join(folder, BACKUP_DIR), ignore_errors=True)


def align_history(history_path: str, epochs: int) -> str | None:
    """Cuts `history.csv` to its header and `epochs` complete rows, the epochs a backup holds.

    A run stopped between the end of an epoch's row and its backup (or in the middle of writing a row) would
    otherwise repeat or garble rows when it resumes.

    Returns:
        A note when rows were dropped or are missing, else None.
    """
    if not os.path.exists(history_path):
        return None
    with open(history_path, newline="") as handle:
        text = handle.read()
    lines = text.split("\n")
    rows = [line for line in lines[:-1] if line.strip()]  # the piece after the last newline is partial or empty
    if not rows:
        return None
    header, body = rows[0], rows[1:]
    if len(body) == epochs and text.endswith("\n"):
        return None
    kept = body[:epochs]
    write_text_atomic(history_path, "\n".join([header] + kept) + "\n")
    if len(body) < epochs:
        return f"Note: {history_path} holds {len(body)} of the {epochs} epoch(s) in the backup."
    return f"Note: cut {history_path} to the {epochs} epoch(s) in the backup."


# --------------------------------------------------------------------------------------------------------- plan
@dataclasses.dataclass
class RunPlan:
    """What a run does with its folder.

    Attributes:
        run_dir: where the results end up.
        work_dir: where this run writes (`run_dir`, or `run_dir/rerun` for a forced rerun over finished results).
        action: `"fresh"` (train from scratch), `"resume"` (continue training from the backup), `"probes"`
            (training finished: load the trained method, run the probes) or `"reuse"` (finished with the same
            settings: nothing to do).
        staged: `work_dir` is the rerun folder, published over `run_dir` by `publish` at the end.
        state: the work folder's `state.json` dict.
        notes: lines to print.
    """

    run_dir: str
    work_dir: str
    action: str
    staged: bool = False
    state: dict = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)


def _refuse_different(folder: str, what: str, rows: list, hint: str) -> RunFolderError:
    return RunFolderError(
        f"{folder!r} holds {what} with other settings (old -> new):\n{format_diff(rows)}\n{hint}"
    )


def plan_run(run_dir: str | os.PathLike, settings: dict, force: bool = False, resume: bool = False) -> RunPlan:
    """Decides how a run with `settings` uses `run_dir` (hold its `RunLock` while calling this and running).

    | folder holds | same settings | other settings |
    |---|---|---|
    | nothing | fresh run | fresh run |
    | an unfinished run with progress | resume it (training, or the probes) | refused; `force` starts over |
    | a finished run | reuse its results; `force` runs again | refused; `force` runs again in `rerun/` |

    After training, settings in `PROBE_SETTINGS` may differ: the probes run with the new ones. An unfinished run
    with nothing saved yet is replaced without asking.

    Args:
        run_dir: The run folder.
        settings: `run_settings` of the new run.
        force: Start over: discard an unfinished run, rerun a finished one (its results kept until the new run
            has finished).
        resume: Only continue an unfinished run (or reuse a finished one with the same settings); never start
            a fresh one.

    Returns:
        The `RunPlan`.

    Raises:
        RunFolderError: other settings without `force`, `resume` with nothing to resume, or both flags.
    """
    run_dir = os.fspath(run_dir)
    if force and resume:
        raise RunFolderError("Pass either --force (start over) or --resume (continue), not both.")
    rerun = os.path.join(run_dir, RERUN_DIR)
    notes: list[str] = []
    if os.path.isdir(rerun):
        staged = inspect_folder(rerun)
        if staged.kind == "complete":  # stopped while publishing: finish it
            publish(RunPlan(run_dir, rerun, "fresh", staged=True))
            notes.append(f"Note: finished replacing the results in {run_dir} with the rerun that had completed.")
        elif force or not staged.progress:
            shutil.rmtree(rerun)
        else:
            plan = _continue(rerun, staged, settings, resume, notes,
                             what="an interrupted rerun (its results replace the finished ones when it completes)")
            plan.run_dir, plan.staged = run_dir, True
            return plan

    current = inspect_folder(run_dir)
    if current.kind == "complete":
        rows = settings_diff(current.settings or {}, settings)
        if force:
            os.makedirs(rerun)
            notes.append(f"Running again in {rerun}; the results in {run_dir} stay until the new run has finished.")
            return RunPlan(run_dir, rerun, "fresh", staged=True, notes=notes)
        if rows:
            raise _refuse_different(
                run_dir, "a finished run", rows,
                "Pass --force (force=True) to run again with the new settings (the finished results stay until "
                "the new run has finished), or choose another --out.")
        notes.append(f"{run_dir} already holds a finished run with these settings; reusing its results "
                     "(pass --force to run it again).")
        return RunPlan(run_dir, run_dir, "reuse", state=current.state, notes=notes)

    if current.kind == "unfinished" and current.progress and not force:
        return _continue(run_dir, current, settings, resume, notes, what="an interrupted run")
    if resume:
        raise RunFolderError(f"--resume: {run_dir!r} holds no interrupted run to continue. Drop --resume "
                             "(resume=False) to start a new run.")
    backup = os.path.join(run_dir, BACKUP_DIR)
    if current.kind == "empty" and os.path.isdir(backup) and os.listdir(backup):
        if not force:
            raise RunFolderError(
                f"{backup!r} holds a training backup but {run_dir!r} has no config.json saying which run it belongs "
                "to, so it cannot be resumed safely. Pass --force (force=True) to delete it and start a new run, or "
                "choose another --out.")
        notes.append(f"--force: deleting {backup}, a backup without config.json.")
        shutil.rmtree(backup)
    if current.kind == "unfinished":
        if current.progress:
            notes.append(f"--force: discarding the interrupted run in {run_dir} and starting over.")
        clear_run(run_dir)
    else:
        for stale in (HISTORY_FILE, METRICS_FILE, STATE_FILE):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(run_dir, stale))
    return RunPlan(run_dir, run_dir, "fresh", notes=notes)


def _continue(folder: str, current: FolderState, settings: dict, resume: bool, notes: list[str],
              what: str) -> RunPlan:
    rows = settings_diff(current.settings or {}, settings)
    if current.stage == "pretrained":
        blocking = [row for row in rows if row[0] not in PROBE_SETTINGS]
        if not blocking:
            if rows:
                notes.append("Probe settings changed since training:\n" + format_diff(rows))
            notes.append(f"Training in {folder} had finished; running the probes without training again.")
            return RunPlan(folder, folder, "probes", state=current.state, notes=notes)
        rows = blocking
    if rows:
        hint = ("It continues only with its own settings (in its config.json); pass --force (force=True) to "
                "discard it and start over with the new settings, or choose another --out.")
        raise _refuse_different(folder, what, rows, hint)
    epoch = backup_epoch(folder)
    notes.append(f"Resuming the interrupted run in {folder} from its backup (epoch {epoch}).")
    return RunPlan(folder, folder, "resume", state=current.state, notes=notes)


def publish(plan: RunPlan) -> None:
    """Moves a finished staged rerun (`plan.work_dir`) over the results in `plan.run_dir`.

    Each file is renamed into place (old results not rewritten by the rerun are removed); `state.json` moves
    last, so a publish stopped half-way is finished by the next `plan_run`.
    """
    if not plan.staged or not os.path.isdir(plan.work_dir):
        return
    old = read_json(os.path.join(plan.run_dir, METRICS_FILE)) or {}
    new = read_json(os.path.join(plan.work_dir, METRICS_FILE)) or {}
    old_files = set((old.get("files") or {}).values()) - set((new.get("files") or {}).values())
    names = sorted(os.listdir(plan.work_dir), key=lambda name: name == STATE_FILE)
    for name in names:
        source = os.path.join(plan.work_dir, name)
        if os.path.isdir(source) or name.startswith("."):  # temporary files of a stopped writer stay behind
            continue
        os.replace(source, os.path.join(plan.run_dir, name))
    for name in old_files:
        if isinstance(name, str) and os.path.basename(name) == name:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                os.remove(os.path.join(plan.run_dir, name))
    shutil.rmtree(plan.work_dir, ignore_errors=True)
