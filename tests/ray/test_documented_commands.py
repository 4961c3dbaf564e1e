"""The documented route works: every command README.md and docs/**/*.md show is run here against the scripted engine,
or is listed with what this machine lacks for it (a GPU, a Ray cluster, Kubernetes, vLLM, a production endpoint).

What the docs' text holds, and what each kind is to this test:
- a line of a fenced shell block (```bash, ```sh, ```shell, ```console), comments removed: a command;
- an inline code span in prose that starts with `ray-eval`, `.venv/bin/ray-eval`, `python -m ray_eval.cli` or
  `make`: a command, unless it is
  - a usage synopsis: the first cell of a table row (the command table's `ray-eval gate RUN_DIR [-c CONFIG] ...`).
    A reference, not a command: not run, but checked against the CLI (the command exists, every option it names is
    one of that command's, every required option is named);
  - a mention: a command's name alone or with flags only (`ray-eval compare`, `ray-eval dataset validate
    --decode-media`): checked to name a real command and real flags, not run.
Other tools' names in prose (`serve run`, `promtool test rules`, `curl ...`) are not ray-eval's commands and are
not collected; their lines in fenced shell blocks are.

Each command must be in RUN_HERE or ELSEWHERE; one in neither fails the test (so new docs get classified), and so
does a listed one the docs no longer show. RUN_HERE commands run through `ray_eval.cli.main` on this test
process's local Ray, each in a fresh folder holding a copy of configs/, the synthetic set at data/sample (12
samples, not `make demo`'s 300), the guard suite at data/guard and two finished scripted runs, runs/baseline and
runs/candidate. The documented text
is changed only by each entry's `replace` pairs (placeholders and paths, listed beside it); `make TARGET` runs the
target's ray-eval recipe line from the Makefile. Each entry asserts the exit code, a line of the output as a user
reads it, and what the command wrote.
"""

from __future__ import annotations

import enum
import json
import re
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
import pyarrow.parquet as pq
import pytest

from ray_eval.ci import unpack_bundle
from ray_eval.cli import cli, main
from tests.makefile import recipe_commands, recipe_lines
from tests.markdown import DOC_PAGES

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = DOC_PAGES  # README.md and every page under docs/
SHELL_BLOCKS = {"bash", "sh", "shell", "console"}
RAY_EVAL_PREFIXES = (("ray-eval",), (".venv/bin/ray-eval",), ("python", "-m", "ray_eval.cli"))
SAMPLES = 12  # the synthetic set's size here; `make demo` makes 300
GUARD_QUESTIONS = 30  # per file of the guard suite, as the docs write it


# ---- what the docs show ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    text: str  # whitespace collapsed, comments removed
    where: str  # file:line
    kind: str  # "command", "synopsis" or "mention"


def documented() -> list[Found]:
    found: list[Found] = []
    for path in DOC_FILES:
        lines = path.read_text(encoding="utf-8").splitlines()
        name = str(path.relative_to(ROOT))
        prose = _fenced_shell_commands(lines, name, found)
        found.extend(_inline_commands(prose, name))
    return found


def _fenced_shell_commands(lines: list[str], name: str, found: list[Found]) -> str:
    """Adds each fenced shell block's commands to `found`; returns the text with every fenced block blanked (its
    lines kept empty, so inline spans keep their line numbers)."""
    prose, fence, pending, start = [], None, "", 0
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
            prose.append("")
            continue
        if fence is None:
            prose.append(line)
            continue
        prose.append("")
        if fence not in SHELL_BLOCKS:
            continue
        code = re.split(r"(?:^|\s)#", line)[0].strip()  # a comment starts at a # after a blank
        if not code:
            continue
        start = start if pending else number
        pending = f"{pending} {code.removesuffix(chr(92))}"
        if not code.endswith("\\"):  # a backslash continues the command on the next line
            found.append(Found(" ".join(pending.split()), f"{name}:{start}", "command"))
            pending = ""
    return "\n".join(prose)


