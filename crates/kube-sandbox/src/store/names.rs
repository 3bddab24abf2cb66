//! Object name validation as `apimachinery/pkg/util/validation` and `api/validation/path` word it: which rule a
//! kind's names follow (RFC 1123 label for Namespaces, path segment for RBAC kinds, RFC 1123 subdomain for the
//! rest), with upstream's messages, one per broken rule.

use super::{ApiError, Cause, ResourceInfo};

pub(crate) const DNS1123_LABEL_MAX: usize = 63;
pub(crate) const DNS1123_SUBDOMAIN_MAX: usize = 253;

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, any length.
fn label_shape(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// `IsDNS1123Label`.
pub fn dns_label_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_LABEL_MAX {
        errs.push(format!("must be no more than {DNS1123_LABEL_MAX} characters"));
    }
    if !label_shape(s) {
        errs.push(LABEL_MSG.to_string());
    }
    errs
}

/// `IsDNS1123Subdomain`: the whole name is at most 253 characters; its dot-separated parts have no length cap
/// of their own (the regex has none).
pub fn dns_subdomain_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(format!("must be no more than {DNS1123_SUBDOMAIN_MAX} characters"));
    }
    if !s.split('.').all(label_shape) {
        errs.push(SUBDOMAIN_MSG.to_string());
    }
    errs
}

pub fn is_dns_label(s: &str) -> bool {
    dns_label_errors(s).is_empty()
}

pub fn is_dns_subdomain(s: &str) -> bool {
    dns_subdomain_errors(s).is_empty()
}

/// `path.IsValidPathSegmentName`: what RBAC names must be (colons are fine: `system:controller:x`).
pub fn path_segment_errors(s: &str) -> Vec<String> {
    for bad in [".", ".."] {
        if s == bad {
            return vec![format!("may not be '{bad}'")];
        }
    }
    ["/", "%"]
        .iter()
        .filter(|c| s.contains(*c))
        .map(|c| format!("may not contain '{c}'"))
        .collect()
}

/// The name rule of a kind, by its upstream validation.
pub(crate) fn name_errors(info: &ResourceInfo, name: &str) -> Vec<String> {
    let group = info.gvr.group.as_str();
    let resource = info.gvr.resource.as_str();
    if group.is_empty() && resource == "namespaces" {
        return dns_label_errors(name);
    }
    if info.crd.is_none() && group == "rbac.authorization.k8s.io" {
        return path_segment_errors(name);
    }
    let mut errs = dns_subdomain_errors(name);
    // The CronJob controller appends an 11-character suffix to name its Jobs (`ValidateCronJobCreate`).
    if info.crd.is_none() && group == "batch" && resource == "cronjobs" && name.len() > DNS1123_LABEL_MAX - 11
    {
        errs.push("must be no more than 52 characters".to_string());
    }
    errs
}

/// Checks `metadata.name` the way the type's upstream validation does.
pub fn validate_name(info: &ResourceInfo, name: &str) -> Result<(), ApiError> {
    let group = info.gvr.group.as_str();
    if name.is_empty() {
        return Err(ApiError::invalid(
            &info.kind,
            group,
            name,
            vec![Cause::new(
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            )],
        ));
    }
    let causes: Vec<Cause> = name_errors(info, name)
        .into_iter()
        .map(|msg| {
            Cause::new(
                "FieldValueInvalid",
                "metadata.name",
                format!("Invalid value: {name:?}: {msg}"),
            )
        })
        .collect();
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&info.kind, group, name, causes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `IsDNS1123Subdomain`: "must be no more than 253 characters" and the regex
    /// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`, which caps no dot-separated part.
    #[test]
    fn subdomains_as_upstream() {
        let long_part = "a".repeat(70);
        assert!(
            is_dns_subdomain(&long_part),
            "a 70-character name is a valid subdomain"
        );
        assert!(is_dns_subdomain(&format!("{long_part}.{long_part}.example.com")));
        assert!(is_dns_subdomain(&"a".repeat(253)));
        assert_eq!(
            dns_subdomain_errors(&"a".repeat(254)),
            vec!["must be no more than 253 characters"]
        );
        let both = dns_subdomain_errors(&format!("{}-", "a".repeat(253)));
        assert_eq!(both.len(), 2, "{both:?}");
        for bad in ["A", "-a", "a-", "a..b", ".a", "a_b", ""] {
            assert_eq!(dns_subdomain_errors(bad), vec![SUBDOMAIN_MSG], "{bad:?}");
        }
    }

    /// `IsDNS1123Label`: 63 characters, `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
    #[test]
    fn labels_as_upstream() {
        assert!(is_dns_label(&"a".repeat(63)));
        assert_eq!(
            dns_label_errors(&"a".repeat(64)),
            vec!["must be no more than 63 characters"]
        );
        assert_eq!(dns_label_errors("a.b"), vec![LABEL_MSG]);
    }

    /// `IsValidPathSegmentName`: not "." or "..", no "/" or "%".
    #[test]
    fn path_segments_as_upstream() {
        assert!(path_segment_errors("system:controller:job-controller").is_empty());
        assert!(path_segment_errors("Upper_Case").is_empty());
        assert_eq!(path_segment_errors(".."), vec!["may not be '..'"]);
        assert_eq!(
            path_segment_errors("a/b%c"),
            vec!["may not contain '/'", "may not contain '%'"]
        );
    }
}
