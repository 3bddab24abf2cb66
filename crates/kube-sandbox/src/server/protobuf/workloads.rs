//! Protobuf tables of `batch/v1` Job and CronJob with the pod template fields kubectl's generators and
//! `kubectl create job --from=cronjob/x` (a copy of a defaulted job template) send. Field numbers are those of
//! `k8s.io/api/{batch,core}/v1/generated.proto`; fields not listed (rarely used pod spec parts, status) make the
//! request fail with 415 naming the field, rather than be dropped.

use super::messages::{F, LABEL_SELECTOR, Schema};

const LOCAL_REF: Schema = &[(1, F::Str("name"))];
const FIELD_REF: Schema = &[(1, F::Str("apiVersion")), (2, F::Str("fieldPath"))];
const KEY_REF: Schema = &[
    (1, F::Inline(LOCAL_REF)),
    (2, F::Str("key")),
    (3, F::Bool("optional")),
];
const ENV_SOURCE: Schema = &[
    (1, F::Msg("fieldRef", FIELD_REF)),
    (3, F::Msg("configMapKeyRef", KEY_REF)),
    (4, F::Msg("secretKeyRef", KEY_REF)),
];
const ENV: Schema = &[
    (1, F::Str("name")),
    (2, F::Str("value")),
    (3, F::Msg("valueFrom", ENV_SOURCE)),
];
const ENV_FROM_REF: Schema = &[(1, F::Inline(LOCAL_REF)), (2, F::Bool("optional"))];
const ENV_FROM: Schema = &[
    (1, F::Str("prefix")),
    (2, F::Msg("configMapRef", ENV_FROM_REF)),
    (3, F::Msg("secretRef", ENV_FROM_REF)),
];
const PORT: Schema = &[
    (1, F::Str("name")),
    (2, F::IntNz("hostPort")),
    (3, F::Int("containerPort")),
    (4, F::Str("protocol")),
    (5, F::Str("hostIP")),
];
const RESOURCES: Schema = &[(1, F::QuantityMap("limits")), (2, F::QuantityMap("requests"))];
const MOUNT: Schema = &[
    (1, F::Str("name")),
    (2, F::BoolNz("readOnly")),
    (3, F::Str("mountPath")),
    (4, F::Str("subPath")),
    (5, F::Str("mountPropagation")),
    (6, F::Str("subPathExpr")),
];
const CONTAINER: Schema = &[
    (1, F::Str("name")),
    (2, F::Str("image")),
    (3, F::Strs("command")),
    (4, F::Strs("args")),
    (5, F::Str("workingDir")),
    (6, F::Msgs("ports", PORT)),
    (7, F::Msgs("env", ENV)),
    (8, F::Msg("resources", RESOURCES)),
    (9, F::Msgs("volumeMounts", MOUNT)),
    (13, F::Str("terminationMessagePath")),
    (14, F::Str("imagePullPolicy")),
    (16, F::BoolNz("stdin")),
    (17, F::BoolNz("stdinOnce")),
    (18, F::BoolNz("tty")),
    (19, F::Msgs("envFrom", ENV_FROM)),
    (20, F::Str("terminationMessagePolicy")),
];
const POD_SECURITY: Schema = &[
    (2, F::Int("runAsUser")),
    (3, F::Bool("runAsNonRoot")),
    (4, F::Ints("supplementalGroups")),
    (5, F::Int("fsGroup")),
    (6, F::Int("runAsGroup")),
];
const TOLERATION: Schema = &[
    (1, F::Str("key")),
    (2, F::Str("operator")),
    (3, F::Str("value")),
    (4, F::Str("effect")),
    (5, F::Int("tolerationSeconds")),
];
const KEY_PATH: Schema = &[(1, F::Str("key")), (2, F::Str("path")), (3, F::Int("mode"))];
const SECRET_VOLUME: Schema = &[
    (1, F::Str("secretName")),
    (2, F::Msgs("items", KEY_PATH)),
    (3, F::Int("defaultMode")),
    (4, F::Bool("optional")),
];
const CONFIG_MAP_VOLUME: Schema = &[
    (1, F::Inline(LOCAL_REF)),
    (2, F::Msgs("items", KEY_PATH)),
    (3, F::Int("defaultMode")),
    (4, F::Bool("optional")),
];
const EMPTY_DIR: Schema = &[(1, F::Str("medium"))];
const PVC_VOLUME: Schema = &[(1, F::Str("claimName")), (2, F::BoolNz("readOnly"))];
const VOLUME_SOURCE: Schema = &[
    (2, F::Msg("emptyDir", EMPTY_DIR)),
    (6, F::Msg("secret", SECRET_VOLUME)),
    (10, F::Msg("persistentVolumeClaim", PVC_VOLUME)),
    (19, F::Msg("configMap", CONFIG_MAP_VOLUME)),
];
const VOLUME: Schema = &[(1, F::Str("name")), (2, F::Inline(VOLUME_SOURCE))];
const POD_SPEC: Schema = &[
    (1, F::Msgs("volumes", VOLUME)),
    (2, F::Msgs("containers", CONTAINER)),
    (3, F::Str("restartPolicy")),
    (4, F::Int("terminationGracePeriodSeconds")),
    (5, F::Int("activeDeadlineSeconds")),
    (6, F::Str("dnsPolicy")),
    (7, F::StrMap("nodeSelector")),
    (8, F::Str("serviceAccountName")),
    (9, F::Str("serviceAccount")),
    (10, F::Str("nodeName")),
    (11, F::BoolNz("hostNetwork")),
    (12, F::BoolNz("hostPID")),
    (13, F::BoolNz("hostIPC")),
    (14, F::Msg("securityContext", POD_SECURITY)),
    (15, F::Msgs("imagePullSecrets", LOCAL_REF)),
    (16, F::Str("hostname")),
    (17, F::Str("subdomain")),
    (19, F::Str("schedulerName")),
    (20, F::Msgs("initContainers", CONTAINER)),
    (21, F::Bool("automountServiceAccountToken")),
    (22, F::Msgs("tolerations", TOLERATION)),
    (24, F::Str("priorityClassName")),
    (25, F::Int("priority")),
    (29, F::Str("runtimeClassName")),
    (30, F::Bool("enableServiceLinks")),
];
const POD_TEMPLATE: Schema = &[(1, F::Meta), (2, F::Msg("spec", POD_SPEC))];
const CONDITION_PATTERN: Schema = &[(1, F::Str("type")), (2, F::Str("status"))];
const EXIT_CODES: Schema = &[
    (1, F::Str("containerName")),
    (2, F::Str("operator")),
    (3, F::Ints("values")),
];
const PFP_RULE: Schema = &[
    (1, F::Str("action")),
    (2, F::Msg("onExitCodes", EXIT_CODES)),
    (3, F::Msgs("onPodConditions", CONDITION_PATTERN)),
];
const POD_FAILURE_POLICY: Schema = &[(1, F::Msgs("rules", PFP_RULE))];
const JOB_SPEC: Schema = &[
    (1, F::Int("parallelism")),
    (2, F::Int("completions")),
    (3, F::Int("activeDeadlineSeconds")),
    (4, F::Msg("selector", LABEL_SELECTOR)),
    (5, F::Bool("manualSelector")),
    (6, F::Msg("template", POD_TEMPLATE)),
    (7, F::Int("backoffLimit")),
    (8, F::Int("ttlSecondsAfterFinished")),
    (9, F::Str("completionMode")),
    (10, F::Bool("suspend")),
    (11, F::Msg("podFailurePolicy", POD_FAILURE_POLICY)),
    (12, F::Int("backoffLimitPerIndex")),
    (13, F::Int("maxFailedIndexes")),
    (14, F::Str("podReplacementPolicy")),
    (15, F::Str("managedBy")),
];
/// Job status is the controller's: a create body's status is dropped.
pub(super) const JOB: Schema = &[(1, F::Meta), (2, F::Msg("spec", JOB_SPEC)), (3, F::Skip)];
const JOB_TEMPLATE: Schema = &[(1, F::Meta), (2, F::Msg("spec", JOB_SPEC))];
const CRON_JOB_SPEC: Schema = &[
    (1, F::Str("schedule")),
    (2, F::Int("startingDeadlineSeconds")),
    (3, F::Str("concurrencyPolicy")),
    (4, F::Bool("suspend")),
    (5, F::Msg("jobTemplate", JOB_TEMPLATE)),
    (6, F::Int("successfulJobsHistoryLimit")),
    (7, F::Int("failedJobsHistoryLimit")),
    (8, F::Str("timeZone")),
];
pub(super) const CRON_JOB: Schema = &[(1, F::Meta), (2, F::Msg("spec", CRON_JOB_SPEC)), (3, F::Skip)];
