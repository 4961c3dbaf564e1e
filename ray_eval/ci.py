"""CI: submit the evaluation as a Ray job, wait for it, fetch its reports, and say whether the gate or the
infrastructure failed. Both pipelines (.github/workflows/shopbench-eval.yml and the Jenkinsfile) run
`ray-eval ci submit`, so the mapping from a job's end to the pipeline's result is written, and tested, once.

The job runs on a long-lived cluster (the Helm chart's RayService, `rayService.jobVolumes: true`) and writes its
run directory there, under the config's run.out_dir (a volume of the cluster), named after the submission id.
When the run ends, the job itself prints the reports as `ray-eval ci pack` does, one base64 tar between two marker
lines, at the end of its log (jobs/run_eval.py --print-bundle); `ci submit` reads them from the log it streams. The CI
machine needs nothing but the Ray job API, and one job, to fetch them; `ci pack` fetches them again later.

Exit codes, as docs/reference/cli.md "Exit codes": 0 the gate passed; 1 it failed (or is undecided); 2 bad config or
dataset; 3 infrastructure: the run could not complete, the cluster was unreachable, or the job ended without a verdict.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sys
import tarfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import TextIO

import httpx

from ray_eval.cluster.ray_job import run_job
from ray_eval.config import load_config
from ray_eval.engines.base import public_url
from ray_eval.errors import ClusterUnavailable, ConfigError, EngineUnavailable, RunIncomplete, UsageError
from ray_eval.redact import Redactor
from ray_eval.runs.layout import PACKED_FILES, RunLayout
from ray_eval.verdict.gate import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INCOMPLETE, EXIT_PASSED
from ray_eval.verdict.summary_model import Verdict

BUNDLE_BEGIN = "----- ray-eval run bundle begin -----"
BUNDLE_END = "----- ray-eval run bundle end -----"
OUTCOME_FILE = "outcome.json"
STATUS_NAMES = {EXIT_PASSED: "passed", EXIT_FAILED: "gate_failed", EXIT_BAD_INPUT: "bad_input",
                EXIT_INCOMPLETE: "infrastructure"}


@dataclass(frozen=True)
class CiOutcome:
    status: str          # passed, gate_failed, bad_input, infrastructure
    exit_code: int       # 0, 1, 2, 3 as above
    reason: str
    run_dir: str | None  # the fetched copy of the run directory's reports, when there is one

    def line(self) -> str:
        return f"ray-eval ci: {self.status.replace('_', ' ')} (exit {self.exit_code}): {self.reason}"


def outcome(exit_code: int, reason: str, run_dir: Path | None = None) -> CiOutcome:
    code = exit_code if exit_code in STATUS_NAMES else EXIT_INCOMPLETE
    return CiOutcome(STATUS_NAMES[code], code, reason, str(run_dir) if run_dir else None)


# ---- on the cluster: pack a run directory's reports ------------------------------------------------------------------


def pack_run_dir(run_dir: Path) -> str:
    """The run directory's reports (PACKED_FILES that exist) as a base64 tar.gz between marker lines."""
    layout = RunLayout(run_dir)
    run_dir = layout.run_dir
    if not layout.verdict.is_file():
        raise UsageError(f"{run_dir} holds no verdict.json: the run did not finish (or never started)")
    missing = layout.missing_reports()
    if missing:
        raise RunIncomplete(f"{run_dir} holds verdict.json without {', '.join(missing)}, which it vouches for: "
                            f"not trusted; write them with `ray-eval report {run_dir}`")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in layout.packed_files():
            tar.add(path, arcname=path.name, recursive=False)
    return "\n".join([BUNDLE_BEGIN, base64.encodebytes(buffer.getvalue()).decode("ascii").rstrip("\n"), BUNDLE_END])


