"""Run-stopping failures. Per-sample failures are data (the `error` column), never these."""

from __future__ import annotations


class RayEvalError(Exception):
    """Base class of every error ray-eval raises on purpose."""

    exit_code = 3


class ConfigError(RayEvalError):
    """The configuration file or a --set override is invalid."""

    exit_code = 2


class DatasetError(RayEvalError):
    """The dataset cannot be read, or has rows that are refused before anything runs."""

    exit_code = 2

    def __init__(self, message: str, problems: list[RowProblem] | None = None):
        super().__init__(message)
        self.problems = problems or []


class UsageError(RayEvalError):
    """The command was called wrongly (a missing run directory, a bad argument)."""

    exit_code = 2


class OperatorError(RayEvalError):
    """The operator's setup refuses the run before anything is evaluated: run.out_dir is on a read-only mount, not
    permitted, or a file stands where a folder should be. Fixed by the operator, like a config error."""

    exit_code = 2


class EngineUnavailable(RayEvalError):
    """The inference engine could not be reached or kept failing, so the run stopped."""

    exit_code = 3


class RunIncomplete(RayEvalError):
    """The run ended without a result for every sample, or over its error budget."""

    exit_code = 3


class RunInterrupted(RayEvalError):
    """The operator stopped the run (Ctrl-C); what is in its run directory stays, to be resumed."""

    exit_code = 3


class OutputError(RayEvalError):
    """The run directory could not be written (a full disk, no permission); what was written stays whole."""

    exit_code = 3


class ClusterUnavailable(RayEvalError):
    """A Ray cluster's job API could not be reached, refused a job, or was lost while the job ran (`ci submit`)."""

    exit_code = 3


class StageInputError(RayEvalError):
    """A pipeline stage received a batch without the columns it needs (a wiring bug)."""

    exit_code = 3


class RowProblem:
    """One bad dataset row: where it is and why it is bad."""

    __slots__ = ("source", "row_number", "sample_id", "field", "reason", "row_word")

    def __init__(self, source: str, row_number: int, sample_id: str | None, field: str | None, reason: str,
                 row_word: str = "row"):
        self.row_word = row_word  # "line", "row" or "case": how the file's format counts
        self.source = source
        self.row_number = row_number
        self.sample_id = sample_id
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        where = f"{self.source} {self.row_word} {self.row_number}"
        who = f" (id {self.sample_id!r})" if self.sample_id else ""
        field = f" {self.field}:" if self.field else ""
        return f"{where}{who}:{field} {self.reason}"

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}
