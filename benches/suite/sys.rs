//! What the machine is and what it is doing: `/proc` readers (memory, CPU time, UDP drop
//! counters, load), the machine description for the result file, and the date.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value as Json, json};

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A `Key: value kB` field of `/proc/<pid>/status`, in kB (or the plain number).
pub fn status_field(pid: u32, field: &str) -> Option<u64> {
    read(&format!("/proc/{pid}/status"))
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Resident memory of `pid` (VmRSS), in kB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS")
}

/// How many file descriptors `pid` has open.
pub fn fd_count(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(Iterator::count)
}

/// The soft limit on open files of this process.
pub fn fd_limit() -> Option<u64> {
    read("/proc/self/limits")
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
}

/// Ticks per second of `/proc/*/stat` times (USER_HZ, 100 on Linux).
const HZ: f64 = 100.0;

/// (parent pid, user + system CPU seconds) of `pid`.
fn proc_stat(pid: u32) -> Option<(u32, f64)> {
    let text = read(&format!("/proc/{pid}/stat"));
    // The command name is in parentheses and may hold spaces: fields count from after it.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((ppid, (utime + stime) / HZ))
}

/// CPU seconds used so far by `root` and every process below it (Chromium's renderers and
/// GPU process are children of the browser, itself a child of the Node script).
pub fn tree_cpu_seconds(root: u32) -> f64 {
    let mut parents = BTreeMap::new();
    let mut cpu = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some((ppid, seconds)) = proc_stat(pid) {
                parents.insert(pid, ppid);
                cpu.insert(pid, seconds);
            }
        }
    }
    let in_tree = |mut pid: u32| loop {
        if pid == root {
            return true;
        }
        match parents.get(&pid) {
            Some(&ppid) if ppid != 0 && ppid != pid => pid = ppid,
            _ => return false,
        }
    };
    cpu.iter()
        .filter(|(pid, _)| in_tree(**pid))
        .map(|(_, s)| s)
        .sum()
}

/// (busy, total) jiffies of all CPUs since boot, from `/proc/stat`.
pub fn cpu_jiffies() -> (u64, u64) {
    let text = read("/proc/stat");
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    // idle and iowait
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// The `Udp:` counters of `/proc/net/snmp` (this network namespace's), by name.
pub fn udp_counters() -> BTreeMap<String, u64> {
    let text = read("/proc/net/snmp");
    let mut lines = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return BTreeMap::new();
    };
    names
        .split_whitespace()
        .skip(1)
        .zip(values.split_whitespace().skip(1))
        .filter_map(|(n, v)| Some((n.to_owned(), v.parse().ok()?)))
        .collect()
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> [f64; 3] {
    let text = read("/proc/loadavg");
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(f64::NAN));
    [
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
    ]
}

fn sysctl(path: &str) -> Json {
    read(path)
        .trim()
        .parse::<u64>()
        .map_or(Json::Null, |v| json!(v))
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The version of the npm package `name` installed in tests/js.
pub fn npm_version(name: &str) -> Option<String> {
    let path = format!(
        "{}/tests/js/node_modules/{name}/package.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let json: Json = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json["version"].as_str().map(str::to_owned)
}

/// The machine, for the result file.
pub fn machine() -> Json {
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown", |(_, v)| v.trim());
    let mem_kb = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok());
    let dir = env!("CARGO_MANIFEST_DIR");
    let commit = command_line("git", &["-C", dir, "rev-parse", "--short=12", "HEAD"]);
    let dirty = command_line("git", &["-C", dir, "status", "--porcelain", "--", "src"])
        .is_some_and(|s| !s.is_empty());
    json!({
        "cpu": model,
        "cores": std::thread::available_parallelism().map_or(0, usize::from),
        "memory_kb": mem_kb,
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "net.core.rmem_max": sysctl("/proc/sys/net/core/rmem_max"),
        "net.core.rmem_default": sysctl("/proc/sys/net/core/rmem_default"),
        "net.core.wmem_max": sysctl("/proc/sys/net/core/wmem_max"),
        "open_files_limit": fd_limit(),
        "rustc": command_line("rustc", &["-V"]),
        "node": command_line("node", &["--version"]),
        "chromium": command_line(&chromium_path(), &["--version"]),
        "peerjs": npm_version("peerjs"),
        "node-datachannel": npm_version("node-datachannel"),
        "git_commit": commit.map(|c| if dirty { format!("{c} (src modified)") } else { c }),
    })
}

/// The Chromium binary (`CHROMIUM`, else Debian's).
pub fn chromium_path() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// Now, as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// What a case cost the machine: wall time, CPU of the processes involved and of the whole
/// machine, and UDP receive-buffer drops (this namespace).
pub struct Meter {
    start: std::time::Instant,
    jiffies: (u64, u64),
    udp: BTreeMap<String, u64>,
    procs: Vec<(String, u32, f64)>,
}

impl Meter {
    /// Starts metering; `procs` are (name, root pid) of the process trees to account.
    pub fn start(procs: &[(&str, u32)]) -> Self {
        Self {
            procs: procs
                .iter()
                .map(|(n, p)| ((*n).to_owned(), *p, tree_cpu_seconds(*p)))
                .collect(),
            jiffies: cpu_jiffies(),
            udp: udp_counters(),
            start: std::time::Instant::now(),
        }
    }

    /// The observations since `start`.
    pub fn stop(&self) -> Json {
        let wall = self.start.elapsed().as_secs_f64();
        let (busy, total) = cpu_jiffies();
        let machine = if total > self.jiffies.1 {
            (busy - self.jiffies.0) as f64 / (total - self.jiffies.1) as f64
        } else {
            f64::NAN
        };
        let udp = udp_counters();
        let delta = |name: &str| {
            udp.get(name).copied().unwrap_or(0) - self.udp.get(name).copied().unwrap_or(0)
        };
        let mut cpu = serde_json::Map::new();
        for (name, pid, before) in &self.procs {
            let used = tree_cpu_seconds(*pid) - before;
            cpu.insert(name.clone(), json!(round(used / wall * 100.0, 0)));
        }
        json!({
            "wall_s": round(wall, 3),
            "machine_cpu_busy_pct": round(machine * 100.0, 0),
            "process_cpu_pct": cpu,
            "udp_rcvbuf_errors": delta("RcvbufErrors"),
            "udp_in_datagrams": delta("InDatagrams"),
        })
    }
}

/// `x` rounded to `digits` decimals.
pub fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}
