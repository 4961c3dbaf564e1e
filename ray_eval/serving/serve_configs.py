"""Load and check the Ray Serve configs in serve_configs/ before they reach a GPU cluster.

`load_serve_config` validates a file with Ray's own models (ServeDeploySchema for the file, Ray Serve LLM's
LLMConfig for each `llm_configs` entry) plus the checks Ray leaves to deploy time, and returns what each LLM
deployment will ask the cluster for: tensor/pipeline parallel sizes, placement group bundles and strategy,
replica bounds. `check_fits` says whether max_replicas of every deployment can be placed on given nodes.

LLMConfig is taken from `ray.llm._internal.serve.core.configs.llm_config`, the module whose class the public
`ray.serve.llm.LLMConfig` subclasses without changes: importing `ray.serve.llm` itself needs vLLM (or SGLang)
installed, and with vLLM it costs seconds (torch, transformers). Importing this module imports neither.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ValidationError

from ray_eval.errors import ConfigError

if TYPE_CHECKING:
    from ray.llm._internal.serve.core.configs.llm_config import LLMConfig

OPENAI_APP_BUILDER = "ray.serve.llm:build_openai_app"
# The widest GPU node a replica's STRICT_PACK group can land on: 8 GPUs (an HGX/DGX H100 or H200 node).
MAX_GPUS_PER_NODE = 8
# The fields of Ray's LLMServingArgs (ray/llm/_internal/serve/core/ingress/builder.py), the model of
# build_openai_app's args; that module imports vLLM, so the names are listed here.
SERVING_ARGS_FIELDS = ("llm_configs", "ingress_cls_config", "ingress_deployment_config")
# Ray Serve LLM sets these itself from placement_group_config and refuses them in deployment_config.
LLM_MANAGED_DEPLOYMENT_OPTIONS = ("placement_group_bundles", "placement_group_strategy")


class ServeConfigError(ConfigError):
    """A serve config is invalid; `problems` holds one line per problem, each naming the field."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = Path(path)
        self.problems = problems
        super().__init__(f"{path}: invalid Ray Serve config:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class LLMDeploymentPlan:
    """What one LLMConfig asks the cluster for, per replica and in replicas."""

    model_id: str
    where: str  # the entry's location in the file, e.g. "applications[0].args.llm_configs[0]"
    accelerator_kind: str  # "gpu" or "cpu", as Ray resolves it from accelerator_config / bundles
    accelerator_type: str | None
    tensor_parallel_size: int
    pipeline_parallel_size: int
    # The engine workers' bundles, one per TP x PP worker, as Ray LLM builds them; Ray then adds the replica
    # actor's own CPU (ray_actor_options.num_cpus, default 1) to the first bundle.
    bundles: tuple[dict[str, float], ...]
    strategy: str
    min_replicas: int
    max_replicas: int
    max_ongoing_requests: int | None
    llm_config: Any  # the validated ray LLMConfig

    @property
    def workers_per_replica(self) -> int:
        return self.tensor_parallel_size * self.pipeline_parallel_size

    @property
    def gpus_per_replica(self) -> float:
        return sum(bundle.get("GPU", 0.0) for bundle in self.bundles)


@dataclass(frozen=True)
class ServeConfigPlan:
    path: Path
    schema: Any  # ray.serve.schema.ServeDeploySchema
    deployments: tuple[LLMDeploymentPlan, ...]

    def deployment(self, model_id: str) -> LLMDeploymentPlan:
        for plan in self.deployments:
            if plan.model_id == model_id:
                return plan
        raise KeyError(f"{self.path}: no LLM config with model_id {model_id!r}")


# ---- loading ---------------------------------------------------------------------------------------------------------


def load_serve_config(path: Path | str) -> ServeConfigPlan:
    """Parse and validate a Serve config file; raises ServeConfigError listing every problem found."""
    from ray.serve.schema import HTTPOptionsSchema, ServeApplicationSchema, ServeDeploySchema

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ServeConfigError(path, [f"cannot read the file: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ServeConfigError(path, [f"not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise ServeConfigError(path, ["the file must hold a mapping with an `applications` list"])

    # Serve's schemas accept unknown keys so that older Ray reads newer files; here a typo must not vanish.
    problems = _unknown_keys(data, _field_names(ServeDeploySchema), "")
    problems += _unknown_keys(data.get("http_options"), _field_names(HTTPOptionsSchema), "http_options")
    applications = data.get("applications")
    for index, app in enumerate(applications if isinstance(applications, list) else []):
        problems += _unknown_keys(app, _field_names(ServeApplicationSchema), f"applications[{index}]")
    try:
        schema = ServeDeploySchema.model_validate(data)
    except ValidationError as exc:
        raise ServeConfigError(path, problems + _pydantic_problems(exc, "")) from None

    deployments: list[LLMDeploymentPlan] = []
    for index, app in enumerate(schema.applications):
        if app.import_path != OPENAI_APP_BUILDER:
            continue  # not an LLM app: ServeDeploySchema is all that can be checked without importing it
        where = f"applications[{index}].args"
        problems += _unknown_keys(app.args, SERVING_ARGS_FIELDS, where)
        problems += _deployment_options_problems(app.args.get("ingress_deployment_config"),
                                                 f"{where}.ingress_deployment_config")
        llm_configs = app.args.get("llm_configs")
        if not isinstance(llm_configs, list) or not llm_configs:
            problems.append(f"{where}.llm_configs: a non-empty list of LLM configs is required")
            continue
        for number, entry in enumerate(llm_configs):
            plan, entry_problems = _plan_llm_config(entry, f"{where}.llm_configs[{number}]")
            problems += entry_problems
            if plan is not None:
                deployments.append(plan)
        model_ids = [plan.model_id for plan in deployments if plan.where.startswith(where + ".")]
        for model_id in sorted({m for m in model_ids if model_ids.count(m) > 1}):
            problems.append(f"{where}.llm_configs: model_id {model_id!r} appears more than once")
    if not deployments and not problems:
        problems.append(f"applications: no application uses import_path {OPENAI_APP_BUILDER}")
    if problems:
        raise ServeConfigError(path, problems)
    return ServeConfigPlan(path=path, schema=schema, deployments=tuple(deployments))


def _plan_llm_config(entry: Any, where: str) -> tuple[LLMDeploymentPlan | None, list[str]]:
    if not isinstance(entry, dict):
        # Ray also accepts a path to an LLMConfig YAML here, resolved on the cluster; this project keeps them inline.
        return None, [f"{where}: expected an inline LLM config (a mapping), got {type(entry).__name__}"]
    problems = _deployment_options_problems(entry.get("deployment_config"), f"{where}.deployment_config")
    engine_kwargs = entry.get("engine_kwargs") or {}
    for key in ("model", "served_model_name"):
        if isinstance(engine_kwargs, dict) and key in engine_kwargs:
            problems.append(f"{where}.engine_kwargs.{key}: set by Ray from model_loading_config; remove it")
    pg_config = entry.get("placement_group_config")
    if pg_config is not None:
        from ray.llm._internal.common.placement import PlacementGroupConfig

        try:  # LLMConfig keeps it a plain dict; Ray checks it only when building the app on the cluster (needs vLLM)
            PlacementGroupConfig.model_validate(pg_config)
        except ValidationError as exc:
            problems += _pydantic_problems(exc, f"{where}.placement_group_config")
    try:
        llm_config = _llm_config_class().model_validate(entry)
    except ValidationError as exc:
        return None, problems + _pydantic_problems(exc, where)
    if problems:
        return None, problems

    tp, pp = engine_kwargs.get("tensor_parallel_size", 1), engine_kwargs.get("pipeline_parallel_size", 1)
    for name, value in (("tensor_parallel_size", tp), ("pipeline_parallel_size", pp)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"{where}.engine_kwargs.{name}: must be a positive integer, got {value!r}")
    if problems:
        return None, problems
    # LLMConfig's after-validator (_resolve_accelerator_config) always fills accelerator_config.
    assert llm_config.accelerator_config is not None
    kind = llm_config.accelerator_config.kind
    bundles, strategy = _placement(pg_config, kind, llm_config.accelerator_type, tp * pp)
    min_replicas, max_replicas, replica_problems = _replica_bounds(llm_config.deployment_config, where)
    deployment_config = llm_config.deployment_config
    plan = LLMDeploymentPlan(
        model_id=llm_config.model_id, where=where, accelerator_kind=kind,
        accelerator_type=llm_config.accelerator_type, tensor_parallel_size=tp, pipeline_parallel_size=pp,
        bundles=tuple(bundles), strategy=strategy, min_replicas=min_replicas, max_replicas=max_replicas,
        max_ongoing_requests=deployment_config.get("max_ongoing_requests"), llm_config=llm_config,
    )
    return plan, replica_problems + _plan_problems(plan, engine_kwargs)


def _llm_config_class() -> type[LLMConfig]:
    try:
        from ray.llm._internal.serve.core.configs.llm_config import LLMConfig
    except ImportError:  # the private module moved in another Ray version: the public class (needs vLLM)
        from ray.serve.llm import LLMConfig
    return LLMConfig


def _placement(pg_config: dict | None, kind: str, accelerator_type: str | None,
               workers: int) -> tuple[list[dict[str, float]], str]:
    """The bundles and strategy Ray LLM uses (VLLMEngineConfig.placement_bundles / placement_strategy in
    ray/llm/_internal/serve/engines/vllm/vllm_models.py), computed here without importing vLLM."""
    accelerator_resource = f"accelerator_type:{accelerator_type}" if accelerator_type else None
    if pg_config:
        if pg_config.get("bundle_per_worker") is not None:
            bundles = [dict(pg_config["bundle_per_worker"]) for _ in range(workers)]
        else:
            bundles = [dict(bundle) for bundle in pg_config.get("bundles") or []]
        if accelerator_resource:
            for bundle in bundles:
                bundle.setdefault(accelerator_resource, 0.001)
        return bundles, pg_config.get("strategy", "PACK")
    if kind == "cpu":
        return [{"CPU": 1.0} for _ in range(workers)], "PACK"
    bundle = {"GPU": 1.0, **({accelerator_resource: 0.001} if accelerator_resource else {})}
    return [dict(bundle) for _ in range(workers)], "PACK"


def _replica_bounds(deployment_config: dict, where: str) -> tuple[int, int, list[str]]:
    """min/max replicas as Serve will run them: num_replicas fixes both; "auto" and autoscaling_config go through
    Serve's AutoscalingConfig; with neither, Ray LLM's default autoscaling config gives 1 and 1."""
    from ray.serve._private.config import handle_num_replicas_auto
    from ray.serve._private.utils import DEFAULT
    from ray.serve.config import AutoscalingConfig

    num_replicas = deployment_config.get("num_replicas")
    autoscaling = deployment_config.get("autoscaling_config")
    if isinstance(num_replicas, int) and autoscaling is not None:
        return num_replicas, num_replicas, [
            f"{where}.deployment_config: num_replicas and autoscaling_config exclude each other (Serve refuses both)"]
    if isinstance(num_replicas, int):
        return num_replicas, num_replicas, []
    if num_replicas == "auto":
        # DEFAULT.VALUE is Ray's marker for an unset option (its own callers pass it, not None).
        max_ongoing = deployment_config.get("max_ongoing_requests", DEFAULT.VALUE)
        _, resolved = handle_num_replicas_auto(max_ongoing, autoscaling)
    else:
        resolved = AutoscalingConfig.model_validate(autoscaling or {})
    return resolved.min_replicas, resolved.max_replicas, []


def _plan_problems(plan: LLMDeploymentPlan, engine_kwargs: dict) -> list[str]:
    where, problems = plan.where, []
    bundles_at = f"{where}.placement_group_config.bundles"
    if len(plan.bundles) != plan.workers_per_replica:
        problems.append(
            f"{bundles_at}: {len(plan.bundles)} bundles, but vLLM starts one worker per bundle and "
            f"tensor_parallel_size x pipeline_parallel_size = {plan.tensor_parallel_size} x "
            f"{plan.pipeline_parallel_size} = {plan.workers_per_replica}")
    for number, bundle in enumerate(plan.bundles):
        gpus = bundle.get("GPU", 0)
        if plan.accelerator_kind == "gpu" and gpus != 1:
            problems.append(f"{bundles_at}[{number}].GPU: each vLLM worker needs exactly 1 GPU, got {gpus}")
        elif plan.accelerator_kind == "cpu" and (gpus or not bundle.get("CPU")):
            problems.append(f"{bundles_at}[{number}]: a CPU deployment's bundles ask for CPU only, got {bundle}")
    if plan.accelerator_kind not in ("gpu", "cpu"):
        problems.append(f"{where}.accelerator_config.kind: {plan.accelerator_kind} is not supported here")
    if plan.strategy == "STRICT_PACK" and plan.gpus_per_replica > MAX_GPUS_PER_NODE:
        problems.append(
            f"{where}.placement_group_config.strategy: STRICT_PACK puts a replica's {plan.gpus_per_replica:g} "
            f"GPUs on one node, but nodes have at most {MAX_GPUS_PER_NODE}")
    max_num_seqs = engine_kwargs.get("max_num_seqs")
    if isinstance(plan.max_ongoing_requests, int) and isinstance(max_num_seqs, int) \
            and plan.max_ongoing_requests < max_num_seqs:
        problems.append(
            f"{where}.deployment_config.max_ongoing_requests: {plan.max_ongoing_requests} is below "
            f"engine_kwargs.max_num_seqs ({max_num_seqs}): vLLM's batch could never fill")
    return problems


# ---- checks Ray leaves to deploy time --------------------------------------------------------------------------------


def _deployment_options_problems(options: Any, where: str) -> list[str]:
    """Keys of a deployment_config that serve.deployment() would reject when the app is built (LLMConfig checks
    the values with Serve's DeploymentConfig, which ignores unknown keys), and unknown autoscaling keys (Serve's
    AutoscalingConfig ignores those too, so a misspelt max_replicas would silently leave the default of 1)."""
    if options is None:
        return []
    if not isinstance(options, dict):
        return [f"{where}: expected a mapping, got {type(options).__name__}"]
    from ray import serve
    from ray.serve.config import AutoscalingConfig
    from ray.serve.schema import RayActorOptionsSchema

    accepted = [name for name in inspect.signature(serve.deployment).parameters if not name.startswith("_")]
    problems = _unknown_keys(options, accepted, where)
    for key in LLM_MANAGED_DEPLOYMENT_OPTIONS:
        if key in options:
            problems.append(f"{where}.{key}: Ray Serve LLM sets this; use the LLM config's placement_group_config")
    problems += _unknown_keys(options.get("autoscaling_config"), _field_names(AutoscalingConfig),
                              f"{where}.autoscaling_config")
    problems += _unknown_keys(options.get("ray_actor_options"), _field_names(RayActorOptionsSchema),
                              f"{where}.ray_actor_options")
    return problems


def check_engine_kwargs(plan: ServeConfigPlan) -> list[str]:
    """Engine arguments vLLM does not know, found by Ray's own VLLMEngineConfig.from_llm_config (the step a replica
    runs when it starts). Needs vLLM importable: raises ImportError without it."""
    import vllm  # noqa: F401  (fail with ImportError up front rather than inside Ray's conversion)

    problems = []
    for deployment in plan.deployments:
        try:
            deployment.llm_config.get_engine_config()
        except ValueError as exc:  # pydantic ValidationError included
            problems.append(f"{plan.path}: {deployment.where}.engine_kwargs: {exc}")
    return problems


# ---- fitting replicas onto nodes -------------------------------------------------------------------------------------


def check_fits(plan: ServeConfigPlan, nodes: list[int]) -> list[str]:
    """Problems placing max_replicas replicas of every deployment at once on nodes with these GPU counts; empty
    when they fit. Greedy best-fit per bundle, honouring the strategy: STRICT_PACK keeps a replica's bundles on
    one node, STRICT_SPREAD puts each on a different node, PACK and SPREAD may split them. Only GPUs are counted
    (CPU deployments always fit)."""
    if any(not isinstance(n, int) or n < 0 for n in nodes):
        raise ValueError(f"nodes must be GPU counts (non-negative integers), got {nodes}")
    free = [float(n) for n in nodes]
    problems = []
    for deployment in plan.deployments:
        gpu_bundles = [b.get("GPU", 0.0) for b in deployment.bundles if b.get("GPU", 0.0) > 0]
        if not gpu_bundles:
            continue
        placed = 0
        while placed < deployment.max_replicas and _place_replica(gpu_bundles, deployment.strategy, free):
            placed += 1
        if placed < deployment.max_replicas:
            together = " on one node" if deployment.strategy == "STRICT_PACK" else ""
            problems.append(
                f"{plan.path}: {deployment.where} ({deployment.model_id}): only {placed} of max_replicas="
                f"{deployment.max_replicas} replicas fit on nodes with {list(nodes)} GPUs; each replica needs "
                f"{sum(gpu_bundles):g} GPUs{together} ({deployment.strategy}, {len(gpu_bundles)} bundles)")
    return problems


def _place_replica(gpu_bundles: list[float], strategy: str, free: list[float]) -> bool:
    """Place one replica's bundles into `free` (changed only on success)."""
    trial = list(free)
    if strategy == "STRICT_PACK":
        need = sum(gpu_bundles)
        node = _best_fit(trial, need, range(len(trial)))
        if node is None:
            return False
        trial[node] -= need
    else:
        used: set[int] = set()
        for need in sorted(gpu_bundles, reverse=True):
            allowed = [i for i in range(len(trial)) if strategy != "STRICT_SPREAD" or i not in used]
            node = _best_fit(trial, need, allowed)
            if node is None:
                return False
            trial[node] -= need
            used.add(node)
    free[:] = trial
    return True


def _best_fit(free: list[float], need: float, allowed: Iterable[int]) -> int | None:
    """The allowed node with the least free GPUs that still holds `need` (keeps big nodes for big replicas)."""
    fitting = [i for i in allowed if free[i] >= need]
    return min(fitting, key=lambda i: (free[i], i)) if fitting else None


# ---- helpers ---------------------------------------------------------------------------------------------------------


def _field_names(model: type[BaseModel]) -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        names.append(name)
        if field.alias:
            names.append(field.alias)
    return names


def _unknown_keys(data: Any, known: Iterable[str], where: str) -> list[str]:
    if not isinstance(data, Mapping):
        return []
    known = list(known)
    problems = []
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{_join(where, str(key))}: unknown field{hint}")
    return problems


def _pydantic_problems(exc: ValidationError, where: str) -> list[str]:
    problems = []
    for error in exc.errors():
        location = where
        for part in error["loc"]:
            location = f"{location}[{part}]" if isinstance(part, int) else _join(location, str(part))
        problems.append(f"{location or '(top level)'}: {error['msg']}")
    return problems


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