def unpack_bundle(text: str, dest: Path) -> Path | None:
    """Extract the bundle found in `text` (a job's log) into `dest`; None when the log holds none. Only plain files
    of PACKED_FILES are written: a log is data from elsewhere, never trusted with paths."""
    begin, end = text.rfind(BUNDLE_BEGIN), text.rfind(BUNDLE_END)
    if begin < 0 or end < begin:
        return None
    payload = re.sub(r"\s+", "", text[begin + len(BUNDLE_BEGIN):end])
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(payload)), mode="r:gz") as tar:
        for member in tar.getmembers():
            name = PurePosixPath(member.name)
            if not member.isfile() or len(name.parts) != 1 or name.name not in PACKED_FILES:
                raise UsageError(f"run bundle holds {member.name!r}, which is not one of {', '.join(PACKED_FILES)}")
            packed = tar.extractfile(member)
            assert packed is not None  # a regular file (checked above) always has contents to extract
            (dest / name.name).write_bytes(packed.read())
    return dest


# ---- on the CI machine: submit, wait, fetch, decide ------------------------------------------------------------------


def submit_and_fetch(config_path: Path, address: str, submission_id: str, out_dir: Path,
                     overrides: Sequence[str] = (), working_dir: Path = Path(".")) -> CiOutcome:
    """Run the evaluation as Ray job `submission_id` on the cluster at `address`, streaming its log; read its reports
    from the end of that log into out_dir/<submission_id>/ and write out_dir/outcome.json. Never raises for what the
    job did."""
    overrides = [*overrides, f"run.run_id={submission_id}"]
    try:  # refused here, before anything reaches the cluster
        config = load_config(config_path, overrides)
        # The job reads the config from the working directory Ray uploads: it must be a file of the checkout.
        job_config = Path(config_path).resolve().relative_to(Path(working_dir).resolve())
    except ConfigError as exc:
        return _record(out_dir, outcome(EXIT_BAD_INPUT, str(exc)))
    except ValueError:
        return _record(out_dir, outcome(EXIT_BAD_INPUT, f"{config_path} is outside the working directory "
                                                         f"{working_dir}, which is all the job receives"))
    cluster_run_dir = PurePosixPath(str(config.run.out_dir)) / submission_id
    entrypoint = ["python", "jobs/run_eval.py", "--print-bundle", str(cluster_run_dir), "-c", job_config.as_posix(),
                  *[arg for item in overrides for arg in ("--set", item)]]
    echo = LogEcho(sys.stdout)
    try:
        job = run_job(address, submission_id, entrypoint, working_dir, _not_uploaded(out_dir, working_dir, job_config),
                      echo.write)
    except ClusterUnavailable as exc:
        return _record(out_dir, outcome(EXIT_INCOMPLETE, str(exc)))
    finally:
        echo.close()
    fetched = unpack_bundle(job.log, Path(out_dir) / submission_id)
    verdict = _read_verdict(RunLayout(fetched).verdict) if fetched else None
    missing = RunLayout(fetched).missing_reports() if fetched else []
    if verdict is not None and missing:  # a verdict vouches for its reports: without them it is not trusted
        return _record(out_dir, outcome(EXIT_INCOMPLETE, f"verdict.json came without {', '.join(missing)}: not "
                                                         "trusted; see the run directory on the cluster", fetched))
    if verdict is not None:
        said = verdict.reason or ", ".join(verdict.failed_checks)
        reason = f"verdict {verdict.status}: {said}"
        return _record(out_dir, outcome(verdict.exit_code, reason.rstrip(': '), fetched))
    # No verdict: the job never ran, died, or stopped before writing one. Its own exit code, if Ray reports one,
    # tells bad input (2) from the rest; anything else is the infrastructure's. The run's one-line refusals, and the
    # bundle's (no verdict, or a verdict without its reports), say why.
    refused = [line for line in job.log.splitlines() if line.startswith("ray-eval: ")]
    if exit_code_without_verdict(job.exit_code) == EXIT_BAD_INPUT:  # the run's refusal is first, then the bundle's
        return _record(out_dir, outcome(EXIT_BAD_INPUT, "the job refused its config or dataset (exit 2): "
                                                        f"{refused[0] if refused else 'see its log'}"))
    detail = "; ".join(refused) or _first_line(job.message) or f"job {job.status.lower()}"
    exit_code = job.exit_code if job.exit_code is not None else "unknown"
    return _record(out_dir, outcome(EXIT_INCOMPLETE, f"no verdict from job {submission_id} (job exit code {exit_code}; "
                                                     f"{detail})"))


