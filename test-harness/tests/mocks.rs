//! The mock upstreams on their own (no Envoy): what the real-Envoy tests rely
//! on them to do.

use std::time::{Duration, Instant};

use serde_json::json;
use test_harness::client::{self, BodyEnding};
use test_harness::tokens::{self, Key};
use test_harness::{BodyEnd, Chunking, JwksMode, MockAgent, MockJwks, Reply};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn jwks_serves_rotates_fails_and_counts() {
    let jwks = MockJwks::start(tokens::default_jwks()).unwrap();
    let get = || client::get(&jwks.uri()).send_blocking().unwrap();

    let first = get();
    assert_eq!(first.status, 200);
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(first.json().unwrap(), tokens::default_jwks());

    jwks.set_keys(tokens::jwks(&[Key::Rsa2]));
    assert_eq!(get().json().unwrap()["keys"][0]["kid"], "rsa-2");

    jwks.fail();
    assert_eq!(get().status, 500);
    jwks.set_mode(JwksMode::Fail(503));
    assert_eq!(get().status, 503);
    jwks.serve_garbage();
    let garbage = get();
    assert_eq!(garbage.status, 200);
    assert!(garbage.json().is_err(), "garbage must not parse");
    jwks.recover();
    assert_eq!(get().status, 200);

    jwks.set_delay(Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(get().status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));

    assert_eq!(jwks.request_count(), 7);
    assert_eq!(jwks.wait_requests(7, WAIT).unwrap(), 7);
    assert!(jwks.wait_requests(8, Duration::from_millis(100)).is_err());

    let other = client::get(&format!("http://{}/other", jwks.addr()))
        .send_blocking()
        .unwrap();
    assert_eq!(other.status, 404);
    assert_eq!(jwks.other_requests(), ["/other"]);
    assert_eq!(jwks.request_count(), 7, "other paths are not JWKS fetches");
}

#[test]
fn agent_routes_exact_then_longest_prefix_then_default() {
    let agent = MockAgent::start().unwrap();
    agent.set_default(Reply::body("text/plain", "default"));
    agent.route_prefix("/a", Reply::body("text/plain", "prefix a"));
    agent.route_prefix("/a/b", Reply::body("text/plain", "prefix a/b"));
    agent.route("/a/b/c", Reply::body("text/plain", "exact").status(201));
    let text = |path: &str| {
        let r = client::get(&agent.url(path)).send_blocking().unwrap();
        (r.status, r.text())
    };
    assert_eq!(text("/zzz"), (200, "default".into()));
    assert_eq!(text("/a/x"), (200, "prefix a".into()));
    assert_eq!(text("/a/b/x"), (200, "prefix a/b".into()));
    assert_eq!(text("/a/b/c?q=1"), (201, "exact".into()));
    let paths: Vec<_> = agent.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/zzz", "/a/x", "/a/b/x", "/a/b/c?q=1"]);
}

#[test]
fn agent_echo_lists_repeated_headers_as_arrays_over_both_protocols() {
    let agent = MockAgent::start().unwrap();
    for h2c in [false, true] {
        let mut req = client::post(&agent.url("/e"))
            .header("x-one", "1")
            .header("x-two", "a")
            .header("x-two", "b")
            .body("hello");
        if h2c {
            req = req.h2c();
        }
        let echo = req.send_blocking().unwrap().json().unwrap();
        assert_eq!(echo["headers"]["x-one"], "1");
        assert_eq!(echo["headers"]["x-two"], json!(["a", "b"]));
        assert_eq!(echo["body"], "hello");
        assert_eq!(echo["method"], "POST");
        assert_eq!(echo["version"], if h2c { "HTTP/2.0" } else { "HTTP/1.1" });
    }
}

#[test]
fn agent_paces_chunks_and_honours_scripted_headers() {
    let agent = MockAgent::start().unwrap();
    let body = b"data: 1\n\ndata: 2\n\ndata: 3\n\n".to_vec();
    agent.set_default(
        Reply::sse(body.clone())
            .chunking(Chunking::Fixed(9))
            .delay(Duration::from_millis(100))
            .header("x-extra", "yes"),
    );
    let mut stream = client::get(&agent.url("/s")).open_blocking().unwrap();
    assert_eq!(stream.header("content-type"), Some("text/event-stream"));
    assert_eq!(stream.header("x-extra"), Some("yes"));
    let mut chunks = Vec::new();
    while let Some(c) = stream.next_chunk_blocking(WAIT).unwrap() {
        chunks.push(c);
    }
    assert_eq!(chunks.concat(), body);
    assert_eq!(chunks.len(), 3, "100 ms apart, the pieces arrive apart");

    // A fixed content-length instead of chunked encoding.
    agent.set_default(
        Reply::body("application/octet-stream", "0123456789")
            .header("content-length", "10")
            .chunking(Chunking::bytewise()),
    );
    let r = client::get(&agent.url("/len")).send_blocking().unwrap();
    assert_eq!(r.header("content-length"), Some("10"));
    assert_eq!(r.text(), "0123456789");
    assert_eq!(
        agent.last_request().unwrap().wait_body_end(WAIT),
        Some(BodyEnd::Completed)
    );
}

#[test]
fn agent_reset_and_client_gone_are_recorded() {
    let agent = MockAgent::start().unwrap();
    agent.route(
        "/reset",
        Reply::sse("data: partial\n\ndata: more\n\n").reset_after(15),
    );
    let r = client::get(&agent.url("/reset")).send_blocking().unwrap();
    assert_eq!(r.text(), "data: partial\n\n");
    assert!(matches!(r.ending, BodyEnding::Error(_)), "{:?}", r.ending);
    assert_eq!(
        agent.last_request().unwrap().wait_body_end(WAIT),
        Some(BodyEnd::Reset)
    );

    agent.route(
        "/ticks",
        Reply::keep_streaming(Duration::from_millis(20), Duration::from_secs(30)),
    );
    let mut stream = client::get(&agent.url("/ticks")).open_blocking().unwrap();
    let tick = stream.next_chunk_blocking(WAIT).unwrap().unwrap();
    assert_eq!(tick.as_ref(), b"data: {\"type\":\"ping\",\"n\":0}\n\n");
    drop(stream);
    assert!(agent.wait_client_gone(1, WAIT));
    let req = agent.requests().remove(1);
    assert!(req.bytes_sent() > 0);
    assert!(req.body_ended_at().is_some());

    // A short ticker ends cleanly by itself.
    agent.route(
        "/short",
        Reply::keep_streaming(Duration::from_millis(10), Duration::from_millis(100))
            .tick_frame("data: x\n\n"),
    );
    let r = client::get(&agent.url("/short")).send_blocking().unwrap();
    assert_eq!(r.ending, BodyEnding::Complete);
    assert!(
        r.text().starts_with("data: x\n\ndata: x\n\n"),
        "{}",
        r.text()
    );
    assert!(!agent.wait_client_gone(2, Duration::from_millis(200)));
}

#[tokio::test]
async fn async_api_works_inside_a_tokio_test() {
    let agent = MockAgent::start().unwrap();
    agent.set_default(Reply::sse("data: hi\n\n"));
    let resp = client::get(&agent.url("/x")).send().await.unwrap();
    assert_eq!(resp.text(), "data: hi\n\n");
    let reqs = agent.wait_requests_async(1, WAIT).await.unwrap();
    assert_eq!(
        reqs[0].wait_body_end_async(WAIT).await,
        Some(BodyEnd::Completed)
    );
    // The blocking twin may be used here as well.
    let again = client::get(&agent.url("/y")).send_blocking().unwrap();
    assert_eq!(again.status, 200);
}
