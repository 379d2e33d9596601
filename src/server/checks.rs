//! Start-up checks. Each failure is one clear line and a non-zero exit, never a panic later.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::{bail, Context};

use crate::limits::{fds_reserved, PARTITION_FDS};

pub use crate::limits::NOFILE_MIN;

pub use crate::limits::NOFILE_MAX as NOFILE_WANTED;

pub use crate::limits::IO_MEMORY_BYTES_MIN;

pub use crate::limits::IO_MEMORY_BYTES_MAX;

/// tmpfs's statfs magic (linux/magic.h).
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Parse `--cpuset` ("0-3,6") or take the first `--cores` online CPUs.
pub fn cpu_list(cpuset: Option<&str>, cores: Option<usize>) -> anyhow::Result<Vec<usize>> {
    let online = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut cpus = match cpuset {
        Some(spec) => parse_cpuset(spec)?,
        None => (0..cores.unwrap_or(online)).map(|c| c % online).collect(),
    };
    if let Some(n) = cores {
        if n == 0 {
            bail!("--cores must be at least 1");
        }
        if cpuset.is_some() {
            if n > cpus.len() {
                bail!("--cores {n} exceeds the {} CPUs in --cpuset", cpus.len());
            }
            cpus.truncate(n);
        }
    }
    if cpus.is_empty() {
        bail!("no CPUs to run on");
    }
    Ok(cpus)
}

fn parse_cpuset(spec: &str) -> anyhow::Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let a: usize = a
            .trim()
            .parse()
            .with_context(|| format!("bad --cpuset entry {part:?}"))?;
        let b: usize = b
            .trim()
            .parse()
            .with_context(|| format!("bad --cpuset entry {part:?}"))?;
        if a > b || b >= 4096 {
            bail!("bad --cpuset range {part:?}");
        }
        out.extend(a..=b);
    }
    out.dedup();
    Ok(out)
}

fn rlimit(resource: libc::__rlimit_resource_t) -> (u64, u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    unsafe { libc::getrlimit(resource, &mut r) };
    (r.rlim_cur, r.rlim_max)
}

fn raise_to_hard(resource: libc::__rlimit_resource_t) -> u64 {
    let (cur, max) = rlimit(resource);
    if cur < max {
        let r = libc::rlimit {
            rlim_cur: max,
            rlim_max: max,
        };
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(resource, &r) } == 0 {
            return max;
        }
    }
    cur
}

/// Raise RLIMIT_NOFILE to [`NOFILE_WANTED`] (within fs.nr_open) where allowed, else its soft
/// limit to the hard one; refuse to start when it stays below [`NOFILE_MIN`]. Returns the limit.
pub fn raise_nofile() -> anyhow::Result<u64> {
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(NOFILE_WANTED);
    let wanted = NOFILE_WANTED.min(nr_open);
    if rlimit(libc::RLIMIT_NOFILE).0 < wanted {
        let r = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: wanted.max(rlimit(libc::RLIMIT_NOFILE).1),
        };
        // SAFETY: setrlimit reads the struct we pass. Raising the hard limit needs
        // CAP_SYS_RESOURCE; without it this fails and the soft limit is raised below.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) };
    }
    let got = raise_to_hard(libc::RLIMIT_NOFILE);
    if got < NOFILE_MIN {
        bail!("RLIMIT_NOFILE is {got} and cannot be raised to {NOFILE_MIN}: raise it (ulimit -n) and retry");
    }
    Ok(got)
}

/// Partitions whose files fit in `nofile` descriptors next to `connections_max` connections
/// and the descriptors kept aside for `shards` shards.
pub fn partitions_fitting(nofile: u64, connections_max: usize, shards: u32) -> usize {
    let spare = nofile.saturating_sub(connections_max as u64 + fds_reserved(shards));
    usize::try_from(spare / PARTITION_FDS).unwrap_or(usize::MAX)
}

