//! The apps that the examples serve and the tests drive, in one place so
//! that both run the same code.

pub mod axum;
pub mod grpc;
pub mod hyper_conn;
