//! Compiles `proto/*.proto` into Rust at build time without `protoc`: protox parses them into
//! a descriptor set, tonic-prost-build generates the messages, the servers and the clients
//! (the tests call the server with those clients).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const PROTOS: [&str; 2] = ["proto/grpc_predict_v2.proto", "proto/demo_stream.proto"];
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    // No transport helpers (`connect`): they need tonic's `channel` feature, which only the tests build.
    tonic_prost_build::configure().build_transport(false).compile_fds(descriptors)?;
    Ok(())
}
