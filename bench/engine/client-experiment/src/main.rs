//! `client-experiment MODE ADDR CONNS SECS`: CONNS keep-alive connections send `GET /` to ADDR
//! for SECS seconds and the number of responses is printed. MODE `hyper` uses
//! `hyper::client::conn::http1`; MODE `raw` writes the request and parses the response with
//! httparse on tokio's readiness API, as suite's engine does. Nothing is recorded per request,
//! so the figures are each client's floor.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use http_body_util::{BodyExt, Empty};
use bytes::Bytes;
use tokio::net::TcpStream;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args[1].clone();
    let addr = args[2].clone();
    let conns: usize = args[3].parse().unwrap();
    let secs: u64 = args[4].parse().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(secs);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let count = count.clone();
        let addr = addr.clone();
        let mode = mode.clone();
        set.spawn(async move {
            let stream = TcpStream::connect(&addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            if mode == "hyper" {
                let io = hyper_util::rt::TokioIo::new(stream);
                let (mut send, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(io).await.unwrap();
                tokio::spawn(conn);
                while Instant::now() < end {
                    let req = hyper::Request::builder().uri("/").header("host", addr.as_str()).body(Empty::new()).unwrap();
                    let t = Instant::now();
                    let resp = send.send_request(req).await.unwrap();
                    let mut body = resp.into_body();
                    let mut n = 0;
                    while let Some(f) = body.frame().await { if let Ok(d) = f.unwrap().into_data() { n += d.len(); } }
                    std::hint::black_box((n, t.elapsed()));
                    count.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                let req = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
                let mut buf = vec![0u8; 8192];
                while Instant::now() < end {
                    let t = Instant::now();
                    write_all(&stream, &req).await;
                    let mut have = 0;
                    let mut need: Option<usize> = None;
                    loop {
                        stream.readable().await.unwrap();
                        match stream.try_read(&mut buf[have..]) {
                            Ok(0) => panic!("eof"),
                            Ok(n) => have += n,
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                            Err(e) => panic!("{e}"),
                        }
                        if need.is_none() {
                            let mut h = [httparse::EMPTY_HEADER; 32];
                            let mut r = httparse::Response::new(&mut h);
                            if let httparse::Status::Complete(hl) = r.parse(&buf[..have]).unwrap() {
                                let cl = r.headers.iter().find(|h| h.name.eq_ignore_ascii_case("content-length")).map(|h| std::str::from_utf8(h.value).unwrap().parse::<usize>().unwrap()).unwrap();
                                need = Some(hl + cl);
                            }
                        }
                        if need.is_some_and(|n| have >= n) { break; }
                    }
                    std::hint::black_box(t.elapsed());
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    println!("{}", count.load(Ordering::Relaxed));
}

async fn write_all(s: &TcpStream, mut b: &[u8]) {
    while !b.is_empty() {
        match s.try_write(b) {
            Ok(n) => b = &b[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => s.writable().await.unwrap(),
            Err(e) => panic!("{e}"),
        }
    }
}
