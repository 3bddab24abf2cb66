//! CronJob schedules as kube-apiserver validates them and kube-controller-manager reads them: robfig/cron v3's
//! `ParseStandard` (five fields, or `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`,
//! `@hourly`, `@every <Go duration>`), then the apiserver's own rule that a new schedule must not contain `TZ`
//! (`spec.timeZone` instead). The accepted set, quirks included (`?` in any field, `+5`, empty list items,
//! `*-5`), is pinned by `tests/data/cron_schedules.txt`, which the operator's validator is tested against too.
//!
//! The result is normalized: each field as a bit set (with robfig's "star" flag, which decides whether
//! day-of-month and day-of-week are OR-ed), so the evaluator never sees syntax it might read differently.

use std::time::Duration;

/// One field's bounds and names (robfig's `bounds`).
struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MONTHS: &[(&str, u32)] = &[
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("may", 5),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
];
const DAYS: &[(&str, u32)] = &[
    ("sun", 0),
    ("mon", 1),
    ("tue", 2),
    ("wed", 3),
    ("thu", 4),
    ("fri", 5),
    ("sat", 6),
];
const FIELDS: [Bounds; 5] = [
    Bounds {
        min: 0,
        max: 59,
        names: &[],
    },
    Bounds {
        min: 0,
        max: 23,
        names: &[],
    },
    Bounds {
        min: 1,
        max: 31,
        names: &[],
    },
    Bounds {
        min: 1,
        max: 12,
        names: MONTHS,
    },
    Bounds {
        min: 0,
        max: 6,
        names: DAYS,
    },
];

/// One parsed field: the values it matches, and whether it was written as `*`/`?` (step 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub bits: u64,
    pub star: bool,
}

impl Field {
    /// The field as cron text the evaluator reads unambiguously: `*`, or an explicit list of values.
    fn text(self, b: &Bounds) -> Option<String> {
        if self.star {
            return Some("*".into());
        }
        let values: Vec<String> = (b.min..=b.max)
            .filter(|v| self.bits & (1 << v) != 0)
            .map(|v| v.to_string())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }
}

/// A schedule robfig/cron accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spec {
    /// Minute, hour, day of month, month, day of week.
    Fields([Field; 5]),
    /// `@every <duration>` (robfig's `ConstantDelaySchedule`: rounded down to whole seconds, at least 1 s).
    Every(Duration),
}

impl Spec {
    /// Five-field text with explicit values, or `None` when some field matches nothing (robfig accepts `,`;
    /// such a schedule never fires).
    pub fn normalized(&self) -> Option<String> {
        match self {
            Spec::Fields(fields) => {
                let parts: Option<Vec<String>> =
                    fields.iter().zip(FIELDS.iter()).map(|(f, b)| f.text(b)).collect();
                parts.map(|p| p.join(" "))
            }
            Spec::Every(_) => None,
        }
    }
}

/// kube-apiserver's check of a new CronJob's `spec.schedule` (error texts are robfig's and the apiserver's).
pub fn validate(schedule: &str) -> Result<Spec, String> {
    let spec = parse_standard(schedule)?;
    if schedule.contains("TZ") {
        return Err("cannot use TZ or CRON_TZ in schedule, use timeZone field instead".into());
    }
    Ok(spec)
}

/// robfig/cron v3 `ParseStandard`, except that a `TZ=`/`CRON_TZ=` prefix is refused outright (the apiserver
/// refuses any schedule containing `TZ` on create).
pub fn parse_standard(spec: &str) -> Result<Spec, String> {
    if spec.is_empty() {
        return Err("empty spec string".into());
    }
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        return Err("cannot use TZ or CRON_TZ in schedule, use timeZone field instead".into());
    }
    if spec.starts_with('@') {
        return descriptor(spec);
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    let mut out = [Field { bits: 0, star: false }; 5];
    for ((text, bounds), slot) in fields.iter().zip(FIELDS.iter()).zip(out.iter_mut()) {
        *slot = field(text, bounds)?;
    }
    Ok(Spec::Fields(out))
}

fn descriptor(spec: &str) -> Result<Spec, String> {
    let fields = |m: &str, h: &str, dom: &str, mon: &str, dow: &str| {
        let parsed: Result<Vec<Field>, String> = [m, h, dom, mon, dow]
            .iter()
            .zip(FIELDS.iter())
            .map(|(t, b)| field(t, b))
            .collect();
        parsed.and_then(|v| {
            <[Field; 5]>::try_from(v)
                .map(Spec::Fields)
                .map_err(|_| "five fields".to_string())
        })
    };
    match spec {
        "@yearly" | "@annually" => fields("0", "0", "1", "1", "*"),
        "@monthly" => fields("0", "0", "1", "*", "*"),
        "@weekly" => fields("0", "0", "*", "*", "0"),
        "@daily" | "@midnight" => fields("0", "0", "*", "*", "*"),
        "@hourly" => fields("0", "*", "*", "*", "*"),
        _ => match spec.strip_prefix("@every ") {
            Some(d) => go_duration(d)
                .map(Spec::Every)
                .ok_or_else(|| format!("failed to parse duration {spec}: time: invalid duration {d:?}")),
            None => Err(format!("unrecognized descriptor: {spec}")),
        },
    }
}

