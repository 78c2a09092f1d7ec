{{- define "netwarden-agent.labels" -}}
app.kubernetes.io/name: netwarden-agent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "netwarden-agent.secret" -}}
{{- default (printf "%s-token" .Release.Name) .Values.existingSecret -}}
{{- end -}}
