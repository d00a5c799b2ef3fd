//! A tonic service written by hand (no protoc, no prost): `demo.Greeter`
//! with one unary method, `Hello`, whose request and response are UTF-8
//! strings carried by a plain bytes codec. The request is a number of
//! milliseconds to wait before answering `hello after N ms` (so a test can
//! keep a call in flight). Shared by `examples/grpc_server.rs` and
//! `tests/server.rs`; what generated code would do, in 100 lines.

use std::convert::Infallible;
use std::time::Duration;

use bytes::{Buf, BufMut};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{http, BoxFuture, Service, StdError};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

/// The method's path.
pub const HELLO: &str = "/demo.Greeter/Hello";

/// UTF-8 strings as gRPC messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextCodec;

impl Codec for TextCodec {
    type Encode = String;
    type Decode = String;
    type Encoder = TextCodec;
    type Decoder = TextCodec;

    fn encoder(&mut self) -> TextCodec {
        TextCodec
    }

    fn decoder(&mut self) -> TextCodec {
        TextCodec
    }
}

impl Encoder for TextCodec {
    type Item = String;
    type Error = Status;

    fn encode(&mut self, item: String, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(item.as_bytes());
        Ok(())
    }
}

impl Decoder for TextCodec {
    type Item = String;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<String>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| Status::invalid_argument("not UTF-8"))
    }
}

/// `Hello`: waits the requested milliseconds, then answers.
struct Hello;

impl UnaryService<String> for Hello {
    type Response = String;
    type Future = BoxFuture<Response<String>, Status>;

    fn call(&mut self, request: Request<String>) -> Self::Future {
        Box::pin(async move {
            let ms: u64 = request
                .into_inner()
                .trim()
                .parse()
                .map_err(|_| Status::invalid_argument("send a number of milliseconds"))?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(Response::new(format!("hello after {ms} ms")))
        })
    }
}

/// The `demo.Greeter` service, ready for `tonic::service::Routes::new`.
#[derive(Debug, Clone, Default)]
pub struct Greeter;

impl NamedService for Greeter {
    const NAME: &'static str = "demo.Greeter";
}

impl<B> Service<http::Request<B>> for Greeter
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != HELLO {
            return Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) });
        }
        Box::pin(async move { Ok(Grpc::new(TextCodec).unary(Hello, request).await) })
    }
}
