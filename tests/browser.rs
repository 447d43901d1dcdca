//! The UI in a real browser: Debian's Chromium driven by npm's playwright-core
//! (`tests/browser/e2e.mjs`) walks through first-run set-up and the guided setup (left halfway and
//! resumed), adding a camera and watching its
//! live video (on its page and the live grid), opening and resolving an event, playing its clip and the day's timeline, adding a
//! viewer, connecting MQTT (to a private
//! mosquitto), the empty Discovery and Nodes pages, flipping a camera's switches, an API token,
//! signing out, and a viewer refused the settings, on a desktop and a phone-sized screen. Every page is saved as a
//! PNG in the folder this test prints. `scripts/setup.sh --test` installs Chromium and
//! playwright-core.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

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
    let app = start_without_accounts(config, data.path()).await;
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    println!("screenshots: {}", shots.display());

    let broker = common::mqtt::Mosquitto::start();
    let base = format!("http://{}", app.addr);
    let mqtt_port = broker.port.to_string();
    let output = tokio::task::spawn_blocking({
        let (dir, clip, shots) = (dir.clone(), clip.clone(), shots.clone());
        // Ended after 5 minutes (killed 10 s later) however the browser hangs.
        move || {
            Command::new("timeout")
                .args(["--kill-after=10", "300", "node"])
                .arg(dir.join("e2e.mjs"))
                .arg(&base)
                .arg(&clip)
                .arg(&shots)
                .arg(&mqtt_port)
                .output()
        }
    })
    .await
    .unwrap()
    .expect("run node (installed by scripts/setup.sh --test)");
    let stdout = String::from_utf8_lossy(&output.stdout);
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