class LogEcho:
    """Writes a job's log, as it arrives in chunks, to the CI's console line by line, a run bundle's lines left out
    (kilobytes of base64 no reader wants) and one line said in their place."""

    def __init__(self, out: TextIO) -> None:
        self._out, self._partial = out, ""
        self._bundle_lines: int | None = None  # lines of the bundle being left out; None outside one

    def write(self, text: str) -> None:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._line(line)
        self._out.flush()

    def close(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = ""
        if self._bundle_lines is not None:  # the job died while it printed the bundle
            print(f"[{self._bundle_lines} lines of a run bundle that did not end, not shown]", file=self._out)
            self._bundle_lines = None
        self._out.flush()

    def _line(self, line: str) -> None:
        if line.strip() == BUNDLE_BEGIN:
            self._bundle_lines = 0
        elif self._bundle_lines is None:
            print(line, file=self._out)
        elif line.strip() == BUNDLE_END:
            print(f"[the run's reports: {self._bundle_lines} lines of base64, not shown; fetched from the job's log]",
                  file=self._out)
            self._bundle_lines = None
        else:
            self._bundle_lines += 1


def _not_uploaded(out_dir: Path, working_dir: Path, job_config: Path) -> list[str]:
    """Ray's `excludes` for the upload: the reports folder when it lies in the working directory (a CI workspace kept
    between builds holds every earlier build's reports), unless the job's config is in it; .gitignore's paths are
    left out by Ray itself."""
    try:
        inside = Path(out_dir).resolve().relative_to(Path(working_dir).resolve())
    except ValueError:
        return []
    return [f"/{inside.as_posix()}/"] if inside.parts and not job_config.is_relative_to(inside) else []


def exit_code_without_verdict(job_exit_code: int | None) -> int:
    """A job that ended without a verdict (refused, killed, stopped): bad input (2) only when its own exit code says
    so, since a run refuses bad input before it evaluates anything; anything else is the infrastructure's (3)."""
    return EXIT_BAD_INPUT if job_exit_code == EXIT_BAD_INPUT else EXIT_INCOMPLETE


def wait_ready(base_url: str, model: str, timeout_s: float, poll_s: float = 5.0) -> None:
    """Wait until the OpenAI endpoint lists `model` at /models: a vLLM replica loads for minutes, and a run started
    before would end as "engine unreachable". Raises EngineUnavailable (exit 3) after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while True:
        try:
            response = httpx.get(f"{base_url.rstrip('/')}/models", timeout=min(10.0, max(timeout_s, 0.1)))
            ids = [m.get("id") for m in response.json().get("data", [])] if response.status_code == 200 else []
            if model in ids:
                return
            last = f"HTTP {response.status_code}, models {ids}"
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() + poll_s > deadline:
            redact = Redactor.for_endpoint(None, base_url)  # a CI log must not show the URL's credentials
            raise EngineUnavailable(redact(f"{public_url(base_url)} did not list model {model!r} "
                                           f"within {timeout_s:g} s ({last})"))
        time.sleep(poll_s)


def _read_verdict(path: Path) -> Verdict | None:
    """The fetched verdict.json; None when it is missing or is not a verdict (then the job's end says what happened)."""
    try:
        return Verdict.model_validate_json(path.read_bytes())
    except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
        return None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""


def _record(out_dir: Path, result: CiOutcome) -> CiOutcome:
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / OUTCOME_FILE).write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    print(result.line(), file=sys.stderr)
    return result
