//! The window in which a log's sealed files are renamed or unlinked under its segment map: a
//! cleaner swap (`cleaner`) or a retention / DeleteRecords deletion (`retention`).
//!
//! glommio 0.9's `DmaFile::open_at` stats the path after opening it and panics (ENOENT) if the
//! file was unlinked in between, so no sealed file may go while an open of one is under way.
//! Opens of sealed files take `Log::open_guard` (counted in `Log::opens`, and waiting while a
//! window is open); a window makes the log's swap epoch odd (no new open starts), waits for the
//! opens under way to finish (bounded: `CLEANER_SWAP_WAIT_MS_MAX`), and makes the epoch even
//! again when dropped, once the segment map matches the files. A read that failed on a file
//! meanwhile sees the epoch moved (`Log::swapped_under`) and reads again.
//!
//! Callers hold `Log::moving_start`, so windows never overlap. Lives on the log's owner shard.

use super::Log;

/// An open window (the swap epoch is odd); closed on drop. Shard-local.
pub(super) struct FilesMoving<'a>(&'a Log);

impl Log {
    /// Open a window for renaming or unlinking sealed files: no new open of a sealed file
    /// starts until the returned guard drops, and the opens under way have finished (or the
    /// bounded wait ran out, which leaves the race glommio can lose; logged).
    pub(super) async fn files_moving(&self) -> FilesMoving<'_> {
        debug_assert!(
            self.swap_epoch.get().is_multiple_of(2),
            "file-move windows never overlap (moving_start is held)"
        );
        self.swap_epoch.set(self.swap_epoch.get() + 1);
        let guard = FilesMoving(self);
        let step = std::time::Duration::from_millis(1);
        for _ in 0..crate::limits::CLEANER_SWAP_WAIT_MS_MAX {
            if self.opens.get() == 0 {
                return guard;
            }
            glommio::timer::sleep(step).await;
        }
        tracing::warn!(dir = %self.dir.display(), opens = self.opens.get(), "sealed-file opens still under way when files move");
        guard
    }
}

impl Drop for FilesMoving<'_> {
    fn drop(&mut self) {
        let epoch = &self.0.swap_epoch;
        epoch.set(epoch.get() + 1);
    }
}
