//! A fake ESP32 node (shared by `examples/fake_esp32_node.rs` and the tests): it announces itself
//! over mDNS like a real node and serves what a real one serves over HTTP — ESPHome's `/events`
//! Server-Sent Events with a PIR that toggles, an MJPEG `/stream`, a `/capture` JPEG and `/`.
//!
//! Its sockets and mDNS daemon belong to the network namespace of the thread that starts it.
//! Dropping it ends its streams and its mDNS responder: it stops answering, as a node that lost
//! power does.

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BOUNDARY: &str = "123456789000000000000987654321";

/// An mDNS service: type, port and TXT properties.
type Announcement<'a> = (&'a str, u16, Vec<(&'a str, &'a str)>);

pub struct NodeOptions {
    /// The node's LAN address: HTTP listens there, and mDNS runs only on its interface.
    pub address: IpAddr,
    pub name: String,
    pub mac: String,
    /// `esphome` (announces `_esphomelib._tcp` and `_http._tcp`, serves `/events`) or
    /// `watchpost` (announces `_watchpost._tcp` as a camera).
    pub firmware: String,
    /// 0 = a free port.
    pub port: u16,
    pub pir_every: Duration,
    pub jpeg: Vec<u8>,
}

impl NodeOptions {
    pub fn esphome(address: IpAddr) -> Self {
        Self {
            address,
            name: "garage-node".into(),
            mac: "24:6F:28:AA:BB:CC".into(),
            firmware: "esphome".into(),
            port: 0,
            pir_every: Duration::from_millis(1000),
            jpeg: watchpost::demo::PHOTO.to_vec(),
        }
    }
}

/// The PIR sensor: toggled by a timer; `changes` counts toggles so streams notice them.
struct Pir {
    active: AtomicBool,
    changes: AtomicU64,
}

pub struct FakeNode {
    pub port: u16,
    pub mac: String,
    stop: Arc<AtomicBool>,
    daemon: Option<ServiceDaemon>,
}

impl FakeNode {
    /// Announces and serves until dropped.
    pub fn start(options: NodeOptions) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((options.address, options.port))?;
        let port = listener.local_addr()?.port();
        let daemon = ServiceDaemon::new()?;
        daemon.disable_interface(IfKind::All)?;
        daemon.enable_interface(IfKind::Addr(options.address))?;
        let host = format!("{}.local.", options.name);
        let address = options.address.to_string();
        let mac: String =
            options.mac.chars().filter(|c| c.is_ascii_hexdigit()).collect::<String>().to_ascii_lowercase();
        let services: Vec<Announcement> = if options.firmware == "esphome" {
            vec![
                (
                    "_esphomelib._tcp.local.",
                    6053,
                    vec![
                        ("friendly_name", options.name.as_str()),
                        ("mac", mac.as_str()),
                        ("version", "2024.6.1"),
                        ("platform", "ESP32"),
                        ("board", "esp32dev"),
                        ("network", "wifi"),
                    ],
                ),
                ("_http._tcp.local.", port, vec![]),
            ]
        } else {
            vec![(
                "_watchpost._tcp.local.",
                port,
                vec![
                    ("kind", "camera"),
                    ("mac", mac.as_str()),
                    ("fw", "0.1.0"),
                    ("stream", "/stream"),
                    ("snapshot", "/capture"),
                ],
            )]
        };
        for (service_type, service_port, txt) in services {
            let info = ServiceInfo::new(service_type, &options.name, &host, address.as_str(), service_port, &txt[..])?;
            daemon.register(info)?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let pir = Arc::new(Pir { active: AtomicBool::new(false), changes: AtomicU64::new(0) });
        std::thread::spawn({
            let (pir, every, stop) = (pir.clone(), options.pir_every, stop.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(every);
                    pir.active.fetch_xor(true, Ordering::Relaxed);
                    pir.changes.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        listener.set_nonblocking(true)?;
        std::thread::spawn({
            let (options, stop) = (Arc::new(options), stop.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (options, pir, stop) = (options.clone(), pir.clone(), stop.clone());
                            std::thread::spawn(move || {
                                let _ = serve(stream, &options, &pir, &stop);
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            }
        });
        Ok(Self { port, mac, stop, daemon: Some(daemon) })
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(daemon) = self.daemon.take() {
            let _ = daemon.shutdown();
        }
    }
}

fn serve(mut stream: TcpStream, options: &NodeOptions, pir: &Pir, stop: &AtomicBool) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The headers are not needed; read up to the blank line.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    match path {
        "/events" if options.firmware == "esphome" => events(stream, options, pir, stop),
        "/stream" => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary={BOUNDARY}\r\nCache-Control: no-cache\r\n\r\n"
            )?;
            while !stop.load(Ordering::Relaxed) {
                write!(
                    stream,
                    "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                    options.jpeg.len()
                )?;
                stream.write_all(&options.jpeg)?;
                stream.write_all(b"\r\n")?;
                std::thread::sleep(Duration::from_millis(200));
            }
            Ok(())
        }
        "/capture" => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                options.jpeg.len()
            )?;
            stream.write_all(&options.jpeg)
        }
        "/" => {
            let page = format!("<html><body><h1>{}</h1><img src=\"/stream\"></body></html>", options.name);
            write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{page}", page.len())
        }
        _ => write!(stream, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    }
}

/// ESPHome's `/events`: a ping with the node's title, every entity's state, then each change, and
/// a ping every 10 s.
fn events(mut stream: TcpStream, options: &NodeOptions, pir: &Pir, stop: &AtomicBool) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nAccess-Control-Allow-Origin: *\r\n\r\n"
    )?;
    let ping = format!("{{\"title\":\"{}\",\"comment\":\"\",\"ota\":true,\"log\":true,\"lang\":\"en\"}}", options.name);
    write!(stream, "retry: 30000\nid: 1\nevent: ping\ndata: {ping}\n\n")?;
    write!(
        stream,
        "event: state\ndata: {{\"id\":\"sensor-temperature\",\"name\":\"Temperature\",\"value\":21.5,\"state\":\"21.5 °C\"}}\n\n"
    )?;
    let mut sent = None;
    let mut last_ping = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let changes = pir.changes.load(Ordering::Relaxed);
        if sent != Some(changes) {
            sent = Some(changes);
            let active = pir.active.load(Ordering::Relaxed);
            write!(
                stream,
                "event: state\ndata: {{\"id\":\"binary_sensor-pir\",\"name\":\"PIR\",\"icon\":\"\",\"entity_category\":0,\"value\":{active},\"state\":\"{}\"}}\n\n",
                if active { "ON" } else { "OFF" }
            )?;
        }
        if last_ping.elapsed() > Duration::from_secs(10) {
            last_ping = Instant::now();
            write!(stream, "event: ping\ndata: {ping}\n\n")?;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
