//! A fake ONVIF camera's WS-Discovery side: it joins 239.255.255.250:3702 on its interface and
//! answers every Probe for a type it has with a ProbeMatches (the vendor fixture it is given, its
//! addresses replaced by its own), unicast to the sender, as real cameras do.

use std::net::{Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

pub struct FakeCamera {
    stop: Arc<AtomicBool>,
    pub probes_answered: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeCamera {
    /// Starts answering inside network namespace `namespace` on `address`; `reply` is a fixture
    /// whose `192.168.1.64` stands for the camera's own address.
    pub fn start(namespace: &str, address: Ipv4Addr, reply: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let reply = reply.replace("192.168.1.64", &address.to_string());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let namespace = namespace.to_string();
        let thread = std::thread::spawn({
            let (stop, answered) = (stop.clone(), answered.clone());
            move || {
                super::netns::enter(&namespace);
                let socket = UdpSocket::bind(("0.0.0.0", 3702)).expect("bind 3702 in the camera's namespace");
                socket.join_multicast_v4(&Ipv4Addr::new(239, 255, 255, 250), &address).expect("join the group");
                socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
                ready_tx.send(()).unwrap();
                let mut buffer = vec![0u8; 65_536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((length, from)) = socket.recv_from(&mut buffer) else { continue };
                    let probe = String::from_utf8_lossy(&buffer[..length]);
                    let wanted = probe.contains("NetworkVideoTransmitter") || probe.contains("tds:Device");
                    if probe.contains("Probe>") && wanted {
                        socket.send_to(reply.as_bytes(), from).unwrap();
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(5)).expect("the fake camera started");
        Self { stop, probes_answered: answered, thread: Some(thread) }
    }
}

impl Drop for FakeCamera {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
