//! What the tree contains. Each source (bucket trees now, MAST views next) answers "what is
//! in this directory" with [`Child`] entries; the filesystem core does not care which source
//! an entry came from.

mod bounded;
pub mod buckets;
mod error;
pub mod names;
pub mod persisted;
pub mod views;

pub use error::NamespaceError;

use crate::store::ObjectMeta;

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Child {
    Dir,
    File(ObjectMeta),
}
