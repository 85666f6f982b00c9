//! The S3 operations (`s3s::S3` implementation) over the in-memory store:
//! buckets, listings, HEAD/GET with ranges and conditions, PUT and DELETE.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use s3s::dto::{
    Bucket, BucketCannedACL, CommonPrefix, CreateBucketInput, CreateBucketOutput,
    DeleteObjectInput, DeleteObjectOutput, ETag, ETagCondition, EncodingType,
    GetBucketLocationInput, GetBucketLocationOutput, GetObjectInput, GetObjectOutput,
    HeadBucketInput, HeadBucketOutput, HeadObjectInput, HeadObjectOutput, ListBucketsInput,
    ListBucketsOutput, ListObjectsInput, ListObjectsOutput, ListObjectsV2Input,
    ListObjectsV2Output, Object, ObjectStorageClass, PutObjectInput, PutObjectOutput,
    StreamingBlob, Timestamp,
};
use s3s::{s3_error, S3Error, S3Request, S3Response, S3Result, S3};

use crate::store::{
    ListEntry, ListPage, ListQuery, ListStart, Store, StoreError, StoredObject,
    DEFAULT_CONTENT_TYPE,
};

/// S3's default and maximum page size.
const MAX_KEYS: usize = 1000;

/// Marker put into a request's extensions by the fault injector: serve the
/// whole object even though the request asked for a range.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IgnoreRange;

pub(crate) struct Backend {
    store: Arc<Store>,
}

impl Backend {
    pub(crate) fn new(store: Arc<Store>) -> Backend {
        Backend { store }
    }

    fn object(&self, bucket: &str, key: &str) -> S3Result<Arc<StoredObject>> {
        match self.store.get(bucket, key) {
            Ok(Some(obj)) => Ok(obj),
            Ok(None) => Err(s3_error!(NoSuchKey, "The specified key does not exist.")),
            Err(e) => Err(store_error(e)),
        }
    }
}

fn store_error(e: StoreError) -> S3Error {
    match e {
        StoreError::NoSuchBucket => s3_error!(NoSuchBucket, "The specified bucket does not exist"),
    }
}

fn timestamp(t: SystemTime) -> Timestamp {
    Timestamp::from(t)
}

fn system_time(t: &Timestamp) -> SystemTime {
    let odt: time::OffsetDateTime = t.clone().into();
    SystemTime::from(odt)
}

fn etag(obj: &StoredObject) -> ETag {
    ETag::Strong(obj.etag_hex.clone())
}

fn condition_matches(cond: &ETagCondition, obj: &StoredObject) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(tag) => tag.value() == obj.etag_hex,
    }
}

/// Evaluates If-Match / If-None-Match / If-(Un)Modified-Since like S3.
fn check_preconditions(
    obj: &StoredObject,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    match if_match {
        Some(cond) if !condition_matches(cond, obj) => {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
        Some(_) => {}
        None => {
            if let Some(since) = if_unmodified_since {
                if obj.last_modified > system_time(since) {
                    return Err(s3_error!(
                        PreconditionFailed,
                        "At least one of the pre-conditions you specified did not hold"
                    ));
                }
            }
        }
    }
    match if_none_match {
        Some(cond) if condition_matches(cond, obj) => return Err(s3_error!(NotModified)),
        Some(_) => {}
        None => {
            if let Some(since) = if_modified_since {
                if obj.last_modified <= system_time(since) {
                    return Err(s3_error!(NotModified));
                }
            }
        }
    }
    Ok(())
}

/// Characters S3's `encoding-type=url` leaves alone: unreserved ones and `/`.
const KEY_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

struct Encoder {
    url: bool,
}

impl Encoder {
    fn new(encoding_type: Option<&EncodingType>) -> S3Result<Encoder> {
        match encoding_type.map(EncodingType::as_str) {
            None => Ok(Encoder { url: false }),
            Some(EncodingType::URL) => Ok(Encoder { url: true }),
            Some(other) => Err(s3_error!(
                InvalidArgument,
                "Invalid Encoding Method specified in Request: {other}"
            )),
        }
    }

    fn apply(&self, s: &str) -> String {
        if self.url {
            utf8_percent_encode(s, KEY_ENCODE_SET).to_string()
        } else {
            s.to_owned()
        }
    }

    fn apply_opt(&self, s: Option<&str>) -> Option<String> {
        s.map(|s| self.apply(s))
    }

    fn echo(&self) -> Option<EncodingType> {
        self.url
            .then(|| EncodingType::from_static(EncodingType::URL))
    }
}

fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(MAX_KEYS),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must not be negative")),
        Some(n) => Ok(usize::try_from(n).unwrap_or(MAX_KEYS).min(MAX_KEYS)),
    }
}

