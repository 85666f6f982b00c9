//! Integration tests of the S3 stand-in, through aws-sdk-s3 and a raw HTTP
//! client, in one test binary (the SDK makes each binary slow to link).

mod binary;
mod common;
mod control_plane;
mod faults;
mod link;
mod listing;
mod objects;
