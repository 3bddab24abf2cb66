//! `kubectl arcane <TAB>`: kubectl (1.26+) completes a plugin's arguments by running
//! `kubectl_complete-arcane` with the words typed after `kubectl arcane`, the last one the word
//! being completed (empty for a new word). It prints one candidate a line (`value<TAB>help`), then
//! cobra's directive `:4` (no file completion). The same binary under that name does it, and
//! completes stream names and kinds from the cluster as well as commands and flags.

use std::io::Write;

use clap::CommandFactory;
use kube::Client;

use super::PluginCli;
use super::error::PluginError;
use super::find::{Scope, kinds, list_classes};

/// The name kubectl runs for completions of `kubectl arcane`.
pub const COMPLETION_BINARY: &str = "kubectl_complete-arcane";

/// Cobra's `ShellCompDirectiveNoFileComp`: offer no file names.
const NO_FILE_COMPLETION: &str = ":4";

/// What to offer for the word being completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Fixed candidates: `(value, help)`.
    Words(Vec<(String, String)>),
    /// Names of the streams in the namespace (of `kind`, when given).
    Streams { kind: Option<String> },
    /// The stream kinds of the classes.
    Kinds,
}

/// Flags that take a value (the next word is that value, not a command or a stream).
const VALUE_FLAGS: [&str; 10] = [
    "--kubeconfig",
    "--context",
    "-n",
    "--namespace",
    "-o",
    "--output",
    "--kind",
    "--timeout",
    "--tail",
    "--interval",
];

/// Commands whose one positional argument is a stream name.
const STREAM_COMMANDS: [&str; 6] = ["describe", "backfill", "suspend", "resume", "restart", "logs"];

/// The flag values the words set (`--kubeconfig`, `--context`, `-n`), for the cluster look-ups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Typed {
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    pub namespace: Option<String>,
}

/// Reads the typed words (the last one is being completed) into a plan and the flags typed.
pub fn plan(words: &[String]) -> (Plan, Typed) {
    let (partial, before) = match words.split_last() {
        Some((last, before)) => (last.as_str(), before),
        None => ("", &[][..]),
    };
    let mut typed = Typed::default();
    let mut subcommand: Option<String> = None;
    let mut kind = None;
    let mut positionals = 0;
    let mut iter = before.iter().peekable();
    while let Some(word) = iter.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) if word.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (word.as_str(), None),
        };
        if VALUE_FLAGS.contains(&flag) {
            let value = inline.or_else(|| iter.next().cloned());
            match flag {
                "--kubeconfig" => typed.kubeconfig = value,
                "--context" => typed.context = value,
                "-n" | "--namespace" => typed.namespace = value,
                "--kind" => kind = value,
                _ => {}
            }
        } else if word.starts_with('-') {
        } else if subcommand.is_none() {
            subcommand = Some(word.clone());
        } else {
            positionals += 1;
        }
    }
    let command = PluginCli::command();
    let current = subcommand
        .as_deref()
        .and_then(|s| command.find_subcommand(s))
        .unwrap_or(&command);
    let previous = before.last().map(String::as_str);
    let plan = match previous {
        Some("-o" | "--output") => fixed(["table", "json", "yaml"]),
        Some("--kind") => Plan::Kinds,
        Some(flag) if VALUE_FLAGS.contains(&flag) => Plan::Words(Vec::new()),
        _ if partial.starts_with('-') => Plan::Words(flags(&command, current)),
        _ => match subcommand.as_deref() {
            None => Plan::Words(
                command
                    .get_subcommands()
                    .filter(|s| s.get_name() != "help")
                    .map(|s| (s.get_name().to_owned(), about(s)))
                    .collect(),
            ),
            Some("completion") if positionals == 0 => fixed(["bash", "zsh", "fish", "elvish", "powershell"]),
            Some(s) if STREAM_COMMANDS.contains(&s) && positionals == 0 => Plan::Streams { kind },
            Some(_) => Plan::Words(Vec::new()),
        },
    };
    let plan = match plan {
        Plan::Words(all) => Plan::Words(all.into_iter().filter(|(w, _)| w.starts_with(partial)).collect()),
        other => other,
    };
    (plan, typed)
}

