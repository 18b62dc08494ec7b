//! The process's own series, as Prometheus' client libraries name them
//! (`process_resident_memory_bytes`, `process_cpu_seconds_total`, …), read
//! from `/proc/self` when Prometheus scrapes: no thread samples them in
//! between. Linux only; elsewhere they are left out.

use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`): 100 on every
/// Linux architecture, whatever the kernel's own `HZ`, and what the Go and
/// Python clients assume too (reading `sysconf(_SC_CLK_TCK)` would take
/// `unsafe`).
const USER_HZ: f64 = 100.0;

/// What one scrape read about the process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sample {
    resident_bytes: u64,
    virtual_bytes: u64,
    cpu_seconds: f64,
    open_fds: u64,
    max_fds: u64,
    start_time_seconds: f64,
}

/// A registry of the process series for one scrape (empty when
/// `/proc/self` cannot be read).
pub(super) fn process_registry() -> Registry {
    let mut registry = Registry::default();
    if let Some(s) = read() {
        register(&mut registry, &s);
    }
    registry
}

fn register(registry: &mut Registry, s: &Sample) {
    let gauge = |v: u64| ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    registry.register_with_unit(
        "process_resident_memory",
        "Resident memory size",
        Unit::Bytes,
        gauge(s.resident_bytes),
    );
    registry.register_with_unit(
        "process_virtual_memory",
        "Virtual memory size",
        Unit::Bytes,
        gauge(s.virtual_bytes),
    );
    registry.register_with_unit(
        "process_cpu",
        "User and system CPU time spent",
        Unit::Seconds,
        ConstCounter::new(s.cpu_seconds),
    );
    registry.register(
        "process_open_fds",
        "Open file descriptors",
        gauge(s.open_fds),
    );
    registry.register(
        "process_max_fds",
        "Most open file descriptors allowed (the soft limit)",
        gauge(s.max_fds),
    );
    registry.register_with_unit(
        "process_start_time",
        "Start time of the process since the Unix epoch",
        Unit::Seconds,
        ConstGauge::new(s.start_time_seconds),
    );
}

#[cfg(target_os = "linux")]
fn read() -> Option<Sample> {
    let text = |path: &str| std::fs::read_to_string(path).ok();
    let stat = parse_stat(&text("/proc/self/stat")?)?;
    let status = text("/proc/self/status")?;
    let boot_time = boot_time(&text("/proc/stat")?)?;
    Some(Sample {
        resident_bytes: status_kib(&status, "VmRSS:")? * 1024,
        virtual_bytes: status_kib(&status, "VmSize:")? * 1024,
        cpu_seconds: stat.cpu_ticks as f64 / USER_HZ,
        open_fds: std::fs::read_dir("/proc/self/fd").ok()?.count() as u64,
        max_fds: max_open_files(&text("/proc/self/limits")?)?,
        start_time_seconds: boot_time as f64 + stat.start_ticks as f64 / USER_HZ,
    })
}

#[cfg(not(target_os = "linux"))]
fn read() -> Option<Sample> {
    None
}

/// The fields of `/proc/self/stat` used here, in clock ticks.
#[derive(Debug, PartialEq, Eq)]
struct Stat {
    /// utime + stime.
    cpu_ticks: u64,
    /// After boot.
    start_ticks: u64,
}

/// Fields 14, 15 and 22 of `stat`; the command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat(stat: &str) -> Option<Stat> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (the state) is the first after the name.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        cpu_ticks: field(14)? + field(15)?,
        start_ticks: field(22)?,
    })
}

/// A `Vm…:  1234 kB` line of `/proc/self/status`, in KiB.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// `btime` of `/proc/stat`: boot, in seconds since the epoch.
fn boot_time(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|line| line.starts_with("btime "))?;
    line["btime ".len()..].trim().parse().ok()
}

/// The soft limit on open files in `/proc/self/limits`
/// (`unlimited`: the largest value).
fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    match soft {
        "unlimited" => Some(u64::MAX),
        soft => soft.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command name may hold `) (`: fields are counted after the last
    /// parenthesis.
    #[test]
    fn stat_fields_after_the_name() {
        let stat = "4242 (imgcache) (x) S 1 4242 4242 0 -1 4194560 1503 0 0 0 \
                    250 70 0 0 20 0 5 0 123456 1020000000 3000 18446744073709551615";
        assert_eq!(
            parse_stat(stat),
            Some(Stat {
                cpu_ticks: 320,
                start_ticks: 123456
            })
        );
        assert_eq!(parse_stat("4242 (imgcache S 1"), None);
    }

    /// Memory lines, boot time and the soft fd limit are read as the
    /// kernel writes them.
    #[test]
    fn status_stat_and_limits() {
        let status = "Name:\timgcache\nVmSize:\t  123456 kB\nVmRSS:\t    2048 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(2048));
        assert_eq!(status_kib(status, "VmSize:"), Some(123456));
        assert_eq!(boot_time("cpu 1 2 3\nbtime 1764547200\n"), Some(1764547200));
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(max_open_files(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(max_open_files(unlimited), Some(u64::MAX));
    }

    /// On Linux this process's own numbers are there and plausible.
    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let sample = read().expect("/proc/self");
        assert!(sample.resident_bytes > 0);
        assert!(sample.virtual_bytes >= sample.resident_bytes);
        assert!(sample.open_fds > 0 && sample.open_fds <= sample.max_fds);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64();
        assert!(sample.start_time_seconds > now - 3600.0 && sample.start_time_seconds <= now + 1.0);
    }
}
