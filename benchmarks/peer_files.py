"""What each peer needs to run the time-to-verdict workload, in its own formats: the task or dataset files written
from the seed-format suite, the command line that runs the peer's CLI against an engine, and where the peer writes
the score it computed (read back, so a run that scored nothing does not pass for a finished one)."""

from __future__ import annotations

import base64
import csv
import json
import re
from pathlib import Path

from benchmarks.engine_process import MODEL

LMMS_TASK = "time_to_verdict_mcq"
VLMEVAL_DATASET = "TimeToVerdictMCQ"
PROMPT_SUFFIX = "Answer with the option's letter from the given choices directly."
MAX_NEW_TOKENS = 16  # an MCQ answer is a letter; the simulated engine ignores it either way


class PeerFiles:
    """A peer's side of the benchmark; subclasses say how that peer is fed and run."""

    peer: str  # the name the figures carry
    distribution: str  # the PyPI distribution that must be installed in the peer's interpreter
    variant: str  # what distinguishes this configuration of the peer (e.g. its image encoding)

    @property
    def slug(self) -> str:
        """The peer and its variant as a file name."""
        return re.sub(r"[^a-z0-9]+", "-", f"{self.peer} {self.variant}".lower()).strip("-")

    def write(self, folder: Path, suite: Path) -> None:
        """The peer's task or dataset files for `suite`, under `folder` (once, before any run)."""
        raise NotImplementedError

    def command(self, python: Path, base_url: str, out_dir: Path, slots: int) -> tuple[list[str], dict[str, str]]:
        """The peer's CLI run against the engine at `base_url`, writing under `out_dir`, and its extra environment."""
        raise NotImplementedError

    def accuracy(self, out_dir: Path) -> float | None:
        """The accuracy the peer wrote under `out_dir`, or None when it wrote none."""
        raise NotImplementedError


def _letterless(option: str, letter: str) -> str:
    """'A. top row' -> 'top row': the seed format keeps the letter in the option, the peers' formats do not."""
    return re.sub(rf"^\s*{letter}\s*[.):]\s*", "", option)


# --- lmms-eval --------------------------------------------------------------------------------------------------------

LMMS_UTILS = f'''"""time-to-verdict task functions (written by benchmarks/peer_files.py)."""
import re


def doc_to_visual(doc):
    return [doc["image_path"]]


def doc_to_text(doc):
    return doc["question"] + "\\n" + "\\n".join(doc["options"]) + "\\n" + {PROMPT_SUFFIX!r}


def process_results(doc, results):
    answer = results[0] if isinstance(results[0], str) else getattr(results[0], "text", str(results[0]))
    match = re.search(r"\\b([A-D])\\b", answer.strip().upper())
    return {{"accuracy": float(match is not None and match.group(1) == doc["expected_answer"])}}
'''


