//! A private mosquitto per test (on a free port, with persistence so a restart keeps sessions) and
//! a watcher: a real MQTT client that records every message it receives.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Mosquitto {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Mosquitto {
    /// Anonymous clients allowed.
    pub fn start() -> Self {
        Self::launch(None, false)
    }

    /// Only `user` with `password` may connect.
    pub fn start_with_user(user: &str, password: &str) -> Self {
        Self::launch(Some((user, password)), false)
    }

    /// TLS only, with a certificate for 127.0.0.1 signed by a CA made for this broker (`ca_file()`).
    pub fn start_tls() -> Self {
        Self::launch(None, true)
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn launch(user: Option<(&str, &str)>, tls: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // `user root`: started as root, mosquitto would otherwise drop to its own user and could
        // not write its log and saved sessions into this private directory. The listener line is
        // added per try (see below).
        let mut conf = format!(
            "user root\npersistence true\npersistence_location {}/\nlog_dest file {}/mosquitto.log\n",
            dir.path().display(),
            dir.path().display()
        );
        match user {
            Some((name, password)) => {
                let file = dir.path().join("passwd");
                let status = Command::new("mosquitto_passwd")
                    .arg("-c")
                    .arg("-b")
                    .arg(&file)
                    .arg(name)
                    .arg(password)
                    .status()
                    .expect("mosquitto_passwd (package mosquitto)");
                assert!(status.success());
                conf.push_str(&format!("allow_anonymous false\npassword_file {}\n", file.display()));
            }
            None => conf.push_str("allow_anonymous true\n"),
        }
        if tls {
            make_certificates(dir.path());
            let path = |name: &str| dir.path().join(name).display().to_string();
            conf.push_str(&format!(
                "cafile {}\ncertfile {}\nkeyfile {}\n",
                path("ca.pem"),
                path("server.pem"),
                path("server.key")
            ));
        }
        // A free port that another process takes before mosquitto binds it makes mosquitto exit:
        // then another try on another port.
        let mut broker = Self { port: 0, dir, child: None };
        for _ in 0..5 {
            broker.port = super::free_port();
            let listener = format!("listener {} 127.0.0.1\n", broker.port);
            std::fs::write(broker.dir.path().join("mosquitto.conf"), format!("{listener}{conf}")).unwrap();
            if broker.try_run() {
                return broker;
            }
        }
        panic!("mosquitto found no free port in 5 tries");
    }

    /// Starts mosquitto on its port; it must be free (a restart on the same port).
    fn run(&mut self) {
        assert!(self.try_run(), "mosquitto could not listen on {}", self.port);
    }

    /// Whether mosquitto started and listens on its port (false when it exited: the port is taken).
    fn try_run(&mut self) -> bool {
        let mut child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()) // its log goes to mosquitto.log in its directory
            .spawn()
            .expect("start mosquitto (scripts/setup.sh --test installs it)");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if child.try_wait().ok().flatten().is_some() || std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Listening, and ours: a port taken by someone else would have made it exit.
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        self.child = Some(child);
        true
    }

    /// Stops the broker the way an administrator would (SIGTERM: it saves its sessions).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A CA and a server certificate for 127.0.0.1 (P-256 keys), made with the openssl command.
pub fn make_certificates(dir: &std::path::Path) {
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl (scripts/setup.sh --test installs it)");
        assert!(status.success(), "openssl {args:?}");
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let ca = [
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Watchpost test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ];
    openssl(&[&["req", "-x509"], &ec[..], &ca[..]].concat());
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[&["req"], &ec[..], &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]].concat());
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
}

/// One message as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Received {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or(serde_json::Value::Null)
    }
}

/// A client that subscribes to `filters` (QoS 1) and keeps everything it gets; with a persistent
/// session it gets what was sent while it (or the broker) was away.
pub struct Watcher {
    pub client: rumqttc::AsyncClient,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    pub async fn start(port: u16, filters: &[&str]) -> Self {
        Self::start_with(port, filters, &format!("watcher-{}", super::free_port()), true).await
    }

    /// `clean = false` keeps the session (and queued QoS 1 messages) across disconnects.
    pub async fn start_with(port: u16, filters: &[&str], client_id: &str, clean: bool) -> Self {
        let mut options = rumqttc::MqttOptions::new(client_id, "127.0.0.1", port);
        options.set_clean_session(clean).set_keep_alive(Duration::from_secs(5)).set_max_packet_size(16 << 20, 1 << 20);
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 64);
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let sink = received.clone();
        let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
        let subscriber = client.clone();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(ack))) => {
                        if !ack.session_present {
                            for filter in &filters {
                                subscriber.subscribe(filter.clone(), rumqttc::QoS::AtLeastOnce).await.unwrap();
                            }
                        }
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => sink.lock().unwrap().push(Received {
                        topic: p.topic,
                        payload: p.payload.to_vec(),
                        retain: p.retain,
                    }),
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Self { client, received, task }
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn on(&self, topic: &str) -> Vec<Received> {
        self.all().into_iter().filter(|m| m.topic == topic).collect()
    }

    /// The latest payload on `topic`, as text.
    pub fn last(&self, topic: &str) -> Option<String> {
        self.on(topic).last().map(Received::text)
    }

    /// Waits until the latest message on `topic` is `payload`.
    pub async fn wait_for(&self, topic: &str, payload: &str, timeout: Duration) {
        super::wait_for(&format!("{topic} = {payload:?}"), timeout, || async {
            (self.last(topic).as_deref() == Some(payload)).then_some(())
        })
        .await
    }

    pub async fn publish(&self, topic: &str, payload: &str) {
        self.client.publish(topic, rumqttc::QoS::AtLeastOnce, false, payload).await.unwrap();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}
