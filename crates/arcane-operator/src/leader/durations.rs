//! Durations as the chart and the CLI write them (`15s`, `500ms`, `-10s`).

use std::time::Duration;

use k8s_openapi::jiff::SignedDuration;

/// Parses a flag duration such as `15s`, `500ms`, `2m` or a plain number of seconds; usable as
/// a clap `value_parser` so the chart's `--lease-duration=15s` style reads the same everywhere.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (expected e.g. 15s, 500ms, 2m)"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit `{other}` in `{text}` (use ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

/// [`parse_duration`] with an optional sign: `-10s`, `+10s`, `10s`. For offsets such as a
/// simulated clock skew.
pub fn parse_signed_duration(text: &str) -> Result<SignedDuration, String> {
    let text = text.trim();
    let (negative, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if magnitude.starts_with(|c: char| !c.is_ascii_digit() && c != '.') {
        return Err(format!(
            "`{text}` is not a duration (expected e.g. -10s, +500ms, 2m)"
        ));
    }
    let magnitude =
        SignedDuration::try_from(parse_duration(magnitude)?).map_err(|e| format!("`{text}`: {e}"))?;
    Ok(if negative { -magnitude } else { magnitude })
}