class LmmsEvalFiles(PeerFiles):
    """lmms-eval 0.7: a YAML task (HF `json` builder on the suite itself, the test cases its one split), run by its
    `openai` chat model with `num_concurrent` = the engine's slots; images encoded as `image_format`."""

    peer = "lmms-eval"
    distribution = "lmms-eval"

    def __init__(self, image_format: str = "JPEG"):
        self.image_format = image_format
        self.variant = f"openai model, {image_format} payloads"

    def write(self, folder: Path, suite: Path) -> None:
        tasks = folder / "lmms-tasks"
        tasks.mkdir(parents=True, exist_ok=True)
        (tasks / "utils.py").write_text(LMMS_UTILS, encoding="utf-8")
        # JSON is YAML except for the `!function` tags, written as plain text after it.
        config = {
            "task": LMMS_TASK, "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(suite)}, "field": "test_cases"},
            "test_split": "test", "output_type": "generate_until", "doc_to_target": "expected_answer",
            "generation_kwargs": {"max_new_tokens": MAX_NEW_TOKENS, "temperature": 0, "do_sample": False},
            "metric_list": [{"metric": "accuracy", "aggregation": "mean", "higher_is_better": True}],
            "metadata": {"version": 1.0},
        }
        lines = [f"{key}: {json.dumps(value)}" for key, value in config.items()]
        lines += [f"{name}: !function utils.{name}" for name in ("doc_to_visual", "doc_to_text", "process_results")]
        (tasks / f"{LMMS_TASK}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.tasks = tasks

    def command(self, python: Path, base_url: str, out_dir: Path, slots: int) -> tuple[list[str], dict[str, str]]:
        model_args = f"model={MODEL},base_url={base_url},api_key=EMPTY,num_concurrent={slots}"
        command = [str(python), "-m", "lmms_eval", "--model", "openai", "--model_args", model_args,
                   "--tasks", LMMS_TASK, "--include_path", str(self.tasks), "--batch_size", "1",
                   "--output_path", str(out_dir)]
        return command, {"LMMS_IMAGE_ENCODE_FORMAT": self.image_format, "HF_HOME": str(self.tasks.parent / "hf")}

    def accuracy(self, out_dir: Path) -> float | None:
        for path in sorted(out_dir.rglob("*results.json")):
            results = json.loads(path.read_text(encoding="utf-8")).get("results", {}).get(LMMS_TASK, {})
            if "accuracy,none" in results:
                return float(results["accuracy,none"])
        return None


# --- VLMEvalKit -------------------------------------------------------------------------------------------------------

class VlmEvalKitFiles(PeerFiles):
    """VLMEvalKit (ms-vlmeval): the suite as a custom MCQ TSV in its LMUData folder (index, base64 image, question,
    A-D, answer, category), its OpenAI wrapper (GPT4V) at the engine's chat URL, `--api-nproc` = the engine's slots,
    and the exact-matching judge (no judge model)."""

    peer = "VLMEvalKit"
    distribution = "ms-vlmeval"
    variant = "GPT4V wrapper, custom MCQ TSV"

    def write(self, folder: Path, suite: Path) -> None:
        self.lmu_data = folder / "LMUData"
        self.lmu_data.mkdir(parents=True, exist_ok=True)
        self.config = folder / "vlmeval-config.json"
        cases = json.loads(suite.read_text(encoding="utf-8"))["test_cases"]
        with (self.lmu_data / f"{VLMEVAL_DATASET}.tsv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(["index", "image", "question", "A", "B", "C", "D", "answer", "category"])
            for index, case in enumerate(cases):
                image = base64.b64encode((suite.parent / case["image_path"]).read_bytes()).decode("ascii")
                letters = zip(case["options"], "ABCD", strict=False)  # the TSV has option columns A-D only
                options = [_letterless(option, letter) for option, letter in letters]
                writer.writerow([index, image, case["question"], *options, case["expected_answer"], case["category"]])

    def command(self, python: Path, base_url: str, out_dir: Path, slots: int) -> tuple[list[str], dict[str, str]]:
        config = {
            "model": {MODEL: {"class": "GPT4V", "model": MODEL, "api_base": f"{base_url.rstrip('/')}/chat/completions",
                              "key": "EMPTY", "temperature": 0, "max_tokens": MAX_NEW_TOKENS}},
            "data": {VLMEVAL_DATASET: {"class": "CustomMCQDataset", "dataset": VLMEVAL_DATASET}},
        }
        self.config.write_text(json.dumps(config, indent=2), encoding="utf-8")
        command = [str(python), "-m", "vlmeval.run", "--config", str(self.config), "--work-dir", str(out_dir),
                   "--api-nproc", str(slots), "--judge", "exact_matching"]
        return command, {"LMUData": str(self.lmu_data), "HF_HOME": str(self.lmu_data.parent / "hf")}

    def accuracy(self, out_dir: Path) -> float | None:
        for path in sorted(out_dir.rglob(f"*{VLMEVAL_DATASET}_acc.csv")):
            with path.open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    if row.get("Overall"):
                        return float(row["Overall"])
        return None