/// Continuation tokens are opaque to clients: hex of a kind letter and the
/// last entry returned.
fn encode_token(entry: &ListEntry) -> String {
    match entry {
        ListEntry::Object(key, _) => hex::encode(format!("k{key}")),
        ListEntry::CommonPrefix(cp) => hex::encode(format!("p{cp}")),
    }
}

fn decode_token(token: &str) -> S3Result<ListStart> {
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "The continuation token provided is incorrect"
        )
    };
    let raw = hex::decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    match text.split_at_checked(1) {
        Some(("k", key)) => Ok(ListStart::AfterKey(key.to_owned())),
        Some(("p", cp)) => Ok(ListStart::AfterPrefix(cp.to_owned())),
        _ => Err(invalid()),
    }
}

fn non_empty(s: Option<&String>) -> Option<&str> {
    s.map(String::as_str).filter(|s| !s.is_empty())
}

/// Contents and CommonPrefixes of a page, keys encoded as asked.
fn page_parts(page: &ListPage, enc: &Encoder) -> (Vec<Object>, Vec<CommonPrefix>) {
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for entry in &page.entries {
        match entry {
            ListEntry::Object(key, obj) => contents.push(Object {
                key: Some(enc.apply(key)),
                size: Some(i64::try_from(obj.data.len()).unwrap_or(i64::MAX)),
                e_tag: Some(etag(obj)),
                last_modified: Some(timestamp(obj.last_modified)),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                ..Object::default()
            }),
            ListEntry::CommonPrefix(cp) => prefixes.push(CommonPrefix {
                prefix: Some(enc.apply(cp)),
            }),
        }
    }
    (contents, prefixes)
}

