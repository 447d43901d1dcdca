//! Watchpost: a self-hosted AI guard for CCTV.
//!
//! The library holds everything; `main.rs` only parses arguments and starts [`app::App`].
//! See `docs/design.md` for how the modules fit together.

pub mod camera;
pub mod config;
pub mod db;
pub mod detect;
pub mod error;
pub mod events;
pub mod media;
pub mod supervise;

pub use error::{Error, ErrorKind, Result};