fn fixed<const N: usize>(values: [&str; N]) -> Plan {
    Plan::Words(values.iter().map(|v| ((*v).to_owned(), String::new())).collect())
}

fn about(command: &clap::Command) -> String {
    command.get_about().map(ToString::to_string).unwrap_or_default()
}

/// The long flags of `current` and the global ones.
fn flags(root: &clap::Command, current: &clap::Command) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = current
        .get_arguments()
        .chain(root.get_arguments().filter(|a| a.is_global_set()))
        .filter_map(|a| {
            let help = a.get_help().map(ToString::to_string).unwrap_or_default();
            a.get_long().map(|long| (format!("--{long}"), help))
        })
        .collect();
    all.push(("--help".to_owned(), "Print help".to_owned()));
    all.sort();
    all.dedup_by(|a, b| a.0 == b.0);
    all
}

/// Prints the candidates for `words`; a cluster that cannot be asked offers nothing.
pub async fn complete(
    client: Option<&Client>,
    namespace: &str,
    words: &[String],
    out: &mut (dyn Write + Send),
) -> Result<(), PluginError> {
    let partial = words.last().map(String::as_str).unwrap_or_default();
    let (plan, _) = plan(words);
    let candidates: Vec<(String, String)> = match (plan, client) {
        (Plan::Words(words), _) => words,
        (Plan::Kinds, Some(client)) => match list_classes(client).await {
            Ok(classes) => kinds(&classes)
                .into_iter()
                .map(|k| (k.resource.kind, format!("StreamClass {}", k.class)))
                .collect(),
            Err(_) => Vec::new(),
        },
        (Plan::Streams { kind }, Some(client)) => {
            let scope = Scope::Namespace(namespace.to_owned());
            match super::status::collect(client, &scope).await {
                Ok(report) => report
                    .streams
                    .into_iter()
                    .filter(|s| kind.as_ref().is_none_or(|k| s.kind.eq_ignore_ascii_case(k)))
                    .map(|s| (s.name, format!("{} {}", s.kind, s.phase.unwrap_or_default())))
                    .collect(),
                Err(_) => Vec::new(),
            }
        }
        (_, None) => Vec::new(),
    };
    let mut seen = std::collections::BTreeSet::new();
    for (value, help) in candidates {
        if value.starts_with(partial) && seen.insert(value.clone()) {
            if help.is_empty() {
                writeln!(out, "{value}")?;
            } else {
                writeln!(out, "{value}\t{help}")?;
            }
        }
    }
    writeln!(out, "{NO_FILE_COMPLETION}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(words: &[&str]) -> Plan {
        let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        plan(&words).0
    }

    fn values(plan: Plan) -> Vec<String> {
        match plan {
            Plan::Words(words) => words.into_iter().map(|(w, _)| w).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn commands_flags_and_values_are_offered_where_they_fit() {
        assert_eq!(values(planned(&["re"])), ["resume", "restart"]);
        assert!(values(planned(&[""])).contains(&"status".to_owned()));
        assert_eq!(values(planned(&["status", "-o", ""])), ["table", "json", "yaml"]);
        assert_eq!(values(planned(&["status", "--w"])), ["--watch"]);
        assert!(values(planned(&["describe", "--"])).contains(&"--kind".to_owned()));
        assert!(values(planned(&["describe", "--"])).contains(&"--namespace".to_owned()));
        assert_eq!(planned(&["describe", ""]), Plan::Streams { kind: None });
        assert_eq!(
            planned(&["-n", "prod", "logs", "--kind", "MockStreamV1", "o"]),
            Plan::Streams {
                kind: Some("MockStreamV1".into())
            }
        );
        assert_eq!(planned(&["describe", "--kind", ""]), Plan::Kinds);
        // One stream per command: nothing after it; nothing for a free value.
        assert_eq!(values(planned(&["describe", "orders", ""])), Vec::<String>::new());
        assert_eq!(
            values(planned(&["backfill", "--timeout", ""])),
            Vec::<String>::new()
        );
        let (_, typed) = plan(&["--kubeconfig=k", "-n", "prod", "status", ""].map(String::from));
        assert_eq!(typed.kubeconfig.as_deref(), Some("k"));
        assert_eq!(typed.namespace.as_deref(), Some("prod"));
    }
}
