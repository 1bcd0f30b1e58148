{{/* Name of the service (chart name unless overridden). */}}
{{- define "aistack-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: fullnameOverride (<team>-<service>-<env>) or the release name. */}}
{{- define "aistack-service.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "aistack-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aistack-service.name" . }}
app.kubernetes.io/instance: {{ include "aistack-service.fullname" . }}
{{- end -}}

{{- define "aistack-service.labels" -}}
{{ include "aistack-service.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | trunc 63 | trimSuffix "-" | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- range $key, $value := .Values.labels }}
{{ $key }}: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "aistack-service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "aistack-service.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* repository:tag or repository@digest; a floating image does not render. */}}
{{- define "aistack-service.image" -}}
{{- $img := .Values.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else if and $img.tag (ne (toString $img.tag) "latest") -}}
{{- printf "%s:%s" $img.repository (toString $img.tag) -}}
{{- else -}}
{{- fail "image.tag must be pinned (not empty, not latest) or image.digest set" -}}
{{- end -}}
{{- end -}}

{{- define "aistack-service.claimName" -}}
{{- default (printf "%s-data" (include "aistack-service.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}
