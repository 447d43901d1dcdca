//! Finding cameras and nodes on the LAN: ONVIF cameras over WS-Discovery (a Probe multicast from
//! every suitable IPv4 interface, answers collected for a few seconds, one entry per endpoint),
//! here; ESP32/ESPHome nodes over mDNS in `mdns`, their registry and event streams in `nodes`.
//!
//! Blocking on purpose: a scan is a handful of UDP sockets for a few seconds; callers on the async
//! runtime use `spawn_blocking`. Sockets are created in the calling thread, so they belong to its
//! network namespace (which the tests rely on).

pub mod inbox;
pub mod mdns;
pub mod nodes;
pub mod onvif;
pub mod wsd;

use crate::checks::{Checks, ConfigIssue};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Finding cameras on the LAN.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryConfig {
    /// Interfaces to probe from, by name (`eth0`) or IPv4 address; empty = every interface that is
    /// up, not loopback, and can send multicast.
    pub interfaces: Vec<String>,
    /// Seconds a scan waits for answers.
    pub probe_secs: u32,
    /// Minutes between background scans; 0 = only when asked ("Scan now", `watchpost discover`).
    pub interval_minutes: u32,
    /// Seconds between mDNS looks for ESP32/ESPHome nodes, which keep the nodes' last-seen times
    /// current; 0 = nodes are looked for only by "Scan now" and `watchpost discover`.
    pub node_scan_secs: u32,
    /// A node unseen for this long (no mDNS answer, no message on its event stream) is offline.
    pub node_offline_secs: u32,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self { interfaces: Vec::new(), probe_secs: 3, interval_minutes: 5, node_scan_secs: 60, node_offline_secs: 180 }
    }
}

impl DiscoveryConfig {
    /// Problems with these settings; keys are relative to the section.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut checks = Checks::default();
        checks.range("probe_secs", self.probe_secs, 1..=60, " seconds");
        checks.range("interval_minutes", self.interval_minutes, 0..=10_080, " (0 = off; 10080 is a week)");
        if self.node_scan_secs > 3600 {
            checks.range("node_scan_secs", self.node_scan_secs, 0..=3600, " seconds (0 = off)");
        } else if self.node_scan_secs > 0 && self.node_offline_secs <= self.node_scan_secs + self.probe_secs {
            checks.push(
                "node_offline_secs",
                format!(
                    "{} is too short: a node would look offline between two looks; use more than node_scan_secs + probe_secs ({} s)",
                    self.node_offline_secs,
                    self.node_scan_secs + self.probe_secs
                ),
            );
        }
        checks.into_issues()
    }
}

/// An IPv4 interface that can send multicast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub address: Ipv4Addr,
}

/// The interfaces to probe from: up, multicast-capable, not loopback, IPv4; only those named in
/// `wanted` (names like `eth0` or addresses) when it is not empty.
pub fn interfaces(wanted: &[String]) -> Result<Vec<Interface>> {
    let mut found = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we only read and then free once.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(Error::unavailable(format!(
            "cannot list the network interfaces: {}",
            std::io::Error::last_os_error()
        )));
    }
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*entry };
        entry = ifa.ifa_next;
        let flags = ifa.ifa_flags;
        let usable = flags & libc::IFF_UP as u32 != 0
            && flags & libc::IFF_MULTICAST as u32 != 0
            && flags & libc::IFF_LOOPBACK as u32 == 0;
        // SAFETY: a non-null ifa_addr points at a sockaddr whose family says its real type.
        if !usable || ifa.ifa_addr.is_null() || i32::from(unsafe { (*ifa.ifa_addr).sa_family }) != libc::AF_INET {
            continue;
        }
        // SAFETY: the family is AF_INET, so this is a sockaddr_in.
        let address = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
        let address = Ipv4Addr::from(u32::from_be(address.sin_addr.s_addr));
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }.to_string_lossy().into_owned();
        let chosen = wanted.is_empty() || wanted.iter().any(|w| *w == name || w.parse() == Ok(address));
        if chosen {
            found.push(Interface { name, address });
        }
    }
    // SAFETY: freed once, after the last read.
    unsafe { libc::freeifaddrs(list) };
    Ok(found)
}

