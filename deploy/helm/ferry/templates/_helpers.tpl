{{/* Chart name, truncated to the DNS label limit. */}}
{{- define "ferry.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release full name: the release name, suffixed with the chart name unless it already contains it. */}}
{{- define "ferry.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "ferry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ferry.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "ferry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "ferry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ferry.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ferry.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Checks values that cannot work together, with the fix in the message. */}}
{{- define "ferry.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true (otherwise every replica reconciles the same jobs); set replicaCount=1 or enable leader election" }}
{{- end }}
{{- if lt (int .Values.maxConcurrentReconciles) 1 }}
{{- fail "maxConcurrentReconciles must be 1 or more" }}
{{- end }}
{{- if not (and (gt (int .Values.leaderElection.leaseDurationSeconds) (int .Values.leaderElection.renewDeadlineSeconds)) (gt (int .Values.leaderElection.renewDeadlineSeconds) (int .Values.leaderElection.retryPeriodSeconds))) }}
{{- fail "leaderElection needs leaseDurationSeconds > renewDeadlineSeconds > retryPeriodSeconds" }}
{{- end }}
{{- end }}