/// A comma-separated list of ranges; empty items are skipped (Go's `strings.FieldsFunc`).
fn field(text: &str, b: &Bounds) -> Result<Field, String> {
    let mut f = Field { bits: 0, star: false };
    for expr in text.split(',').filter(|e| !e.is_empty()) {
        let (bits, star) = range(expr, b)?;
        f.bits |= bits;
        f.star |= star;
    }
    Ok(f)
}

/// `number | number "-" number [ "/" number ]`, `*` or `?`, as robfig's `getRange`.
fn range(expr: &str, b: &Bounds) -> Result<(u64, bool), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end, mut star) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        (b.min, b.max, true)
    } else {
        let start = int_or_name(low_and_high[0], b)?;
        let end = match low_and_high.len() {
            1 => start,
            2 => int_or_name(low_and_high[1], b)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        (start, end, false)
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = go_uint(range_and_step[1])?;
            if single {
                end = b.max;
            }
            if step > 1 {
                star = false;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return Err(format!("end of range ({end}) above maximum ({}): {expr}", b.max));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    let mut bits = 0u64;
    let mut v = start;
    while v <= end {
        bits |= 1 << v;
        v = v.saturating_add(step);
    }
    Ok((bits, star))
}

fn int_or_name(expr: &str, b: &Bounds) -> Result<u32, String> {
    let lower = expr.to_ascii_lowercase();
    if let Some((_, v)) = b.names.iter().find(|(n, _)| *n == lower) {
        return Ok(*v);
    }
    go_uint(expr)
}

/// Go's `strconv.Atoi` (an optional sign, decimal digits, int64 range), then "not negative". Values above
/// u32::MAX are beyond every bound anyway; they saturate so the range checks report them.
fn go_uint(expr: &str) -> Result<u32, String> {
    let digits = expr.strip_prefix(['+', '-']).unwrap_or(expr);
    let valid = !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit());
    let parsed = valid.then(|| expr.parse::<i64>().ok()).flatten();
    match parsed {
        None => Err(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: invalid syntax"
        )),
        Some(n) if n < 0 => Err(format!("negative number ({n}) not allowed: {expr}")),
        Some(n) => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
    }
}

/// Go's `time.ParseDuration` accepts an optional sign, then `<decimal><unit>` pairs (or a bare `0`), with a
/// total within int64 nanoseconds. robfig rounds `@every` to whole seconds, at least one second (negative
/// durations included).
fn go_duration(text: &str) -> Option<Duration> {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    if body == "0" {
        return Some(Duration::from_secs(1));
    }
    if body.is_empty() {
        return None;
    }
    // Bound the integer part of each number so the parse below cannot overflow (Go reports an overflow).
    let mut run = 0usize;
    for c in body.chars() {
        if c.is_ascii_digit() {
            run += 1;
            if run > 12 {
                return None;
            }
        } else {
            run = 0;
        }
    }
    let first_is_number = body.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if !first_is_number || body.starts_with(['+', '-']) {
        return None;
    }
    let parsed: kube::core::Duration = body.parse().ok()?;
    let d: Duration = parsed.into();
    if d.as_nanos() > u128::from(u64::MAX >> 1) {
        return None;
    }
    Some(Duration::from_secs(d.as_secs().max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_fields_and_descriptors() {
        let norm = |s: &str| parse_standard(s).unwrap().normalized();
        assert_eq!(norm("*/20 ? * * MON-wed").as_deref(), Some("0,20,40 * * * 1,2,3"));
        assert_eq!(norm("@weekly").as_deref(), Some("0 0 * * 0"));
        assert_eq!(norm("5/20 +1 1,,2 jan *").as_deref(), Some("5,25,45 1 1,2 1 *"));
        assert_eq!(norm(", * * * *"), None);
        assert_eq!(
            parse_standard("@every 90s"),
            Ok(Spec::Every(Duration::from_secs(90)))
        );
        assert_eq!(
            parse_standard("@every 1500ms"),
            Ok(Spec::Every(Duration::from_secs(1)))
        );
        assert!(parse_standard("@every 99999999999999h").is_err());
        assert_eq!(
            parse_standard("61 * * * *"),
            Err("end of range (61) above maximum (59): 61".into())
        );
    }
}
