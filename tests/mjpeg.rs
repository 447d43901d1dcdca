//! An HTTP MJPEG camera, as ESP32-CAM boards and many IP cameras serve it: a
//! `multipart/x-mixed-replace` stream of JPEGs over plain HTTP. The server here speaks that wire
//! format from a real photograph; the camera must decode it with the real ffmpeg and go online.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

/// Serves the photograph as an endless MJPEG stream (5 fps) to each client until the test ends.
fn serve_mjpeg(jpeg: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let jpeg = jpeg.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                // Read the request head.
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut stream = stream;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=123456789000000000000987654321\r\nConnection: close\r\n\r\n";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                loop {
                    let part = format!(
                        "--123456789000000000000987654321\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                        jpeg.len()
                    );
                    let sent = stream
                        .write_all(part.as_bytes())
                        .and_then(|_| stream.write_all(&jpeg))
                        .and_then(|_| stream.write_all(b"\r\n"));
                    if sent.is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_mjpeg_camera_delivers_frames() {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("photo.jpg");
    std::fs::write(&photo, watchpost::demo::PHOTO).unwrap();
    // An ESP32-CAM sends small JPEGs (VGA or below).
    let small = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(&photo)
        .args(["-vf", "scale=640:-2", "-q:v", "5", "-f", "mjpeg", "-"])
        .output()
        .unwrap();
    assert!(small.status.success());
    let port = serve_mjpeg(small.stdout);

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
