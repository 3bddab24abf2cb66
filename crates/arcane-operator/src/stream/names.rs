//! Deterministic shortening of names and label values that Kubernetes limits to 63 characters.
//!
//! OWNER: builder helper.

use super::hash::sha256_hex;
use super::model::WorkloadKind;

/// Longest Job name: the Job controller copies it into the `job-name` label of its pods.
pub const JOB_NAME_MAX: usize = 63;
/// Longest CronJob name: its Jobs are named `<cronjob>-<11-character suffix>` and must fit 63.
pub const CRONJOB_NAME_MAX: usize = 52;
/// Longest label value.
pub const LABEL_VALUE_MAX: usize = 63;
/// Hex characters of the hash that makes a shortened value unique.
pub const HASH_SUFFIX_LEN: usize = 10;

/// The workload name for a stream: the stream's name, shortened deterministically with a hash suffix
/// when longer than the kind allows (63 characters for a Job, 52 for a CronJob, whose child Jobs add
/// 11 characters).
pub fn workload_name(stream_name: &str, kind: WorkloadKind) -> String {
    let limit = match kind {
        WorkloadKind::Job => JOB_NAME_MAX,
        WorkloadKind::CronJob => CRONJOB_NAME_MAX,
    };
    if stream_name.len() <= limit {
        return stream_name.to_owned();
    }
    let prefix = truncate_bytes(stream_name, limit - HASH_SUFFIX_LEN - 1).trim_end_matches(['-', '.']);
    with_hash_suffix(prefix, stream_name)
}

/// A valid label value for `value` (≤ 63 characters, alphanumeric at both ends), shortened with a
/// hash suffix when needed; a valid value is returned unchanged.
pub fn label_value(value: &str) -> String {
    if is_valid_label_value(value) {
        return value.to_owned();
    }
    // Keep as much of the readable value as is allowed, and let the hash of the full value make it
    // unique: two values differing only in dropped characters still map apart.
    let allowed: String = value.chars().filter(|c| is_label_char(*c)).collect();
    let prefix = truncate_bytes(&allowed, LABEL_VALUE_MAX - HASH_SUFFIX_LEN - 1)
        .trim_matches(|c: char| !c.is_ascii_alphanumeric());
    with_hash_suffix(prefix, value)
}