def _inline_commands(prose: str, name: str) -> list[Found]:
    found = []
    for match in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", prose, flags=re.S):
        text = " ".join(match.group(2).split()).replace("\\|", "|")  # \| escapes a pipe inside a table cell
        words = text.split(" ")
        if not (_ray_eval_words(words) is not None or (words[0] == "make" and len(words) > 1)):
            continue
        line_start = prose.rfind("\n", 0, match.start()) + 1
        first_cell = prose[line_start:match.start()].strip() == "|"
        kind = "synopsis" if first_cell else "mention" if _is_mention(text) else "command"
        found.append(Found(text, f"{name}:{prose.count(chr(10), 0, match.start()) + 1}", kind))
    return found


def _ray_eval_words(tokens: list[str]) -> list[str] | None:
    """The arguments after the program (ray-eval spelt any documented way), or None when it is another program."""
    for prefix in RAY_EVAL_PREFIXES:
        if tuple(tokens[:len(prefix)]) == prefix:
            return tokens[len(prefix):]
    return None


def resolve(words: list[str]) -> tuple[click.Command, list[str], list[str]]:
    """The click command the words name, the subcommand path and the words after it."""
    command, path, rest = cli, [], list(words)
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        path.append(rest[0])
        command = command.commands[rest.pop(0)]
    return command, path, rest


def _option_names(command: click.Command) -> set[str]:
    return {opt for param in command.params if isinstance(param, click.Option)
            for opt in (*param.opts, *param.secondary_opts)}


def _is_mention(text: str) -> bool:
    """A command named with some of its options but no values (`ray-eval run --resume`): prose, not a command line."""
    words = _ray_eval_words(text.split(" "))
    if words is None:
        return False
    command, path, rest = resolve(words)
    return bool(path) and all(word in _option_names(command) for word in rest)


# ---- what is run here, and what is not -------------------------------------------------------------------------------


class Need(enum.Enum):
    GPU = "a GPU"
    CLUSTER = "a Ray cluster"
    KUBERNETES = "a Kubernetes cluster with KubeRay"
    VLLM = "vLLM serving the tiny model (minutes of start-up on CPU)"
    ENDPOINT = "a production endpoint; it serves until stopped"
    SUITE = "the test suite itself"
    HOURS = "hours of training on this machine's 2 cores"


@dataclass(frozen=True)
class Elsewhere:
    needs: tuple[Need, ...]
    covered_by: str  # what tests it instead, or why nothing here can


@dataclass(frozen=True)
class RunHere:
    exit_code: int
    output: str  # a regular expression for a line the command prints
    check: Callable[[Path, str], None]  # (workspace, output): what the command wrote
    replace: tuple[tuple[str, str], ...] = ()  # (documented text, what runs here), applied in order


