//! A parser for the Prometheus text exposition format (0.0.4), enough to check names, labels,
//! types and values of what `/metrics` serves.

use std::collections::{BTreeMap, HashMap};

/// One sample line: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Every sample and the `# TYPE` of every metric family.
#[derive(Debug, Default)]
pub(crate) struct Scrape {
    pub samples: Vec<Sample>,
    pub types: HashMap<String, String>,
}

impl Scrape {
    /// Parses the text; an unparsable line is an error naming it.
    pub(crate) fn parse(text: &str) -> Result<Scrape, String> {
        let mut scrape = Scrape::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.split_whitespace();
                if words.next() == Some("TYPE") {
                    let (Some(name), Some(kind)) = (words.next(), words.next()) else {
                        return Err(format!("bad TYPE line: {line}"));
                    };
                    scrape.types.insert(name.to_string(), kind.to_string());
                }
                continue;
            }
            scrape
                .samples
                .push(parse_sample(line).ok_or_else(|| format!("bad sample line: {line}"))?);
        }
        Ok(scrape)
    }

    /// Samples named `name` whose labels include every pair of `labels`.
    pub(crate) fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The value of the one sample matching; panics when there is not exactly one.
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found = self.find(name, labels);
        assert_eq!(
            found.len(),
            1,
            "expected one sample {name}{labels:?}, got {found:#?}"
        );
        found[0].value
    }

    /// The value of the one sample matching, if there is exactly one.
    pub(crate) fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.find(name, labels).as_slice() {
            [one] => Some(one.value),
            _ => None,
        }
    }

    /// Sum over every sample matching.
    pub(crate) fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).iter().map(|s| s.value).sum()
    }
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(body)?;
        labels = parsed;
        rest = after;
    }
    // A timestamp may follow the value; the exporter under test writes none, but tolerate it.
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Parses `a="x",b="y\"z"}` and returns the labels and the text after `}`.
fn parse_labels(mut s: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    loop {
        s = s.trim_start_matches([',', ' ']);
        if let Some(after) = s.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_string();
        s = s[eq + 1..].strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.insert(key, value);
        s = &s[end + 1..];
    }
}

#[test]
fn parses_labels_types_and_special_values() {
    let text = "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"1\",b=\"q\\\"uote\"} 3\n\
                h_bucket{le=\"+Inf\"} 2\nup 1\nbad{a=\"1\"} +Inf\n";
    let s = Scrape::parse(text).unwrap();
    assert_eq!(s.types["x_total"], "counter");
    assert_eq!(s.value("x_total", &[("b", "q\"uote")]), 3.0);
    assert_eq!(s.value("h_bucket", &[("le", "+Inf")]), 2.0);
    assert_eq!(s.value("up", &[]), 1.0);
    assert!(s.value("bad", &[]).is_infinite());
    assert!(Scrape::parse("no_value{a=\"1\"}\n").is_err());
    assert!(Scrape::parse("x{a=\"1\" 2\n").is_err());
}
