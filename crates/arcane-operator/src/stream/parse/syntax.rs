//! Syntax checks for the strings a stream definition hands to the API server (template and secret
//! names, namespaces, CronJob schedules), so that a bad value is reported on the stream rather than
//! surfacing later as a failed lookup or a rejected CronJob.
//!
//! Each check returns a human message; the caller attaches the field path.

use super::access::quote;

/// Kubernetes limits for object names (DNS-1123 subdomain) and namespaces (DNS-1123 label).
pub(super) const MAX_SUBDOMAIN: usize = 253;
pub(super) const MAX_LABEL: usize = 63;
/// No real schedule comes close; it bounds the work done on an absurd one.
pub(super) const MAX_SCHEDULE: usize = 256;

fn is_label(text: &str) -> bool {
    let bytes = text.as_bytes();
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    edge(bytes.first())
        && edge(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

fn too_long(text: &str, limit: usize) -> Option<String> {
    (text.len() > limit).then(|| format!("must be at most {limit} characters, got {}", text.len()))
}

/// A DNS-1123 subdomain: an object name such as a template or a Secret.
pub(super) fn subdomain(text: &str) -> Result<(), String> {
    if let Some(message) = too_long(text, MAX_SUBDOMAIN) {
        return Err(message);
    }
    if text.split('.').all(is_label) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid name: use lowercase letters, digits, '-' and '.', \
             starting and ending with a letter or digit",
            quote(text)
        ))
    }
}

/// A DNS-1123 label: a namespace.
pub(super) fn label(text: &str) -> Result<(), String> {
    if let Some(message) = too_long(text, MAX_LABEL) {
        return Err(message);
    }
    if is_label(text) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid namespace: use lowercase letters, digits and '-', \
             starting and ending with a letter or digit",
            quote(text)
        ))
    }
}

const DESCRIPTORS: [&str; 7] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

