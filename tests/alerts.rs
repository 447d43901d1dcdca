//! Alerts to people, end to end: a stored person event alerts once on every channel (a fake
//! Telegram Bot API and a real SMTP conversation on 127.0.0.1, a real mosquitto for Home
//! Assistant), failing channels get it later exactly once (500, then 429 with `retry_after`; SMTP
//! 451; a Bot API that is down across a restart), captions follow a late description, and the bot
//! answers only its listed chats.

mod common;

use common::mqtt::{Mosquitto, Watcher};
use common::smtp::FakeSmtp;
use common::telegram::{Failure, FakeTelegram};
use common::vlm::{FakeModel, Reply};
use common::whatsapp::{FakeWhatsApp, PHONE_NUMBER_ID, sign};
use common::{TestApp, wait_for};
use std::time::Duration;
use watchpost::bus::{BusMessage, EventSummary};

const TOKEN: &str = "123456:TEST-token_abc";
const CHAT: i64 = 1111;
const OTHER_CHAT: i64 = 2222;
const STRANGER: i64 = 9999;

fn camera() -> &'static str {
    "[[cameras]]\nid = \"front\"\nname = \"Front door\"\nurl = \"/nonexistent.mp4\"\nenabled = false\n\
     alerts = { cooldown_secs = 0 }\n"
}

fn telegram_toml(api_url: &str) -> String {
    format!("[telegram]\nbot_token = \"{TOKEN}\"\nchat_ids = [{CHAT}, {OTHER_CHAT}]\napi_url = \"{api_url}\"\n")
}

const WA_TOKEN: &str = "EAAG-test-access-token";
const APP_SECRET: &str = "meta-app-secret";
const VERIFY_TOKEN: &str = "my-verify-token";

fn whatsapp_toml(api_url: &str) -> String {
    format!(
        "[whatsapp]\napi_url = \"{api_url}\"\nphone_number_id = \"{PHONE_NUMBER_ID}\"\nbusiness_number = \"+4930123456\"\n\
         token = \"{WA_TOKEN}\"\napp_secret = \"{APP_SECRET}\"\nverify_token = \"{VERIFY_TOKEN}\"\n"
    )
}

fn email_toml(port: u16) -> String {
    format!(
        "[email]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\ntls = false\nstarttls = false\n\
         username = \"watchpost\"\npassword = \"mail-secret\"\nfrom = \"Watchpost <cameras@example.com>\"\n\
         to = [\"me@example.com\", \"Partner <partner@example.com>\"]\n"
    )
}

/// A person in the path on `front`, with the demo photograph as its snapshot.
async fn person_event(app: &TestApp) -> i64 {
    common::person_event_on(app, "front", &["path"]).await
}

/// The event's deliveries once none is pending or queued any more.
async fn settled_deliveries(app: &TestApp, id: i64, count: usize, within: Duration) -> Vec<serde_json::Value> {
    wait_for(&format!("event {id}'s {count} deliveries to settle"), within, || async {
        let event = app.get_json(&format!("/api/events/{id}")).await;
        let deliveries = event["alert"]["deliveries"].as_array().cloned().unwrap_or_default();
        let settled = deliveries.iter().all(|d| d["status"] == "sent" || d["status"] == "failed");
        (deliveries.len() == count && settled).then_some(deliveries)
    })
    .await
}

