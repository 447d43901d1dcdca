//! The ONVIF client against a fake camera speaking SOAP over real HTTP with vendor answers: the
//! camera's clock, signed requests, device facts, profiles (an NVR's channels too), stream and
//! snapshot addresses, and each failure in words.

mod common;

use common::onvif::{FakeSoapCamera, SoapSettings};
use watchpost::discovery::onvif::{Node, OnvifClient, OnvifErrorKind};

fn camera(profiles: &'static str) -> FakeSoapCamera {
    FakeSoapCamera::start(SoapSettings {
        username: "admin".into(),
        password: "cam-pass-123".into(),
        // Two hours ahead: signed requests work only if the client uses the camera's clock.
        clock_skew_s: 7200,
        profiles: profiles.into(),
        stream_uri: None,
        html: false,
    })
}

#[tokio::test]
async fn a_camera_tells_its_facts_profiles_and_stream_addresses_to_a_signed_in_client() {
    let fake = camera("hikvision_get_profiles.xml");
    let mut client = OnvifClient::connect(&fake.device_url(), "admin", "cam-pass-123").await.unwrap();
    assert!((7195..=7205).contains(&client.clock_offset_s()), "offset {}", client.clock_offset_s());

    let info = client.device_information().await.unwrap();
    assert_eq!((info.manufacturer.as_str(), info.model.as_str()), ("HIKVISION", "DS-2CD2143G0-I"));
    assert_eq!(info.firmware, "V5.7.3 build 220112");
    assert!(info.serial.starts_with("DS-2CD2143G0-I2022"));

    let profiles = client.profiles().await.unwrap();
    let summary: Vec<String> = profiles
        .iter()
        .map(|p| format!("{} {} {}x{} {:?} {}", p.token, p.encoding, p.width, p.height, p.fps, p.usable()))
        .collect();
    assert_eq!(
        summary,
        [
            "Profile_1 H264 2560x1440 Some(20) true",
            "Profile_2 H264 640x360 Some(15) true",
            "Profile_3 JPEG 1280x720 Some(1) false",
        ]
    );
    assert_eq!(profiles[0].name, "mainStream");
    assert_eq!(profiles[0].source, "VideoSource_1");

    let sub = client.stream_uri("Profile_2").await.unwrap();
    assert_eq!(sub, "rtsp://127.0.0.1:554/Streaming/Channels/102?transportmode=unicast&profile=Profile_2");
    assert_eq!(client.snapshot_uri("Profile_1").await.unwrap(), None, "no snapshot service is not an error");
}

#[tokio::test]
async fn an_nvr_lists_a_profile_per_channel_stream() {
    let fake = camera("dahua_nvr_get_profiles.xml");
    let mut client = OnvifClient::connect(&fake.device_url(), "admin", "cam-pass-123").await.unwrap();
    let profiles = client.profiles().await.unwrap();
    let channels: std::collections::BTreeSet<&str> = profiles.iter().map(|p| p.source.as_str()).collect();
    assert_eq!(channels.into_iter().collect::<Vec<_>>(), ["000", "001"]);
    let main = &profiles[0];
    assert_eq!((main.encoding.as_str(), main.width, main.height, main.usable()), ("H265", 3840, 2160, true));
    assert_eq!(profiles.iter().filter(|p| p.usable()).count(), 3, "the JPEG sub-stream is not usable");
}

#[tokio::test]
async fn failures_are_told_apart_and_explained() {
    let fake = camera("hikvision_get_profiles.xml");
    let mut wrong = OnvifClient::connect(&fake.device_url(), "admin", "wrong").await.unwrap();
    let err = wrong.device_information().await.unwrap_err();
    assert_eq!(err.kind, OnvifErrorKind::WrongCredentials);
    assert_eq!(err.message, "The camera refused the user name or password.");

    let nobody = format!("http://127.0.0.1:{}/onvif/device_service", common::free_port());
    let err = OnvifClient::connect(&nobody, "admin", "x").await.err().expect("nothing listens there");
    assert_eq!(err.kind, OnvifErrorKind::Unreachable);
    assert!(err.message.contains("cannot be reached"), "{}", err.message);

    let router = FakeSoapCamera::start(SoapSettings {
        username: String::new(),
        password: String::new(),
        clock_skew_s: 0,
        profiles: "hikvision_get_profiles.xml".into(),
        stream_uri: None,
        html: true,
    });
    let err = OnvifClient::connect(&router.device_url(), "admin", "x").await.err().expect("not a camera");
    assert_eq!(err.kind, OnvifErrorKind::NotOnvif);
    assert!(err.message.contains("did not answer like an ONVIF device"), "{}", err.message);
}

#[test]
fn cut_answers_never_panic_and_never_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onvif");
    for name in ["hikvision_get_profiles.xml", "dahua_nvr_get_profiles.xml", "hikvision_get_stream_uri.xml"] {
        let xml = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(Node::parse(&xml).is_some(), "{name} parses whole");
        let end = xml.trim_end().len();
        for cut in (1..end).filter(|i| xml.is_char_boundary(*i)) {
            assert!(Node::parse(&xml[..cut]).is_none(), "{name} cut at {cut} parsed as whole");
        }
    }
}

#[test]
fn the_fake_camera_digest_follows_the_ws_security_example() {
    use base64::Engine;
    let nonce = base64::engine::general_purpose::STANDARD.decode("LKqI6G/AikKCQrN0zqZFlg==").unwrap();
    let digest = common::onvif::ws_security_digest(&nonce, "2010-09-16T07:50:45Z", "userpassword");
    assert_eq!(digest, "tuOSpGlFlIXsozq4HFNeeGeFLEI=");
}

#[tokio::test]
async fn the_fake_camera_refuses_what_cameras_refuse() {
    let camera = camera("hikvision_get_profiles.xml");
    let client = reqwest::Client::new();
    let envelope = |operation: &str, namespace: &str| {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><{operation} xmlns="{namespace}"/></s:Body></s:Envelope>"#
        )
    };
    let device = camera.device_url();
    let media = device.replace("/onvif/device_service", "/onvif/Media");
    let post = |url: &str, content_type: &str, body: String| {
        client.post(url).header("content-type", content_type).body(body).send()
    };
    let time = envelope("GetSystemDateAndTime", "http://www.onvif.org/ver10/device/wsdl");
    let answer = post(&device, "application/soap+xml; charset=utf-8", time.clone()).await.unwrap();
    assert_eq!(answer.status(), 200, "the well-formed request is answered");
    let text_xml = post(&device, "text/xml", time.clone()).await.unwrap();
    assert_eq!(text_xml.status(), 415, "SOAP 1.2 is application/soap+xml");
    let wrong_service = post(&media, "application/soap+xml", time).await.unwrap();
    assert_eq!(wrong_service.status(), 400, "a device operation at the media service");
    assert!(wrong_service.text().await.unwrap().contains("ActionNotSupported"));
    // The operation is the Body's first element, not a word somewhere in the request.
    let disguised = envelope("GetNothing", "http://www.onvif.org/ver10/device/wsdl")
        .replace("</s:Body>", "<!-- GetSystemDateAndTime --></s:Body>");
    let answer = post(&device, "application/soap+xml", disguised).await.unwrap();
    assert_eq!(answer.status(), 400);
}
