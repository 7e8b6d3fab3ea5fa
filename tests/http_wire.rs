//! HTTP/1.1 as servers really speak it, from a raw TCP server run by the test: chunked bodies,
//! bodies that end when the connection closes, and kept-alive connections the server closes
//! between requests (the request is sent again on a new connection, not failed).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::util::artifacts::final_stats;
use crate::util::Project;

/// A server that answers every request on a connection with `answer(path)` and, when the
/// answer says so, closes the connection afterwards without telling the client.
struct RawServer {
    port: u16,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl RawServer {
    fn start(answer: fn(&str) -> (Vec<u8>, bool)) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (c, r) = (connections.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                c.fetch_add(1, Ordering::SeqCst);
                let r = r.clone();
                std::thread::spawn(move || serve(stream, answer, &r));
            }
        });
        RawServer { port, connections, requests }
    }
}

fn serve(stream: TcpStream, answer: fn(&str) -> (Vec<u8>, bool), seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut length = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        seen.lock().unwrap().push(path.clone());
        let (bytes, close) = answer(&path);
        if out.write_all(&bytes).is_err() || close {
            return;
        }
    }
}

#[test]
fn chunked_and_close_delimited_bodies_and_silently_closed_connections() {
    let server = RawServer::start(|path| match path {
        "/chunked" => (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n6;ext=1\r\nefghij\r\n0\r\n\r\n"
                .to_vec(),
            false,
        ),
        // No length: the body ends when the server closes.
        "/until-close" => (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end".to_vec(), true),
        // Kept alive as far as the client knows, then closed by the server.
        _ => (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(), true),
    });
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- iterations: 3
  scenario: s
scenarios:
  s:
    default-address: http://127.0.0.1:{port}
    requests:
    - url: /chunked
      assert: [abcdefghij]
    - url: /until-close
      assert: ['until the end']
    - url: /silent-close
      think-time: 100ms
    - url: /silent-close-again
      think-time: 100ms
"#,
        port = server.port
    );
    p.file("t/w.yaml", &yaml);
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    let rows = final_stats(&out.run_dir().join("w/final_stats.csv"));
    let overall = rows.iter().find(|r| r["label"].is_empty()).unwrap();
    let num = |name: &str| overall[name].parse::<f64>().unwrap();
    // `throughput` is Taurus's name for the sample count.
    assert_eq!((num("throughput"), num("fail")), (12.0, 0.0), "{rows:?}");
    // Every request reached the server once: none was lost or doubled by the retry.
    assert_eq!(server.requests.lock().unwrap().len(), 12);
    // Per iteration: one connection for /chunked and /until-close (which ends it), one for
    // /silent-close, and one for /silent-close-again, sent again after the server closed the
    // kept-alive one (as /chunked is from the second iteration on).
    assert_eq!(server.connections.load(Ordering::SeqCst), 9, "{:?}", server.requests.lock().unwrap());
}