struct CronField {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

/// The five standard fields with the bounds the Kubernetes CronJob controller accepts.
const FIELDS: [CronField; 5] = [
    CronField {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    CronField {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    CronField {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    CronField {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTHS,
    },
    CronField {
        name: "day of week",
        min: 0,
        max: 6,
        names: &DAYS,
    },
];

/// A schedule the Kubernetes CronJob API accepts (robfig/cron v3's standard parser: five fields or a
/// descriptor, `@every` included), with an optional time-zone prefix the builder moves to
/// `spec.timeZone`. The table shared with kube-sandbox pins the accepted set (see `cron_table`).
pub(super) fn schedule(text: &str) -> Result<(), String> {
    if let Some(message) = too_long(text, MAX_SCHEDULE) {
        return Err(message);
    }
    let mut rest = text.trim();
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(zoned) = rest.strip_prefix(prefix) {
            let (zone, tail) = zoned.split_once(char::is_whitespace).unwrap_or((zoned, ""));
            if zone.is_empty()
                || !zone
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+-/".contains(c))
            {
                return Err(format!("{} is not a valid time zone", quote(zone)));
            }
            rest = tail.trim_start();
            break;
        }
    }
    if rest.starts_with('@') {
        return descriptor(rest);
    }
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.len() != FIELDS.len() {
        return Err(format!(
            "{} is not a cron schedule: expected 5 fields (minute hour day-of-month month \
             day-of-week) or a descriptor such as @hourly, got {} fields",
            quote(text),
            fields.len()
        ));
    }
    for (field, spec) in fields.into_iter().zip(FIELDS.iter()) {
        cron_field(field, spec).map_err(|why| format!("{}: {} field: {why}", quote(text), spec.name))?;
    }
    Ok(())
}

fn descriptor(text: &str) -> Result<(), String> {
    if DESCRIPTORS.contains(&text) {
        return Ok(());
    }
    if let Some(interval) = text.strip_prefix("@every ")
        && is_duration(interval.trim())
    {
        return Ok(());
    }
    Err(format!(
        "{} is not a known descriptor: use @yearly, @annually, @monthly, @weekly, @daily, \
         @midnight, @hourly or @every <duration>",
        quote(text)
    ))
}

/// A Go duration as `@every` takes it, e.g. `1h30m`, `90s`, `1.5h`.
fn is_duration(text: &str) -> bool {
    const UNITS: [&str; 7] = ["ns", "us", "µs", "ms", "s", "m", "h"];
    // Go takes one sign and a bare `0`.
    let mut rest = text.strip_prefix(['+', '-']).unwrap_or(text);
    if rest == "0" {
        return true;
    }
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let number = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let digits = &rest[..number];
        if digits.is_empty()
            || digits.starts_with('.')
            || digits.ends_with('.')
            || digits.matches('.').count() > 1
        {
            return false;
        }
        rest = &rest[number..];
        // Longest unit first so that `ms` is not read as `m` followed by garbage.
        let Some(unit) = UNITS
            .iter()
            .filter(|unit| rest.starts_with(*unit))
            .max_by_key(|unit| unit.len())
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

/// A comma-separated list of ranges as robfig/cron v3 (the Kubernetes CronJob parser) reads it: empty
/// items are skipped, `*`/`?` match everything, `N/step` runs from N to the maximum.
fn cron_field(text: &str, spec: &CronField) -> Result<(), String> {
    for item in text.split(',').filter(|item| !item.is_empty()) {
        let (range, stepped) = match item.split_once('/') {
            Some((_, step)) if step.contains('/') => {
                return Err(format!("{} has too many slashes", quote(item)));
            }
            Some((range, step)) => {
                if go_atoi(step).is_none_or(|step| step <= 0) {
                    return Err(format!("step {} is not a positive number", quote(step)));
                }
                (range, true)
            }
            None => (item, false),
        };
        cron_range(range, spec, stepped)?;
    }
    Ok(())
}

fn cron_range(range: &str, spec: &CronField, stepped: bool) -> Result<(), String> {
    let parts: Vec<&str> = range.split('-').collect();
    // robfig ignores whatever follows a star's hyphen.
    if parts[0] == "*" || parts[0] == "?" {
        return Ok(());
    }
    let low = cron_value(parts[0], spec)?;
    let high = match parts.len() {
        1 if stepped => spec.max,
        1 => low,
        2 => cron_value(parts[1], spec)?,
        _ => return Err(format!("range {} has too many hyphens", quote(range))),
    };
    if low > high {
        return Err(format!("range {} runs backwards", quote(range)));
    }
    Ok(())
}

/// Go's `strconv.Atoi`: an optional sign and decimal digits.
fn go_atoi(token: &str) -> Option<i64> {
    let digits = token.strip_prefix(['+', '-']).unwrap_or(token);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

fn cron_value(token: &str, spec: &CronField) -> Result<u32, String> {
    if let Some(index) = spec
        .names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(token))
    {
        // Month names count from 1, day names from 0 (Sunday).
        return u32::try_from(index)
            .map(|i| i + spec.min)
            .map_err(|_| "bad name".to_owned());
    }
    match go_atoi(token).and_then(|v| u32::try_from(v).ok()) {
        Some(value) if (spec.min..=spec.max).contains(&value) => Ok(value),
        _ => Err(format!(
            "{} is not a value from {} to {}",
            quote(token),
            spec.min,
            spec.max
        )),
    }
}

#[cfg(test)]
mod cron_table;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_syntax() {
        let valid = [
            "*/5 * * * *",
            "0 0 * * *",
            "0 12 1-15/2 JAN-jun MON-FRI",
            "59 23 31 12 6",
            "0,15,30,45 * * * *",
            "  0   1 * * *  ",
            "@hourly",
            "@daily",
            "@weekly",
            "@monthly",
            "@yearly",
            "@annually",
            "@midnight",
            "@every 1h30m",
            "@every 1.5h",
            "CRON_TZ=Europe/Amsterdam 0 6 * * *",
            "TZ=UTC @daily",
            "0 0 * JUL WED",
            // robfig/cron quirks the Kubernetes API server accepts.
            "+5 * * * *",
            "1,,2 * * * *",
            "*-5 * * * *",
            "@every 0",
        ];
        for text in valid {
            assert_eq!(schedule(text), Ok(()), "{text:?}");
        }
        let invalid = [
            "",
            "* * * *",
            "* * * * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 7",
            "*/0 * * * *",
            "*/x * * * *",
            "5-1 * * * *",
            "* * * MON *",
            "* * * * JAN",
            "* * * * FOO",
            "* * * * MON#",
            "0 0 X * *",
            "0 0 % * *",
            "@fortnightly",
            "@every",
            "@every soon",
            "@every 5",
            "TZ= 0 0 * * *",
            "CRON_TZ=Bad;Zone 0 0 * * *",
            // Quartz extensions: the Kubernetes CronJob parser refuses them.
            "0 0 L * ?",
            "0 0 15W * *",
            "0 0 ? * MON#2",
            "0 0 * * 5L",
        ];
        for text in invalid {
            assert!(schedule(text).is_err(), "{text:?} should be rejected");
        }
    }

    #[test]
    fn names_and_namespaces() {
        let subdomains = [
            ("a", true),
            ("a.b-c.d9", true),
            ("-a", false),
            ("a-", false),
            ("a..b", false),
            ("A", false),
        ];
        for (name, ok) in subdomains {
            assert_eq!(subdomain(name).is_ok(), ok, "{name}");
        }
        assert!(subdomain(&"a".repeat(253)).is_ok());
        assert!(subdomain(&"a".repeat(254)).is_err());
        let labels = [
            ("ns", true),
            ("a-1", true),
            ("a.b", false),
            ("", false),
            ("-a", false),
        ];
        for (name, ok) in labels {
            assert_eq!(label(name).is_ok(), ok, "{name}");
        }
        assert!(label(&"a".repeat(63)).is_ok());
        assert!(label(&"a".repeat(64)).is_err());
    }
}
