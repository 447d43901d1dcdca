//! sea-orm entities, one file per table. Times are milliseconds since the Unix epoch (UTC) and
//! lists are JSON text, so the same schema works unchanged on SQLite and PostgreSQL.

pub mod alert_delivery;
pub mod api_token;
pub mod audit_entry;
pub mod camera;
pub mod camera_outage;
pub mod discovered_device;
pub mod event;
pub mod node;
pub mod node_event;
pub mod outbox_message;
pub mod push_subscription;
pub mod recording_segment;
pub mod report;
pub mod report_delivery;
pub mod session;
pub mod setting;
pub mod stationary_object;
pub mod user;
pub mod whatsapp_number;
