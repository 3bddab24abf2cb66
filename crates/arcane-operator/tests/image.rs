//! The container image that `bash scripts/build-image.sh` writes to
//! `target/image/arcane-operator.oci.tar` (or the archive named by `ARCANE_IMAGE_ARCHIVE`): its
//! OCI config (a numeric non-root user, the entrypoint, the OCI labels), its files (the binary, static:
//! no program interpreter, and the CA bundle), and the binary run from the image's root filesystem as the image's user —
//! `--version`, `crd`, and `run` against a sandbox until `/readyz` answers 200.
//!
//! As root (CI) each command runs chrooted into the unpacked root filesystem, which holds nothing
//! but the binary and the CA bundle: no dynamic loader, no libc, so only a static binary can start
//! there. Elsewhere
//! the binary runs from the unpacked filesystem directly.
//!
//! The tests are ignored by default because they need the archive; .ci/run builds it and runs them:
//! `bash scripts/build-image.sh && cargo nextest run -p arcane-operator --run-ignored only --test image`.

// Helpers of a test may panic on unexpected output like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use arcane_operator::sandbox::install;
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The uncompressed size the image must stay under.
const MAX_IMAGE_BYTES: u64 = 15 * 1000 * 1000;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn archive() -> PathBuf {
    std::env::var_os("ARCANE_IMAGE_ARCHIVE").map_or_else(
        || workspace().join("target/image/arcane-operator.oci.tar"),
        PathBuf::from,
    )
}

/// The unpacked image: its OCI config and root filesystem, in a directory removed on drop.
struct Image {
    dir: PathBuf,
    config: Value,
    rootfs: PathBuf,
    /// Sum of the layers' uncompressed sizes (the unpacked tar streams).
    uncompressed_bytes: u64,
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    let (algorithm, hex) = digest.split_once(':').unwrap();
    layout.join("blobs").join(algorithm).join(hex)
}

fn json_blob(layout: &Path, digest: &str) -> Value {
    serde_json::from_slice(&std::fs::read(blob(layout, digest)).unwrap()).unwrap()
}

/// Unpacks the OCI archive as a runtime would: index → manifest → config and layers in order.
fn unpack() -> Image {
    static N: AtomicU32 = AtomicU32::new(0);
    let archive = archive();
    assert!(
        archive.is_file(),
        "{} not found: build it with `bash scripts/build-image.sh`",
        archive.display()
    );
    let dir = std::env::temp_dir().join(format!(
        "arcane-image-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let layout = dir.join("layout");
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&layout).unwrap();
    std::fs::create_dir_all(&rootfs).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&layout),
    );

    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "one image in the archive: {index}");
    let manifest = json_blob(&layout, manifests[0]["digest"].as_str().unwrap());
    let config = json_blob(&layout, manifest["config"]["digest"].as_str().unwrap());
    let mut uncompressed_bytes = 0;
    for layer in manifest["layers"].as_array().unwrap() {
        let path = blob(&layout, layer["digest"].as_str().unwrap());
        let media = layer["mediaType"].as_str().unwrap();
        // tar detects gzip by itself; zstd would need a flag and buildah does not write it here.
        assert!(
            media.ends_with("tar") || media.ends_with("tar+gzip"),
            "layer type {media}"
        );
        let listing = run_ok(Command::new("tar").arg("-tvf").arg(&path));
        uncompressed_bytes += String::from_utf8_lossy(&listing.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
            .sum::<u64>();
        run_ok(
            Command::new("tar")
                .arg("-xpf")
                .arg(&path)
                .arg("-C")
                .arg(&rootfs)
                .arg("--no-same-owner"),
        );
    }
    Image {
        dir,
        config,
        rootfs,
        uncompressed_bytes,
    }
}