fn by_channel<'a>(deliveries: &'a [serde_json::Value], channel: &str) -> Vec<&'a serde_json::Value> {
    deliveries.iter().filter(|d| d["channel"] == channel).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_event_reaches_every_channel_exactly_once() {
    let telegram = FakeTelegram::start(TOKEN);
    let whatsapp = FakeWhatsApp::start(WA_TOKEN);
    let smtp = FakeSmtp::start(Some(("watchpost", "mail-secret")));
    let broker = Mosquitto::start();
    let watcher = Watcher::start(broker.port, &["watchpost/alerts", "watchpost/status"]).await;
    let config = format!(
        "[mqtt]\nhost = \"127.0.0.1\"\nport = {}\n{}{}{}{}",
        broker.port,
        telegram_toml(&telegram.api_url()),
        whatsapp_toml(&whatsapp.api_url()),
        email_toml(smtp.port),
        camera()
    );
    let app = TestApp::start(&config).await;
    watcher.wait_for("watchpost/status", "online", Duration::from_secs(20)).await;
    // Two WhatsApp numbers asked for alerts; one has sent its code (the opt-in itself is tested in
    // whatsapp_alerts_go_to_verified_numbers_only).
    let db = app.running().state.db.clone();
    let now_ms = chrono::Utc::now().timestamp_millis();
    db.whatsapp_pending("4915112345678", "WP-111111", now_ms).await.unwrap();
    db.whatsapp_pending("447700900123", "WP-222222", now_ms).await.unwrap();
    let body = whatsapp.user_writes("4915112345678", "WP-111111");
    let hook = app
        .anonymous
        .post(app.url("/api/whatsapp/webhook"))
        .header("x-hub-signature-256", sign(APP_SECRET, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 200);

    let id = person_event(&app).await;
    let deliveries = settled_deliveries(&app, id, 5, Duration::from_secs(30)).await;
    assert!(deliveries.iter().all(|d| d["status"] == "sent" && d["attempts"] == 1), "{deliveries:?}");
    // Telegram: one photo to each listed chat, the snapshot, a caption saying what, where and how
    // bad, and the two buttons.
    let photos = telegram.sent_by("sendPhoto");
    let mut chats: Vec<i64> = photos.iter().map(|p| p.chat_id).collect();
    chats.sort();
    assert_eq!(chats, [CHAT, OTHER_CHAT]);
    let photo = &photos[0];
    let jpeg = photo.photo.as_ref().expect("a photo file");
    assert!(jpeg.starts_with(&[0xFF, 0xD8]) && jpeg.len() > 10_000, "a JPEG snapshot, {} bytes", jpeg.len());
    assert!(photo.text.contains("MEDIUM Person in path — Front door"), "{}", photo.text);
    assert!(photo.text.contains(&format!("/events/{id}")), "{}", photo.text);
    let buttons = photo.reply_markup.as_ref().unwrap()["inline_keyboard"][0].clone();
    assert_eq!(buttons[0]["callback_data"], format!("resolve:{id}"));
    assert_eq!(buttons[1]["callback_data"], format!("mute-event:{id}"));
    // E-mail: one message to both, signed in, HTML with the snapshot inline.
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["me@example.com", "partner@example.com"]);
    assert_eq!(mails[0].user.as_deref(), Some("watchpost"));
    assert_is_alert_mail(&mails[0], id);
    // WhatsApp: one image to the verified number, none to the one that never sent its code.
    let messages: Vec<serde_json::Value> = whatsapp.messages().into_iter().filter(|m| m["type"] != "text").collect();
    assert_eq!(messages.len(), 1);
    assert_eq!((&messages[0]["to"], &messages[0]["type"]), (&"4915112345678".into(), &"image".into()));
    // Home Assistant: one alert.
    let alerts: Vec<serde_json::Value> = watcher.on("watchpost/alerts").iter().map(|m| m.json()).collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["event"]["id"], id);

    // The same event announced again (a tracked object that stays, or stops moving) alerts
    // nowhere again; nothing is sent twice; the event's page shows where the alert went.
    let again = app.get_json(&format!("/api/events/{id}")).await;
    let mut summary: EventSummary = EventSummary {
        id,
        camera: "front".into(),
        kind: watchpost::model::EventKind::Object,
        label: Some("person".into()),
        score: 0.95,
        start_ms: again["start_ms"].as_i64().unwrap(),
        end_ms: None,
        snapshot: None,
        zones: vec!["path".into()],
        description: None,
        title: None,
    };
    app.running().state.bus.publish(BusMessage::EventStarted(summary.clone()));
    summary.end_ms = Some(summary.start_ms + 60_000);
    app.running().state.bus.publish(BusMessage::EventEnded(summary));
    // A later event alerting everywhere shows the announcements above were handled: each channel
    // has one alert per event, none again for the first.
    let later = person_event(&app).await;
    settled_deliveries(&app, later, 5, Duration::from_secs(30)).await;
    let images = whatsapp.messages().iter().filter(|m| m["type"] == "image").count();
    assert_eq!((telegram.sent_by("sendPhoto").len(), smtp.mails().len(), images), (4, 2, 2));
    let published = wait_for("the later event's Home Assistant alert", Duration::from_secs(10), || async {
        let alerts = watcher.on("watchpost/alerts");
        alerts.iter().any(|m| m.json()["event"]["id"] == later).then_some(alerts)
    })
    .await;
    assert_eq!(published.len(), 2, "one per event");
    let (browser, _) = app.browser_session(common::ADMIN, common::ADMIN_PASSWORD).await;
    let page = browser.get(app.url(&format!("/events/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Alert: delivered") || page.contains("Alert: viewed"), "{page}");
    for channel in ["Home Assistant", "Telegram", "WhatsApp", "E-mail"] {
        assert!(page.contains(&format!("<strong>{channel}</strong>")), "{channel} in {page}");
    }
    // The bot's token and the mail password are in no page or answer.
    let api = app.client.get(app.url(&format!("/api/events/{id}"))).send().await.unwrap().text().await.unwrap();
    let integrations = browser.get(app.url("/settings/integrations")).send().await.unwrap().text().await.unwrap();
    for text in [&page, &api, &integrations] {
        assert!(!text.contains("TEST-token") && !text.contains("mail-secret") && !text.contains(WA_TOKEN));
    }

    // Each channel checked its settings when it started (signed in to the mail server, read the
    // WhatsApp number) or has delivered since: all show as connected.
    for channel in ["telegram", "whatsapp", "email"] {
        assert!(
            integrations.contains(&format!("data-bridge-state=\"{channel}\">connected")),
            "{channel}: {integrations}"
        );
    }

    // "Send test alert" on the Integrations page: straight to every recipient, and said so.
    assert!(integrations.contains("Send test alert") && integrations.contains(&format!("{CHAT}, {OTHER_CHAT}")));
    let (browser, csrf) = app.browser_session(common::ADMIN, common::ADMIN_PASSWORD).await;
    for (channel, said) in [
        ("telegram", "Test alert sent to 2 Telegram chat(s)."),
        ("whatsapp", "Test alert sent to 1 WhatsApp number(s)."),
        ("email", "Test alert sent to me@example.com"),
    ] {
        let form = [("csrf", csrf.as_str()), ("channel", channel)];
        let response = browser.post(app.url("/settings/integrations/test-alert")).form(&form).send().await.unwrap();
        let page = response.text().await.unwrap();
        assert!(page.contains(said), "{channel}: {page}");
    }
    let tests: Vec<_> = telegram.sent_by("sendPhoto").into_iter().filter(|p| p.text.contains("Test alert")).collect();
    assert_eq!(tests.len(), 2);
    assert_eq!(tests[0].photo.as_deref(), Some(watchpost::demo::PHOTO));
    assert!(smtp.mails().last().unwrap().data.contains("Test alert"));
    assert!(whatsapp.messages().last().unwrap()["image"]["caption"].as_str().unwrap().contains("Test alert"));
    assert!(telegram.rejected().is_empty(), "nothing the real Bot API would refuse: {:?}", telegram.rejected());
    assert!(whatsapp.rejected().is_empty(), "nothing the Graph API would refuse: {:?}", whatsapp.rejected());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_that_fail_get_the_alert_later_exactly_once() {
    let telegram = FakeTelegram::start(TOKEN);
    // A 500, then two 429s asking for 2 s: the first chat's alert waits through all three.
    telegram.fail_next(&[
        Failure::ServerError,
        Failure::TooManyRequests { retry_after: 2 },
        Failure::TooManyRequests { retry_after: 2 },
    ]);
    let smtp = FakeSmtp::start(Some(("watchpost", "mail-secret")));
    smtp.refuse_next(2);
    let config = format!("{}{}{}", telegram_toml(&telegram.api_url()), email_toml(smtp.port), camera());
    let app = TestApp::start(&config).await;
    let id = person_event(&app).await;
    let deliveries = settled_deliveries(&app, id, 3, Duration::from_secs(90)).await;
    assert!(deliveries.iter().all(|d| d["status"] == "sent"), "{deliveries:?}");
    assert_eq!(telegram.refused(), 3);
    assert_eq!(smtp.refused(), 2);
    let telegram_tries: i64 = by_channel(&deliveries, "telegram").iter().map(|d| d["attempts"].as_i64().unwrap()).sum();
    assert_eq!(telegram_tries, 5, "three refusals and two deliveries: {deliveries:?}");
    let email = by_channel(&deliveries, "email");
    assert_eq!(email[0]["attempts"], 3, "{email:?}");
    assert!(email[0]["last_error"].as_str().unwrap().contains("451"), "{email:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut chats: Vec<i64> = telegram.sent_by("sendPhoto").iter().map(|p| p.chat_id).collect();
    chats.sort();
    assert_eq!(chats, [CHAT, OTHER_CHAT], "each chat once");
    assert_eq!(smtp.mails().len(), 1);
    let health = app.get_json("/api/integrations").await;
    let bridge =
        |name: &str| health["bridges"].as_array().unwrap().iter().find(|b| b["name"] == name).cloned().unwrap();
    assert_eq!((bridge("telegram")["delivered"].as_u64(), bridge("telegram")["pending"].as_u64()), (Some(2), Some(0)));
    assert_eq!(bridge("email")["delivered"], 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_made_while_the_bot_api_is_down_is_sent_after_a_restart() {
    // Nothing listens at first: the alert waits in the database.
    let nobody = format!("http://127.0.0.1:{}", common::free_port());
    let config = |api: &str| format!("{}{}", telegram_toml(api), camera());
    let app = TestApp::start(&config(&nobody)).await;
    let id = person_event(&app).await;
    wait_for("a failed try", Duration::from_secs(20), || async {
        let event = app.get_json(&format!("/api/events/{id}")).await;
        event["alert"]["deliveries"][0]["last_error"].as_str().map(str::to_string)
    })
    .await;
    let data = app.shutdown().await;

    let telegram = FakeTelegram::start(TOKEN);
    let app = TestApp::start_in(&config(&telegram.api_url()), data).await;
    let deliveries = settled_deliveries(&app, id, 2, Duration::from_secs(60)).await;
    assert!(deliveries.iter().all(|d| d["status"] == "sent"), "{deliveries:?}");
    assert_eq!(telegram.sent_by("sendPhoto").len(), 2);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_description_edits_the_caption_and_never_alerts_again() {
    let mut slow =
        Reply::openai(r#"{"title":"Courier at the door","description":"A courier leaves a parcel.","threat_level":0}"#);
    slow.delay = Duration::from_secs(3);
    let model = FakeModel::start(vec![], slow);
    let telegram = FakeTelegram::start(TOKEN);
    let describe = format!(
        "[describe]\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"m\"\nalert_wait_secs = 1\ntimeout_secs = 20\n",
        model.base_url()
    );
    let app = TestApp::start(&format!("{describe}{}{}", telegram_toml(&telegram.api_url()), camera())).await;
    let id = person_event(&app).await;
    settled_deliveries(&app, id, 2, Duration::from_secs(20)).await;
    let first = telegram.sent_by("sendPhoto");
    assert!(first.iter().all(|p| !p.text.contains("Courier")), "sent before the description");
    let edits = wait_for("two caption edits", Duration::from_secs(20), || async {
        let edits = telegram.sent_by("editMessageCaption");
        (edits.len() == 2).then_some(edits)
    })
    .await;
    for edit in &edits {
        assert!(edit.text.contains("Courier at the door\nA courier leaves a parcel."), "{}", edit.text);
        let sent = first.iter().find(|p| p.chat_id == edit.chat_id).unwrap();
        assert!(edit.fields["message_id"].is_number(), "{:?}", edit.fields);
        assert!(sent.reply_markup.is_some() && edit.reply_markup.is_some(), "the buttons stay");
    }
    // A later event's alert shows the description's update was handled before it.
    let later = person_event(&app).await;
    settled_deliveries(&app, later, 2, Duration::from_secs(20)).await;
    assert_eq!(telegram.sent_by("sendPhoto").len(), 4, "the description does not alert again");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_obeys_its_chats_and_refuses_strangers() {
    let telegram = FakeTelegram::start(TOKEN);
    let app = TestApp::start(&format!("{}{}", telegram_toml(&telegram.api_url()), camera())).await;
    let reply_to = |chat: i64, count: usize| {
        let telegram = &telegram;
        async move {
            wait_for(&format!("reply {count} in chat {chat}"), Duration::from_secs(20), || async {
                let replies: Vec<String> =
                    telegram.sent_by("sendMessage").into_iter().filter(|m| m.chat_id == chat).map(|m| m.text).collect();
                replies.get(count - 1).cloned()
            })
            .await
        }
    };
    let controls = app.running().state.cameras.controls().clone();

    // A stranger is refused, and nothing changes.
    telegram.user_writes(STRANGER, "/disarm");
    let refusal = reply_to(STRANGER, 1).await;
    assert!(refusal.contains("serves only its owner's chats") && refusal.contains("9999"), "{refusal}");
    assert!(controls.armed());

    telegram.user_writes(CHAT, "/disarm");
    assert!(reply_to(CHAT, 1).await.contains("Disarmed"));
    assert!(!controls.armed());
    telegram.user_writes(CHAT, "/arm@watchpost_bot");
    assert!(reply_to(CHAT, 2).await.contains("Armed"));
    assert!(controls.armed());

    telegram.user_writes(CHAT, "/mute front 2h");
    let muted = reply_to(CHAT, 3).await;
    assert!(muted.starts_with("Front door is muted until"), "{muted}");
    let until = controls.get("front").mute_until_ms.expect("muted");
    let in_two_hours = chrono::Utc::now().timestamp_millis() + 7_200_000;
    assert!((until - in_two_hours).abs() < 60_000, "{until} vs {in_two_hours}");
    telegram.user_writes(CHAT, "/cameras");
    assert!(reply_to(CHAT, 4).await.contains("• Front door (front): disabled, muted until"));
    telegram.user_writes(CHAT, "/unmute front");
    assert!(reply_to(CHAT, 5).await.contains("Front door alerts again"));
    assert_eq!(controls.get("front").mute_until_ms, None);
    telegram.user_writes(CHAT, "/snapshot garage");
    assert!(reply_to(CHAT, 6).await.contains("There is no camera \"garage\". Cameras: front."));
    telegram.user_writes(CHAT, "/status");
    let status = reply_to(CHAT, 7).await;
    assert!(status.contains("Armed") && status.contains("Cameras online: 0 of 1"), "{status}");

    // An alert's buttons: resolve it, mute the camera for an hour. A stranger's press does nothing.
    let id = person_event(&app).await;
    settled_deliveries(&app, id, 2, Duration::from_secs(20)).await;
    let [resolve, mute] = button_data(&telegram);
    telegram.user_presses(STRANGER, 501, &resolve);
    telegram.user_presses(CHAT, 501, &resolve);
    wait_for("the event resolved", Duration::from_secs(20), || async {
        (app.get_json(&format!("/api/events/{id}")).await["status"] == "resolved").then_some(())
    })
    .await;
    telegram.user_presses(CHAT, 501, &mute);
    wait_for("the camera muted", Duration::from_secs(20), || async { controls.get("front").mute_until_ms }).await;
    // Each press is answered after it is carried out: wait for the three answers.
    let answers: Vec<String> = wait_for("three answers", Duration::from_secs(20), || async {
        let answers = telegram.sent_by("answerCallbackQuery");
        (answers.len() >= 3).then_some(answers)
    })
    .await
    .iter()
    .map(|a| a.fields["text"].as_str().unwrap_or_default().to_string())
    .collect();
    assert_eq!(answers[0], "Not allowed.");
    assert_eq!(answers[1], format!("Event {id} resolved."));
    assert!(answers[2].starts_with("Front door is muted until"), "{answers:?}");
    // A button sent by an earlier version still works.
    controls.change("front", |c| c.mute_until_ms = None).await.unwrap();
    telegram.user_presses(CHAT, 501, "mute:front");
    wait_for("the camera muted again", Duration::from_secs(20), || async { controls.get("front").mute_until_ms }).await;
    assert!(telegram.rejected().is_empty(), "{:?}", telegram.rejected());
    app.shutdown().await;
}

/// The `callback_data` of the "Resolve" and "Mute 1 h" buttons under the first alert photo.
fn button_data(telegram: &FakeTelegram) -> [String; 2] {
    let photo = telegram.sent_by("sendPhoto").into_iter().next().expect("an alert photo");
    let markup = photo.reply_markup.expect("buttons");
    let row = markup["inline_keyboard"][0].as_array().expect("one row").clone();
    [0, 1].map(|i| row[i]["callback_data"].as_str().expect("callback data").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_with_a_64_character_id_alerts_on_telegram_and_its_buttons_work() {
    let telegram = FakeTelegram::start(TOKEN);
    let id = "a".repeat(64);
    let camera = format!(
        "[[cameras]]\nid = \"{id}\"\nname = \"Long\"\nurl = \"/nonexistent.mp4\"\nenabled = false\n\
         alerts = {{ cooldown_secs = 0 }}\n"
    );
    let app = TestApp::start(&format!("{}{camera}", telegram_toml(&telegram.api_url()))).await;
    let event = common::person_event_on(&app, &id, &[]).await;
    let deliveries = settled_deliveries(&app, event, 2, Duration::from_secs(20)).await;
    assert!(deliveries.iter().all(|d| d["status"] == "sent"), "{deliveries:?} {:?}", telegram.rejected());
    let [_, mute] = button_data(&telegram);
    assert!(mute.len() <= 64, "{mute}");
    telegram.user_presses(CHAT, 501, &mute);
    let controls = app.running().state.cameras.controls().clone();
    wait_for("the camera muted", Duration::from_secs(20), || async { controls.get(&id).mute_until_ms }).await;
    assert!(telegram.rejected().is_empty(), "{:?}", telegram.rejected());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_bot_api_refuses_what_the_real_one_refuses() {
    let telegram = FakeTelegram::start(TOKEN);
    let client = reqwest::Client::new();
    let url = |method: &str| format!("{}/bot{TOKEN}/{method}", telegram.api_url());
    let keyboard = |data: &str| serde_json::json!({ "inline_keyboard": [[{ "text": "Mute", "callback_data": data }]] });
    let cases = [
        ("sendMessage", serde_json::json!({ "text": "hello" }), "chat_id is empty"),
        ("sendMessage", serde_json::json!({ "chat_id": CHAT, "text": " " }), "message text is empty"),
        ("sendMessage", serde_json::json!({ "chat_id": CHAT, "text": "x".repeat(4097) }), "message is too long"),
        ("sendMessage", serde_json::json!({ "chat_id": CHAT, "text": "🔴".repeat(2049) }), "message is too long"),
        (
            "sendMessage",
            serde_json::json!({ "chat_id": CHAT, "text": "hi", "reply_markup": keyboard(&"m".repeat(65)) }),
            "BUTTON_DATA_INVALID",
        ),
        (
            "sendMessage",
            serde_json::json!({ "chat_id": CHAT, "text": "hi", "reply_markup": "not json" }),
            "can't parse reply keyboard markup",
        ),
        ("editMessageCaption", serde_json::json!({ "chat_id": CHAT, "caption": "x" }), "message identifier"),
        (
            "editMessageCaption",
            serde_json::json!({ "chat_id": CHAT, "message_id": 5, "caption": "x".repeat(1025) }),
            "caption is too long",
        ),
        ("answerCallbackQuery", serde_json::json!({ "text": "ok" }), "query ID is invalid"),
        ("sendPhoto", serde_json::json!({ "chat_id": CHAT }), "there is no photo"),
    ];
    for (method, body, expected) in cases {
        let response = client.post(url(method)).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 400, "{method} {body}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!((answer["ok"].as_bool(), answer["error_code"].as_i64()), (Some(false), Some(400)));
        assert!(answer["description"].as_str().unwrap().contains(expected), "{method}: {answer}");
    }
    let not_a_jpeg = reqwest::multipart::Form::new()
        .text("chat_id", CHAT.to_string())
        .part("photo", reqwest::multipart::Part::bytes(b"GIF89a".to_vec()).file_name("x.jpg"));
    let response = client.post(url("sendPhoto")).multipart(not_a_jpeg).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("IMAGE_PROCESS_FAILED"));
    let ok = client.post(url("sendMessage")).json(&serde_json::json!({ "chat_id": CHAT, "text": "hi" })).send();
    assert_eq!(ok.await.unwrap().status(), 200, "a good call still goes through");
    assert_eq!(telegram.rejected().len(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_alerts_go_to_verified_numbers_only() {
    let whatsapp = FakeWhatsApp::start(WA_TOKEN);
    let app = TestApp::start(&format!("{}{}", whatsapp_toml(&whatsapp.api_url()), camera())).await;
    let hook = app.url("/api/whatsapp/webhook");

    // Meta's handshake: the challenge comes back only with our verify token.
    let handshake =
        |token: &str| format!("{hook}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444");
    let answer = app.anonymous.get(handshake(VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "1158201444");
    assert_eq!(app.anonymous.get(handshake("guess")).send().await.unwrap().status(), 403);

    // The administrator adds two numbers: each waits for its code, shown with a wa.me link.
    let (browser, csrf) = app.browser_session(common::ADMIN, common::ADMIN_PASSWORD).await;
    for number in ["+49 151 1234 5678", "+44 7700 900123"] {
        let form = [("csrf", csrf.as_str()), ("number", number)];
        let added = browser.post(app.url("/settings/integrations/whatsapp/numbers")).form(&form).send().await.unwrap();
        assert_eq!(added.status(), 303, "{number}");
    }
    let bad = [("csrf", csrf.as_str()), ("number", "0151 1234")];
    let refused = browser.post(app.url("/settings/integrations/whatsapp/numbers")).form(&bad).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    let db = app.running().state.db.clone();
    let code = db.whatsapp_number("4915112345678").await.unwrap().unwrap().code;
    let page = browser.get(app.url("/settings/integrations")).send().await.unwrap().text().await.unwrap();
    assert_eq!(page.matches("waiting for the code").count(), 2, "{page}");
    assert!(page.contains(&format!("https://wa.me/4930123456?text={code}")), "{page}");

    // The person sends the code. A delivery with a wrong or no signature is refused and verifies nothing.
    let body = whatsapp.user_writes("4915112345678", &code);
    let post = |signature: Option<String>| {
        let request = app.anonymous.post(&hook).header("content-type", "application/json").body(body.clone());
        match signature {
            Some(signature) => request.header("x-hub-signature-256", signature),
            None => request,
        }
        .send()
    };
    assert_eq!(post(Some(sign("not-the-secret", body.as_bytes()))).await.unwrap().status(), 401);
    assert_eq!(post(None).await.unwrap().status(), 401);
    assert_eq!(db.whatsapp_number("4915112345678").await.unwrap().unwrap().status, "pending");
    assert_eq!(post(Some(sign(APP_SECRET, body.as_bytes()))).await.unwrap().status(), 200);
    assert_eq!(db.whatsapp_number("4915112345678").await.unwrap().unwrap().status, "verified");
    let texts = |whatsapp: &FakeWhatsApp| -> Vec<String> {
        let messages = whatsapp.messages();
        messages
            .iter()
            .filter(|m| m["type"] == "text")
            .map(|m| m["text"]["body"].as_str().unwrap().to_string())
            .collect()
    };
    let confirmed =
        wait_for("the confirmation", Duration::from_secs(10), || async { texts(&whatsapp).first().cloned() }).await;
    assert!(confirmed.contains("this number gets alerts now"), "{confirmed}");

    // The verified number can disarm and arm, and is answered.
    let controls = app.running().state.cameras.controls().clone();
    let disarm = whatsapp.user_writes("4915112345678", "Disarm");
    for (message, armed, said) in
        [(disarm.clone(), false, "Disarmed"), (whatsapp.user_writes("4915112345678", "arm"), true, "Armed")]
    {
        let signature = sign(APP_SECRET, message.as_bytes());
        let response =
            app.anonymous.post(&hook).header("x-hub-signature-256", signature).body(message).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let count = texts(&whatsapp).len() + 1;
        let reply =
            wait_for("the answer", Duration::from_secs(10), || async { texts(&whatsapp).get(count - 1).cloned() })
                .await;
        assert!(reply.starts_with(said), "{reply}");
        assert_eq!(controls.armed(), armed);
    }
    // A captured "disarm" posted again does nothing, nor does one written an hour ago; Meta still
    // gets its 200 (it would retry anything else for days).
    let replies = texts(&whatsapp).len();
    let mut old: serde_json::Value = serde_json::from_str(&whatsapp.user_writes("4915112345678", "disarm")).unwrap();
    old["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] =
        (chrono::Utc::now().timestamp() - 3600).to_string().into();
    for replayed in [disarm, old.to_string()] {
        let signature = sign(APP_SECRET, replayed.as_bytes());
        let response =
            app.anonymous.post(&hook).header("x-hub-signature-256", signature).body(replayed).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    // A fresh "status" is answered: the sign that the replays before it were handled.
    post_webhook(&app, whatsapp.user_writes("4915112345678", "status")).await;
    let answer =
        wait_for("the answer to status", Duration::from_secs(10), || async { texts(&whatsapp).get(replies).cloned() })
            .await;
    assert!(answer.starts_with("Armed"), "a replayed or stale disarm is ignored: {answer}");
    assert!(controls.armed());
    assert_eq!(texts(&whatsapp).len(), replies + 1, "and not answered");

    // The same code from another number verifies nothing.
    let stolen = whatsapp.user_writes("447700900123", &code);
    let response = app
        .anonymous
        .post(&hook)
        .header("x-hub-signature-256", sign(APP_SECRET, stolen.as_bytes()))
        .body(stolen)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(db.whatsapp_number("447700900123").await.unwrap().unwrap().status, "pending");

    // A person event: one image to the verified number, none to the waiting one, after a 500
    // and a 429 asking for 1 s.
    whatsapp.fail_next(&[
        common::whatsapp::Failure::ServerError,
        common::whatsapp::Failure::TooManyRequests { retry_after: 1 },
    ]);
    let id = person_event(&app).await;
    let deliveries = settled_deliveries(&app, id, 1, Duration::from_secs(60)).await;
    assert_eq!((&deliveries[0]["recipient"], &deliveries[0]["status"]), (&"4915112345678".into(), &"sent".into()));
    assert_eq!(deliveries[0]["attempts"], 3, "{deliveries:?}");
    assert_eq!(whatsapp.refused(), 2);
    let uploads = whatsapp.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].jpeg, watchpost::demo::PHOTO, "the snapshot is uploaded as it is");
    assert!(uploads[0].fields.contains(&("messaging_product".into(), "whatsapp".into())));
    let messages: Vec<serde_json::Value> = whatsapp.messages().into_iter().filter(|m| m["type"] != "text").collect();
    assert_eq!(messages.len(), 1);
    // The person wrote minutes ago: inside the 24-hour window, a plain image with a caption.
    assert_eq!((&messages[0]["to"], &messages[0]["type"]), (&"4915112345678".into(), &"image".into()));
    assert_eq!(messages[0]["image"]["id"], "media-1");
    assert!(messages[0]["image"]["caption"].as_str().unwrap().contains("Person in path — Front door"));

    // Removed, the number gets nothing more.
    let form = [("csrf", csrf.as_str()), ("number", "4915112345678")];
    let removed =
        browser.post(app.url("/settings/integrations/whatsapp/numbers/remove")).form(&form).send().await.unwrap();
    assert_eq!(removed.status(), 303);
    let id = person_event(&app).await;
    let alert = wait_for("the second alert", Duration::from_secs(20), || async {
        let event = app.get_json(&format!("/api/events/{id}")).await;
        event["alerted"].is_string().then_some(event)
    })
    .await;
    // The deliveries are written with the alert, in one transaction: none means nothing is sent.
    assert_eq!(alert["alert"]["deliveries"], serde_json::json!([]));
    assert_eq!(whatsapp.messages().iter().filter(|m| m["type"] == "image").count(), 1);
    let page = browser.get(app.url("/settings/integrations")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains(WA_TOKEN) && !page.contains(APP_SECRET) && !page.contains(VERIFY_TOKEN));
    app.shutdown().await;
}

/// An alert e-mail as MIME: the text, and the HTML showing the snapshot, which is an inline JPEG
/// part that the HTML names by its Content-ID.
fn assert_is_alert_mail(mail: &common::smtp::Mail, event: i64) {
    let subject = mail.header("subject").unwrap_or_default();
    assert!(subject.starts_with("[MEDIUM] Person in path"), "{subject}");
    let parts = mail.parts();
    let of_type = |mime: &str| {
        parts.iter().find(|p| p.mime_type() == mime).unwrap_or_else(|| panic!("no {mime} part in {parts:?}"))
    };
    let (plain, html, image) = (of_type("text/plain"), of_type("text/html"), of_type("image/jpeg"));
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert_eq!(plain.within, ["multipart/alternative"]);
    assert_eq!(html.within, ["multipart/alternative", "multipart/related"], "the HTML and its picture belong together");
    assert_eq!(image.within, html.within);
    assert!(plain.text().contains(&format!("/events/{event}")), "{}", plain.text());
    assert_eq!(image.body, watchpost::demo::PHOTO, "the snapshot, byte for byte");
    assert!(image.header("content-disposition").is_some_and(|d| d.starts_with("inline")));
    let content_id = image.header("content-id").expect("a Content-ID").trim_matches(['<', '>']).to_string();
    assert!(html.text().contains(&format!("src=\"cid:{content_id}\"")), "{}", html.text());
}

fn email_tls_toml(port: u16, starttls: bool, ca_file: &std::path::Path) -> String {
    format!(
        "[email]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\ntls = true\nstarttls = {starttls}\nca_file = \"{}\"\n\
         username = \"watchpost\"\npassword = \"mail-secret\"\nfrom = \"Watchpost <cameras@example.com>\"\n\
         to = [\"me@example.com\"]\n",
        ca_file.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_mail_goes_over_starttls_and_over_tls_checked_against_the_configured_ca() {
    use common::smtp::{Security, TestCa};
    let ca = TestCa::new();
    for (starttls, security) in
        [(true, Security::StartTls(ca.server.clone())), (false, Security::Implicit(ca.server.clone()))]
    {
        let smtp = FakeSmtp::start_with(Some(("watchpost", "mail-secret")), security);
        let app = TestApp::start(&format!("{}{}", email_tls_toml(smtp.port, starttls, &ca.ca_file()), camera())).await;
        let id = person_event(&app).await;
        let deliveries = settled_deliveries(&app, id, 1, Duration::from_secs(30)).await;
        assert_eq!(deliveries[0]["status"], "sent", "starttls = {starttls}: {deliveries:?} {:?}", smtp.rejected());
        let mails = smtp.mails();
        assert_eq!(mails.len(), 1);
        assert!(mails[0].encrypted, "starttls = {starttls}: the message went over TLS");
        assert_eq!(mails[0].user.as_deref(), Some("watchpost"));
        assert_is_alert_mail(&mails[0], id);
        assert!(smtp.rejected().is_empty(), "{:?}", smtp.rejected());
        app.shutdown().await;
    }
}

#[test]
fn the_fake_mail_server_refuses_what_real_ones_refuse() {
    use common::smtp::{Security, TestCa};
    use std::io::{BufRead, BufReader, Write};
    let ca = TestCa::new();
    let smtp = FakeSmtp::start_with(Some(("watchpost", "mail-secret")), Security::StartTls(ca.server.clone()));
    let stream = std::net::TcpStream::connect(("127.0.0.1", smtp.port)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    // The code of a reply, after its continuation lines (`250-…`).
    let mut reply = || loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.as_bytes().get(3) != Some(&b'-') {
            return line[..3].to_string();
        }
    };
    assert_eq!(reply(), "220");
    let mut send = |command: &str| writer.write_all(format!("{command}\r\n").as_bytes()).unwrap();
    for (command, expected) in [
        ("EHLO client", "250"),
        ("AUTH PLAIN AHdhdGNocG9zdABtYWlsLXNlY3JldA==", "530"),
        ("MAIL FROM:<a@example.com>", "530"),
        ("RCPT TO:<b@example.com>", "503"),
        ("DATA", "503"),
        ("QUIT", "221"),
    ] {
        send(command);
        assert_eq!(reply(), expected, "{command}");
    }
    let rejected = smtp.rejected();
    assert_eq!(rejected.len(), 4, "{rejected:?}");
    assert!(rejected[0].contains("STARTTLS") && rejected[3].contains("need RCPT"), "{rejected:?}");
}

/// Posts a signed webhook delivery to Watchpost.
async fn post_webhook(app: &TestApp, body: String) {
    let signature = sign(APP_SECRET, body.as_bytes());
    let response = app
        .anonymous
        .post(app.url("/api/whatsapp/webhook"))
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_that_last_wrote_a_day_ago_gets_the_approved_template() {
    let whatsapp = FakeWhatsApp::start(WA_TOKEN);
    let app = TestApp::start(&format!("{}{}", whatsapp_toml(&whatsapp.api_url()), camera())).await;
    let db = app.running().state.db.clone();
    let (number, late) = ("4915112345678", "447700900123");
    let now_ms = chrono::Utc::now().timestamp_millis();
    db.whatsapp_pending(number, "WP-123456", now_ms).await.unwrap();
    // A code issued 25 hours ago has expired: sending it verifies nothing.
    db.whatsapp_pending(late, "WP-654321", now_ms - 25 * 3_600_000).await.unwrap();
    post_webhook(&app, whatsapp.user_writes(number, "WP-123456")).await;
    post_webhook(&app, whatsapp.user_writes(late, "WP-654321")).await;
    wait_for("the number verified", Duration::from_secs(10), || async {
        (db.whatsapp_number(number).await.unwrap().unwrap().status == "verified").then_some(())
    })
    .await;
    assert_eq!(db.whatsapp_number(late).await.unwrap().unwrap().status, "pending", "an expired code");
    // The confirmation goes out while the person's window is open, before it is moved back below.
    wait_for("the confirmation", Duration::from_secs(10), || async {
        whatsapp
            .messages()
            .iter()
            .any(|m| m["text"]["body"].as_str().is_some_and(|t| t.contains("gets alerts now")))
            .then_some(())
    })
    .await;

    // The person last wrote 25 hours ago: free-form messages would be refused (131047).
    let day_ago = now_ms - 25 * 3_600_000;
    app.execute_sql(&format!("UPDATE whatsapp_numbers SET last_inbound_ms = {day_ago} WHERE number = '{number}'"))
        .await;
    whatsapp.user_wrote(number, day_ago);
    let before = whatsapp.messages().len();
    let id = person_event(&app).await;
    let deliveries = settled_deliveries(&app, id, 1, Duration::from_secs(20)).await;
    assert_eq!(deliveries[0]["status"], "sent", "{deliveries:?} {:?}", whatsapp.rejected());
    let sent = whatsapp.messages()[before..].to_vec();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let template = &sent[0]["template"];
    assert_eq!((sent[0]["type"].as_str(), template["name"].as_str()), (Some("template"), Some("watchpost_alert")));
    let header = &template["components"][0];
    assert_eq!(header["parameters"][0]["image"]["id"], format!("media-{}", whatsapp.uploads().len()));
    let body = template["components"][1]["parameters"].as_array().unwrap();
    assert!(body[0]["text"].as_str().unwrap().contains("Person in path — Front door"), "{body:?}");
    assert!(body[3]["text"].as_str().unwrap().ends_with(&format!("/events/{id}")), "{body:?}");
    assert!(whatsapp.rejected().is_empty(), "{:?}", whatsapp.rejected());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_cloud_api_refuses_what_the_real_one_refuses() {
    let whatsapp = FakeWhatsApp::start(WA_TOKEN);
    let client = reqwest::Client::new();
    let messages = format!("{}/v21.0/{PHONE_NUMBER_ID}/messages", whatsapp.api_url());
    let send = |body: serde_json::Value| client.post(&messages).bearer_auth(WA_TOKEN).json(&body).send();
    let upload = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", "image/jpeg")
        .part("file", reqwest::multipart::Part::bytes(watchpost::demo::PHOTO.to_vec()).file_name("a.jpg"));
    let media = format!("{}/v21.0/{PHONE_NUMBER_ID}/media", whatsapp.api_url());
    let uploaded: serde_json::Value =
        client.post(&media).bearer_auth(WA_TOKEN).multipart(upload).send().await.unwrap().json().await.unwrap();
    let media_id = uploaded["id"].as_str().unwrap().to_string();
    whatsapp.user_wrote("4915112345678", chrono::Utc::now().timestamp_millis());
    whatsapp.user_wrote("447700900123", chrono::Utc::now().timestamp_millis() - 25 * 3_600_000);
    let image = |to: &str, id: &str| serde_json::json!({ "messaging_product": "whatsapp", "to": to, "type": "image", "image": { "id": id } });
    let template = |parameters: usize| {
        let parameters: Vec<_> =
            (0..parameters).map(|i| serde_json::json!({ "type": "text", "text": format!("p{i}") })).collect();
        serde_json::json!({ "messaging_product": "whatsapp", "to": "447700900123", "type": "template", "template": {
            "name": "watchpost_alert", "language": { "code": "en" },
            "components": [
                { "type": "header", "parameters": [{ "type": "image", "image": { "id": media_id } }] },
                { "type": "body", "parameters": parameters },
            ] } })
    };
    let cases = [
        (serde_json::json!({ "to": "4915112345678", "type": "text", "text": { "body": "hi" } }), 100),
        (image("447700900123", &media_id), 131047),
        (image("4915112345678", "media-99"), 131053),
        (template(3), 132000),
    ];
    for (body, code) in cases {
        let response = send(body.clone()).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
    }
    let not_jpeg = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", "image/jpeg")
        .part("file", reqwest::multipart::Part::bytes(b"GIF89a".to_vec()).file_name("a.jpg"));
    let refused = client.post(&media).bearer_auth(WA_TOKEN).multipart(not_jpeg).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    for good in [image("4915112345678", &media_id), template(4)] {
        assert_eq!(send(good.clone()).await.unwrap().status(), 200, "{good}");
    }
    assert_eq!(whatsapp.rejected().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_door_sensor_linked_to_a_camera_alerts_on_it() {
    let telegram = FakeTelegram::start(TOKEN);
    let app = TestApp::start(&format!("{}{}", telegram_toml(&telegram.api_url()), camera())).await;
    let state = &app.running().state;
    // An ESPHome node as discovery records it (tests/nodes.rs covers finding it and following its
    // event stream); linked to the camera on the Nodes page.
    let node = watchpost::model::Node {
        kind: "esphome",
        name: "back-door".into(),
        host: "back-door.local".into(),
        address: Some("192.168.1.60".parse().unwrap()),
        port: 6053,
        mac: Some("a0b1c2d3e4f5".into()),
        firmware: Some("2025.10.0".into()),
        platform: Some("ESP32".into()),
        board: None,
        role: None,
        stream: None,
        snapshot: None,
        web_port: Some(80),
    };
    state.db.record_node(&node, chrono::Utc::now().timestamp_millis()).await.unwrap();
    let node_id = state.db.list_nodes().await.unwrap()[0].id.clone();
    let (browser, csrf) = app.browser_session(common::ADMIN, common::ADMIN_PASSWORD).await;
    let page = browser.get(app.url("/nodes")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Link sensors"), "{page}");
    let link = format!("/nodes/{node_id}/link");
    let form = [("csrf", csrf.as_str()), ("camera", "garage")];
    assert_eq!(browser.post(app.url(&link)).form(&form).send().await.unwrap().status(), 400, "no such camera");
    let form = [("csrf", csrf.as_str()), ("camera", "front")];
    assert_eq!(browser.post(app.url(&link)).form(&form).send().await.unwrap().status(), 303);

    // The door opens: an event on the camera, and one alert; closing it ends the event.
    let change = |active: bool| watchpost::db::entities::node_event::Model {
        id: 0,
        node_id: node_id.clone(),
        sensor: "binary_sensor-back_door".into(),
        name: "Back door".into(),
        kind: "door".into(),
        active,
        at_ms: chrono::Utc::now().timestamp_millis(),
    };
    for active in [true, false] {
        let event = state.db.add_node_event(change(active)).await.unwrap();
        state.bus.publish(BusMessage::NodeSensor { node_name: "back-door".into(), event });
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let event = wait_for("the sensor event to end", Duration::from_secs(20), || async {
        app.events("camera=front&kind=sensor").await.into_iter().find(|e| e["end"].is_string())
    })
    .await;
    assert_eq!((&event["label"], &event["severity"]), (&"Back door".into(), &"medium".into()));
    let id = event["id"].as_i64().unwrap();
    settled_deliveries(&app, id, 2, Duration::from_secs(20)).await;
    let photos = telegram.sent_by("sendMessage").into_iter().filter(|m| m.text.contains("Back door")).count();
    assert_eq!(photos, 2, "the camera has no picture, so the alert is text: one per chat");

    // Unlinked, the sensor makes no more events.
    let form = [("csrf", csrf.as_str()), ("camera", "")];
    assert_eq!(browser.post(app.url(&link)).form(&form).send().await.unwrap().status(), 303);
    let event = state.db.add_node_event(change(true)).await.unwrap();
    state.bus.publish(BusMessage::NodeSensor { node_name: "back-door".into(), event });
    // Linked again, its next change makes an event: the sign that the one before was handled.
    let form = [("csrf", csrf.as_str()), ("camera", "front")];
    assert_eq!(browser.post(app.url(&link)).form(&form).send().await.unwrap().status(), 303);
    let event = state.db.add_node_event(change(true)).await.unwrap();
    state.bus.publish(BusMessage::NodeSensor { node_name: "back-door".into(), event });
    wait_for("the second sensor event", Duration::from_secs(20), || async {
        (app.events("kind=sensor").await.len() >= 2).then_some(())
    })
    .await;
    assert_eq!(app.events("kind=sensor").await.len(), 2, "none while it was unlinked");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_nobody_could_deliver_for_a_day_is_given_up_and_shown() {
    let telegram = FakeTelegram::start(TOKEN);
    let app = TestApp::start(&format!("{}{}", telegram_toml(&telegram.api_url()), camera())).await;
    // An alert made 25 hours ago and never delivered (the machine was off since, say).
    let start_ms = chrono::Utc::now().timestamp_millis() - 25 * 3_600_000;
    let chat = watchpost::db::Recipient { channel: watchpost::model::Channel::Telegram, recipient: CHAT.to_string() };
    let id = common::undelivered_alert(&app, "front", start_ms, watchpost::model::Severity::High, chat).await;
    let deliveries = settled_deliveries(&app, id, 1, Duration::from_secs(20)).await;
    assert_eq!(deliveries[0]["status"], "failed");
    assert!(deliveries[0]["last_error"].as_str().unwrap().starts_with("gave up after 24 h"), "{deliveries:?}");
    assert!(telegram.sent_by("sendPhoto").is_empty() && telegram.sent_by("sendMessage").is_empty());
    let (browser, _) = app.browser_session(common::ADMIN, common::ADMIN_PASSWORD).await;
    let page = browser.get(app.url(&format!("/events/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(">failed</span>") && page.contains("gave up after 24 h"), "{page}");
    let integrations = browser.get(app.url("/settings/integrations")).send().await.unwrap().text().await.unwrap();
    assert!(integrations.contains("1 given up") && integrations.contains("were given up after 24 h"), "{integrations}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_mail_password_shows_at_once_and_the_alert_waits() {
    let smtp = FakeSmtp::start(Some(("watchpost", "the-real-password")));
    let app = TestApp::start(&format!("{}{}", email_toml(smtp.port), camera())).await;
    let health = wait_for("the mail server's answer", Duration::from_secs(20), || async {
        let all = app.get_json("/api/integrations").await;
        all["bridges"].as_array().unwrap().iter().find(|b| b["name"] == "email" && b["last_error"].is_string()).cloned()
    })
    .await;
    assert_eq!(health["state"], "disconnected");
    assert!(health["last_error"].as_str().unwrap().contains("refused (535)"), "{health}");
    let id = person_event(&app).await;
    wait_for("a refused try", Duration::from_secs(20), || async {
        let event = app.get_json(&format!("/api/events/{id}")).await;
        let delivery = event["alert"]["deliveries"][0].clone();
        (delivery["status"] == "pending" && delivery["attempts"].as_i64() >= Some(1)).then_some(())
    })
    .await;
    assert!(smtp.mails().is_empty());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_sends_a_camera_s_picture_on_request() {
    let telegram = FakeTelegram::start(TOKEN);
    let camera =
        format!("[[cameras]]\nid = \"field\"\nname = \"Field\"\nurl = \"{}\"\n", common::test_clip().display());
    let app = TestApp::start(&format!("{}{camera}", telegram_toml(&telegram.api_url()))).await;
    wait_for("the camera online", Duration::from_secs(30), || async {
        (app.camera_state("field").await.0 == "online").then_some(())
    })
    .await;
    telegram.user_writes(CHAT, "/snapshot field");
    let photo = wait_for("the picture", Duration::from_secs(20), || async {
        telegram.sent_by("sendPhoto").into_iter().find(|p| p.chat_id == CHAT)
    })
    .await;
    let jpeg = photo.photo.expect("a file");
    assert!(jpeg.starts_with(&[0xFF, 0xD8]) && jpeg.len() > 5_000, "a JPEG, {} bytes", jpeg.len());
    assert!(photo.text.starts_with("Field, "), "{}", photo.text);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn give_up_hours_sets_how_long_an_alert_is_tried() {
    let telegram = FakeTelegram::start(TOKEN);
    let config = telegram_toml(&telegram.api_url()).replace("chat_ids", "give_up_hours = 2\nchat_ids");
    let app = TestApp::start(&format!("{config}{}", camera())).await;
    let now = chrono::Utc::now().timestamp_millis();
    let mut ids = Vec::new();
    for hours_ago in [3, 1] {
        let chat =
            watchpost::db::Recipient { channel: watchpost::model::Channel::Telegram, recipient: CHAT.to_string() };
        let at = now - hours_ago * 3_600_000;
        ids.push(common::undelivered_alert(&app, "front", at, watchpost::model::Severity::High, chat).await);
    }
    let old = settled_deliveries(&app, ids[0], 1, Duration::from_secs(20)).await;
    assert_eq!(old[0]["status"], "failed");
    assert!(old[0]["last_error"].as_str().unwrap().starts_with("gave up after 2 h"), "{old:?}");
    let recent = settled_deliveries(&app, ids[1], 1, Duration::from_secs(20)).await;
    assert_eq!(recent[0]["status"], "sent", "an hour old is within the 2 hours");
    assert_eq!(telegram.sent_by("sendMessage").len(), 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_s_own_event_reaches_every_channel() {
    let telegram = FakeTelegram::start(TOKEN);
    let whatsapp = FakeWhatsApp::start(WA_TOKEN);
    let smtp = FakeSmtp::start(Some(("watchpost", "mail-secret")));
    let broker = Mosquitto::start();
    let watcher = Watcher::start(broker.port, &["watchpost/alerts"]).await;
    // The test clip as a camera: the person walking in makes a real event, recorded by the
    // camera's pipeline with a snapshot of its own.
    let camera = format!(
        "[[cameras]]\nid = \"field\"\nname = \"Field\"\nurl = \"{}\"\nmotion = {{ quiet_secs = 2 }}\n",
        common::test_clip().display()
    );
    let config = format!(
        "[mqtt]\nhost = \"127.0.0.1\"\nport = {}\n{}{}{}{camera}",
        broker.port,
        telegram_toml(&telegram.api_url()),
        whatsapp_toml(&whatsapp.api_url()),
        email_toml(smtp.port),
    );
    let app = TestApp::start(&config).await;
    let db = app.running().state.db.clone();
    db.whatsapp_pending("4915112345678", "WP-111111", chrono::Utc::now().timestamp_millis()).await.unwrap();
    post_webhook(&app, whatsapp.user_writes("4915112345678", "WP-111111")).await;
    let event = wait_for("the camera's first event", Duration::from_secs(60), || async {
        app.events("camera=field").await.into_iter().next()
    })
    .await;
    let id = event["id"].as_i64().unwrap();
    // Telegram's two chats, the WhatsApp number, the e-mail and Home Assistant: five deliveries.
    let deliveries = settled_deliveries(&app, id, 5, Duration::from_secs(30)).await;
    assert!(deliveries.iter().all(|d| d["status"] == "sent"), "{deliveries:?}");
    let snapshot = app.client.get(app.url(&format!("/api/events/{id}/snapshot.jpg"))).send().await.unwrap();
    let snapshot = snapshot.bytes().await.unwrap().to_vec();
    assert!(snapshot.starts_with(&[0xFF, 0xD8]) && snapshot != watchpost::demo::PHOTO, "the camera's own picture");
    let photos = telegram.sent_by("sendPhoto");
    assert_eq!(photos.len(), 2);
    assert!(photos.iter().all(|p| p.photo.as_deref() == Some(snapshot.as_slice())), "Telegram got the snapshot");
    assert_eq!(whatsapp.uploads().last().unwrap().jpeg, snapshot, "WhatsApp got the snapshot");
    let mail = smtp.mails().pop().expect("an e-mail");
    let image = mail.parts().into_iter().find(|p| p.mime_type() == "image/jpeg").expect("an inline picture");
    assert_eq!(image.body, snapshot, "the e-mail holds the snapshot");
    let published = wait_for("the Home Assistant alert", Duration::from_secs(20), || async {
        watcher.on("watchpost/alerts").first().map(|m| m.json())
    })
    .await;
    assert_eq!(published["event"]["id"], id);
    app.shutdown().await;
}
