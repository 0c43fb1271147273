{{/* fullname is the release's name, with the chart's unless it already holds it. */}}
{{- define "punctual.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* selectorLabels pick the worker's pods; never change them in an upgrade. */}}
{{- define "punctual.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: worker
{{- end -}}

{{- define "punctual.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "punctual.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/*
env is the configuration the worker and the batch job share: the plain
variables, then the secret ones. SHUTDOWN_TIMEOUT and HTTP_ADDR come from
their own values, which the probes and the grace period read too, so they
cannot drift apart. Called with dict "Values" and "redisOnly": the batch
job (redisOnly) gets only the Redis secrets, since enqueue never reads a
provider's token.
*/}}
{{/*
optionalSecretEnv are the secretEnv variables whose key the Secret may
lack: the providers' default tokens, which a setup whose accounts are all
in ACCOUNTS_FILE has no use for. A worker without one says at start which
provider has no account. REDIS_URL and the OAuth secrets stay required: a
worker cannot run without them.
*/}}
{{- define "punctual.optionalSecretEnv" -}}
MATEO_TOKEN LEADCONNECTOR_TOKEN
{{- end -}}

{{- define "punctual.env" -}}
{{- range $name := list "SHUTDOWN_TIMEOUT" "HTTP_ADDR" "ACCOUNTS_FILE" }}
{{- if hasKey $.Values.env $name }}
{{- fail (printf "env.%s: set by the chart (shutdownTimeoutSeconds, httpPort, accounts); remove it from env" $name) }}
{{- end }}
{{- end }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- range $name, $key := .Values.secretEnv }}
{{- if hasKey $.Values.env $name }}
{{- fail (printf "%s: in both env and secretEnv; keep it in one" $name) }}
{{- end }}
{{- if or (not $.redisOnly) (hasPrefix "REDIS_" $name) }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.secretName }}
      key: {{ $key }}
      {{- if has $name (include "punctual.optionalSecretEnv" $ | splitList " ") }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}
{{- end -}}


{{/*
batchPod is the pod of the batch CronJob's Jobs: `enqueue batch` on the
mounted file. restartPolicy stays Never: the Job's podFailurePolicy, which
fails it at once on exit 2, requires it.
*/}}
{{- define "punctual.batchPod" -}}
automountServiceAccountToken: false
restartPolicy: Never
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: enqueue
    image: {{ include "punctual.image" . | quote }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    command: ["/usr/local/bin/enqueue"]
    args:
      - batch
      {{- range .Values.batch.args }}
      - {{ . | quote }}
      {{- end }}
      - /etc/punctual/batch/{{ .Values.batch.file }}
    securityContext:
      {{- toYaml .Values.securityContext | nindent 6 }}
    env:
      {{- include "punctual.env" (dict "Values" .Values "redisOnly" true) | trim | nindent 6 }}
    resources:
      {{- toYaml .Values.batch.resources | nindent 6 }}
    volumeMounts:
      - name: batch
        mountPath: /etc/punctual/batch
        readOnly: true
volumes:
  - name: batch
    {{- toYaml .Values.batch.volume | nindent 4 }}
{{- end }}
