//! An HTTP MJPEG camera, as ESP32-CAM boards and many IP cameras serve it: a
//! `multipart/x-mixed-replace` stream of JPEGs over plain HTTP. The server here speaks that wire
//! format from a real photograph; the camera must decode it with the real ffmpeg and go online.

mod common;

use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_mjpeg_camera_delivers_frames() {
    let port = serve_mjpeg(small_photo_jpeg());

    let app =
        TestApp::start(&format!("[[cameras]]\nid = \"esp32cam\"\nurl = \"http://127.0.0.1:{port}/stream\"\n")).await;
    wait_for("the MJPEG camera to come online", Duration::from_secs(30), || async {
        (app.camera_state("esp32cam").await.0 == "online").then_some(())
    })
    .await;
    let jpeg = wait_for("a picture", Duration::from_secs(10), || async {
        let response = app.client.get(app.url("/api/cameras/esp32cam/latest.jpg")).send().await.ok()?;
        (response.status() == 200).then_some(())?;
        response.bytes().await.ok()
    })
    .await;
    assert!(jpeg.starts_with(&[0xFF, 0xD8]));
    app.shutdown().await;
}
