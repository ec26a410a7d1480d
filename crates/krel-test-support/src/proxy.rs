//! A fault-injecting HTTP/1.1 proxy on 127.0.0.1, for testing retries against real servers.
//!
//! It relays requests one at a time to an upstream port and, on a fixed schedule, answers
//! 503 or 429 instead, drops the connection before forwarding, forwards the request and then
//! drops the connection before the response arrives (the server acted; the client never
//! heard), or stalls. Faults stop after `max_faults`, so every test ends. The upstream's status
//! for every forwarded request is recorded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer `503 Service Unavailable` without forwarding.
    Unavailable,
    /// Answer `429 Too Many Requests` with `Retry-After: 1` without forwarding.
    TooMany,
    /// Close the connection without forwarding.
    DropRequest,
    /// Forward, then close the connection instead of relaying the response.
    DropResponse,
    /// Hold the request for 60 seconds, then close (a hung network path).
    Stall,
    /// Wait 1.5 seconds, then relay normally (a slow answer).
    Slow,
    /// Forward, then wait 1.5 seconds before relaying the response: the server has acted, the
    /// client has not heard yet.
    SlowAnswer,
}

/// A running proxy; stops accepting when dropped.
pub struct FaultyProxy {
    /// The proxy's port.
    pub port: u16,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: u16,
    schedule: Vec<Option<Fault>>,
    max_faults: usize,
    injected: Mutex<Vec<Fault>>,
    requests: AtomicUsize,
    statuses: Mutex<Vec<u16>>,
    lines: Mutex<Vec<String>>,
}

