//! Fuzzing the running operator: arbitrary stream definitions (valid ones mutated at random, from a
//! fixed seed so a failure replays) are created through the API; every accepted one must end with a
//! phase or a `Ready` condition, nothing may panic, and healthy streams must still converge.

use std::time::Duration;

use serde_json::{Value, json};

use super::bad::*;
use arcane_testkit::{Env, Kind, secs, stream};

/// Definitions generated per run, and the bound on waiting for all of them.
const DEFINITIONS: usize = 40;
const SETTLE: Duration = Duration::from_secs(20);

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// JSON pointers (under `.spec`) where the layouts keep something the parser reads.
const PATHS: [&str; 16] = [
    "/suspended",
    "/jobTemplateRef",
    "/jobTemplateRef/name",
    "/jobTemplateRef/namespace",
    "/backfillJobTemplateRef",
    "/execution",
    "/execution/layoutVersion",
    "/execution/suspended",
    "/execution/backfillJobTemplateRef/name",
    "/execution/streamingBackend",
    "/execution/streamingBackend/changeCapture",
    "/execution/streamingBackend/changeCapture/jobTemplateRef/name",
    "/execution/streamingBackend/changeCapture/backfillJobTemplateRef",
    "/execution/streamingBackend/batch",
    "/connectionStringRef",
    "/connectionStringRef/name",
];

fn random_value(rng: &mut Rng) -> Value {
    let values = [
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(""),
        json!("v1"),
        json!("v2"),
        json!("v7"),
        json!("streaming-job"),
        json!("backfill-job"),
        json!("Ünïcødé 🚀"),
        json!("UPPER_case"),
        json!("x".repeat(300)),
        json!({}),
        json!([]),
        json!([1, "two", null]),
        json!({"name": "streaming-job"}),
        json!({"name": 5}),
        json!({"schedule": "*/5 * * * *", "jobTemplateRef": {"name": "batch-job"}}),
        json!({"schedule": "not a cron", "jobTemplateRef": {"name": "batch-job"}}),
        json!({"schedule": "61 * * * *", "jobTemplateRef": {"name": "batch-job"}}),
        json!({"jobTemplateRef": {"name": "streaming-job"}, "backfillJobTemplateRef": {"name": "backfill-job"}}),
    ];
    rng.pick(&values).clone()
}

/// Sets `pointer` in `root` to `value`, creating objects on the way (replacing non-objects).
fn set(root: &mut Value, pointer: &str, value: Value) {
    let mut node = root;
    let keys: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for key in &keys[..keys.len() - 1] {
        if !node.is_object() {
            *node = json!({});
        }
        node = node
            .as_object_mut()
            .expect("made an object")
            .entry(*key)
            .or_insert_with(|| json!({}));
    }
    if !node.is_object() {
        *node = json!({});
    }
    node.as_object_mut()
        .expect("made an object")
        .insert(keys[keys.len() - 1].to_string(), value);
}

fn remove(root: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    if let Some(map) = root.pointer_mut(parent).and_then(Value::as_object_mut) {
        map.remove(key);
    }
}

/// One arbitrary definition: a valid one of a random layout, then up to four random mutations.
fn definition(rng: &mut Rng, index: usize) -> (Kind, String, Value) {
    let kind = *rng.pick(&Kind::ALL);
    let name = format!("fuzz-{index}");
    let schedule = (rng.below(4) == 0).then_some("*/5 * * * *");
    let mut obj = stream(kind, &name, rng.below(5) == 0, schedule);
    let spec = &mut obj["spec"];
    for _ in 0..rng.below(5) {
        let path = *rng.pick(&PATHS);
        match rng.below(4) {
            0 => remove(spec, path),
            _ => set(spec, path, random_value(rng)),
        }
    }
    if rng.below(6) == 0 {
        spec[format!("extra{index}")] = random_value(rng);
    }
    (kind, name, obj)
}

fn has_outcome(obj: &Value) -> bool {
    let phase = obj
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .is_some_and(|p| !p.is_empty());
    let ready = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["reason"].as_str().is_some_and(is_pascal_case))
        });
    phase || ready
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_definitions_all_get_a_status() {
    watch_panics();
    let env = Env::start().await;
    let seed = std::env::var("ARCANE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_a2ca_e001);
    println!("fuzz seed {seed} (set ARCANE_FUZZ_SEED to replay another)");
    let mut rng = Rng(seed);
    let mut created = Vec::new();
    let mut refused = 0;
    for index in 0..DEFINITIONS {
        let (kind, name, obj) = definition(&mut rng, index);
        let resource = kind.resource();
        match try_create(&env, &resource, obj.clone()).await {
            Ok(_) => created.push((kind, name, obj)),
            Err(_) => refused += 1,
        }
    }
    println!(
        "fuzz: {} definitions accepted by the API server, {refused} refused",
        created.len()
    );
    assert!(
        created.len() >= DEFINITIONS / 2,
        "the generator produced too few acceptable objects"
    );
    let deadline = tokio::time::Instant::now() + SETTLE;
    let mut missing: Vec<&(Kind, String, Value)> = created.iter().collect();
    while !missing.is_empty() && tokio::time::Instant::now() < deadline {
        let mut still = Vec::new();
        for entry in missing {
            let (kind, name, _) = entry;
            let done = env.get(*kind, name).await.is_some_and(|o| has_outcome(&o.data));
            if !done {
                still.push(entry);
            }
        }
        missing = still;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let without: Vec<String> = missing
        .iter()
        .map(|(_, name, obj)| format!("{name}: {}", obj["spec"]))
        .collect();
    assert!(
        without.is_empty(),
        "definitions without a status after {SETTLE:?}: {without:#?}"
    );
    healthy_converges(&env, "fuzz-healthy").await;
    env.create(Kind::V2, stream(Kind::V2, "fuzz-healthy-v2", false, None))
        .await;
    env.wait_phase(Kind::V2, "fuzz-healthy-v2", "Running", secs(25))
        .await;
    env.assert_invariants();
    assert_no_panic();
    env.stop().await;
}