/// Raise RLIMIT_MEMLOCK to its hard limit and size glommio's registered io memory to fit.
pub fn io_memory_per_shard(shards: u32) -> anyhow::Result<usize> {
    let got = raise_to_hard(libc::RLIMIT_MEMLOCK);
    if got == libc::RLIM_INFINITY {
        return Ok(IO_MEMORY_BYTES_MAX);
    }
    let per = (got as usize / (shards as usize + 1)).min(IO_MEMORY_BYTES_MAX);
    if per < IO_MEMORY_BYTES_MIN {
        // Root (CAP_IPC_LOCK) is not limited by RLIMIT_MEMLOCK.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            return Ok(IO_MEMORY_BYTES_MIN);
        }
        bail!(
            "RLIMIT_MEMLOCK is {got} bytes: io_uring needs {} per shard ({shards} shards); raise it (ulimit -l) and retry",
            IO_MEMORY_BYTES_MIN
        );
    }
    Ok(per.max(IO_MEMORY_BYTES_MIN))
}

/// Create the data dir, check it is writable and not on tmpfs, and lock it. The returned file
/// holds the lock for the life of the process.
pub fn prepare_data_dir(dir: &Path) -> anyhow::Result<File> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("data dir {} cannot be created", dir.display()))?;
    let probe = dir.join(".write-probe");
    std::fs::write(&probe, b"x")
        .with_context(|| format!("data dir {} is not writable", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    let c_path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .context("data dir path contains NUL")?;
    // SAFETY: statfs writes into the zeroed struct; the path is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c_path.as_ptr(), &mut st) } == 0 && st.f_type as i64 == TMPFS_MAGIC {
        bail!("data dir {} is on tmpfs, which does not survive a reboot: choose a disk-backed directory", dir.display());
    }
    let lock = File::create(dir.join(".lock"))
        .with_context(|| format!("data dir {} is not writable", dir.display()))?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        bail!(
            "data dir {} is already in use by another Sluice process",
            dir.display()
        );
    }
    Ok(lock)
}

/// Bind `addr` without SO_REUSEPORT to find out whether the port is free (another process
/// using SO_REUSEPORT would otherwise silently share it). Returns the address with the port
/// the OS picked when `addr` had port 0.
pub fn test_bind(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind(addr).with_context(|| format!("port {addr} is already in use"))?;
    Ok(l.local_addr()?)
}

/// Bytes of the file that primes glommio's direct-I/O poll probe: one full block, so the probe
/// read is a real read, not a read past EOF.
const IOPOLL_PROBE_BYTES: usize = crate::limits::DMA_ALIGNMENT_BYTES;

/// Make this shard's first `DmaFile` open a file with data in it.
///
/// glommio 0.9 decides, once per thread and block device, whether O_DIRECT reads may go to its
/// IOPOLL ring, by reading the first block of the first DMA file it opens there. On an empty
/// file that read returns at EOF without reaching the device, so the probe "succeeds" even on a
/// device without polled I/O (virtio here) and every later read of real data fails with
/// EOPNOTSUPP. Empty segments are common (the 50 `__consumer_offsets` partitions), so open a
/// one-block file first and let the probe see the truth. Runs on the shard, before its logs.
pub async fn prime_direct_io_probe(data_dir: &Path, shard: u32) {
    let path = data_dir.join(format!(".iopoll-probe-{shard}"));
    if let Err(e) = std::fs::write(&path, vec![0u8; IOPOLL_PROBE_BYTES]) {
        tracing::warn!(path = %path.display(), error = %e, "writing the direct-I/O probe file");
        return;
    }
    match glommio::io::DmaFile::open(&path).await {
        Ok(f) => {
            let _ = f.close().await;
        }
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "direct-I/O probe"),
    }
    let _ = std::fs::remove_file(&path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpusets() {
        assert_eq!(parse_cpuset("0-2,5").unwrap(), vec![0, 1, 2, 5]);
        assert!(parse_cpuset("3-1").is_err());
        assert!(parse_cpuset("x").is_err());
        assert_eq!(cpu_list(Some("1"), None).unwrap(), vec![1]);
        assert!(cpu_list(None, Some(0)).is_err());
    }
}
