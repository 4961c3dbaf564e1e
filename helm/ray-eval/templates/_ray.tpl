{{/* Pod-level settings of every pod. No pod talks to the Kubernetes API: no service account token. */}}
{{- define "ray-eval.podSpecCommon" -}}
automountServiceAccountToken: false
securityContext:
  {{- include "ray-eval.podSecurityContext" . | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A worker group of the RayService. GPU groups ask for nvidia.com/gpu in requests and limits (KubeRay passes
     the count to `ray start --num-gpus`) and go only to the nodes their selector and tolerations name. */}}
{{- define "ray-eval.serveWorkerGroup" -}}
{{- $root := .root -}}
{{- $g := .group -}}
{{- $rs := $root.Values.rayService -}}
{{- $volumes := ternary (list "models" "datasets") (list "models") $rs.jobVolumes -}}
{{- if or (lt (int $g.replicas) (int $g.minReplicas)) (gt (int $g.replicas) (int $g.maxReplicas)) -}}
{{- fail (printf "rayService worker group %s: replicas %d must lie between minReplicas %d and maxReplicas %d" $g.name (int $g.replicas) (int $g.minReplicas) (int $g.maxReplicas)) -}}
{{- end -}}
- groupName: {{ $g.name }}
  replicas: {{ $g.replicas }}
  minReplicas: {{ $g.minReplicas }}
  maxReplicas: {{ $g.maxReplicas }}
  rayStartParams: {}
  template:
    metadata:
      labels:
        {{- include "ray-eval.selectorLabels" $root | nindent 8 }}
        app.kubernetes.io/component: serve
    spec:
      {{- include "ray-eval.podSpecCommon" $root | nindent 6 }}
      {{- with $g.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $g.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumes:
        {{- include "ray-eval.volumes" (dict "root" $root "volumes" $volumes) | nindent 8 }}
      {{- with include "ray-eval.buildInitContainers" (dict "root" $root "volumes" $volumes "image" $rs.image) }}
      initContainers:
        {{- . | trim | nindent 8 }}
      {{- end }}
      containers:
        - name: ray-worker
          {{- include "ray-eval.image" (dict "root" $root "image" $rs.image) | nindent 10 }}
          env:
            {{- include "ray-eval.env" $root | nindent 12 }}
          ports:
            - {containerPort: 8080, name: metrics}
          resources:
            {{- $res := deepCopy $g.resources }}
            {{- if .gpus }}
            {{- $_ := set $res.requests "nvidia.com/gpu" .gpus }}
            {{- $_ := set $res.limits "nvidia.com/gpu" .gpus }}
            {{- end }}
            {{- toYaml $res | nindent 12 }}
          securityContext:
            {{- include "ray-eval.containerSecurityContext" $root | nindent 12 }}
          volumeMounts:
            {{- include "ray-eval.volumeMounts" (dict "volumes" $volumes) | nindent 12 }}
{{- end -}}

{{/*
The evaluation's RayJob spec, shared by the RayJob and the RayCronJob's jobTemplate. The job gets a Ray cluster of
its own (rayClusterSpec), CPU only, and reaches the model over HTTP at the RayService's Serve Service: a RayJob's
clusterSelector can only name a RayCluster, and a RayService's cluster has a generated name that changes on every
upgrade. Its driver runs on the job cluster's head, which mounts the eval config, the datasets and the results.
*/}}
{{- define "ray-eval.rayJobSpec" -}}
{{- $ev := .Values.evaluation -}}
{{- $mounts := list "datasets" "results" "config" -}}
entrypoint: {{ printf "python %s/jobs/run_eval.py -c /config/eval.yaml" .Values.appDir | quote }}
shutdownAfterJobFinishes: {{ $ev.job.shutdownAfterJobFinishes }}
ttlSecondsAfterFinished: {{ $ev.job.ttlSecondsAfterFinished }}
activeDeadlineSeconds: {{ $ev.job.activeDeadlineSeconds }}
backoffLimit: {{ $ev.job.backoffLimit }}
submitterPodTemplate:
  metadata:
    labels:
      {{- include "ray-eval.selectorLabels" . | nindent 6 }}
      app.kubernetes.io/component: evaluation-submitter
  spec:
    restartPolicy: Never
    {{- include "ray-eval.podSpecCommon" . | nindent 4 }}
    volumes:
      {{- include "ray-eval.volumes" (dict "root" . "volumes" (list)) | nindent 6 }}
    containers:
      # KubeRay fills in the command (`ray job submit ... -- <entrypoint>`) and the dashboard address.
      - name: ray-job-submitter
        {{- include "ray-eval.image" (dict "root" .) | nindent 8 }}
        env:
          {{- include "ray-eval.scratchEnv" . | nindent 10 }}
        resources:
          {{- toYaml $ev.submitter.resources | nindent 10 }}
        securityContext:
          {{- include "ray-eval.containerSecurityContext" . | nindent 10 }}
        volumeMounts:
          {{- include "ray-eval.volumeMounts" (dict "volumes" (list)) | nindent 10 }}
rayClusterSpec:
  rayVersion: {{ .Values.rayVersion | quote }}
  headGroupSpec:
    rayStartParams:
      dashboard-host: 0.0.0.0
    template:
      metadata:
        labels:
          {{- include "ray-eval.selectorLabels" . | nindent 10 }}
          app.kubernetes.io/component: evaluation
      spec:
        {{- include "ray-eval.podSpecCommon" . | nindent 8 }}
        volumes:
          {{- include "ray-eval.volumes" (dict "root" . "volumes" $mounts "configMap" "eval") | nindent 10 }}
        {{- $init := include "ray-eval.buildInitContainers" (dict "root" . "volumes" $mounts) }}
        {{- if or $init (and .Values.rayService.enabled $ev.waitForServe.enabled) }}
        initContainers:
          {{- with $init }}{{ . | trim | nindent 10 }}{{ end }}
          {{- if and .Values.rayService.enabled $ev.waitForServe.enabled }}
          # A vLLM replica needs minutes to load; a run started before it is up would end as "engine unreachable".
          - name: wait-for-serve
            {{- include "ray-eval.image" (dict "root" .) | nindent 12 }}
            command: [ray-eval, ci, wait-ready, {{ include "ray-eval.serveBaseUrl" . | quote }}, --model, {{ include "ray-eval.serveModelId" . | quote }}, --timeout, {{ $ev.waitForServe.timeoutSeconds | quote }}]
            {{- include "ray-eval.initContainerCommon" (dict "root" . "mounts" (list)) | nindent 12 }}
          {{- end }}
        {{- end }}
        containers:
          - name: ray-head
            {{- include "ray-eval.image" (dict "root" .) | nindent 12 }}
            workingDir: {{ .Values.appDir }}
            env:
              {{- include "ray-eval.env" . | nindent 14 }}
            ports:
              - {containerPort: 6379, name: gcs-server}
              - {containerPort: 8265, name: dashboard}
              - {containerPort: 10001, name: client}
              - {containerPort: 8080, name: metrics}
            resources:
              {{- toYaml $ev.cluster.head.resources | nindent 14 }}
            securityContext:
              {{- include "ray-eval.containerSecurityContext" . | nindent 14 }}
            volumeMounts:
              {{- include "ray-eval.volumeMounts" (dict "volumes" $mounts) | nindent 14 }}
  {{- if gt (int $ev.cluster.workers.replicas) 0 }}
  workerGroupSpecs:
    - groupName: cpu
      replicas: {{ $ev.cluster.workers.replicas }}
      minReplicas: {{ $ev.cluster.workers.replicas }}
      maxReplicas: {{ $ev.cluster.workers.replicas }}
      rayStartParams: {}
      template:
        metadata:
          labels:
            {{- include "ray-eval.selectorLabels" . | nindent 12 }}
            app.kubernetes.io/component: evaluation
        spec:
          {{- include "ray-eval.podSpecCommon" . | nindent 10 }}
          volumes:
            {{- include "ray-eval.volumes" (dict "root" . "volumes" (list "datasets" "results")) | nindent 12 }}
          {{- with include "ray-eval.buildInitContainers" (dict "root" . "volumes" (list "datasets")) }}
          initContainers:
            {{- . | trim | nindent 12 }}
          {{- end }}
          containers:
            - name: ray-worker
              {{- include "ray-eval.image" (dict "root" .) | nindent 14 }}
              env:
                {{- include "ray-eval.env" . | nindent 16 }}
              resources:
                {{- toYaml $ev.cluster.workers.resources | nindent 16 }}
              securityContext:
                {{- include "ray-eval.containerSecurityContext" . | nindent 16 }}
              volumeMounts:
                {{- include "ray-eval.volumeMounts" (dict "volumes" (list "datasets" "results")) | nindent 16 }}
  {{- end }}
{{- end -}}
