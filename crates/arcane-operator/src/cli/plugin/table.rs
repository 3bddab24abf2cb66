//! Plain-text tables as kubectl prints them: upper-case headers, columns two spaces apart.

/// Renders `rows` under `headers`, each column as wide as its widest cell; no trailing spaces.
pub(super) fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// kubectl's short age: `45s`, `12m`, `3h`, `5d`; `<unknown>` without a time.
pub(super) fn age(since: Option<&str>, now: jiff::Timestamp) -> String {
    let Some(since) = since.and_then(|s| s.parse::<jiff::Timestamp>().ok()) else {
        return "<unknown>".to_owned();
    };
    let secs = now.duration_since(since).as_secs().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// `value`, or `-` for nothing.
pub(super) fn or_dash(value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => v.to_owned(),
        _ => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_lines_have_no_trailing_space() {
        let rows = vec![
            vec!["a".to_owned(), "long value".to_owned(), String::new()],
            vec!["bbbb".to_owned(), "x".to_owned(), "z".to_owned()],
        ];
        let text = render(&["ONE", "TWO", "THREE"], &rows);
        assert_eq!(
            text,
            "ONE   TWO         THREE\na     long value\nbbbb  x           z\n"
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        let now: jiff::Timestamp = "2026-01-03T00:00:00Z".parse().unwrap();
        let cases = [
            ("2026-01-02T23:59:15Z", "45s"),
            ("2026-01-02T23:30:00Z", "30m"),
            ("2026-01-02T20:00:00Z", "4h"),
            ("2026-01-01T00:00:00Z", "2d"),
            ("garbage", "<unknown>"),
        ];
        for (since, want) in cases {
            assert_eq!(age(Some(since), now), want, "{since}");
        }
        assert_eq!(age(None, now), "<unknown>");
    }
}
