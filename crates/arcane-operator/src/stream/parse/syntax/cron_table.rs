//! The operator's schedule check against the table of CronJob schedules shared with kube-sandbox
//! (`crates/kube-sandbox/tests/data/cron_schedules.txt`, whose verdicts are kube-apiserver's): a stream is
//! refused exactly when the CronJob built from it would be.

use super::schedule;

const TABLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../kube-sandbox/tests/data/cron_schedules.txt"
);

#[test]
fn schedules_are_judged_as_the_api_server_judges_cronjobs() {
    let table = std::fs::read_to_string(TABLE).expect("the shared cron table is readable");
    let mut rows = 0;
    for line in table.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let (verdict, text) = (cols[0], cols[1]);
        let api_server_accepts = match verdict {
            "ok" => true,
            "refused" => false,
            other => panic!("bad verdict {other:?} in {line:?}"),
        };
        if text.starts_with("TZ=") || text.starts_with("CRON_TZ=") {
            // On a stream the prefix is allowed: the builder moves the zone to spec.timeZone, and the
            // CronJob's schedule is what follows it.
            assert_eq!(schedule(text), Ok(()), "{text:?}");
            continue;
        }
        assert_eq!(
            schedule(text).is_ok(),
            api_server_accepts,
            "{text:?}: {:?}",
            schedule(text)
        );
        rows += 1;
    }
    assert!(rows > 50, "only {rows} rows checked");
}
