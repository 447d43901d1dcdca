//! The UI in a real browser: Debian's Chromium driven by npm's playwright-core
//! (`tests/browser/e2e.mjs`) walks through first-run set-up and the guided setup (left halfway,
//! kept across a restart of Watchpost, resumed), adding a camera and watching its
//! live video (on its page and the live grid), opening and resolving an event, playing its clip and the day's timeline, adding a
//! viewer, connecting MQTT (to a private
//! mosquitto), the empty Discovery and Nodes pages, flipping a camera's switches, an API token,
//! signing out, and a viewer refused the settings, on a desktop and a phone-sized screen. Every page is saved as a
//! PNG in the folder this test prints. `scripts/setup.sh --test` installs Chromium and
//! playwright-core.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_works_in_a_real_browser() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir() && Path::new("/usr/bin/chromium").exists(),
        "the browser test needs Chromium and playwright-core: run scripts/setup.sh --test"
    );
    let clip = test_clip();
    let data = tempfile::tempdir().unwrap();
    let mut config = parse_config("");
    // The product as users run it: with the object detector (motion events when it is missing).
    match detector_config() {
        Some(detector) => config.detector = detector,
        None => config.detector.enabled = false,
    }
    let mut app = start_without_accounts(config.clone(), data.path()).await;
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    println!("screenshots: {}", shots.display());

    let broker = common::mqtt::Mosquitto::start();
    let address = app.addr.to_string();
    // Ended after 5 minutes (killed 10 s later) however the browser hangs.
    let mut node = Command::new("timeout")
        .args(["--kill-after=10", "300", "node"])
        .arg(dir.join("e2e.mjs"))
        .arg(format!("http://{address}"))
        .arg(&clip)
        .arg(&shots)
        .arg(broker.port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node (installed by scripts/setup.sh --test)");
    let mut to_node = node.stdin.take().unwrap();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let from_node = BufReader::new(node.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in from_node.lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    // The walk-through asks for a restart halfway (to see the setup guide's draft survive it):
    // Watchpost stops and starts again on the same address, with the same data.
    let mut stdout = String::new();
    while let Some(line) = lines.recv().await {
        if line == "restart watchpost" {
            app.shutdown().await;
            app = start_without_accounts_at(config.clone(), data.path(), &address).await;
            writeln!(to_node, "restarted").unwrap();
        }
        stdout.push_str(&line);
        stdout.push('\n');
    }
    let output = tokio::task::spawn_blocking(move || node.wait_with_output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    app.shutdown().await;
    assert!(output.status.success(), "browser walk-through failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("browser walk-through passed"));
    let pngs = std::fs::read_dir(&shots)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "png"))
        .count();
    assert!(pngs >= 20, "expected a screenshot of every page, found {pngs}");
}
