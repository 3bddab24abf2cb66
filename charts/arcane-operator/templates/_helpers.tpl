{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "arcane-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, prefixed to the chart name unless it already contains it. */}}
{{- define "arcane-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "arcane-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "arcane-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "arcane-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "arcane-operator.labels" -}}
helm.sh/chart: {{ include "arcane-operator.chart" . }}
{{ include "arcane-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "arcane-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "arcane-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "arcane-operator.leaseName" -}}
{{- default (include "arcane-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "arcane-operator.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.leaseNamespace }}
{{- end }}

{{/*
The image reference. This project publishes no image: the repository is the one the user pushed
target/image/arcane-operator.oci.tar to, so it is required.
*/}}
{{- define "arcane-operator.image" -}}
{{- $repo := required "image.repository is required: the registry/repository you pushed the operator image to (bash scripts/build-image.sh builds it; see the chart README), e.g. --set image.repository=registry.example.com/arcane-operator" .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Several replicas run: the PodDisruptionBudget and the anti-affinity apply. */}}
{{- define "arcane-operator.replicated" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- end }}

{{/*
The pod's affinity: the user's `affinity`, plus the replicas' anti-affinity when several run and the
user's affinity does not set podAntiAffinity itself.
*/}}
{{- define "arcane-operator.affinity" -}}
{{- $affinity := deepCopy (default dict .Values.affinity) }}
{{- $anti := .Values.podAntiAffinity }}
{{- if and (include "arcane-operator.replicated" .) (ne $anti.type "none") (not (hasKey $affinity "podAntiAffinity")) }}
{{- $term := dict "topologyKey" $anti.topologyKey "labelSelector" (dict "matchLabels" (include "arcane-operator.selectorLabels" . | fromYaml)) }}
{{- if eq $anti.type "hard" }}
{{- $_ := set $affinity "podAntiAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $term)) }}
{{- else }}
{{- $_ := set $affinity "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list (dict "weight" (int $anti.weight) "podAffinityTerm" $term))) }}
{{- end }}
{{- end }}
{{- if $affinity }}
{{- toYaml $affinity }}
{{- end }}
{{- end }}

{{/* The PromQL label matchers of the operator's series (prometheusRule.metricSelector). */}}
{{- define "arcane-operator.metricSelector" -}}
{{- default (printf "job=%q,namespace=%q" (printf "%s-metrics" (include "arcane-operator.fullname" .)) .Release.Namespace) .Values.prometheusRule.metricSelector }}
{{- end }}

{{/*
Who owns an existing CRD other than this release: "Helm release NS/NAME", "something outside Helm",
or "" when it does not exist or is this release's.
*/}}
{{- define "arcane-operator.crdOwner" -}}
{{- $existing := lookup "apiextensions.k8s.io/v1" "CustomResourceDefinition" "" .name }}
{{- if $existing }}
{{- $ann := default dict $existing.metadata.annotations }}
{{- $release := index $ann "meta.helm.sh/release-name" }}
{{- $ns := index $ann "meta.helm.sh/release-namespace" }}
{{- if not $release }}
{{- print "something outside Helm (no meta.helm.sh/release-name annotation)" }}
{{- else if or (ne $release .root.Release.Name) (ne $ns .root.Release.Namespace) }}
{{- printf "Helm release %s/%s" $ns $release }}
{{- end }}
{{- end }}
{{- end }}
