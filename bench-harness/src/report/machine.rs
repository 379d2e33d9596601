//! What machine a run was taken on, read from /proc and /sys (Linux only, like Sluice).

use std::path::Path;

use super::result::Machine;

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

pub fn describe(data_dir: &Path) -> Machine {
    let cpuinfo = read("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory_bytes = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
    let hostname = read("/proc/sys/kernel/hostname").trim().to_string();
    Machine {
        cpu_model,
        cores,
        memory_bytes,
        kernel,
        disk: disk_of(data_dir),
        hostname,
    }
}

/// The mount holding `dir` (longest matching mount point) and, when it is a block device, its
/// model from sysfs.
fn disk_of(dir: &Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mounts = read("/proc/self/mounts");
    let mut best: Option<(usize, String, String)> = None;
    for line in mounts.lines() {
        let mut f = line.split_whitespace();
        let (Some(dev), Some(mnt), Some(fs)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if dir.starts_with(mnt) && best.as_ref().is_none_or(|(len, _, _)| mnt.len() > *len) {
            best = Some((mnt.len(), dev.to_string(), fs.to_string()));
        }
    }
    let Some((_, dev, fs)) = best else {
        return "unknown".into();
    };
    let model = dev
        .strip_prefix("/dev/")
        .map(|name| {
            let base = name
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .trim_end_matches('p');
            let m = read(&format!("/sys/block/{base}/device/model"));
            let rotational = read(&format!("/sys/block/{base}/queue/rotational"));
            let kind = match rotational.trim() {
                "0" => ", non-rotational",
                "1" => ", rotational",
                _ => "",
            };
            let m = if m.trim().is_empty() {
                "model unknown"
            } else {
                m.trim()
            };
            format!("{m}{kind}")
        })
        .unwrap_or_default();
    format!(
        "{fs} on {dev}{}",
        if model.is_empty() {
            String::new()
        } else {
            format!(" ({model})")
        }
    )
}
