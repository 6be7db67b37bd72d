//! Types and rules. No I/O of any kind.

pub mod arn;
pub mod authorizer;
pub mod input;
pub mod policy;
pub mod vendor;
