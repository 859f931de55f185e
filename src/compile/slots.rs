//! Build folders at fixed paths, one per build running at a time. A warm build works in
//! a folder whose path earlier builds had: everything the build's programs see, down
//! to the folder QMK's CLI runs in and the paths of its byte code, is then the same
//! from build to build. A folder is held with an advisory lock (`flock`), which ends
//! with the process that holds it.

use std::fs::File;
use std::path::{Path, PathBuf};

/// More builds at once than any machine runs.
const MOST: usize = 4096;

pub struct Slot {
    number: usize,
    path: PathBuf,
    /// Held while the slot is; closing it releases the lock.
    _lock: File,
}

impl Slot {
    /// The first folder under `root` no build holds, held until the slot is dropped.
    pub fn take(root: &Path) -> std::io::Result<Slot> {
        std::fs::create_dir_all(root)?;
        for number in 0..MOST {
            let lock =
                File::options().create(true).truncate(false).write(true).open(root.join(format!("{number}.lock")))?;
            match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Slot { number, path: root.join(number.to_string()), _lock: lock }),
                Err(rustix::io::Errno::WOULDBLOCK) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(std::io::Error::other(format!("all {MOST} build folders in {} are taken", root.display())))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn number(&self) -> usize {
        self.number
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_slot_is_not_taken_again_and_a_released_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let first = Slot::take(dir.path()).unwrap();
        let second = Slot::take(dir.path()).unwrap();
        assert_ne!(first.path(), second.path());
        let path = first.path().to_owned();
        drop(first);
        assert_eq!(Slot::take(dir.path()).unwrap().path(), path, "the same path again once released");
    }
}
