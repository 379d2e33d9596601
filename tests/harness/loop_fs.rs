//! A small ext4 filesystem in a file, loop-mounted over a broker's data directory, for
//! real disk-full failures (root only; callers skip, saying so, elsewhere).

use std::io::Write;
use std::path::PathBuf;

use super::Broker;

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

/// `b` restarted with its data dir on a `mib` MiB loop-mounted ext4 (the image beside it in
/// the work dir), for a disk that really fills. None where this machine can't loop-mount,
/// which only a non-root user may meet (said on stderr; the caller skips, `b` left stopped).
pub fn restart_on_small_disk(b: &mut Broker, mib: u64) -> Option<LoopFs> {
    b.stop();
    let image = b.workdir.join("disk.img");
    let Some(fs) = LoopFs::mount_over(&b.data_dir, &image, mib) else {
        assert_ne!(euid(), 0, "root must be able to loop-mount an ext4 image");
        eprintln!("skipped: loop-mounting needs root");
        return None;
    };
    b.restart();
    Some(fs)
}

/// Fills the filesystem of `dir` with a file there, returned (remove it to free the space).
pub fn fill_disk(dir: &std::path::Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).expect("filler");
    let chunk = vec![0u8; 1 << 20];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    filler
}
