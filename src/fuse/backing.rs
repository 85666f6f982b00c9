//! Passthrough bookkeeping of the kernel adapter. The kernel wants one backing id per inode,
//! shared by all of that inode's passthrough handles and kept registered until the last of
//! them is released; and it fails an open (EIO) that would mix passthrough and ordinary
//! handles on one inode. So each inode open right now is in one mode, and a new open
//! follows it: the backing id of the version already open that way, or the ordinary path.

use std::collections::HashMap;
use std::sync::Arc;

use fuser::BackingId;
use parking_lot::Mutex;

/// How an open is to be answered.
pub enum Answer<Id = BackingId> {
    /// With this backing id (shared by every passthrough handle of the inode).
    Passthrough(Arc<Id>),
    /// The ordinary way: reads come to the daemon.
    Ordinary,
    /// Neither is possible: the inode is open by passthrough on another object version
    /// (ETag `open_etag`), and the kernel takes only that one's backing file.
    Conflict { open_etag: Arc<str> },
}

enum Mode<Id> {
    Passthrough {
        id: Arc<Id>,
        etag: Arc<str>,
        handles: usize,
    },
    Ordinary {
        handles: usize,
    },
}

struct State<Id> {
    inodes: HashMap<u64, Mode<Id>>,
    /// Open handle → its inode, for release.
    handles: HashMap<u64, u64>,
}

/// The mode of every inode with open handles (`Id`: the kernel's backing id; tests use
/// their own, since a real one needs a FUSE connection).
pub struct Backings<Id = BackingId> {
    state: Mutex<State<Id>>,
}

impl<Id> Default for Backings<Id> {
    fn default() -> Self {
        Backings {
            state: Mutex::new(State {
                inodes: HashMap::new(),
                handles: HashMap::new(),
            }),
        }
    }
}

impl<Id> Backings<Id> {
    /// Decides how handle `fh` of inode `ino` (object version `etag`, with a `backing` file
    /// when the core found one) is answered, and records it. `register` turns the file into
    /// a backing id (the FUSE_DEV_IOC_BACKING_OPEN ioctl); its error makes the answer
    /// ordinary and is returned alongside.
    pub fn admit(
        &self,
        ino: u64,
        fh: u64,
        etag: Option<&Arc<str>>,
        backing: Option<&std::fs::File>,
        register: impl FnOnce(&std::fs::File) -> std::io::Result<Id>,
    ) -> (Answer<Id>, Option<std::io::Error>) {
        let mut state = self.state.lock();
        let mut refused = None;
        let answer = match state.inodes.get_mut(&ino) {
            Some(Mode::Passthrough {
                id,
                etag: open_etag,
                handles,
            }) => {
                if etag == Some(&*open_etag) {
                    *handles += 1;
                    Answer::Passthrough(id.clone())
                } else {
                    return (
                        Answer::Conflict {
                            open_etag: open_etag.clone(),
                        },
                        None,
                    );
                }
            }
            Some(Mode::Ordinary { handles }) => {
                *handles += 1;
                Answer::Ordinary
            }
            None => {
                let registered = match (backing, etag) {
                    (Some(file), Some(etag)) => match register(file) {
                        Ok(id) => Some((Arc::new(id), etag.clone())),
                        Err(e) => {
                            refused = Some(e);
                            None
                        }
                    },
                    _ => None,
                };
                match registered {
                    Some((id, etag)) => {
                        state.inodes.insert(
                            ino,
                            Mode::Passthrough {
                                id: id.clone(),
                                etag,
                                handles: 1,
                            },
                        );
                        Answer::Passthrough(id)
                    }
                    None => {
                        state.inodes.insert(ino, Mode::Ordinary { handles: 1 });
                        Answer::Ordinary
                    }
                }
            }
        };
        state.handles.insert(fh, ino);
        (answer, refused)
    }

    /// Handle `fh` was released: the last handle of an inode frees its mode (and its
    /// backing id, which unregisters the file from the kernel).
    pub fn release(&self, fh: u64) {
        let mut state = self.state.lock();
        let Some(ino) = state.handles.remove(&fh) else {
            return;
        };
        let last = match state.inodes.get_mut(&ino) {
            Some(Mode::Passthrough { handles, .. } | Mode::Ordinary { handles }) => {
                *handles = handles.saturating_sub(1);
                *handles == 0
            }
            None => false,
        };
        if last {
            state.inodes.remove(&ino);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stands for a kernel backing id: counts how many are registered right now.
    struct FakeId(Arc<std::sync::atomic::AtomicUsize>);

    impl Drop for FakeId {
        fn drop(&mut self) {
            self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    struct Kernel {
        live: Arc<std::sync::atomic::AtomicUsize>,
        backings: Backings<FakeId>,
    }

    impl Kernel {
        fn new() -> Kernel {
            Kernel {
                live: Arc::default(),
                backings: Backings::default(),
            }
        }

        fn open(&self, ino: u64, fh: u64, etag: &str, with_file: bool) -> &'static str {
            let file = with_file.then(|| tempfile::tempfile().unwrap());
            let live = self.live.clone();
            let (answer, _) =
                self.backings
                    .admit(ino, fh, Some(&Arc::from(etag)), file.as_ref(), move |_| {
                        live.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        Ok(FakeId(live))
                    });
            match answer {
                Answer::Passthrough(_) => "passthrough",
                Answer::Ordinary => "ordinary",
                Answer::Conflict { .. } => "conflict",
            }
        }

        fn live(&self) -> usize {
            self.live.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    #[test]
    fn handles_of_one_inode_share_one_backing_id_until_the_last_release() {
        let k = Kernel::new();
        assert_eq!(k.open(7, 1, "e1", true), "passthrough");
        assert_eq!(k.open(7, 2, "e1", true), "passthrough");
        // Even without a file of its own (evicted meanwhile): same version, same id.
        assert_eq!(k.open(7, 3, "e1", false), "passthrough");
        assert_eq!(k.live(), 1, "one backing id per inode");
        k.backings.release(1);
        k.backings.release(2);
        assert_eq!(k.live(), 1, "released while a handle still uses it");
        k.backings.release(3);
        assert_eq!(k.live(), 0, "backing id kept after the last release");
    }

    #[test]
    fn an_inode_open_the_ordinary_way_is_not_switched_to_passthrough() {
        let k = Kernel::new();
        assert_eq!(k.open(7, 1, "e1", false), "ordinary");
        assert_eq!(
            k.open(7, 2, "e1", true),
            "ordinary",
            "the kernel fails a passthrough open next to an ordinary one"
        );
        assert_eq!(k.live(), 0);
        k.backings.release(1);
        k.backings.release(2);
        assert_eq!(k.open(7, 3, "e1", true), "passthrough");
    }

    #[test]
    fn a_new_version_is_never_served_from_the_open_backing_file() {
        let k = Kernel::new();
        assert_eq!(k.open(7, 1, "e1", true), "passthrough");
        assert_eq!(k.open(7, 2, "e2", true), "conflict");
        assert_eq!(k.open(7, 3, "e2", false), "conflict");
        k.backings.release(2);
        k.backings.release(3);
        assert_eq!(k.live(), 1, "a refused open must not release the others");
        k.backings.release(1);
        assert_eq!(k.open(7, 4, "e2", true), "passthrough");
        assert_eq!(k.live(), 1);
    }
}
