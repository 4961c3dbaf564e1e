{{/*
The RayService's serveConfigV2, made from a file of the repository's serve_configs/ (files/serve_configs is a link
to it, so the chart and `serve deploy` read the same file). How it maps:
  - applications: the file's, unchanged except for the overrides of values.rayService:
      tensorParallelSize -> engine_kwargs.tensor_parallel_size, and the placement group: one {GPU: 1} bundle per
                            TP x PP worker, STRICT_PACK (a replica's workers on one node), as the TP=2/4 files do;
      minReplicas/maxReplicas -> deployment_config.autoscaling_config (and the OpenAI ingress's max_replicas,
                            one ingress per LLM replica at most, as in the files);
      modelSource        -> model_loading_config.model_source (a path under /models, the models volume);
  - proxy_location EveryNode and http_options 0.0.0.0:8000: in a pod Serve must listen on every interface for
    KubeRay's <name>-serve-svc to reach it (cpu-tiny.yaml binds 127.0.0.1 for a laptop).
*/}}
{{- define "ray-eval.serveConfig" -}}
{{- $rs := .Values.rayService -}}
{{- $raw := .Files.Get (printf "files/serve_configs/%s" $rs.serveConfig) -}}
{{- if not $raw -}}
{{- fail (printf "rayService.serveConfig: %s is not a file of serve_configs/" $rs.serveConfig) -}}
{{- end -}}
{{- $cfg := $raw | fromYaml -}}
{{- $_ := set $cfg "proxy_location" "EveryNode" -}}
{{- $_ := set $cfg "http_options" (dict "host" "0.0.0.0" "port" 8000) -}}
{{- range $app := $cfg.applications -}}
{{- if eq $app.import_path "ray.serve.llm:build_openai_app" -}}
{{- range $llm := $app.args.llm_configs -}}
{{- $cpu := eq (dig "accelerator_config" "kind" "" $llm) "cpu" -}}
{{- if $rs.tensorParallelSize -}}
{{- if $cpu -}}
{{- fail (printf "rayService.tensorParallelSize: %s serves on CPU (accelerator_config.kind cpu); tensor parallelism is for GPU configs" $rs.serveConfig) -}}
{{- end -}}
{{- $tp := int $rs.tensorParallelSize -}}
{{- $ek := $llm.engine_kwargs | default dict -}}
{{- $_ := set $ek "tensor_parallel_size" $tp -}}
{{- $_ := set $llm "engine_kwargs" $ek -}}
{{- $workers := mul $tp (int (dig "pipeline_parallel_size" 1 $ek)) -}}
{{- $bundles := list -}}
{{- range until (int $workers) }}{{ $bundles = append $bundles (dict "GPU" 1) }}{{ end -}}
{{- $_ := set $llm "placement_group_config" (dict "bundles" $bundles "strategy" "STRICT_PACK") -}}
{{- end -}}
{{- $dc := $llm.deployment_config | default dict -}}
{{- $as := $dc.autoscaling_config | default dict -}}
{{- if not (kindIs "invalid" $rs.minReplicas) }}{{ $_ := set $as "min_replicas" (int $rs.minReplicas) }}{{ end -}}
{{- if $rs.maxReplicas -}}
{{- $_ := set $as "max_replicas" (int $rs.maxReplicas) -}}
{{- $ingress := dig "ingress_deployment_config" "autoscaling_config" dict $app.args -}}
{{- if $ingress }}{{ $_ := set $ingress "max_replicas" (int $rs.maxReplicas) }}{{ end -}}
{{- end -}}
{{- if gt (int (dig "min_replicas" 1 $as)) (int (dig "max_replicas" 1 $as)) -}}
{{- fail (printf "rayService.minReplicas %d is more than maxReplicas %d" (int (dig "min_replicas" 1 $as)) (int (dig "max_replicas" 1 $as))) -}}
{{- end -}}
{{- $_ := set $dc "autoscaling_config" $as -}}
{{- $_ := set $llm "deployment_config" $dc -}}
{{- if $rs.modelSource -}}
{{- $_ := set $llm.model_loading_config "model_source" $rs.modelSource -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* The model id clients send: the first LLM config's model_id. */}}
{{- define "ray-eval.serveModelId" -}}
{{- $cfg := include "ray-eval.serveConfig" . | fromYaml -}}
{{- range $app := $cfg.applications -}}
{{- range $llm := dig "args" "llm_configs" list $app -}}
{{- $llm.model_loading_config.model_id -}}
{{- break -}}
{{- end -}}
{{- break -}}
{{- end -}}
{{- end -}}

{{/* Requests the first LLM deployment works on at once: max_ongoing_requests x max_replicas (the evaluation's
     inference.engine_capacity, which sizes its inference actors: ray_eval.pipeline.sizing). */}}
{{- define "ray-eval.serveCapacity" -}}
{{- $cfg := include "ray-eval.serveConfig" . | fromYaml -}}
{{- range $app := $cfg.applications -}}
{{- range $llm := dig "args" "llm_configs" list $app -}}
{{- mul (int (dig "deployment_config" "max_ongoing_requests" 5 $llm)) (int (dig "deployment_config" "autoscaling_config" "max_replicas" 1 $llm)) -}}
{{- break -}}
{{- end -}}
{{- break -}}
{{- end -}}
{{- end -}}

{{/*
Whether the Serve app fits the GPU worker groups, refused at render time with what is missing: each replica of a
GPU LLM deployment needs TP x PP GPUs on one node, so a group can host floor(gpus / (TP x PP)) replicas per pod,
and max_replicas of them must fit in the groups' maxReplicas pods. (ray_eval.serving.serve_configs.check_fits does
the same placement in Python; the chart tests run it on the rendered config too.)
*/}}
{{- define "ray-eval.checkServeFits" -}}
{{- $rs := .Values.rayService -}}
{{- $cfg := include "ray-eval.serveConfig" . | fromYaml -}}
{{- range $app := $cfg.applications -}}
{{- range $llm := dig "args" "llm_configs" list $app -}}
{{- if ne (dig "accelerator_config" "kind" "" $llm) "cpu" -}}
{{- $need := mul (int (dig "engine_kwargs" "tensor_parallel_size" 1 $llm)) (int (dig "engine_kwargs" "pipeline_parallel_size" 1 $llm)) -}}
{{- $want := int (dig "deployment_config" "autoscaling_config" "max_replicas" 1 $llm) -}}
{{- if not $rs.gpuWorkerGroups -}}
{{- fail (printf "rayService.gpuWorkerGroups: %s serves on GPUs, but no GPU worker group is set" $rs.serveConfig) -}}
{{- end -}}
{{- $capacity := 0 -}}
{{- $widest := 0 -}}
{{- range $g := $rs.gpuWorkerGroups -}}
{{- $capacity = add $capacity (mul (int $g.maxReplicas) (div (int $g.gpus) $need)) -}}
{{- $widest = max $widest (int $g.gpus) -}}
{{- end -}}
{{- if gt $need $widest -}}
{{- fail (printf "rayService.tensorParallelSize: a replica of %s needs %d GPUs on one node (tensor_parallel_size x pipeline_parallel_size), but the widest GPU worker group has gpus: %d" $llm.model_loading_config.model_id $need $widest) -}}
{{- end -}}
{{- if gt $want $capacity -}}
{{- fail (printf "rayService.maxReplicas: %d replicas of %s x %d GPUs do not fit the GPU worker groups (room for %d: each group's maxReplicas pods x floor(gpus / %d)); lower maxReplicas or add GPU workers" $want $llm.model_loading_config.model_id $need $capacity $need) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
