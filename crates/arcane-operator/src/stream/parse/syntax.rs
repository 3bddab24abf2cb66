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

/// A plausible cron schedule: five fields or a descriptor, with an optional time-zone prefix.
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
    let mut rest = text;
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

fn cron_field(text: &str, spec: &CronField) -> Result<(), String> {
    for item in text.split(',') {
        if item.is_empty() {
            return Err("empty list item".into());
        }
        let range = match item.split_once('/') {
            Some((range, step)) => {
                let positive = step.bytes().all(|b| b.is_ascii_digit())
                    && step.parse::<u32>().is_ok_and(|step| step > 0);
                if !positive {
                    return Err(format!("step {} is not a positive number", quote(step)));
                }
                range
            }
            None => item,
        };
        cron_range(range, spec)?;
    }
    Ok(())
}

fn cron_range(range: &str, spec: &CronField) -> Result<(), String> {
    if range == "*" || range == "?" {
        return Ok(());
    }
    if uses_extension(range) {
        return extension(range, spec);
    }
    let (low, high) = range.split_once('-').unwrap_or((range, range));
    let low = cron_value(low, spec)?;
    let high = cron_value(high, spec)?;
    if low > high {
        return Err(format!("range {} runs backwards", quote(range)));
    }
    Ok(())
}

const EXTENSION_WORDS: [&str; 3] = ["L", "W", "LW"];

/// Quartz-style `L`, `W` and `#`; some schedulers accept them, so they are only checked for
/// their characters. Names such as `JUL` or `WED` merely contain those letters.
fn uses_extension(range: &str) -> bool {
    range.contains('#')
        || range
            .split(|c: char| !c.is_ascii_alphabetic())
            .any(|word| EXTENSION_WORDS.iter().any(|w| w.eq_ignore_ascii_case(word)))
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
    match token.parse::<u32>() {
        Ok(value) if token.chars().all(|c| c.is_ascii_digit()) && (spec.min..=spec.max).contains(&value) => {
            Ok(value)
        }
        _ => Err(format!(
            "{} is not a value from {} to {}",
            quote(token),
            spec.min,
            spec.max
        )),
    }
}

fn extension(range: &str, spec: &CronField) -> Result<(), String> {
    if let Some((day, nth)) = range.split_once('#') {
        cron_value(day, spec)?;
        return match nth {
            "1" | "2" | "3" | "4" | "5" => Ok(()),
            _ => Err(format!("{} is not an occurrence from 1 to 5", quote(nth))),
        };
    }
    let known = |word: &str| {
        word.is_empty()
            || EXTENSION_WORDS.iter().any(|w| w.eq_ignore_ascii_case(word))
            || spec.names.iter().any(|n| n.eq_ignore_ascii_case(word))
    };
    for word in range.split(|c: char| !c.is_ascii_alphabetic()) {
        if !known(word) {
            return Err(format!("unknown word {}", quote(word)));
        }
    }
    match range.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
        Some(c) => Err(format!("unexpected character {}", quote(&c.to_string()))),
        None => Ok(()),
    }
}

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
            "0 0 L * ?",
            "0 0 15W * *",
            "0 0 LW * *",
            "0 0 ? * MON#2",
            "0 0 * * 5L",
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
            "+5 * * * *",
            "1,,2 * * * *",
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
