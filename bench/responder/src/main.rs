//! `eipd-trivial-responder`: the machine's limit for eipd's benchmark.
//!
//! Answers every request (after reading its body) with one fixed
//! DisassociateAddress document, over HTTP/1.1 keep-alive, on the same tokio +
//! hyper stack as eipd. Whatever eipd does beyond this (routing, parsing the
//! form, auth, the domain, the store, rendering XML) is what the benchmark's
//! "% of trivial" column measures.
//!
//! Usage: eipd-trivial-responder [--listen HOST:PORT]   (default 127.0.0.1:0;
//! the chosen address is printed on standard output as
//! `eipd-trivial-responder listening on http://HOST:PORT`).

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const DOCUMENT: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<DisassociateAddressResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
<requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>\
<return>true</return>\
</DisassociateAddressResponse>";

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the whole request, as a real server must, so keep-alive stays healthy.
    let _ = req.into_body().collect().await;
    let mut response = Response::new(Full::new(Bytes::from_static(DOCUMENT)));
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/xml;charset=UTF-8"));
    Ok(response)
}

fn parse_args() -> Result<SocketAddr, String> {
    let mut listen: SocketAddr = "127.0.0.1:0".parse().expect("valid");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let value = args.next().ok_or("--listen needs HOST:PORT")?;
                listen = value.parse().map_err(|e| format!("--listen {value}: {e}"))?;
            }
            "-h" | "--help" => {
                println!(
                    "eipd-trivial-responder [--listen HOST:PORT]\n\n\
                     Answers every request with a fixed DisassociateAddress document\n\
                     (the benchmark's ceiling). Port 0 (the default) picks a free port;\n\
                     the address is printed on standard output."
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(listen)
}

fn main() -> std::process::ExitCode {
    let listen = match parse_args() {
        Ok(listen) => listen,
        Err(e) => {
            eprintln!("eipd-trivial-responder: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(async move {
        let listener = match TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("eipd-trivial-responder: cannot listen on {listen}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let local = listener.local_addr().expect("local address");
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "eipd-trivial-responder listening on http://{local}");
        let _ = stdout.flush();
        let serve = async {
            loop {
                let (stream, _) = match listener.accept().await {
                    Ok(conn) => conn,
                    Err(_) => continue,
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(answer)).await;
                });
            }
        };
        tokio::select! {
            _ = serve => {}
            _ = shutdown() => {}
        }
        std::process::ExitCode::SUCCESS
    })
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
