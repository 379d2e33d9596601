//! A small ext4 filesystem in a file, loop-mounted over a broker's data directory, for
//! real disk-full failures (root only; callers skip, saying so, elsewhere).

use std::path::PathBuf;

/// A small ext4 filesystem in a file, loop-mounted over a directory; unmounted on drop.
pub struct LoopFs {
    mount: PathBuf,
}

impl LoopFs {
    /// None if this machine can't loop-mount (not root): the caller says so and skips.
    pub fn mount_over(dir: &std::path::Path, image: &std::path::Path, mib: u64) -> Option<LoopFs> {
        let run =
            |cmd: &mut std::process::Command| cmd.status().map(|s| s.success()).unwrap_or(false);
        let f = std::fs::File::create(image).ok()?;
        f.set_len(mib << 20).ok()?;
        drop(f);
        // -m 0: no blocks reserved for root (the broker runs as root in CI).
        if !run(std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0"])
            .arg(image))
        {
            return None;
        }
        std::fs::create_dir_all(dir).ok()?;
        if !run(std::process::Command::new("mount")
            .args(["-o", "loop"])
            .arg(image)
            .arg(dir))
        {
            return None;
        }
        Some(LoopFs {
            mount: dir.to_path_buf(),
        })
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        // Lazy: the broker may still hold files there when a failing test unwinds.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.mount)
            .status();
    }
}

/// The effective user id, from `id -u` (std has no accessor).
pub fn euid() -> u32 {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(u32::MAX)
}
