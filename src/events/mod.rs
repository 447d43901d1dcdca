//! Events: the recorders that turn what a camera's pipeline sees (motion, tracked objects) into
//! stored events with their best snapshot, and tell the bus as they start, change and end.

mod objects;
mod recorder;

pub use objects::ObjectEventRecorder;
pub use recorder::MotionEventRecorder;