/// An ONVIF device found on the network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnvifDevice {
    /// The WS-Discovery endpoint reference (`urn:uuid:…`).
    pub endpoint: String,
    /// The address the answer came from.
    pub address: IpAddr,
    /// The device service URLs, IPv4 first.
    pub xaddrs: Vec<String>,
    pub name: Option<String>,
    pub manufacturer: Option<String>,
    /// The `hardware` scope, which is usually the model.
    pub model: Option<String>,
    pub location: Option<String>,
    pub types: Vec<String>,
    pub scopes: Vec<String>,
}

impl OnvifDevice {
    fn from_match(found: wsd::ProbeMatch, address: IpAddr) -> Self {
        let mut xaddrs = found.xaddrs.clone();
        // IPv4 first: what a camera URL is built from.
        xaddrs.sort_by_key(|x| x.contains('['));
        Self {
            name: found.scope("name"),
            manufacturer: found.scope("mfr").or_else(|| found.scope("manufacturer")),
            model: found.scope("hardware"),
            location: found.scope("location"),
            endpoint: found.endpoint,
            address,
            xaddrs,
            types: found.types,
            scopes: found.scopes,
        }
    }
}

/// What one scan of both kinds found.
pub struct Found {
    pub cameras: Result<Vec<OnvifDevice>>,
    pub nodes: Result<Vec<crate::model::Node>>,
}

/// One scan of both kinds at once: ONVIF cameras (WS-Discovery) and ESP32/ESPHome nodes (mDNS),
/// each waiting `wait` for answers, on the configured interfaces.
pub fn scan(config: &crate::discovery::DiscoveryConfig, wait: Duration) -> Found {
    let interfaces = config.interfaces.clone();
    let nodes = std::thread::spawn(move || mdns::browse_nodes(&interfaces, wait));
    let cameras = scan_onvif(&config.interfaces, wait);
    let nodes = nodes.join().unwrap_or_else(|_| Err(Error::unavailable("mDNS browsing failed; see the log")));
    Found { cameras, nodes }
}

/// Probes from every chosen interface and collects answers for `wait`; one entry per endpoint
/// (the first answer wins), sorted by address.
pub fn scan_onvif(wanted_interfaces: &[String], wait: Duration) -> Result<Vec<OnvifDevice>> {
    let interfaces = interfaces(wanted_interfaces)?;
    if interfaces.is_empty() {
        return Err(Error::unavailable(if wanted_interfaces.is_empty() {
            "no network interface that can send multicast is up".to_string()
        } else {
            format!(
                "none of the interfaces in [discovery] interfaces ({}) is up with an IPv4 address",
                wanted_interfaces.join(", ")
            )
        }));
    }
    let mut sockets = Vec::new();
    for interface in &interfaces {
        match probe_from(interface) {
            Ok(socket) => sockets.push(socket),
            Err(err) => tracing::warn!(interface = %interface.name, error = %err, "cannot probe from this interface"),
        }
    }
    if sockets.is_empty() {
        return Err(Error::unavailable("no interface could send the WS-Discovery probe; see the log"));
    }
    let mut devices: BTreeMap<String, OnvifDevice> = BTreeMap::new();
    let deadline = Instant::now() + wait;
    let mut buffer = vec![0u8; 65_536];
    while Instant::now() < deadline {
        for socket in &sockets {
            let Ok((length, from)) = socket.recv_from(&mut buffer) else { continue };
            let Ok(text) = std::str::from_utf8(&buffer[..length]) else { continue };
            for found in wsd::parse(text) {
                if found.kind != wsd::Announcement::Bye {
                    devices.entry(found.endpoint.clone()).or_insert_with(|| OnvifDevice::from_match(found, from.ip()));
                }
            }
        }
    }
    let mut devices: Vec<OnvifDevice> = devices.into_values().collect();
    devices.sort_by(|a, b| a.address.cmp(&b.address).then_with(|| a.endpoint.cmp(&b.endpoint)));
    Ok(devices)
}

