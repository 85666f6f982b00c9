//! Who may do what: signed requests (verified by s3s's SigV4 check against the
//! configured credentials) may do anything; unsigned ones only touch public
//! buckets, like a public-read bucket on AWS (writes included, so scripts can
//! upload test data without signing).

use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{s3_error, S3Result};

use crate::store::Store;

pub(crate) struct BucketPolicy {
    store: Arc<Store>,
}

impl BucketPolicy {
    pub(crate) fn new(store: Arc<Store>) -> BucketPolicy {
        BucketPolicy { store }
    }
}

#[async_trait::async_trait]
impl S3Access for BucketPolicy {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_some() {
            return Ok(());
        }
        let bucket = match cx.s3_path() {
            S3Path::Root => return Ok(()),
            S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } => bucket,
        };
        match self.store.bucket_is_public(bucket) {
            // A missing bucket: let the operation answer NoSuchBucket (or
            // create it).
            None | Some(true) => Ok(()),
            Some(false) => Err(s3_error!(AccessDenied, "Access Denied")),
        }
    }
}

/// Bucket names as the handle API allows them: anything non-empty without a
/// `/`, so tests may use short names like `b` (AWS would insist on 3-63
/// lowercase characters).
pub(crate) struct AnyBucketName;

impl s3s::validation::NameValidation for AnyBucketName {
    fn validate_bucket_name(&self, name: &str) -> bool {
        !name.is_empty() && !name.contains('/')
    }
}