/// Whether Kubernetes accepts `value` as a label value: empty, or at most 63 characters of
/// `[-A-Za-z0-9_.]` beginning and ending with an alphanumeric character.
pub fn is_valid_label_value(value: &str) -> bool {
    if value.is_empty() {
        return true;
    }
    let bytes = value.as_bytes();
    value.len() <= LABEL_VALUE_MAX
        && value.chars().all(is_label_char)
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn with_hash_suffix(prefix: &str, full: &str) -> String {
    let hash = &sha256_hex(full.as_bytes())[..HASH_SUFFIX_LEN];
    if prefix.is_empty() {
        hash.to_owned()
    } else {
        format!("{prefix}-{hash}")
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_bytes(s: &str, max: usize) -> &str {
    let mut end = 0;
    for (i, c) in s.char_indices() {
        if i + c.len_utf8() > max {
            break;
        }
        end = i + c.len_utf8();
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hash10(s: &str) -> String {
        sha256_hex(s.as_bytes())[..HASH_SUFFIX_LEN].to_owned()
    }

    #[test]
    fn workload_names_within_the_limit_are_unchanged() {
        let (a63, b52) = ("a".repeat(63), "b".repeat(52));
        let cases = [
            ("a", WorkloadKind::Job),
            ("my-stream.v2", WorkloadKind::Job),
            (a63.as_str(), WorkloadKind::Job),
            (b52.as_str(), WorkloadKind::CronJob),
        ];
        for (name, kind) in cases {
            assert_eq!(workload_name(name, kind), name, "{kind:?}");
        }
    }

    #[test]
    fn long_workload_names_are_shortened_to_the_limit() {
        let long64 = "a".repeat(64);
        let long53 = "c".repeat(53);
        // (name, kind, expected)
        let cases = [
            (
                long64.clone(),
                WorkloadKind::Job,
                format!("{}-{}", "a".repeat(52), hash10(&long64)),
            ),
            (
                long53.clone(),
                WorkloadKind::CronJob,
                format!("{}-{}", "c".repeat(41), hash10(&long53)),
            ),
            (
                long64.clone(),
                WorkloadKind::CronJob,
                format!("{}-{}", "a".repeat(41), hash10(&long64)),
            ),
            // The cut lands after separators: they are trimmed so no `--`/`.-` appears.
            (
                format!("{}--..-{}", "x".repeat(48), "y".repeat(20)),
                WorkloadKind::Job,
                format!(
                    "{}-{}",
                    "x".repeat(48),
                    hash10(&format!("{}--..-{}", "x".repeat(48), "y".repeat(20)))
                ),
            ),
        ];
        for (name, kind, expected) in cases {
            let got = workload_name(&name, kind);
            assert_eq!(got, expected, "{name} {kind:?}");
            let limit = if kind == WorkloadKind::Job {
                JOB_NAME_MAX
            } else {
                CRONJOB_NAME_MAX
            };
            assert!(got.len() <= limit);
            assert_eq!(workload_name(&name, kind), got, "deterministic");
        }
    }

    #[test]
    fn long_names_sharing_a_prefix_stay_distinct() {
        let base = "orders-ingestion-from-the-primary-warehouse-into-the-lake-";
        let a = format!("{base}alpha");
        let b = format!("{base}bravo");
        for kind in [WorkloadKind::Job, WorkloadKind::CronJob] {
            let (na, nb) = (workload_name(&a, kind), workload_name(&b, kind));
            assert_ne!(na, nb, "{kind:?}");
            assert_eq!(na[..na.len() - HASH_SUFFIX_LEN], nb[..nb.len() - HASH_SUFFIX_LEN]);
        }
    }

    #[test]
    fn label_values() {
        let long = "v".repeat(64);
        let bad_chars = "team/orders:prod";
        let max = "z".repeat(63);
        let cases: Vec<(&str, String)> = vec![
            ("", String::new()),
            ("Stream_Kind.v1-a", "Stream_Kind.v1-a".into()),
            (&max, max.clone()),
            (&long, format!("{}-{}", "v".repeat(52), hash10(&long))),
            (bad_chars, format!("teamordersprod-{}", hash10(bad_chars))),
            ("-lead", format!("lead-{}", hash10("-lead"))),
            ("trail.", format!("trail-{}", hash10("trail."))),
            ("ünï", format!("n-{}", hash10("ünï"))),
            ("///", hash10("///")),
        ];
        for (input, expected) in cases {
            let got = label_value(input);
            assert_eq!(got, expected, "{input:?}");
            assert!(is_valid_label_value(&got), "{got:?}");
        }
    }

    #[test]
    fn label_values_differing_only_in_dropped_characters_stay_distinct() {
        assert_ne!(label_value("a/b"), label_value("a:b"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn label_value_is_always_valid_and_keeps_valid_values(value in "\\PC{0,80}") {
            let got = label_value(&value);
            prop_assert!(is_valid_label_value(&got), "{:?} -> {:?}", value, got);
            if is_valid_label_value(&value) {
                prop_assert_eq!(got, value);
            }
        }

        #[test]
        fn workload_name_fits_its_limit(name in "[a-z0-9][-a-z0-9.]{0,120}") {
            let job = workload_name(&name, WorkloadKind::Job);
            let cron = workload_name(&name, WorkloadKind::CronJob);
            prop_assert!(job.len() <= JOB_NAME_MAX);
            prop_assert!(cron.len() <= CRONJOB_NAME_MAX);
            prop_assert!(!job.ends_with(['-', '.']) || job == name);
        }
    }
}
