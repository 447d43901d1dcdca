//! Memory figures from /proc, for the benchmarks that weigh Watchpost and its ffmpeg processes.

/// A `kB` field (`VmRSS:`, `Pss:`) of a /proc file of process `pid` ("self" for this one).
fn field_kib(pid: &str, file: &str, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// Resident memory of process `pid`, in MiB.
pub fn rss_mib(pid: &str) -> f64 {
    field_kib(pid, "status", "VmRSS:").unwrap_or(0) as f64 / 1024.0
}

/// Proportional memory of process `pid` (shared pages divided among their users), in MiB.
pub fn pss_mib(pid: &str) -> f64 {
    field_kib(pid, "smaps_rollup", "Pss:").unwrap_or(0) as f64 / 1024.0
}

/// The ids of this process's children whose command is `name`.
pub fn children_named(name: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().into_string().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // pid (comm) state ppid …; comm may hold spaces, so split after its closing bracket.
            let (head, rest) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1;
            let ppid = rest.split_whitespace().nth(1)?;
            (comm == name && ppid == me).then_some(pid)
        })
        .collect()
}
