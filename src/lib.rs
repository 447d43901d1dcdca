//! Watchpost: a self-hosted AI guard for CCTV.
//!
//! The library holds everything; `main.rs` only parses arguments and starts it with [`app::serve`].
//! See `docs/design.md` for how the modules fit together.

pub mod alerts;
pub mod annotate;
pub mod app;
pub mod auth;
pub mod backup;
pub mod bridges;
pub mod bus;
pub mod calendar;
pub mod camera;
pub mod checks;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod describe;
pub mod detect;
pub mod discovery;
pub mod erase;
pub mod error;
pub mod export;
#[cfg(any(fuzzing, test))]
pub mod fuzz;
pub mod geometry;
pub mod heap;
pub mod http;
pub mod live;
pub mod media;
pub mod model;
pub mod recording;
pub mod reports;
pub mod secret;
pub mod sensors;
pub mod supervise;
pub mod web;

pub use error::{Error, ErrorKind, Result};

/// The version printed by `--version` and shown in the UI footer.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
