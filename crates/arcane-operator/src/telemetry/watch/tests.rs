use kube::core::Status;

use super::*;

fn target() -> WatchTarget {
    WatchTarget {
        name: "stream/c".into(),
        class: Some("c".into()),
        group: "example.com".into(),
        version: "v1".into(),
        kind: "Thing".into(),
        plural: "things".into(),
        fix_not_found: "install the plugin's CRD".into(),
    }
}

fn api(code: u16, reason: &str) -> kube::Error {
    kube::Error::Api(
        Status::failure(&format!("things is {reason}"), reason)
            .with_code(code)
            .boxed(),
    )
}

type Item = Result<watcher::Event<()>, watcher::Error>;

#[tokio::test(start_paused = true)]
async fn failures_are_classified_and_recoveries_clear_them() {
    let health = WatchHealth::new(target(), None);
    assert!(!health.listed() && health.problem().is_none());
    let forbidden: Item = Err(watcher::Error::InitialListFailed(api(403, "Forbidden")));
    health.observe(&forbidden);
    let p = health.problem().unwrap();
    assert_eq!((p.kind, p.code), (ProblemKind::Forbidden, Some(403)));
    assert!(health.misconfigured());
    assert!(
        p.message
            .contains(r#"verbs [get, list, watch] on resource "things" in apiGroup "example.com""#),
        "{}",
        p.message
    );
    assert!(!p.detail.contains("Status {"), "{}", p.detail);
    health.observe(&forbidden);
    assert_eq!(health.problem().unwrap().failures, 2);

    let gone: Item = Err(watcher::Error::WatchStartFailed(api(404, "NotFound")));
    health.observe(&gone);
    let p = health.problem().unwrap();
    assert_eq!(p.kind, ProblemKind::NotFound);
    assert!(p.message.contains("example.com/v1, Kind=Thing"), "{}", p.message);

    // An expired resourceVersion is routine.
    let expired: Item = Err(watcher::Error::WatchError(
        Status::failure("too old", "Expired").with_code(410).boxed(),
    ));
    health.observe(&expired);
    assert_eq!(health.problem().unwrap().kind, ProblemKind::NotFound);

    let done: Item = Ok(watcher::Event::InitDone);
    health.observe(&done);
    assert!(health.listed() && health.problem().is_none() && !health.misconfigured());

    let server: Item = Err(watcher::Error::WatchFailed(api(500, "InternalError")));
    health.observe(&server);
    assert_eq!(health.problem().unwrap().kind, ProblemKind::Other);
    assert!(!health.misconfigured());
}

#[test]
fn gvks_and_errors_read_like_kubernetes() {
    assert_eq!(format_gvk("", "v1", "Pod"), "v1, Kind=Pod");
    assert_eq!(format_gvk("batch", "v1", "Job"), "batch/v1, Kind=Job");
    assert_eq!(
        describe_kube_error(&api(404, "NotFound")),
        "404 NotFound: things is NotFound"
    );
}