/// Listens on 239.255.255.250:3702, joined on every chosen interface, for the Hello a camera
/// multicasts when it joins the network (handed to `heard`, which returns false to stop) and its
/// Bye (logged), until `cancel`.
pub fn listen_for_announcements(
    wanted_interfaces: &[String],
    cancel: &crate::supervise::CancellationToken,
    mut heard: impl FnMut(OnvifDevice) -> bool,
) -> Result<()> {
    let interfaces = interfaces(wanted_interfaces)?;
    let socket = shared_udp_socket(wsd::PORT).map_err(|e| {
        Error::unavailable(format!("cannot listen for camera announcements on port {}: {e}", wsd::PORT))
    })?;
    let mut joined = 0;
    for interface in &interfaces {
        match socket.join_multicast_v4(&wsd::GROUP, &interface.address) {
            Ok(()) => joined += 1,
            Err(err) => {
                tracing::warn!(interface = %interface.name, error = %err, "cannot hear camera announcements here")
            }
        }
    }
    if joined == 0 {
        return Err(Error::unavailable("no interface could join the WS-Discovery group; see the log"));
    }
    socket.set_read_timeout(Some(Duration::from_millis(250))).map_err(Error::from)?;
    let mut buffer = vec![0u8; 65_536];
    while !cancel.is_cancelled() {
        let Ok((length, from)) = socket.recv_from(&mut buffer) else { continue };
        let Ok(text) = std::str::from_utf8(&buffer[..length]) else { continue };
        for found in wsd::parse(text) {
            match found.kind {
                wsd::Announcement::Hello => {
                    tracing::info!(endpoint = %found.endpoint, from = %from.ip(), "a camera announced itself");
                    if !heard(OnvifDevice::from_match(found, from.ip())) {
                        return Ok(());
                    }
                }
                wsd::Announcement::Bye => {
                    tracing::info!(endpoint = %found.endpoint, from = %from.ip(), "a camera said goodbye")
                }
                wsd::Announcement::Match => {}
            }
        }
    }
    Ok(())
}

/// A UDP socket on `0.0.0.0:port` with `SO_REUSEADDR`, so it shares the port with other
/// WS-Discovery listeners on the machine.
fn shared_udp_socket(port: u16) -> std::io::Result<UdpSocket> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor this function owns until it is wrapped.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let socket = UdpSocket::from_raw_fd(fd);
        let one: libc::c_int = 1;
        let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        if libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, (&one as *const libc::c_int).cast(), size) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let address = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr { s_addr: 0 },
            sin_zero: [0; 8],
        };
        let length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::bind(fd, (&address as *const libc::sockaddr_in).cast(), length) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(socket)
    }
}

/// A socket on `interface` that has sent one Probe per device type; answers come back to it.
fn probe_from(interface: &Interface) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind(SocketAddr::from((interface.address, 0)))?;
    set_multicast_interface(&socket, interface.address)?;
    socket.set_multicast_ttl_v4(1)?;
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    for device_type in wsd::PROBE_TYPES {
        let message = wsd::probe(device_type, &message_id());
        socket.send_to(message.as_bytes(), (wsd::GROUP, wsd::PORT))?;
    }
    Ok(socket)
}

/// `IP_MULTICAST_IF`: send the group traffic out of this interface rather than by the routing table.
fn set_multicast_interface(socket: &UdpSocket, address: Ipv4Addr) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::in_addr { s_addr: u32::from(address).to_be() };
    // SAFETY: a valid socket and a correctly sized in_addr.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&value as *const libc::in_addr).cast(),
            std::mem::size_of::<libc::in_addr>() as libc::socklen_t,
        )
    };
    if result == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// `urn:uuid:` and a random (version 4) UUID.
fn message_id() -> String {
    let mut bytes = [0u8; 16];
    let _ = getrandom::fill(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("urn:uuid:{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}
