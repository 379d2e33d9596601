//! Whole-file replacement for the small files under `<data-dir>/meta` (`topics.json`, the
//! producer-id high-water marks): a crash leaves either the old content or the new, never a
//! mix and never neither.
//!
//! These are plain blocking calls (write, fdatasync, rename, fsync of the directory). On a shard
//! they run on glommio's blocking pool (`BlockingPool::run`, `shard::blocking`), never on the
//! shard's thread; only start-up (before any client is served) and tests call them directly.

use std::io::Write;
use std::path::Path;

/// Replace the file at `path` with `bytes`: write a temporary file beside it, fdatasync it,
/// rename it over `path`, then fsync the directory so the rename itself survives a crash.
///
/// Without the directory fsync the rename may be lost on power loss while the caller already
/// acted on the new content (published a topic, handed out producer ids of the new block).
pub fn replace_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_whole_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        replace_durably(&path, b"first, longer").unwrap();
        replace_durably(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
    }
}
