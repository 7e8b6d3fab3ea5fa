//! A service's schema asked of the server itself (`reflection: true`): gRPC server reflection
//! (`grpc.reflection.v1.ServerReflection`), once per address and service when the test is
//! planned, so a server that does not offer it is an error before any load; over TLS with the
//! scenario's `tls-verify`, as the calls themselves go.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use prost_reflect::DescriptorPool;
use tonic::transport::Endpoint;

use crate::plan::grpc::BytesCodec;

/// How long the whole exchange may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Most files a server may send for one service (its file and what that imports).
const MAX_FILES: usize = 1_000;

/// `ServerReflectionRequest`, the fields suite asks with.
#[derive(Clone, PartialEq, Message)]
struct Request {
    #[prost(string, tag = "1")]
    host: String,
    #[prost(string, optional, tag = "3")]
    file_by_filename: Option<String>,
    #[prost(string, optional, tag = "4")]
    file_containing_symbol: Option<String>,
}

/// `ServerReflectionResponse`, the fields suite reads.
#[derive(Clone, PartialEq, Message)]
struct Response {
    #[prost(message, optional, tag = "4")]
    file_descriptor_response: Option<FileDescriptors>,
    #[prost(message, optional, tag = "7")]
    error_response: Option<ErrorResponse>,
}

#[derive(Clone, PartialEq, Message)]
struct FileDescriptors {
    #[prost(bytes = "vec", repeated, tag = "1")]
    file_descriptor_proto: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
struct ErrorResponse {
    #[prost(int32, tag = "1")]
    error_code: i32,
    #[prost(string, tag = "2")]
    error_message: String,
}

/// The pool of the files that define `service` (and the files they import), as the server at
/// `address` (`http://host:port`, or `https://` with `tls`) describes them; or why it could not say.
pub(super) fn fetch(
    address: &http::Uri,
    service: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<DescriptorPool, String> {
    let (address, service) = (address.clone(), service.to_string());
    // Planning may run inside the runner's runtime: the exchange gets a thread and runtime of its own.
    std::thread::scope(|s| {
        s.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the reflection client: {e}"))?;
            runtime.block_on(async {
                tokio::time::timeout(TIMEOUT, files(address, &service, tls))
                    .await
                    .map_err(|_| format!("no answer within {TIMEOUT:?}"))?
            })
        })
        .join()
        .map_err(|_| "the reflection client failed".to_string())?
    })
}

async fn files(
    address: http::Uri,
    service: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<DescriptorPool, String> {
    let endpoint = Endpoint::from(address);
    let channel = match tls {
        Some(config) => endpoint.connect_with_connector(crate::tls::connector(config)).await,
        None => endpoint.connect().await,
    };
    let channel = channel.map_err(|e| format!("cannot connect: {}", deepest(&e)))?;
    let mut client = tonic::client::Grpc::new(channel);
    let mut files: Vec<prost_reflect::prost_types::FileDescriptorProto> = Vec::new();
    let mut wanted = vec![Request { file_containing_symbol: Some(service.to_string()), ..Default::default() }];
    while let Some(request) = wanted.pop() {
        client.ready().await.map_err(|e| format!("cannot connect: {}", deepest(&e)))?;
        let path = http::uri::PathAndQuery::from_static("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo");
        let stream = futures_util::stream::iter([Bytes::from(request.encode_to_vec())]);
        let mut answer =
            client.streaming(tonic::Request::new(stream), path, BytesCodec).await.map_err(status)?.into_inner();
        let Some(bytes) = answer.message().await.map_err(status)? else {
            return Err("the server ended the reflection call without an answer".to_string());
        };
        let response = Response::decode(bytes).map_err(|e| format!("not a reflection answer: {e}"))?;
        if let Some(e) = response.error_response {
            return Err(format!("the server has no schema for it: {} (code {})", e.error_message, e.error_code));
        }
        for bytes in response.file_descriptor_response.map(|f| f.file_descriptor_proto).unwrap_or_default() {
            let file = prost_reflect::prost_types::FileDescriptorProto::decode(bytes.as_slice())
                .map_err(|e| format!("not a file descriptor: {e}"))?;
            if !files.iter().any(|f| f.name == file.name) {
                files.push(file);
            }
        }
        if files.len() > MAX_FILES {
            return Err(format!("the server described more than {MAX_FILES} files"));
        }
        // Imports the server did not send yet are asked for by name.
        for dep in files.iter().flat_map(|f| f.dependency.iter()) {
            let known = files.iter().any(|f| f.name.as_deref() == Some(dep.as_str()));
            let asked = wanted.iter().any(|w| w.file_by_filename.as_deref() == Some(dep.as_str()));
            if !known && !asked {
                wanted.push(Request { file_by_filename: Some(dep.clone()), ..Default::default() });
            }
        }
    }
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(order(files)).map_err(|e| format!("its schema does not hold together: {e}"))?;
    Ok(pool)
}

/// Files with the ones they import first.
fn order(
    mut files: Vec<prost_reflect::prost_types::FileDescriptorProto>,
) -> Vec<prost_reflect::prost_types::FileDescriptorProto> {
    let mut out: Vec<prost_reflect::prost_types::FileDescriptorProto> = Vec::with_capacity(files.len());
    while !files.is_empty() {
        let ready = files
            .iter()
            .position(|f| f.dependency.iter().all(|d| out.iter().any(|o| o.name.as_deref() == Some(d.as_str()))))
            .unwrap_or(0);
        out.push(files.remove(ready));
    }
    out
}

fn status(s: tonic::Status) -> String {
    match s.code() {
        tonic::Code::Unimplemented => "it does not offer server reflection (UNIMPLEMENTED)".to_string(),
        code => format!("{code:?}: {}", s.message()),
    }
}

fn deepest(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(inner) = next {
        text = inner.to_string();
        next = inner.source();
    }
    text
}
