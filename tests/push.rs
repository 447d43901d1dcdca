//! Push to phones, end to end over real HTTP on 127.0.0.1: a device subscribes through the API
//! and gets the alert from a fake push service, encrypted for it (decrypted here with the
//! device's own key) and signed with the server's VAPID key (checked here with its public key);
//! a 429 delays it, once; a 410 removes the device; a viewer's device gets only the cameras the
//! viewer may see; the notification's token fetches the snapshot and works its buttons; a
//! subscription the browser renews keeps its device. ntfy gets
//! the snapshot with its headers, and a webhook receiver gets signed JSON that a changed body
//! fails.

mod common;

use common::push::{Recorder, TestDevice, header, vapid_claims};
use common::{TestApp, wait_for};
use hmac::Mac;
use std::time::Duration;

fn cameras() -> &'static str {
    "[[cameras]]\nid = \"front\"\nname = \"Front door\"\nurl = \"/nonexistent.mp4\"\nenabled = false\n\
     alerts = { cooldown_secs = 0 }\n\
     [[cameras]]\nid = \"back\"\nname = \"Back yard\"\nurl = \"/nonexistent.mp4\"\nenabled = false\n\
     alerts = { cooldown_secs = 0 }\n"
}

/// The event's deliveries on `channel` once none is pending any more.
async fn settled(app: &TestApp, id: i64, channel: &str, count: usize) -> Vec<serde_json::Value> {
    wait_for(&format!("event {id}'s {count} {channel} deliveries to settle"), Duration::from_secs(30), || async {
        let event = app.get_json(&format!("/api/events/{id}")).await;
        let deliveries: Vec<serde_json::Value> = event["alert"]["deliveries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|d| d["channel"] == channel)
            .collect();
        let done = deliveries.iter().all(|d| d["status"] == "sent" || d["status"] == "failed");
        (deliveries.len() == count && done).then_some(deliveries)
    })
    .await
}

/// Subscribes `device` at `endpoint` for the caller of `client`; the new device's id.
async fn subscribe(app: &TestApp, client: &reqwest::Client, csrf: &str, device: &TestDevice, endpoint: &str) -> i64 {
    let response = client
        .post(app.url("/api/push/subscriptions"))
        .header("x-csrf-token", csrf)
        .json(&serde_json::json!({ "name": "Anna's phone", "subscription": device.subscription(endpoint) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribed_device_gets_the_alert_encrypted_signed_and_once() {
    let service = Recorder::start(201, "");
    let config = format!("[push]\nsubject = \"mailto:ops@example.com\"\n{}", cameras());
    let app = TestApp::start(&config).await;
    let state = &app.running().state;
    let phone = TestDevice::new(3);
    let device = subscribe(&app, &app.client, "", &phone, &service.url("/wpush/v2/phone")).await;
    // A viewer who may see only the back yard has a device too: it gets none of the front's.
    state.auth.create_user("kid", watchpost::model::Role::Viewer, "viewer password", &["back".into()]).await.unwrap();
    let (kid, csrf) = app.browser_session("kid", "viewer password").await;
    subscribe(&app, &kid, &csrf, &TestDevice::new(5), &service.url("/wpush/v2/kid")).await;
    // Bad subscriptions are refused with the reason.
    let bad = app
        .client
        .post(app.url("/api/push/subscriptions"))
        .json(&serde_json::json!({ "subscription": { "endpoint": service.url("/x"), "keys": { "p256dh": "BAAA", "auth": "AAAA" } } }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("p256dh"));

    // The push service is busy at first: the alert waits as told, then arrives once.
    service.script(&[(429, &[("Retry-After", "1")])]);
    let id = common::person_event_on(&app, "front", &["path"]).await;
    let deliveries = settled(&app, id, "push", 1).await;
    assert_eq!((&deliveries[0]["status"], &deliveries[0]["attempts"]), (&"sent".into(), &2.into()), "{deliveries:?}");
    assert_eq!(service.count(), 2, "one refused try and one delivery, nothing to the viewer's device");
    let (method, path, headers, body) = service.request(1);
    assert_eq!((method.as_str(), path.as_str()), ("POST", "/wpush/v2/phone"));
    assert_eq!(header(&headers, "content-encoding"), Some("aes128gcm"));
    assert_eq!(header(&headers, "ttl"), Some("86400"));
    assert_eq!(header(&headers, "urgency"), Some("normal"), "a medium alert");
    let claims = vapid_claims(header(&headers, "authorization").unwrap(), state.push_keys.public_key());
    assert_eq!(claims["aud"], format!("http://127.0.0.1:{}", service.port));
    assert_eq!(claims["sub"], "mailto:ops@example.com");
    let expires = claims["exp"].as_i64().unwrap() - chrono::Utc::now().timestamp();
    assert!((0..=24 * 3600).contains(&expires), "expires in {expires} s");
    let alert: serde_json::Value = serde_json::from_slice(&phone.decrypt(&body)).unwrap();
    assert_eq!(alert["event"], id);
    assert!(alert["title"].as_str().unwrap().contains("Person in path — Front door"), "{alert}");
    assert_eq!(alert["url"], format!("/events/{id}"));
    assert_eq!(alert["actions"], true);
    let page = state.db.push_subscription(device).await.unwrap().unwrap();
    assert!(page.last_sent_ms.is_some(), "the device's last notification is kept");

    // The notification's token shows the snapshot and works the buttons, without a session; a
    // changed token or another event's id is refused.
    let token = alert["token"].as_str().unwrap();
    let image = alert["image"].as_str().unwrap();
    let snapshot = app.anonymous.get(app.url(&format!("{image}?token={token}"))).send().await.unwrap();
    assert_eq!(snapshot.status(), 200);
    assert!(snapshot.bytes().await.unwrap().starts_with(&[0xFF, 0xD8]));
    let forged = format!("{}x", &token[..token.len() - 1]);
    let refused = app.anonymous.get(app.url(&format!("{image}?token={forged}"))).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let other = common::person_event_on(&app, "front", &[]).await;
    let wrong_event = format!("/push/events/{other}/snapshot.jpg");
    let refused = app.anonymous.get(app.url(&format!("{wrong_event}?token={token}"))).send().await.unwrap();
    assert_eq!(refused.status(), 403, "a token works for its own event only");
    let act = |action: &'static str, token: String| {
        let request = app
            .anonymous
            .post(app.url(&format!("/push/events/{id}/{action}")))
            .json(&serde_json::json!({ "token": token }));
        async move { request.send().await.unwrap() }
    };
    assert_eq!(act("resolve", forged.clone()).await.status(), 403);
    let resolved = act("resolve", token.to_string()).await;
    assert_eq!(resolved.status(), 200);
    assert!(resolved.json::<serde_json::Value>().await.unwrap()["message"].as_str().unwrap().contains("resolved"));
    assert_eq!(state.db.get_event(id).await.unwrap().unwrap().status, watchpost::model::EventStatus::Resolved);
    assert_eq!(act("mute", token.to_string()).await.status(), 200);
    let muted = state.cameras.controls().get("front").mute_until_ms.expect("front is muted");
    let hour = muted - chrono::Utc::now().timestamp_millis();
    assert!((3_500_000..=3_600_000).contains(&hour), "muted for {hour} ms");
    let audit = state.db.audit_of(common::ADMIN).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "push.mute"), "the mute is in the audit log");

    // "Send test alert" on the Integrations page reaches every device, with the demo photograph.
    // (First the other event's own alert is sent, so that the count below is only the test's.)
    settled(&app, other, "push", 1).await;
    let before = service.count();
    let line = state.bridges.send_test(watchpost::model::Channel::Push).await.unwrap();
    assert_eq!(line, "Test alert sent to 2 device(s).");
    assert_eq!(service.count(), before + 2);
    let (_, _, _, body) = service.request(before);
    let test: serde_json::Value = serde_json::from_slice(&phone.decrypt(&body)).unwrap();
    assert_eq!((test["event"].as_i64(), test["actions"].as_bool()), (Some(0), Some(false)));
    let demo = app
        .anonymous
        .get(app.url(&format!("{}?token={}", test["image"].as_str().unwrap(), test["token"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(demo.bytes().await.unwrap().as_ref(), watchpost::demo::PHOTO);

    // The account page lists the device; removing it from there ends its notifications.
    let page = app.client.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Anna&#x27;s phone") || page.contains("Anna's phone"), "the device is listed");
    let info = app.get_json("/api/push").await;
    assert_eq!(info["public_key"], state.push_keys.public_key());
    assert_eq!(info["devices"][0]["service"], format!("http://127.0.0.1:{}", service.port));
    assert!(!info.to_string().contains("/wpush/"), "the endpoint is never shown back");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_the_push_service_no_longer_knows_is_removed() {
    let service = Recorder::start(201, "");
    let app = TestApp::start(cameras()).await;
    let state = &app.running().state;
    let device = subscribe(&app, &app.client, "", &TestDevice::new(9), &service.url("/gone")).await;
    service.script(&[(410, &[])]);
    let id = common::person_event_on(&app, "front", &[]).await;
    let deliveries = settled(&app, id, "push", 1).await;
    assert_eq!(deliveries[0]["status"], "failed");
    assert!(deliveries[0]["last_error"].as_str().unwrap().contains("no longer subscribed"), "{deliveries:?}");
    assert!(state.db.push_subscription(device).await.unwrap().is_none(), "the subscription is removed");
    // The next alert has no device to go to.
    let next = common::person_event_on(&app, "front", &[]).await;
    settled(&app, next, "push", 0).await;
    assert_eq!(service.count(), 1);
    // A push service that cannot be reached is named by its origin alone: the endpoint is the
    // device's address, kept out of pages and logs.
    let unreachable = subscribe(&app, &app.client, "", &TestDevice::new(10), "http://127.0.0.1:9/private-path").await;
    let tested = app.client.post(app.url(&format!("/account/push/{unreachable}/test"))).send().await.unwrap();
    let page = tested.text().await.unwrap();
    assert!(page.contains("the push service http://127.0.0.1:9 cannot be reached"), "the reason is shown");
    assert!(!page.contains("private-path"), "the endpoint is not shown");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_the_browser_renews_keeps_its_device() {
    let service = Recorder::start(201, "");
    let app = TestApp::start(cameras()).await;
    let state = &app.running().state;
    let device = subscribe(&app, &app.client, "", &TestDevice::new(11), &service.url("/old")).await;
    // The service worker's pushsubscriptionchange: the old endpoint authorises the new one.
    let renewed = TestDevice::new(12);
    let change = |old: &str| serde_json::json!({ "old_endpoint": old, "subscription": renewed.subscription(&service.url("/new")) });
    let unknown = app
        .anonymous
        .post(app.url("/push/subscription-change"))
        .json(&change(&service.url("/other")))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404, "an endpoint no device has changes nothing");
    let done = app
        .anonymous
        .post(app.url("/push/subscription-change"))
        .json(&change(&service.url("/old")))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 204);
    let row = state.db.push_subscription(device).await.unwrap().unwrap();
    assert_eq!(
        (row.endpoint, row.name),
        (service.url("/new"), "Anna's phone".to_string()),
        "same device, new endpoint"
    );
    let id = common::person_event_on(&app, "front", &[]).await;
    settled(&app, id, "push", 1).await;
    let (_, path, _, body) = service.request(0);
    assert_eq!(path, "/new");
    let alert: serde_json::Value = serde_json::from_slice(&renewed.decrypt(&body)).unwrap();
    assert_eq!(alert["event"], id, "encrypted with the new keys");
    app.shutdown().await;
}

/// `sha256=<hex>` of `timestamp.body` under `secret`, as a receiver computes it.
fn receiver_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!("sha256={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// An RFC 2047 `=?UTF-8?B?…?=` header as ntfy decodes it; plain text as it is.
fn decoded(value: &str) -> String {
    use base64::Engine;
    match value.strip_prefix("=?UTF-8?B?").and_then(|v| v.strip_suffix("?=")) {
        Some(encoded) => String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()).unwrap(),
        None => value.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ntfy_gets_the_snapshot_and_a_webhook_gets_signed_json_once() {
    let ntfy = Recorder::start(200, r#"{"id":"msg123","event":"message"}"#);
    let hook = Recorder::start(204, "");
    let secret = "a-webhook-secret-of-32-characters";
    let config = format!(
        "[push]\nenabled = false\n[ntfy]\ntopic_url = \"{}\"\ntoken = \"tk_testtoken\"\n\
         [[webhooks]]\nurl = \"{}\"\nsecret = \"{secret}\"\n{}",
        ntfy.url("/cameras-7f3a"),
        hook.url("/hooks/watchpost?key=abc"),
        cameras()
    );
    let app = TestApp::start(&config).await;
    // The receiver is down for the first try.
    hook.script(&[(500, &[])]);
    let id = common::person_event_on(&app, "front", &["path"]).await;
    let sent = settled(&app, id, "ntfy", 1).await;
    assert_eq!((&sent[0]["status"], &sent[0]["attempts"]), (&"sent".into(), &1.into()));
    let (method, path, headers, body) = ntfy.request(0);
    assert_eq!((method.as_str(), path.as_str()), ("PUT", "/cameras-7f3a"));
    assert_eq!(header(&headers, "authorization"), Some("Bearer tk_testtoken"));
    assert_eq!(decoded(header(&headers, "title").unwrap()), "Person in path — Front door");
    assert_eq!(header(&headers, "priority"), Some("4"), "medium");
    assert_eq!(decoded(header(&headers, "tags").unwrap()), "warning,person");
    assert!(header(&headers, "click").unwrap().ends_with(&format!("/events/{id}")));
    assert_eq!(header(&headers, "filename"), Some(format!("event-{id}.jpg").as_str()));
    assert!(decoded(header(&headers, "message").unwrap()).contains("Front door"));
    assert_eq!(body, watchpost::demo::PHOTO, "the snapshot is attached");

    let sent = settled(&app, id, "webhook", 1).await;
    assert_eq!((&sent[0]["status"], &sent[0]["attempts"]), (&"sent".into(), &2.into()), "{sent:?}");
    assert_eq!(hook.count(), 2);
    let (method, path, headers, body) = hook.request(1);
    assert_eq!((method.as_str(), path.as_str()), ("POST", "/hooks/watchpost?key=abc"));
    let timestamp = header(&headers, "x-watchpost-timestamp").unwrap();
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    assert!((0..60).contains(&age), "a fresh timestamp");
    let signature = header(&headers, "x-watchpost-signature").unwrap();
    assert_eq!(signature, receiver_signature(secret, timestamp, &body), "the receiver's own check passes");
    let mut changed = body.clone();
    changed[10] ^= 1;
    assert_ne!(signature, receiver_signature(secret, timestamp, &changed), "a changed body fails it");
    assert_ne!(signature, receiver_signature(secret, "1", &body), "another timestamp fails it");
    assert_eq!(header(&headers, "x-watchpost-event"), Some(id.to_string().as_str()));
    let alert: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((alert["type"].as_str(), alert["event"]["id"].as_i64()), (Some("alert"), Some(id)));
    assert_eq!(alert["event"]["camera_name"], "Front door");
    assert_eq!(alert["event"]["severity"], "medium");
    assert!(alert["event"]["snapshot_url"].as_str().unwrap().ends_with(&format!("/api/events/{id}/snapshot.jpg")));

    // The event's delivery log, which every viewer of the camera may read, shows neither the
    // topic nor the query string.
    let event = app.get_json(&format!("/api/events/{id}")).await.to_string();
    assert!(!event.contains("cameras-7f3a") && !event.contains("key=abc"), "{event}");
    assert!(event.contains(&format!("http://127.0.0.1:{}/…", ntfy.port)), "{event}");

    // Both are on the Integrations page, with a test alert each.
    let page = app.client.get(app.url("/settings/integrations")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("data-bridge-state=\"ntfy\"") && page.contains("data-bridge-state=\"webhook\""));
    assert!(!page.contains("cameras-7f3a") && !page.contains("key=abc"), "the topic and the query stay secret");
    let form = [("channel", "webhook")];
    let tested = app.client.post(app.url("/settings/integrations/test-alert")).form(&form).send().await.unwrap();
    assert!(tested.text().await.unwrap().contains("Test alert sent to 1 webhook(s)."));
    let (_, _, _, body) = hook.request(2);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["event"]["id"], 0);
    app.shutdown().await;
}
