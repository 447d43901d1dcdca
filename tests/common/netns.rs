//! Two network namespaces joined by a veth pair, with a multicast route, as in
//! ../shared/docs/testing.md: discovery runs over real multicast without touching the real
//! network. A thread enters a namespace with `setns`, so one test process can be both the camera
//! (or node) and Watchpost. Needs root and `ip` (iproute2); removed on drop.

use std::process::Command;

pub struct NetPair {
    pub camera_ns: String,
    pub watchpost_ns: String,
    /// The camera side's address and Watchpost's.
    pub camera_ip: std::net::Ipv4Addr,
    pub watchpost_ip: std::net::Ipv4Addr,
}

/// Why namespaces cannot be made here, if they cannot.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("network namespaces need root".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("the ip command (iproute2) is missing".into());
    }
    None
}

/// Whether namespaces can be made; they need root, and CI (which runs as root) must not skip.
pub fn available_or_skip() -> bool {
    match unavailable() {
        None => true,
        Some(why) if std::env::var_os("CI").is_some() => panic!("{why}"),
        Some(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("run ip");
    assert!(output.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
}

impl NetPair {
    /// `tag` keeps the names of tests running at the same time apart (2 letters at most).
    pub fn create(tag: &str) -> Self {
        let n = std::process::id() % 10_000;
        let subnet = (std::process::id() % 200) as u8 + 20;
        let (cam, srv) = (format!("wp{tag}c{n}"), format!("wp{tag}s{n}"));
        let (veth_cam, veth_srv) = (format!("v{tag}c{n}"), format!("v{tag}s{n}"));
        let pair = Self {
            camera_ns: cam.clone(),
            watchpost_ns: srv.clone(),
            camera_ip: std::net::Ipv4Addr::new(10, 231, subnet, 1),
            watchpost_ip: std::net::Ipv4Addr::new(10, 231, subnet, 2),
        };
        ip(&["netns", "add", &cam]);
        ip(&["netns", "add", &srv]);
        ip(&["link", "add", &veth_cam, "type", "veth", "peer", "name", &veth_srv]);
        ip(&["link", "set", &veth_cam, "netns", &cam]);
        ip(&["link", "set", &veth_srv, "netns", &srv]);
        ip(&["-n", &cam, "addr", "add", &format!("{}/24", pair.camera_ip), "dev", &veth_cam]);
        ip(&["-n", &srv, "addr", "add", &format!("{}/24", pair.watchpost_ip), "dev", &veth_srv]);
        for (ns, dev) in [(&cam, &veth_cam), (&srv, &veth_srv)] {
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", dev]);
        }
        pair
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        for ns in [&self.camera_ns, &self.watchpost_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Runs `test` with this thread, a runtime's threads and every process they start inside
/// network namespace `name`: Watchpost's multicast, HTTP clients and ffmpeg then see only the
/// namespace's link (for a `#[test]`, whose thread is its own).
pub fn run_in<F: std::future::Future>(name: &str, test: F) -> F::Output {
    enter(name);
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(test)
}

/// Moves the calling thread into network namespace `name` (for the rest of its life).
pub fn enter(name: &str) {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(format!("/var/run/netns/{name}")).expect("open the namespace");
    // SAFETY: a valid namespace file descriptor; CLONE_NEWNET moves only this thread.
    let result = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(result, 0, "setns {name}: {}", std::io::Error::last_os_error());
}
