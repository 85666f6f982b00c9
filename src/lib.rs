//! mastfs
