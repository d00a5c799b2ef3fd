//! A tonic service written by hand (no protoc, no prost): `demo.Greeter`
//! with a unary method, `Hello`, and a server-streaming one, `Ticks`, whose
//! requests and responses are UTF-8 strings carried by a plain bytes codec.
//! `Hello`'s request is a number of milliseconds to wait before answering
//! `hello after N ms` (so a test can keep a call in flight); `Ticks` sends
//! `tick 1`, `tick 2`... every 100 ms until the client goes away (a stream
//! that only a deadline ends). Shared by `examples/grpc_server.rs` and
//! `tests/server.rs`; what generated code would do, in 100 lines.

use std::convert::Infallible;
use std::time::Duration;

use bytes::{Buf, BufMut};
use futures::stream::BoxStream;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{http, BoxFuture, Service, StdError};
use tonic::server::{Grpc, NamedService, ServerStreamingService, UnaryService};
use tonic::{Request, Response, Status};

/// The unary method's path.
pub const HELLO: &str = "/demo.Greeter/Hello";

/// The server-streaming method's path.
pub const TICKS: &str = "/demo.Greeter/Ticks";

/// How often `Ticks` sends a message.
pub const TICK: Duration = Duration::from_millis(100);

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

/// `Ticks`: `tick 1`, `tick 2`... every [`TICK`], forever.
struct Ticks;

impl ServerStreamingService<String> for Ticks {
    type Response = String;
    type ResponseStream = BoxStream<'static, Result<String, Status>>;
    type Future = BoxFuture<Response<Self::ResponseStream>, Status>;

    fn call(&mut self, _request: Request<String>) -> Self::Future {
        let ticks = futures::stream::unfold(0u64, |sent| async move {
            tokio::time::sleep(TICK).await;
            Some((Ok(format!("tick {}", sent + 1)), sent + 1))
        });
        Box::pin(async move { Ok(Response::new(Box::pin(ticks) as Self::ResponseStream)) })
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
        match request.uri().path() {
            HELLO => Box::pin(async move { Ok(Grpc::new(TextCodec).unary(Hello, request).await) }),
            TICKS => {
                Box::pin(
                    async move { Ok(Grpc::new(TextCodec).server_streaming(Ticks, request).await) },
                )
            }
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}
