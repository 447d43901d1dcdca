//! Watchpost: a self-hosted AI guard for CCTV.
//!
//! The library holds everything; `main.rs` only parses arguments and starts [`app::App`].
//! See `docs/design.md` for how the modules fit together.

pub mod config;
pub mod db;
pub mod error;
pub mod media;
pub mod supervise;

pub use error::{Error, ErrorKind, Result};
