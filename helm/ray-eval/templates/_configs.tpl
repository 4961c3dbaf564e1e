{{/*
The eval config the RayJob runs (ray_eval/config.py, strict: the chart tests load every rendered one with
ray_eval.config.load_config). The chart sets where things are in the pod and how the model is reached; the gate
comes from values.thresholds; evaluation.config is merged over the rest. With evaluation.suites, the config names
them (`suites:`, each with its own gate) instead of `dataset` and the thresholds' gate, as the eval config's own
either-or rule says: datasetPath and thresholds must then be null.
*/}}
{{- define "ray-eval.evalConfig" -}}
{{- $ev := .Values.evaluation -}}
{{- $user := deepCopy ($ev.config | default dict) -}}
{{- $engine := $user.engine -}}
{{- if not $engine -}}
{{- if not .Values.rayService.enabled -}}
{{- fail "evaluation.config.engine: with rayService.enabled false, name the endpoint to evaluate (e.g. kind openai, base_url, model)" -}}
{{- end -}}
{{- /* The Serve app's OpenAI routes through KubeRay's Serve Service: the job runs on a cluster of its own. */ -}}
{{- $engine = dict "kind" "openai" "base_url" (include "ray-eval.serveBaseUrl" .) "model" (include "ray-eval.serveModelId" .) -}}
{{- end -}}
{{- $metrics := dict "environment" .Values.monitoring.environment -}}
{{- with .Values.monitoring.pushgatewayUrl }}{{ $_ := set $metrics "pushgateway_url" . }}{{ end -}}
{{- $run := dict "out_dir" "/results" -}}
{{- with $ev.modelLabel }}{{ $_ := set $run "model_label" . }}{{ end -}}
{{- $config := dict "engine" $engine "run" $run "metrics" $metrics -}}
{{- if $ev.suites -}}
{{- if $ev.datasetPath -}}
{{- fail "evaluation.datasetPath: with evaluation.suites, each suite names its dataset; set datasetPath: null" -}}
{{- end -}}
{{- if .Values.thresholds -}}
{{- fail "thresholds: the gate of a one-dataset evaluation; with evaluation.suites, each suite has its own gate (and evaluation.config.gate.serving is the run's): set thresholds: null" -}}
{{- end -}}
{{- $_ := set $config "suites" (deepCopy $ev.suites) -}}
{{- else -}}
{{- $_ := set $config "dataset" (dict "path" (required "evaluation.datasetPath: the dataset to evaluate (or evaluation.suites)" $ev.datasetPath)) -}}
{{- $_ := set $config "gate" (deepCopy .Values.thresholds) -}}
{{- end -}}
{{- if and .Values.rayService.enabled (not $user.engine) -}}
{{- /* As many requests in flight as the deployment takes (ray_eval.pipeline.sizing); evaluation.config may override. */ -}}
{{- $_ := set $config "inference" (dict "engine_capacity" (include "ray-eval.serveCapacity" . | int)) -}}
{{- end -}}
{{- toYaml (mergeOverwrite $config (omit $user "engine")) -}}
{{- end -}}

{{/* The canary's config (ray_eval/canary/config.py, strict too): probes from the datasets volume, the endpoint
     (production's, or the RayService's), and its HTTP server on every interface so that Prometheus can scrape it.
     With canary.suites, the config names them instead of probes.path (probesPath must then be null). */}}
{{- define "ray-eval.canaryConfig" -}}
{{- $c := .Values.canary -}}
{{- $url := $c.endpoint.baseUrl -}}
{{- $model := $c.endpoint.model -}}
{{- if not $url -}}
{{- if not .Values.rayService.enabled -}}
{{- fail "canary.endpoint.baseUrl: with rayService.enabled false, name the endpoint the canary probes" -}}
{{- end -}}
{{- $url = include "ray-eval.serveBaseUrl" . -}}
{{- $model = $model | default (include "ray-eval.serveModelId" .) -}}
{{- end -}}
{{- $engine := dict "kind" "openai" "base_url" $url "model" (required "canary.endpoint.model: the model name the endpoint serves" $model) -}}
{{- with $c.endpoint.apiKeyEnv -}}
{{- if not (hasKey $.Values.secrets.env .) -}}
{{- fail (printf "canary.endpoint.apiKeyEnv: %s is not a variable of secrets.env" .) -}}
{{- end -}}
{{- $_ := set $engine "api_key_env" . -}}
{{- end -}}
{{- $config := dict "engine" $engine "server" (dict "host" "0.0.0.0" "port" 9400) -}}
{{- if $c.suites -}}
{{- if $c.probesPath -}}
{{- fail "canary.probesPath: with canary.suites, each suite names its probes; set probesPath: null" -}}
{{- end -}}
{{- $_ := set $config "suites" (deepCopy $c.suites) -}}
{{- else -}}
{{- $_ := set $config "probes" (dict "path" (required "canary.probesPath: the probes' dataset (or canary.suites)" $c.probesPath)) -}}
{{- end -}}
{{- toYaml (mergeOverwrite $config (deepCopy $c.config)) -}}
{{- end -}}