def _wrote_the_sample_set(workspace: Path, output: str) -> None:
    lines = (workspace / "data/fresh/manifest.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == SAMPLES and json.loads(lines[0])["media"]


def _wrote_a_model(workspace: Path, output: str) -> None:
    assert json.loads((workspace / "models/tiny-qwen3-vl/config.json").read_text())["model_type"] == "qwen3_vl"


def _verdict(run_dir: Path) -> dict:
    return json.loads((run_dir / "verdict.json").read_text(encoding="utf-8"))


def _passed_run_at_printed_directory(workspace: Path, output: str) -> None:
    run_dir = workspace / re.search(r"^run directory: (.+)$", output, re.M).group(1)
    assert _verdict(run_dir)["status"] == "passed"
    assert pq.read_metadata(run_dir / "results.parquet").num_rows == SAMPLES


def _ran_with_the_overrides(workspace: Path, output: str) -> None:
    _passed_run_at_printed_directory(workspace, output)
    summary = json.loads((workspace / "runs/ckpt-1234/summary.json").read_text(encoding="utf-8"))
    assert summary["config"]["inference"]["sampling"]["max_tokens"] == 64


def _undecided_against_the_baseline(workspace: Path, output: str) -> None:
    verdict = _verdict(workspace / "runs/candidate")
    assert verdict["status"] == "undecided" and verdict["exit_code"] == 1
    assert f"{SAMPLES} shared with the baseline run, 30 needed" in verdict["reason"]
    outcomes = {check["name"]: check["outcome"] for check in verdict["checks"]}
    assert outcomes.pop("no regression against baseline") == "undecided" and set(outcomes.values()) == {"passed"}


def _compared_the_two_runs(workspace: Path, output: str) -> None:
    assert re.search(r"^Comparison of candidate .+ \(run candidate\) with baseline .+ \(run baseline\)$", output, re.M)
    assert "\\" not in output and "**" not in output  # plain text on a terminal


def _one_healthy_canary_round(workspace: Path, output: str) -> None:
    state = json.loads(output)
    critical = sum(bool(json.loads(line).get("critical"))
                   for line in (workspace / "data/sample/manifest.jsonl").read_text(encoding="utf-8").splitlines())
    assert state["rounds"] == 1 and state["health"]["probes"] == state["health"]["answered"] == min(critical, 9) > 0


def _rescored_in_place(workspace: Path, output: str) -> None:
    assert _verdict(workspace / "runs/candidate")["status"] == "passed"
    assert "rescored_at" in json.loads((workspace / "runs/candidate/run.json").read_text(encoding="utf-8"))


def _bundle_holds_the_reports(workspace: Path, output: str) -> None:
    unpacked = unpack_bundle(output, workspace / "fetched")
    assert unpacked is not None and _verdict(unpacked) == _verdict(workspace / "runs/candidate")
    assert (unpacked / "report.html").stat().st_size > 1000


def _reports_and_verdict_written(workspace: Path, output: str) -> None:
    run_dir = workspace / "runs/candidate"
    assert _verdict(run_dir)["status"] == "passed"
    assert all((run_dir / name).stat().st_size for name in ("summary.md", "junit.xml", "report.html"))


def _wrote_the_guard_suite(workspace: Path, output: str) -> None:
    for name in ("guard-ocr.tsv", "guard-count.tsv", "guard-yesno.tsv"):
        assert len((workspace / "data/guard" / name).read_text(encoding="utf-8").splitlines()) == 1 + GUARD_QUESTIONS


def _wrote_the_demos_guard_suites(workspace: Path, output: str) -> None:
    for name in ("guard-ocr.tsv", "guard-count.tsv", "guard-yesno.tsv"):
        assert len((workspace / "data/guard" / name).read_text(encoding="utf-8").splitlines()) == 1 + 12


def _scored_the_yes_no_guard_suite(workspace: Path, output: str) -> None:
    run_dir = workspace / re.search(r"^run directory: (.+)$", output, re.M).group(1)
    table = pq.read_table(run_dir / "results.parquet", columns=["scorer", "status"]).to_pylist()
    assert len(table) == GUARD_QUESTIONS and {(row["scorer"], row["status"]) for row in table} == {("yes_no", "ok")}


RUN_DIR = ("RUN_DIR", "runs/candidate")
RUN_HERE: dict[str, RunHere] = {
    "ray-eval dataset synth --out data/sample --n 300 --seed 0": RunHere(
        0, rf"^wrote {SAMPLES} samples to data/fresh/manifest.jsonl$", _wrote_the_sample_set,
        replace=(("--n 300", f"--n {SAMPLES}"), ("data/sample", "data/fresh"))),  # data/sample is already there
    "ray-eval model tiny --arch qwen3_vl --out models/tiny-qwen3-vl": RunHere(
        0, r"^wrote models/tiny-qwen3-vl$", _wrote_a_model),
    "make demo-scripted": RunHere(  # its recipe: ray-eval run -c configs/scripted.yaml
        0, r"^## ShopBench gate: ✅ PASSED$", _passed_run_at_printed_directory),
    ".venv/bin/ray-eval run -c eval.yaml --set inference.sampling.max_tokens=64 --set run.run_id=ckpt-1234": RunHere(
        0, r"^run directory: runs/ckpt-1234$", _ran_with_the_overrides,
        replace=(("eval.yaml", "configs/scripted.yaml"),)),
    "ray-eval gate RUN_DIR --set gate.baseline.run_dir=...": RunHere(  # 12 paired samples < min_paired_samples 30
        1, r"^## ShopBench gate: ⚠️ UNDECIDED \(not a pass\)$", _undecided_against_the_baseline,
        replace=(RUN_DIR, ("run_dir=...", "run_dir=runs/baseline"))),
    "ray-eval compare BASELINE_RUN CANDIDATE_RUN": RunHere(  # 12 paired samples < min_paired_samples 30
        0, r"^Verdict: too few samples to tell", _compared_the_two_runs,
        replace=(("BASELINE_RUN", "runs/baseline"), ("CANDIDATE_RUN", "runs/candidate"))),
    "ray-eval canary -c configs/canary-scripted.yaml --once": RunHere(
        0, r'^  "healthy": true,$', _one_healthy_canary_round),
    "ray-eval run --resume RUN_DIR": RunHere(
        0, r"^run directory: runs/candidate$", _passed_run_at_printed_directory, replace=(RUN_DIR,)),
    "ray-eval run --resume RUN_DIR --retry-errors": RunHere(
        0, r"^run directory: runs/candidate$", _passed_run_at_printed_directory, replace=(RUN_DIR,)),
    "ray-eval report RUN_DIR": RunHere(
        0, r"^wrote runs/candidate/report.html$", _reports_and_verdict_written, replace=(RUN_DIR,)),
    "ray-eval rescore RUN_DIR": RunHere(
        0, r"^## ShopBench gate: ✅ PASSED$", _rescored_in_place, replace=(RUN_DIR,)),
    "ray-eval dataset guard --out data/guard --n 30 --seed 0": RunHere(
        0, r"^wrote 30 questions to data/guard/guard-yesno.tsv$", _wrote_the_guard_suite),
    "ray-eval dataset guard --out data/guard --n 12 --seed 0": RunHere(  # `make demo`'s guard suites
        0, r"^wrote 12 questions to data/guard/guard-ocr.tsv$", _wrote_the_demos_guard_suites),
    "ray-eval run -c configs/guard-yesno.yaml": RunHere(  # the suite the fixture wrote, as the docs' command before
        0, r"^run directory: runs/", _scored_the_yes_no_guard_suite),
    "python -m ray_eval.cli ci pack /results/ID": RunHere(
        0, r"^----- ray-eval run bundle begin -----$", _bundle_holds_the_reports,
        replace=(("/results/ID", "runs/candidate"),)),
}

HELM = "tests/k8s renders, lints and validates the chart with these values"
KUBECTL = "reads a live RayService/RayJob; tests/k8s checks the objects the chart makes"
ELSEWHERE: dict[str, Elsewhere] = {
    "make demo": Elsewhere((Need.VLLM,), "tests/engine/test_demo_story.py: both of its runs, with the Makefile's own "
                                         "config and --set lines, the committed checkpoints served by vLLM under Ray "
                                         "Serve"),
    "make demo-checkpoints": Elsewhere((Need.HOURS,), "tests/unit/test_train_tiny.py checks the committed "
                                       "checkpoints' training records against the Makefile's stages and trains a "
                                       "first and a second stage with the same command"),
    "make test": Elsewhere((Need.SUITE,), "it is the whole suite"),
    "make test-fast": Elsewhere((Need.SUITE,), "it is the suite without the Ray, job, engine and GPU tests"),
    "ray-eval run -c configs/demo.yaml": Elsewhere((Need.VLLM,), "tests/engine (see make demo)"),
    "ray-eval canary -c configs/canary.yaml": Elsewhere(
        (Need.ENDPOINT,), "tests/canary runs `ray-eval canary -c` as a process against a scripted server"),
    "ray-eval canary -c CONFIG": Elsewhere((Need.ENDPOINT,), "tests/canary (as above)"),
    "ray job submit --address http://HEAD:8265 --working-dir . -- python jobs/run_eval.py -c eval.yaml": Elsewhere(
        (Need.CLUSTER,), "tests/jobs submits jobs/run_eval.py to a `ray start --head` cluster"),
    "helm install demo helm/ray-eval -f helm/ray-eval/examples/cpu-demo.yaml": Elsewhere((Need.KUBERNETES,), HELM),
    "helm install shopbench helm/ray-eval -n evals -f helm/ray-eval/examples/h100.yaml": Elsewhere(
        (Need.KUBERNETES, Need.GPU), HELM),
    "helm install shopbench helm/ray-eval -n evals -f helm/ray-eval/examples/2x4-tp4.yaml": Elsewhere(
        (Need.KUBERNETES, Need.GPU), HELM),
    "helm install shopbench helm/ray-eval -n evals -f helm/ray-eval/examples/suites.yaml": Elsewhere(
        (Need.KUBERNETES, Need.GPU), HELM),
    "kubectl -n evals get rayservice shopbench-ray-eval": Elsewhere((Need.KUBERNETES,), KUBECTL),
    "kubectl -n evals get rayjob -l app.kubernetes.io/instance=shopbench": Elsewhere((Need.KUBERNETES,), KUBECTL),
    "kubectl -n evals get rayjob shopbench-ray-eval-eval-629008 -o jsonpath='{.status.message}'": Elsewhere(
        (Need.KUBERNETES,), KUBECTL),
    "kubectl -n evals logs -l app.kubernetes.io/component=evaluation-submitter --tail=-1": Elsewhere(
        (Need.KUBERNETES,), KUBECTL),
}


def test_every_documented_command_is_run_here_or_says_what_it_needs() -> None:
    commands = {found.text: found for found in documented() if found.kind == "command"}
    unlisted = [f"{found.where}: {found.text}" for found in commands.values()
                if found.text not in RUN_HERE and found.text not in ELSEWHERE]
    assert not unlisted, ("commands in the docs that tests/ray/test_documented_commands.py neither runs (RUN_HERE) "
                          "nor marks with what they need (ELSEWHERE):\n  " + "\n  ".join(unlisted))
    gone = sorted((set(RUN_HERE) | set(ELSEWHERE)) - set(commands))
    assert not gone, f"listed, but no longer in the docs: {gone}"
    assert not set(RUN_HERE) & set(ELSEWHERE)


def test_synopses_and_mentions_name_real_commands_and_options() -> None:
    found = documented()
    synopses = [item for item in found if item.kind == "synopsis"]
    assert len(synopses) >= len(cli.commands)  # the command table is found
    for item in synopses:
        command, path, rest = resolve(_ray_eval_words(shlex.split(item.text)))
        if not path and rest and set(rest) <= _option_names(cli):  # an option of ray-eval itself: --version
            continue
        assert path and not isinstance(command, click.Group), f"{item.where}: {item.text}: no such command"
        named = {word.strip("[]") for word in rest if word.strip("[]").startswith("-")}
        known = {opt for param in command.params for opt in (*getattr(param, "opts", ()),
                                                               *getattr(param, "secondary_opts", ()))}
        assert named <= known, f"{item.where}: {item.text}: ray-eval {' '.join(path)} has no {named - known}"
        required = [param.opts for param in command.params
                    if isinstance(param, click.Option) and param.required and not param.envvar]
        assert all(set(opts) & named for opts in required), f"{item.where}: {item.text}: a required option is missing"
    mentions = [item for item in found if item.kind == "mention"]
    # A mention is recognised only when it resolves: make sure the common ones do (the rule is not vacuous).
    assert {"ray-eval run", "ray-eval compare", "ray-eval ci submit", "ray-eval dataset validate --decode-media"} <= {
        item.text for item in mentions}


def test_make_demo_scripted_runs_the_scripted_config() -> None:
    assert makefile_recipe("demo-scripted") == ["ray-eval", "run", "-c", "configs/scripted.yaml"]


# ---- running them ----------------------------------------------------------------------------------------------------


def makefile_recipe(target: str) -> list[str]:
    """The one ray-eval command of a Makefile target's recipe, as words, without $(BIN)/."""
    recipe, commands = recipe_lines(target), recipe_commands(target, {})
    assert len(recipe) == len(commands) == 1 and commands[0][0] == "ray-eval", (
        f"make {target}: expected one ray-eval command, got {recipe}")
    return commands[0]


def argv_of(text: str) -> list[str]:
    words = shlex.split(text)
    if words[0] == "make":
        words = makefile_recipe(words[1])
    arguments = _ray_eval_words(words)
    assert arguments is not None, f"{text}: not a ray-eval command"
    return arguments


@pytest.fixture(scope="module")
def finished(local_ray, tmp_path_factory) -> Path:
    """The synthetic set at data/sample, the guard suite at data/guard and two finished scripted runs
    (configs/scripted.yaml) at runs/baseline and runs/candidate: the scripted engine is seeded, so they answer the
    same, under the same model label."""
    root = tmp_path_factory.mktemp("documented")
    shutil.copytree(ROOT / "configs", root / "configs")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        assert main(["dataset", "synth", "--out", "data/sample", "--n", str(SAMPLES), "--seed", "0"]) == 0
        assert main(["dataset", "guard", "--out", "data/guard", "--n", str(GUARD_QUESTIONS), "--seed", "0"]) == 0
        for run_id in ("baseline", "candidate"):
            assert main(["run", "-c", "configs/scripted.yaml", "--set", f"run.run_id={run_id}"]) == 0
    return root


@pytest.fixture
def workspace(finished: Path, tmp_path: Path, monkeypatch) -> Path:
    """A fresh copy of the finished workspace, the working directory while a command runs (commands change runs)."""
    shutil.copytree(finished, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.ray
@pytest.mark.parametrize("documented_text", list(RUN_HERE), ids=list(RUN_HERE))
def test_documented_command_runs(documented_text: str, workspace: Path, capsys) -> None:
    spec = RUN_HERE[documented_text]
    text = documented_text
    for old, new in spec.replace:
        assert old in text, f"{documented_text}: the replacement of {old!r} no longer applies"
        text = text.replace(old, new)
    code = main(argv_of(text))
    captured = capsys.readouterr()
    assert code == spec.exit_code, f"`{text}` exited {code}, not {spec.exit_code}:\n{captured.err[-2000:]}"
    assert re.search(spec.output, captured.out, re.M), f"`{text}` printed no line like {spec.output!r}"
    spec.check(workspace, captured.out)


@pytest.mark.ray
def test_regating_against_a_baseline_decides_once_enough_samples_are_paired(workspace: Path, capsys) -> None:
    """The route to the no-regression check that docs/concepts/gate.md shows, with the margin of samples lowered to
    what the set has: the same answers as the baseline pass it; a --set into a value that is not a section is a usage
    error."""
    code = main(["gate", "runs/candidate", "--set", "gate.baseline.run_dir=runs/baseline",
                 "--set", f"gate.baseline.min_paired_samples={SAMPLES}"])
    assert code == 0, capsys.readouterr().err
    check = next(c for c in _verdict(workspace / "runs/candidate")["checks"]
                 if c["name"] == "no regression against baseline")
    assert check["outcome"] == "passed" and check["value"] == pytest.approx(0.0)
    capsys.readouterr()
    assert main(["gate", "runs/candidate", "--set", "gate.min_score.max=1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "ray-eval: --set 'gate.min_score.max=1': gate.min_score is not a mapping")