impl FaultyProxy {
    /// Proxies to 127.0.0.1:`upstream`. Request number n (from 0) gets `schedule[n % len]`
    /// (`None` = relay normally) until `max_faults` faults have been injected.
    pub fn start(upstream: u16, schedule: Vec<Option<Fault>>, max_faults: usize) -> FaultyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            upstream,
            schedule,
            max_faults,
            injected: Mutex::new(Vec::new()),
            requests: AtomicUsize::new(0),
            statuses: Mutex::new(Vec::new()),
            lines: Mutex::new(Vec::new()),
        });
        let stop_flag = stop.clone();
        let accept_shared = shared.clone();
        std::thread::spawn(move || {
            while !stop_flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let shared = accept_shared.clone();
                        std::thread::spawn(move || {
                            let _ = serve(client, &shared);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultyProxy { port, stop, shared }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// How many faults were injected.
    pub fn faults(&self) -> usize {
        self.shared.injected.lock().map(|f| f.len()).unwrap_or(0)
    }

    /// How many faults of one kind were injected.
    pub fn faults_of(&self, kind: Fault) -> usize {
        self.shared
            .injected
            .lock()
            .map(|f| f.iter().filter(|&&k| k == kind).count())
            .unwrap_or(0)
    }

    /// How many upstream responses had `status`.
    pub fn count_status(&self, status: u16) -> usize {
        self.shared
            .statuses
            .lock()
            .map(|s| s.iter().filter(|&&x| x == status).count())
            .unwrap_or(0)
    }

    /// Requests seen.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The request lines seen so far (`PUT /bucket/key HTTP/1.1`), in order of arrival.
    pub fn request_lines(&self) -> Vec<String> {
        self.shared
            .lines
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Shared {
    fn decide(&self) -> Option<Fault> {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        let fault = *self.schedule.get(n % self.schedule.len().max(1))?;
        let mut injected = self.injected.lock().ok()?;
        if injected.len() >= self.max_faults {
            return None;
        }
        if let Some(fault) = fault {
            injected.push(fault);
        }
        fault
    }
}

/// One HTTP message head: the raw bytes and how its body is framed.
struct Head {
    raw: Vec<u8>,
    length: Option<usize>,
    chunked: bool,
}

fn read_head(reader: &mut impl BufRead) -> std::io::Result<Option<Head>> {
    let mut raw = Vec::new();
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        raw.extend_from_slice(&line);
        let text = String::from_utf8_lossy(&line).to_ascii_lowercase();
        if let Some(value) = text.strip_prefix("content-length:") {
            length = value.trim().parse().ok();
        }
        if text.starts_with("transfer-encoding:") && text.contains("chunked") {
            chunked = true;
        }
        if line == b"\r\n" || line == b"\n" {
            return Ok(Some(Head {
                raw,
                length,
                chunked,
            }));
        }
    }
}

/// Copies a body framed by `head` from `from` to `to`.
fn copy_body(head: &Head, from: &mut impl BufRead, to: &mut impl Write) -> std::io::Result<()> {
    if head.chunked {
        loop {
            let mut size_line = Vec::new();
            from.read_until(b'\n', &mut size_line)?;
            to.write_all(&size_line)?;
            let size_text = String::from_utf8_lossy(&size_line);
            let size = usize::from_str_radix(size_text.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            from.read_exact(&mut chunk)?;
            to.write_all(&chunk)?;
            if size == 0 {
                return Ok(());
            }
        }
    }
    if let Some(length) = head.length {
        std::io::copy(&mut from.take(length as u64), to)?;
    }
    Ok(())
}

fn serve(client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client_out = client;
    loop {
        let Some(request) = read_head(&mut reader)? else {
            return Ok(());
        };
        let answer = |status: &[u8], out: &mut TcpStream| out.write_all(status);
        if let Ok(mut lines) = shared.lines.lock() {
            let text = String::from_utf8_lossy(&request.raw);
            lines.push(text.lines().next().unwrap_or("").to_string());
        }
        let decided = shared.decide();
        if decided == Some(Fault::Slow) {
            std::thread::sleep(Duration::from_millis(1500));
        }
        match decided {
            Some(Fault::DropRequest) => return Ok(()),
            Some(Fault::Stall) => {
                std::thread::sleep(Duration::from_secs(60));
                return Ok(());
            }
            Some(Fault::Unavailable) => {
                copy_body(&request, &mut reader, &mut std::io::sink())?;
                answer(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    &mut client_out,
                )?;
                return Ok(());
            }
            Some(Fault::TooMany) => {
                copy_body(&request, &mut reader, &mut std::io::sink())?;
                answer(
                    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    &mut client_out,
                )?;
                return Ok(());
            }
            fault => {
                let mut upstream = TcpStream::connect(("127.0.0.1", shared.upstream))?;
                upstream.set_read_timeout(Some(Duration::from_secs(60)))?;
                upstream.write_all(&request.raw)?;
                copy_body(&request, &mut reader, &mut upstream)?;
                let mut upstream_reader = BufReader::new(upstream.try_clone()?);
                let Some(mut response) = read_head(&mut upstream_reader)? else {
                    return Ok(());
                };
                let status = String::from_utf8_lossy(&response.raw)
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_string();
                if let (Ok(mut statuses), Ok(code)) = (shared.statuses.lock(), status.parse()) {
                    statuses.push(code);
                }
                if request.raw.starts_with(b"HEAD ") || status == "204" || status == "304" {
                    // No body follows, whatever the headers say.
                    response.length = Some(0);
                    response.chunked = false;
                }
                if fault == Some(Fault::SlowAnswer) {
                    std::thread::sleep(Duration::from_millis(1500));
                }
                if fault == Some(Fault::DropResponse) {
                    // Let the server finish; the client never hears of it.
                    let _ = copy_body(&response, &mut upstream_reader, &mut std::io::sink());
                    return Ok(());
                }
                client_out.write_all(&response.raw)?;
                if response.length.is_none() && !response.chunked {
                    // No framing: the body runs to the end of the connection.
                    std::io::copy(&mut upstream_reader, &mut client_out)?;
                    return Ok(());
                }
                copy_body(&response, &mut upstream_reader, &mut client_out)?;
            }
        }
    }
}
