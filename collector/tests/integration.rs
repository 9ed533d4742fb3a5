//! The integration tests, linked into one binary: each file is a module. One binary per
//! file linked polars into every one of them, and a clean build ran out of disk.

mod bad_input;
mod corpus;
mod format;
mod mutation;
mod otlp_corpus;
mod pairing;
mod receivers;