fn content_length(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl S3 for Backend {
    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self
            .store
            .buckets()
            .into_iter()
            .map(|(name, created)| Bucket {
                name: Some(name),
                creation_date: Some(timestamp(created)),
                ..Bucket::default()
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..ListBucketsOutput::default()
        }))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = &req.input.bucket;
        if self.store.bucket_exists(bucket) {
            return Err(s3_error!(BucketAlreadyOwnedByYou));
        }
        // Unsigned creation (only possible without credentials) or a
        // public-read ACL makes a public bucket; a signed one is private.
        let public_acl = req.input.acl.as_ref().is_some_and(|acl| {
            matches!(
                acl.as_str(),
                BucketCannedACL::PUBLIC_READ | BucketCannedACL::PUBLIC_READ_WRITE
            )
        });
        self.store
            .create_bucket(bucket, public_acl || req.credentials.is_none());
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        if !self.store.bucket_exists(&req.input.bucket) {
            return Err(store_error(StoreError::NoSuchBucket));
        }
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        if !self.store.bucket_exists(&req.input.bucket) {
            return Err(store_error(StoreError::NoSuchBucket));
        }
        // us-east-1 is reported as an empty LocationConstraint, as S3 does.
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = &req.input;
        let enc = Encoder::new(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_keys)?;
        let prefix = input.prefix.as_deref().unwrap_or("");
        let delimiter = non_empty(input.delimiter.as_ref());
        let start = match (
            non_empty(input.continuation_token.as_ref()),
            non_empty(input.start_after.as_ref()),
        ) {
            (Some(token), _) => decode_token(token)?,
            (None, Some(after)) => ListStart::AfterKey(after.to_owned()),
            (None, None) => ListStart::Beginning,
        };
        let page = self
            .store
            .list(
                &input.bucket,
                &ListQuery {
                    prefix,
                    delimiter,
                    start,
                    max_keys: max,
                },
            )
            .map_err(store_error)?;
        let next_token = if page.truncated {
            page.entries.last().map(encode_token)
        } else {
            None
        };
        let key_count = i32::try_from(page.entries.len()).unwrap_or(i32::MAX);
        let (contents, prefixes) = page_parts(&page, &enc);
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket.clone()),
            prefix: Some(enc.apply(prefix)),
            delimiter: enc.apply_opt(input.delimiter.as_deref()),
            max_keys: Some(i32::try_from(max).unwrap_or(i32::MAX)),
            key_count: Some(key_count),
            continuation_token: input.continuation_token.clone(),
            start_after: enc.apply_opt(input.start_after.as_deref()),
            is_truncated: Some(page.truncated),
            next_continuation_token: next_token,
            contents: (!contents.is_empty()).then_some(contents),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            encoding_type: enc.echo(),
            ..ListObjectsV2Output::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = &req.input;
        let enc = Encoder::new(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_keys)?;
        let prefix = input.prefix.as_deref().unwrap_or("");
        let delimiter = non_empty(input.delimiter.as_ref());
        let start = match non_empty(input.marker.as_ref()) {
            // A marker equal to a returned common prefix skips that group.
            Some(marker) if delimiter.is_some_and(|d| marker.ends_with(d)) => {
                ListStart::AfterPrefix(marker.to_owned())
            }
            Some(marker) => ListStart::AfterKey(marker.to_owned()),
            None => ListStart::Beginning,
        };
        let page = self
            .store
            .list(
                &input.bucket,
                &ListQuery {
                    prefix,
                    delimiter,
                    start,
                    max_keys: max,
                },
            )
            .map_err(store_error)?;
        let next_marker = if page.truncated {
            page.entries.last().map(|e| match e {
                ListEntry::Object(key, _) => enc.apply(key),
                ListEntry::CommonPrefix(cp) => enc.apply(cp),
            })
        } else {
            None
        };
        let (contents, prefixes) = page_parts(&page, &enc);
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket.clone()),
            prefix: Some(enc.apply(prefix)),
            delimiter: enc.apply_opt(input.delimiter.as_deref()),
            marker: Some(enc.apply(input.marker.as_deref().unwrap_or(""))),
            max_keys: Some(i32::try_from(max).unwrap_or(i32::MAX)),
            is_truncated: Some(page.truncated),
            next_marker,
            contents: (!contents.is_empty()).then_some(contents),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            encoding_type: enc.echo(),
            ..ListObjectsOutput::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = &req.input;
        let obj = self.object(&input.bucket, &input.key)?;
        check_preconditions(
            &obj,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        Ok(S3Response::new(HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: Some(content_length(obj.data.len())),
            content_type: Some(obj.content_type.clone()),
            e_tag: Some(etag(&obj)),
            last_modified: Some(timestamp(obj.last_modified)),
            ..HeadObjectOutput::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = &req.input;
        let obj = self.object(&input.bucket, &input.key)?;
        check_preconditions(
            &obj,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let total = obj.data.len() as u64;
        let range = if req.extensions.get::<IgnoreRange>().is_some() {
            None
        } else {
            input.range
        };
        let (body, content_range) = match range {
            None => (obj.data.clone(), None),
            Some(range) => {
                if total == 0 {
                    return Err(s3_error!(
                        InvalidRange,
                        "The requested range is not satisfiable"
                    ));
                }
                let span = range.check(total).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?;
                let (start, end) = (
                    usize::try_from(span.start).unwrap_or(usize::MAX),
                    usize::try_from(span.end).unwrap_or(usize::MAX),
                );
                let header = format!("bytes {}-{}/{}", span.start, span.end - 1, total);
                (obj.data.slice(start..end), Some(header))
            }
        };
        let len = body.len();
        // One zero-copy frame: the HTTP front end slices it for the wire.
        let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
        Ok(S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(stream)),
            accept_ranges: Some("bytes".into()),
            content_length: Some(content_length(len)),
            content_range,
            content_type: Some(obj.content_type.clone()),
            e_tag: Some(etag(&obj)),
            last_modified: Some(timestamp(obj.last_modified)),
            ..GetObjectOutput::default()
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        if !self.store.bucket_exists(&input.bucket) {
            return Err(store_error(StoreError::NoSuchBucket));
        }
        let mut data = BytesMut::new();
        if let Some(mut body) = input.body {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| {
                    s3_error!(IncompleteBody, "reading the request body failed: {e}")
                })?;
                data.extend_from_slice(&chunk);
            }
        }
        let content_type = input
            .content_type
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned());
        let obj = StoredObject::new(data.freeze(), SystemTime::now(), content_type);
        let obj = self
            .store
            .put(&input.bucket, &input.key, obj)
            .map_err(store_error)?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&obj)),
            ..PutObjectOutput::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.store
            .delete(&req.input.bucket, &req.input.key)
            .map_err(store_error)?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::dto::Range;

    #[test]
    fn tokens_round_trip() {
        let obj = Arc::new(StoredObject::new(
            Bytes::new(),
            SystemTime::now(),
            DEFAULT_CONTENT_TYPE.into(),
        ));
        let token = encode_token(&ListEntry::Object("a/\u{1}b".into(), obj));
        assert_eq!(
            decode_token(&token).unwrap(),
            ListStart::AfterKey("a/\u{1}b".into())
        );
        let token = encode_token(&ListEntry::CommonPrefix("d/".into()));
        assert_eq!(
            decode_token(&token).unwrap(),
            ListStart::AfterPrefix("d/".into())
        );
        assert!(decode_token("zz").is_err());
    }

    #[test]
    fn url_encoding_keeps_slashes_and_unreserved() {
        let enc = Encoder { url: true };
        assert_eq!(enc.apply("a b+c/\r~x.y"), "a%20b%2Bc/%0D~x.y");
    }

    #[test]
    fn range_type_is_used_for_suffixes() {
        let r = Range::Suffix { length: 50 };
        assert_eq!(
            r.check(10).unwrap(),
            0..10,
            "over-long suffix = whole object"
        );
    }
}