impl Image {
    /// The image's `User`, e.g. `65532:65532`.
    fn user(&self) -> String {
        self.config["config"]["User"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The entrypoint's program inside the root filesystem.
    fn program(&self) -> String {
        self.config["config"]["Entrypoint"][0]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The image's program with `args`, as the image's user: chrooted into the root filesystem
    /// when this process may chroot (root), else straight from the unpacked filesystem.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = if is_root() {
            let mut cmd = Command::new("chroot");
            cmd.arg(format!("--userspec={}", self.user()))
                .arg(&self.rootfs)
                .arg(self.program());
            cmd
        } else {
            Command::new(self.rootfs.join(self.program().trim_start_matches('/')))
        };
        // The image's environment only (none but what the config sets).
        cmd.env_clear().args(args);
        for pair in self.config["config"]["Env"].as_array().into_iter().flatten() {
            if let Some((k, v)) = pair.as_str().and_then(|p| p.split_once('=')) {
                cmd.env(k, v);
            }
        }
        cmd
    }
}

impl Image {
    /// What a container runtime adds to the root filesystem: the kubelet's /etc/hosts and, when
    /// chrooting, the /dev nodes (ring's random numbers come from /dev/urandom in a static binary).
    fn add_runtime_files(&self) {
        let etc = self.rootfs.join("etc");
        std::fs::write(etc.join("hosts"), "127.0.0.1 localhost\n").unwrap();
        if !is_root() {
            return;
        }
        let dev = self.rootfs.join("dev");
        std::fs::create_dir_all(&dev).unwrap();
        for (name, minor) in [("null", "3"), ("zero", "5"), ("random", "8"), ("urandom", "9")] {
            run_ok(
                Command::new("mknod")
                    .args(["-m", "666"])
                    .arg(dev.join(name))
                    .args(["c", "1", minor]),
            );
        }
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// The ELF program header types of a 64-bit little-endian binary.
fn program_header_types(elf: &[u8]) -> Vec<u32> {
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(elf[4], 2, "not a 64-bit ELF");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum)
        .map(|i| {
            let o = phoff + i * phentsize;
            u32::from_le_bytes(elf[o..o + 4].try_into().unwrap())
        })
        .collect()
}

const PT_INTERP: u32 = 3;

/// The regular files under `dir`, relative to `root`, sorted.
fn files_under(root: &Path, dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(root, &path));
        } else {
            out.push(path.strip_prefix(root).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

#[test]
#[ignore = "needs the image: see the file's doc"]
fn image_config_runs_a_numeric_non_root_user_with_oci_labels() {
    let image = unpack();
    let config = &image.config["config"];
    let user = image.user();
    let (uid, gid) = user.split_once(':').unwrap_or((&user, ""));
    let uid: u32 = uid.parse().unwrap_or_else(|_| {
        panic!("User must be a numeric uid (Kubernetes' runAsNonRoot checks it), not {user:?}")
    });
    assert_ne!(uid, 0, "the image must not run as root: User {user:?}");
    assert!(
        gid.is_empty() || gid.parse::<u32>().is_ok(),
        "numeric gid: {user:?}"
    );
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/arcane-operator", "run"]),
        "the chart passes `run`'s flags as args"
    );
    let labels = &config["Labels"];
    for key in ["source", "version", "licenses", "revision"] {
        let value = labels[format!("org.opencontainers.image.{key}")]
            .as_str()
            .unwrap_or_default();
        assert!(
            !value.is_empty(),
            "label org.opencontainers.image.{key} missing: {labels}"
        );
    }
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    assert_eq!(image.config["os"], "linux");
}

#[test]
#[ignore = "needs the image: see the file's doc"]
fn image_holds_one_static_binary_under_the_size_budget() {
    let image = unpack();
    let files = files_under(&image.rootfs, &image.rootfs);
    assert_eq!(
        files,
        ["arcane-operator", "etc/ssl/certs/ca-certificates.crt"],
        "FROM scratch plus the binary and the CA bundle"
    );
    let binary = std::fs::read(image.rootfs.join("arcane-operator")).unwrap();
    let types = program_header_types(&binary);
    assert!(
        !types.contains(&PT_INTERP),
        "the binary asks for a dynamic loader (PT_INTERP): it is not static, and FROM scratch has none"
    );
    eprintln!(
        "image: {} bytes uncompressed ({:.1} MB), archive {} bytes",
        image.uncompressed_bytes,
        image.uncompressed_bytes as f64 / 1e6,
        std::fs::metadata(archive()).unwrap().len()
    );
    assert!(
        image.uncompressed_bytes < MAX_IMAGE_BYTES,
        "image is {} bytes uncompressed, over the {MAX_IMAGE_BYTES} budget",
        image.uncompressed_bytes
    );
}

#[test]
#[ignore = "needs the image: see the file's doc"]
fn version_and_crd_run_from_the_image_root_filesystem() {
    let image = unpack();
    let out = run_ok(&mut image.command(&["--version"]));
    let version = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        version.trim(),
        format!("arcane-operator {}", env!("CARGO_PKG_VERSION"))
    );

    let out = run_ok(&mut image.command(&["crd"]));
    let deploy = std::fs::read_to_string(workspace().join("deploy/crds.yaml")).unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout) == deploy,
        "`arcane-operator crd` from the image differs from deploy/crds.yaml"
    );

    // The sandbox is not in the image's feature set.
    let out = image.command(&["sandbox", "--help"]).output().unwrap();
    assert!(!out.status.success(), "the image must not carry the sandbox");
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// `GET path` on `addr`: the status code, or `None` while nothing answers.
async fn http_status(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, text))
}

