{{- define "lightrag.labels" -}}
app.kubernetes.io/name: lightrag
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aistack
{{- end -}}
{{- define "lightrag.selector" -}}
app.kubernetes.io/name: lightrag
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
