//! What a bucket tree says a name is: a folder, or an object with its metadata. Kept apart
//! from the bucket trees so the on-disk metadata cache can store it too.

use crate::store::ObjectMeta;

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Child {
    Dir,
    File(ObjectMeta),
}