/// The operator process; killed on drop if the test ends early.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn process_uid(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the image: see the file's doc"]
async fn operator_from_the_image_gets_ready_on_a_sandbox_and_stops_on_sigterm() {
    let image = unpack();
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = sandbox.client().unwrap();
    // The CRDs as the image prints them, then the demo plugin: StreamClasses, so the operator
    // starts a stream controller per class and is ready only once all their watches listed.
    let crds = run_ok(&mut image.command(&["crd"]));
    let crds = install::parse_documents(&String::from_utf8_lossy(&crds.stdout)).unwrap();
    install::apply_documents(&client, &crds).await.unwrap();
    let demo = std::fs::read_to_string(workspace().join("examples/demo.yaml")).unwrap();
    install::apply_documents(&client, &install::parse_documents(&demo).unwrap())
        .await
        .unwrap();

    // The kubeconfig goes inside the root filesystem, where the chrooted process can read it; it
    // names the server `localhost`, so the static binary resolves a host name through /etc/hosts.
    image.add_runtime_files();
    let kubeconfig = image.rootfs.join("kubeconfig");
    let by_name = sandbox.kubeconfig().replace("127.0.0.1", "localhost");
    assert!(by_name.contains("http://localhost:"), "{by_name}");
    std::fs::write(&kubeconfig, by_name).unwrap();
    let (health, metrics) = (free_addr(), free_addr());
    let kubeconfig_arg = if is_root() {
        "/kubeconfig".to_string()
    } else {
        kubeconfig.display().to_string()
    };
    // The log goes to a file: a pipe nobody reads could fill and stall the operator.
    let log_path = image.dir.join("operator.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let started = Instant::now();
    let child = image
        .command(&[
            "run",
            "--kubeconfig",
            &kubeconfig_arg,
            "--health-addr",
            &health.to_string(),
            "--metrics-addr",
            &metrics.to_string(),
            "--log-format",
            "json",
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut operator = Running(child);
    let pid = operator.0.id();

    let deadline = started + Duration::from_secs(60);
    let ready_after = loop {
        if let Some(status) = operator.0.try_wait().unwrap() {
            let stderr = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("the operator exited ({status}) before it was ready:\n{stderr}");
        }
        if let Some((200, _)) = http_status(health, "/readyz").await {
            break started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "/readyz did not answer 200 within 60 s:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("image: ready {} ms after start", ready_after.as_millis());

    if is_root() {
        assert_eq!(
            process_uid(pid),
            Some(65532),
            "the operator runs as 65532, the image's user and the chart's runAsUser"
        );
    }
    let (code, body) = http_status(metrics, "/metrics").await.unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("controller_runtime_reconcile_total"), "{body}");

    // SIGTERM (the kubelet's stop): graceful shutdown, exit 0.
    run_ok(Command::new("kill").args(["-TERM", &pid.to_string()]));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = operator.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit after SIGTERM: {status}");
    sandbox.shutdown().await;
}
