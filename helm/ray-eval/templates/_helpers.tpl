{{/* Names, labels and the pieces every pod shares: security contexts, writable scratch, data volumes, env. */}}

{{- define "ray-eval.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* 40 characters at most: KubeRay appends "-serve-svc", "-head-svc" and pod suffixes to the RayService's name. */}}
{{- define "ray-eval.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains (include "ray-eval.name" .) .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "ray-eval.name" .) | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ray-eval.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ray-eval.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ray-eval.labels" -}}
{{ include "ray-eval.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ray-eval.image" -}}
{{- $image := .image | default .root.Values.image -}}
image: {{ printf "%s:%s" $image.repository $image.tag | quote }}
imagePullPolicy: {{ $image.pullPolicy | default .root.Values.image.pullPolicy }}
{{- end -}}

{{/* KubeRay's Serve Service for the RayService (<name>-serve-svc), port 8000: the OpenAI routes at /v1. */}}
{{- define "ray-eval.serveBaseUrl" -}}
{{- printf "http://%s-serve-svc.%s.svc.cluster.local:8000/v1" (include "ray-eval.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "ray-eval.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.security.runAsUser }}
runAsGroup: {{ .Values.security.runAsGroup }}
fsGroup: {{ .Values.security.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "ray-eval.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.security.runAsUser }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: {{ .Values.security.readOnlyRootFilesystem }}
capabilities:
  drop: [ALL]
{{- end -}}

{{/* With a read-only root filesystem, everything that writes goes to /tmp: Ray's session directory (/tmp/ray),
     vLLM's and Triton's caches (under HOME). PYTHONDONTWRITEBYTECODE: no __pycache__ beside the code. */}}
{{- define "ray-eval.scratchEnv" -}}
- name: HOME
  value: /tmp/home
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
{{- end -}}

{{/* The scratch variables and the Secret's, for the containers that run ray-eval's code. */}}
{{- define "ray-eval.env" -}}
{{ include "ray-eval.scratchEnv" . }}
{{- include "ray-eval.secretEnv" . }}
{{- end -}}

{{- define "ray-eval.secretEnv" -}}
{{- range $name, $key := .Values.secrets.env }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ required "secrets.existingSecret: secrets.env names keys of a Secret, so the Secret's name is needed" $.Values.secrets.existingSecret }}
      key: {{ $key }}
{{- end }}
{{- end -}}

{{/* Volumes: "scratch" (/tmp) and "dshm" (/dev/shm) on every pod; "datasets", "models", "results" where asked
     (a list of names in .volumes). A dataset or model the chart builds lives in an emptyDir. */}}
{{- define "ray-eval.volumes" -}}
{{- $v := .root.Values -}}
- name: scratch
  emptyDir:
    sizeLimit: {{ $v.security.tmpSizeLimit }}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ $v.security.shmSizeLimit }}
{{- if has "datasets" .volumes }}
- name: datasets
{{- if $v.storage.datasets.synthesize }}
  emptyDir: {}
{{- else }}
{{- include "ray-eval.volumeSource" (dict "storage" $v.storage.datasets "field" "storage.datasets" "readOnly" true) | nindent 2 }}
{{- end }}
{{- end }}
{{- if has "models" .volumes }}
- name: models
{{- if $v.storage.models.buildTinyModel }}
  emptyDir: {}
{{- else }}
{{- include "ray-eval.volumeSource" (dict "storage" $v.storage.models "field" "storage.models" "readOnly" true) | nindent 2 }}
{{- end }}
{{- end }}
{{- if has "results" .volumes }}
- name: results
{{- include "ray-eval.volumeSource" (dict "storage" $v.storage.results "field" "storage.results" "readOnly" false) | nindent 2 }}
{{- end }}
{{- if has "config" .volumes }}
- name: config
  configMap:
    name: {{ include "ray-eval.fullname" .root }}-{{ .configMap }}
{{- end }}
{{- end -}}

{{/* `volume` (any volume source) replaces the PersistentVolumeClaim `claimName`. */}}
{{- define "ray-eval.volumeSource" -}}
{{- if .storage.volume -}}
{{- toYaml .storage.volume -}}
{{- else -}}
persistentVolumeClaim:
  claimName: {{ required (printf "%s.claimName: name a PersistentVolumeClaim, or set %s.volume" .field .field) .storage.claimName }}
  readOnly: {{ .readOnly }}
{{- end -}}
{{- end -}}

{{- define "ray-eval.volumeMounts" -}}
- name: scratch
  mountPath: /tmp
- name: dshm
  mountPath: /dev/shm
{{- if has "datasets" .volumes }}
- name: datasets
  mountPath: /data
  readOnly: true
{{- end }}
{{- if has "models" .volumes }}
- name: models
  mountPath: /models
  readOnly: true
{{- end }}
{{- if has "results" .volumes }}
- name: results
  mountPath: /results
{{- end }}
{{- if has "config" .volumes }}
- name: config
  mountPath: /config
  readOnly: true
{{- end }}
{{- end -}}

{{/* Init containers that build what the CPU demo needs in its emptyDirs: the synthetic sample set, the tiny
     model. Both are deterministic (same seed, same bytes), so every pod builds the same files. */}}
{{- define "ray-eval.buildInitContainers" -}}
{{- $v := .root.Values -}}
{{- if and (has "datasets" .volumes) $v.storage.datasets.synthesize }}
- name: synthesize-dataset
  {{- include "ray-eval.image" (dict "root" .root) | nindent 2 }}
  command: [ray-eval, dataset, synth, --out, /data/sample, --n, {{ $v.storage.datasets.synthesize.n | quote }}, --seed, {{ $v.storage.datasets.synthesize.seed | quote }}]
  {{- include "ray-eval.initContainerCommon" (dict "root" .root "mounts" (list "datasets")) | nindent 2 }}
{{- end }}
{{- if and (has "models" .volumes) $v.storage.models.buildTinyModel }}
- name: build-tiny-model
  {{- include "ray-eval.image" (dict "root" .root "image" .image) | nindent 2 }}
  command: [ray-eval, model, tiny, --arch, qwen3_vl, --out, /models/tiny-qwen3-vl, --seed, "0"]
  {{- include "ray-eval.initContainerCommon" (dict "root" .root "mounts" (list "models")) | nindent 2 }}
{{- end }}
{{- end -}}

{{/* An init container writes into its volume, so that one is mounted read-write here. */}}
{{- define "ray-eval.initContainerCommon" -}}
env:
  {{- include "ray-eval.scratchEnv" .root | nindent 2 }}
resources:
  requests: {cpu: 500m, memory: 1Gi}
  limits: {cpu: "1", memory: 2Gi}
securityContext:
  {{- include "ray-eval.containerSecurityContext" .root | nindent 2 }}
volumeMounts:
  - name: scratch
    mountPath: /tmp
{{- range .mounts }}
  - name: {{ . }}
    mountPath: {{ printf "/%s" (. | replace "datasets" "data") }}
{{- end }}
{{- end -}}
