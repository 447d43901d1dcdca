//! ESP32/ESPHome nodes end to end over real mDNS between two network namespaces: the fake node
//! (the code of `examples/fake_esp32_node`) in one, Watchpost in the other. The node is
//! found with its MAC and firmware, its PIR changes arrive through its SSE stream, it turns
//! offline when it dies, and a camera node becomes a running camera.

mod common;

use common::esp32::{FakeNode, NodeOptions};
use common::netns::{self, NetPair};
use common::{ADMIN, ADMIN_PASSWORD, TestApp, wait_for};
use std::time::Duration;
use watchpost::bus::BusMessage;

/// The fake node (`examples/fake_esp32_node`'s code), started inside `namespace`.
fn start_node(namespace: &str, options: NodeOptions) -> FakeNode {
    let namespace = namespace.to_string();
    // Its sockets and mDNS thread stay in the namespace of the thread that makes them.
    std::thread::spawn(move || {
        netns::enter(&namespace);
        FakeNode::start(options).expect("the fake node starts")
    })
    .join()
    .unwrap()
}

async fn node(app: &TestApp, mac: &str) -> Option<serde_json::Value> {
    let nodes = app.get_json("/api/nodes").await;
    nodes["nodes"].as_array().unwrap().iter().find(|n| n["mac"] == mac).cloned()
}

#[test]
fn a_node_is_found_followed_and_goes_offline_and_a_camera_node_becomes_a_camera() {
    if !netns::available_or_skip() {
        return;
    }
    let pair = NetPair::create("n");
    netns::run_in(&pair.watchpost_ns, async {
        let config = "[discovery]\nprobe_secs = 1\nnode_scan_secs = 2\nnode_offline_secs = 6\n";
        let app = TestApp::start(config).await;
        let mut bus = app.running().state.bus.subscribe();
        let sensor_node = start_node(
            &pair.camera_ns,
            NodeOptions { pir_every: Duration::from_millis(700), ..NodeOptions::esphome(pair.camera_ip.into()) },
        );

        // Listed with its web server (the `_http._tcp` record folded into the ESPHome one).
        let found = wait_for("the ESPHome node is listed", Duration::from_secs(20), || async {
            node(&app, "246f28aabbcc").await.filter(|n| !n["web_port"].is_null())
        })
        .await;
        assert_eq!(found["kind"], "esphome");
        assert_eq!(found["name"], "garage-node");
        assert_eq!(found["firmware"], "2024.6.1");
        assert_eq!(found["board"], "esp32dev");
        assert_eq!(found["address"], pair.camera_ip.to_string());
        assert_eq!(found["web_port"], sensor_node.port);
        assert_eq!(found["online"], true);

        // Its PIR toggles every 0.7 s: both edges arrive through `/events`, stored and on the bus.
        let events = wait_for("PIR events arrive over SSE", Duration::from_secs(20), || async {
            let all = app.get_json("/api/nodes").await["events"].as_array().unwrap().clone();
            let pir: Vec<_> = all.into_iter().filter(|e| e["node_id"] == "246f28aabbcc").collect();
            let edges = [true, false].iter().all(|edge| pir.iter().any(|e| e["active"] == *edge));
            edges.then_some(pir)
        })
        .await;
        for event in &events {
            assert_eq!(
                (&event["sensor"], &event["name"], &event["kind"]),
                (&"binary_sensor-pir".into(), &"PIR".into(), &"motion".into())
            );
        }
        assert!(!events.iter().any(|e| e["sensor"] == "sensor-temperature"), "only binary sensors make node events");
        // Changes, not repeats: consecutive events of the sensor alternate.
        assert!(events.windows(2).all(|w| w[0]["active"] != w[1]["active"]), "{events:?}");
        let mut on_bus = 0;
        while let Ok(message) = bus.try_recv() {
            if let BusMessage::NodeSensor { node_name, event } = message {
                assert_eq!((node_name.as_str(), event.node_id.as_str()), ("garage-node", "246f28aabbcc"));
                on_bus += 1;
            }
        }
        assert!(on_bus >= 2, "node events are published on the bus ({on_bus})");

        let page = app.client.get(app.url("/nodes")).send().await.unwrap().text().await.unwrap();
        for shown in ["garage-node", "24:6f:28:aa:bb:cc", "2024.6.1", "esp32dev", "state-online", "PIR", "motion"] {
            assert!(page.contains(shown), "the Nodes page shows {shown}");
        }

        // The node stops answering and its stream ends → offline.
        drop(sensor_node);
        wait_for("the dead node turns offline", Duration::from_secs(20), || async {
            (node(&app, "246f28aabbcc").await?["online"] == false).then_some(())
        })
        .await;
        let page = app.client.get(app.url("/nodes")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("state-offline"), "the Nodes page shows it offline");

        // An ESP32-CAM with Watchpost's firmware: adopted as a camera from the Nodes page.
        let camera_node = start_node(
            &pair.camera_ns,
            NodeOptions {
                firmware: "watchpost".into(),
                name: "porch-cam".into(),
                mac: "24:6F:28:11:22:33".into(),
                ..NodeOptions::esphome(pair.camera_ip.into())
            },
        );
        let found = wait_for("the camera node is listed", Duration::from_secs(20), || node(&app, "246f28112233")).await;
        assert_eq!(
            (&found["kind"], &found["role"], &found["stream"]),
            (&"watchpost-node".into(), &"camera".into(), &"/stream".into())
        );
        let (browser, csrf) = app.browser_session(ADMIN, ADMIN_PASSWORD).await;
        let form = browser.get(app.url("/nodes/246f28112233/adopt")).send().await.unwrap().text().await.unwrap();
        let stream = format!("http://{}:{}/stream", pair.camera_ip, camera_node.port);
        assert!(form.contains(&format!("value=\"{stream}\"")), "the form suggests the announced stream");

        // A wrong address is checked before anything is made.
        let wrong = format!("http://{}:{}/nothing-here", pair.camera_ip, camera_node.port);
        let response = browser
            .post(app.url("/nodes/246f28112233/adopt"))
            .form(&[("csrf", csrf.as_str()), ("id", "porch"), ("name", "Porch"), ("url", wrong.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422);
        let body = response.text().await.unwrap();
        assert!(body.contains("answered 404") && body.contains("Nothing was created"), "{body}");
        assert!(app.get_json("/api/cameras").await.as_array().unwrap().is_empty());

        let response = browser
            .post(app.url("/nodes/246f28112233/adopt"))
            .form(&[("csrf", csrf.as_str()), ("id", "porch"), ("name", "Porch"), ("url", stream.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()["location"], "/cameras/porch");
        wait_for("the node's camera is online", Duration::from_secs(30), || async {
            (app.camera_state("porch").await.0 == "online").then_some(())
        })
        .await;
        let adopted = node(&app, "246f28112233").await.unwrap();
        assert_eq!(adopted["camera"], "porch");
        drop(camera_node);
        app.shutdown().await;
    });
}
