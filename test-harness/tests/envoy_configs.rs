//! The configs shipped under `envoy/`: every placeholder filled with plausible
//! values, then
//! - `envoy --mode validate` on each Envoy config (the Wasm plugin's
//!   `on_configure` runs there too, on the real module),
//! - the plugin configuration each embeds (the Envoy configs' StringValue
//!   JSON, the Istio WasmPlugin's `pluginConfig`) through the filter's own
//!   check, `toolguard::config::Config::from_json`,
//! - the recipe's contract (routes, rewrites, timeouts, TLS, filter order),
//! - and the AgentCore recipes run for real, with the AWS endpoints swapped
//!   for local mocks: `/chat` reaches the runtime ARN's invocation path on the
//!   AgentCore host, and in the IAM variant arrives SigV4-signed, the
//!   signature recomputed here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use test_harness::placeholders::{fill_placeholders, placeholders};
use test_harness::tokens::{self, Key, Token};
use test_harness::{client, paths, validate, Bootstrap, Envoy, MockAgent, MockJwks, Reply};

// The demo agent's answer, replayed through the AgentCore recipes.
#[path = "../src/bin/demo/script.rs"]
#[allow(dead_code)]
mod demo_script;

/// Where the production recipes expect the module (a container image path).
const WASM_IN_IMAGE: &str = "/etc/envoy/toolguard.wasm";

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";
const RUNTIME_ID: &str = "my_agent-AbCdEf1234";
const POOL: &str = "us-east-1_AbCdEf123";
const CLIENT_ID: &str = "6o7h8i9jexampleclientid";

/// The path POST /chat must become: the ARN
/// arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/my_agent-AbCdEf1234, URL-encoded.
const INVOKE_PATH: &str = "/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fmy_agent-AbCdEf1234/invocations?qualifier=DEFAULT";
const AGENTCORE_HOST: &str = "bedrock-agentcore.us-east-1.amazonaws.com";

const SUB: &str = "8d1e6b2a-3c4f-4a5b-9e7d-1f2a3b4c5d6e";
const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn repo_file(rel: &str) -> PathBuf {
    paths::repo_root().join(rel)
}

fn wasm() -> String {
    paths::require_wasm()
        .unwrap_or_else(|e| panic!("{e}"))
        .display()
        .to_string()
}

/// A value for every placeholder any shipped config uses.
fn fakes() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_REGION", REGION.into()),
        ("AWS_ACCOUNT_ID", ACCOUNT.into()),
        ("AGENT_RUNTIME_ID", RUNTIME_ID.into()),
        ("COGNITO_USER_POOL_ID", POOL.into()),
        ("COGNITO_APP_CLIENT_ID", CLIENT_ID.into()),
        // envoy/demo.yaml
        ("LISTEN_PORT", "18080".into()),
        ("ADMIN_PORT", "19901".into()),
        ("TOOLGUARD_WASM", wasm()),
        ("IDP_ADDRESS", "127.0.0.1".into()),
        ("IDP_PORT", "18082".into()),
        ("AGENT_ADDRESS", "127.0.0.1".into()),
        ("AGENT_PORT", "18081".into()),
        ("RATELIMIT_ADDRESS", "127.0.0.1".into()),
        ("RATELIMIT_PORT", "18083".into()),
        // envoy/istio/wasmplugin.yaml
        ("NAMESPACE", "agents".into()),
        ("AGENT_APP_LABEL", "filings-agent".into()),
        (
            "WASM_IMAGE",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/toolguard:0.1.0".into(),
        ),
        // envoy/istio/wasmplugin-ratelimit.yaml
        (
            "LIMITADOR_IMAGE",
            "quay.io/kuadrant/limitador:v2.0.0".into(),
        ),
        ("REDIS_URL", "redis://redis.agents:6379".into()),
    ]
}

/// The file with every placeholder filled and the module path pointing at
/// the built module.
fn filled(path: &Path) -> String {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let text = text.replace(WASM_IN_IMAGE, &wasm());
    fill_placeholders(&text, &fakes()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(text: &str, what: &str) -> Value {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{what} is not YAML: {e}"))
}

fn yaml_documents(text: &str, what: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{what}: {e}")))
        .collect()
}

/// The Envoy configs (not the Istio resources): envoy/*.yaml.
fn envoy_configs() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_file("envoy"))
        .expect("envoy/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Every JSON object anywhere in `v` for which `pred` holds.
fn find_all<'a>(v: &'a Value, pred: &dyn Fn(&Value) -> bool, out: &mut Vec<&'a Value>) {
    if pred(v) {
        out.push(v);
    }
    match v {
        Value::Object(m) => m.values().for_each(|x| find_all(x, pred, out)),
        Value::Array(a) => a.iter().for_each(|x| find_all(x, pred, out)),
        _ => {}
    }
}

/// The plugin configurations (JSON text) of every toolguard Wasm filter.
fn plugin_configs(config: &Value) -> Vec<String> {
    let mut filters = Vec::new();
    find_all(
        config,
        &|v| v["name"] == "envoy.filters.http.wasm",
        &mut filters,
    );
    filters
        .iter()
        .map(|f| {
            let c = &f["typed_config"]["config"]["configuration"];
            assert_eq!(
                c["@type"], "type.googleapis.com/google.protobuf.StringValue",
                "the plugin configuration is a StringValue"
            );
            c["value"]
                .as_str()
                .expect("configuration.value")
                .to_string()
        })
        .collect()
}

fn check_plugin_config(json_text: &str, what: &str) -> Value {
    if let Err(e) = toolguard::config::Config::from_json(json_text.as_bytes()) {
        panic!("{what}: the filter refuses its configuration: {e}\n{json_text}");
    }
    serde_json::from_str(json_text).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"))
}

fn cluster<'a>(config: &'a Value, name: &str) -> &'a Value {
    config["static_resources"]["clusters"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no cluster {name}"))
}

fn hcm(config: &Value) -> &Value {
    &config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
}

fn route_for<'a>(config: &'a Value, path: &str) -> &'a Value {
    hcm(config)["route_config"]["virtual_hosts"][0]["routes"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["match"]["path"] == path))
        .unwrap_or_else(|| panic!("no route for {path}"))
}

fn seconds(d: &Value) -> u64 {
    d.as_str()
        .and_then(|s| s.strip_suffix('s'))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a duration in seconds: {d}"))
}

#[test]
fn every_placeholder_of_every_config_gets_a_value() {
    let mut files = envoy_configs();
    let names: Vec<String> = files.iter().map(|p| name(p)).collect();
    for expected in ["agentcore.yaml", "agentcore-iam.yaml", "demo.yaml"] {
        assert!(
            names.contains(&expected.to_string()),
            "envoy/{expected} is missing: {names:?}"
        );
    }
    files.push(repo_file("envoy/istio/wasmplugin.yaml"));
    files.push(repo_file("envoy/istio/wasmplugin-ratelimit.yaml"));
    let known: Vec<&str> = fakes().iter().map(|(n, _)| *n).collect();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        // The template itself is YAML too (placeholders only in block scalars or
        // quoted), so YAML tools can read it before envsubst.
        yaml_documents(&text, &f.display().to_string());
        let used = placeholders(&text);
        assert!(!used.is_empty(), "{} has no placeholders", f.display());
        for p in &used {
            assert!(
                known.contains(&p.as_str()),
                "{}: unknown placeholder ${{{p}}}",
                f.display()
            );
        }
        let out = filled(f);
        assert!(!out.contains("${"), "{}", f.display());
    }
}

#[test]
fn every_envoy_config_passes_envoy_validate() {
    let dir = std::env::temp_dir().join(format!("toolguard-envoy-configs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in envoy_configs() {
        let out = dir.join(name(&f));
        std::fs::write(&out, filled(&f)).unwrap();
        if let Err(e) = validate(&out) {
            panic!("envoy/{} (filled) does not validate:\n{e}", name(&f));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn embedded_plugin_configs_pass_the_filters_check_and_name_existing_clusters() {
    for f in envoy_configs() {
        let what = format!("envoy/{}", name(&f));
        let config = yaml(&filled(&f), &what);
        let plugins = plugin_configs(&config);
        assert_eq!(plugins.len(), 1, "{what}: one toolguard filter");
        let plugin = check_plugin_config(&plugins[0], &what);
        for p in plugin["providers"].as_object().unwrap().values() {
            if let Some(c) = p["remote_jwks"]["http_uri"]["cluster"].as_str() {
                cluster(&config, c);
            }
        }
        // The rate-limit service is called over gRPC: its cluster speaks HTTP/2.
        if let Some(c) = plugin["rate_limits"]["service"]["cluster"].as_str() {
            let options = &cluster(&config, c)["typed_extension_protocol_options"]
                ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
            assert!(
                options["explicit_http_config"]["http2_protocol_options"].is_object(),
                "{what}: cluster {c} (rate_limits.service) must be HTTP/2"
            );
        }
        assert!(
            plugin["bypass"]
                .as_array()
                .unwrap()
                .contains(&json!({"path": "/ping"})),
            "{what}: /ping is bypassed"
        );
        // The shipped examples all police the same tools the same way.
        assert_eq!(
            plugin["tools"]["roles"],
            json!({"analysts": ["search_filings", "generate_report"], "admins": ["*"]}),
            "{what}"
        );
        assert_eq!(
            plugin["agentcore"]["session"]["bind_to_subject"], true,
            "{what}"
        );
        assert_eq!(
            plugin["agentcore"]["trust_client_custom_headers"], false,
            "{what}"
        );
        // toolguard runs first, the router last, and nothing signs before the router.
        let filters: Vec<&str> = hcm(&config)["http_filters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            filters,
            ["envoy.filters.http.wasm", "envoy.filters.http.router"],
            "{what}"
        );
        let wasm = &hcm(&config)["http_filters"][0]["typed_config"]["config"];
        assert_eq!(
            wasm["vm_config"]["runtime"], "envoy.wasm.runtime.v8",
            "{what}"
        );
        assert!(
            !wasm["fail_open"].as_bool().unwrap_or(false),
            "{what}: fail closed"
        );
        // SPEC "MCP": the plugin's field says what Envoy's PluginConfig field does;
        // every recipe that can set it does, so a refused call never goes upstream.
        assert_eq!(
            (
                wasm["allow_on_headers_stop_iteration"].as_bool(),
                plugin["allow_on_headers_stop_iteration"].as_bool()
            ),
            (Some(true), Some(true)),
            "{what}: allow_on_headers_stop_iteration set in both places"
        );
    }
}

#[test]
fn agentcore_recipes_route_chat_to_the_runtime_over_tls_with_stream_timeouts() {
    for file in ["agentcore.yaml", "agentcore-iam.yaml"] {
        let what = format!("envoy/{file}");
        let config = yaml(&filled(&repo_file(&format!("envoy/{file}"))), &what);
        let hcm = hcm(&config);
        assert_eq!(
            config["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"],
            8080,
            "{what}"
        );
        assert_eq!(hcm["codec_type"], "AUTO", "{what}: HTTP/1.1 and h2c");
        assert!(seconds(&hcm["stream_idle_timeout"]) >= 60, "{what}");

        let chat = route_for(&config, "/chat");
        let route = &chat["route"];
        assert_eq!(route["cluster"], "agentcore", "{what}");
        let (pattern, substitution) = (
            route["regex_rewrite"]["pattern"]["regex"].as_str().unwrap(),
            route["regex_rewrite"]["substitution"].as_str().unwrap(),
        );
        assert_eq!((pattern, substitution), ("^/chat$", INVOKE_PATH), "{what}");
        assert_eq!(route["host_rewrite_literal"], AGENTCORE_HOST, "{what}");
        assert_eq!(
            route["timeout"], "0s",
            "{what}: no overall limit on a stream"
        );
        assert!(
            seconds(&route["max_stream_duration"]["max_stream_duration"]) >= 900,
            "{what}"
        );
        assert!(seconds(&route["idle_timeout"]) >= 60, "{what}");
        assert!(
            route_for(&config, "/ping")["direct_response"]["status"] == 200,
            "{what}: /ping"
        );

        // WebSocket: upgrades off on the listener, on for /ws only, to the runtime's /ws.
        assert_eq!(
            hcm["upgrade_configs"],
            serde_json::json!([{"upgrade_type": "websocket", "enabled": false}]),
            "{what}"
        );
        let ws = &route_for(&config, "/ws")["route"];
        assert_eq!(
            ws["upgrade_configs"],
            serde_json::json!([{"upgrade_type": "websocket", "enabled": true}]),
            "{what}"
        );
        assert_eq!(
            ws["regex_rewrite"]["substitution"].as_str(),
            Some(INVOKE_PATH.replace("/invocations?", "/ws?").as_str()),
            "{what}"
        );
        assert_eq!(ws["host_rewrite_literal"], AGENTCORE_HOST, "{what}");

        for (name, host) in [
            ("agentcore", AGENTCORE_HOST.to_string()),
            (
                "cognito_jwks",
                format!("cognito-idp.{REGION}.amazonaws.com"),
            ),
        ] {
            let c = cluster(&config, name);
            let addr = &c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
                ["address"]["socket_address"];
            assert_eq!(
                (addr["address"].as_str(), addr["port_value"].as_u64()),
                (Some(host.as_str()), Some(443)),
                "{what}: {name}"
            );
            let tls = &c["transport_socket"];
            assert_eq!(tls["name"], "envoy.transport_sockets.tls", "{what}: {name}");
            assert_eq!(tls["typed_config"]["sni"], host, "{what}: {name}");
        }
        let opts = &cluster(&config, "agentcore")["typed_extension_protocol_options"]
            ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
        assert_eq!(
            opts["upstream_http_protocol_options"]["auto_sni"], true,
            "{what}"
        );
        let signing: Vec<&Value> = opts["http_filters"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        if file == "agentcore-iam.yaml" {
            assert_eq!(signing.len(), 2, "{what}: signer + upstream codec");
            assert_eq!(signing[0]["name"], "envoy.filters.http.aws_request_signing");
            let s = &signing[0]["typed_config"];
            assert_eq!(s["service_name"], "bedrock-agentcore");
            assert_eq!(s["region"], REGION);
            assert_eq!(s["use_unsigned_payload"], true);
            assert!(
                s.get("credential_provider").is_none(),
                "default credential chain"
            );
            assert_eq!(signing[1]["name"], "envoy.filters.http.upstream_codec");
        } else {
            assert!(signing.is_empty(), "{what}: JWT mode signs nothing");
        }
    }
}

#[test]
fn istio_wasmplugin_config_is_valid_and_names_the_istio_jwks_cluster() {
    let what = "envoy/istio/wasmplugin.yaml";
    let docs = yaml_documents(&filled(&repo_file(what)), what);
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d["kind"] == k)
            .unwrap_or_else(|| panic!("{what}: no {k}"))
    };
    let plugin = kind("WasmPlugin");
    assert_eq!(plugin["apiVersion"], "extensions.istio.io/v1alpha1");
    let spec = &plugin["spec"];
    assert_eq!(spec["selector"]["matchLabels"]["app"], "filings-agent");
    assert_eq!(spec["phase"], "AUTHN");
    assert!(spec["url"].as_str().unwrap().starts_with("oci://"));
    assert!(spec["imagePullPolicy"].is_string());
    assert_eq!(spec["failStrategy"], "FAIL_CLOSE");

    // Istio hands pluginConfig to the filter as JSON.
    let plugin_json = spec["pluginConfig"].to_string();
    let config = check_plugin_config(&plugin_json, what);

    // The JWKS cluster is the one Istio generates for the ServiceEntry port
    // that the DestinationRule originates TLS on: outbound|<port>||<host>.
    let jwks_cluster = config["providers"]["cognito"]["remote_jwks"]["http_uri"]["cluster"]
        .as_str()
        .unwrap();
    let host = format!("cognito-idp.{REGION}.amazonaws.com");
    let se = kind("ServiceEntry");
    assert_eq!(se["spec"]["hosts"], json!([host]));
    let http_port = se["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["protocol"] == "HTTP")
        .expect("an HTTP port on the ServiceEntry");
    assert_eq!(http_port["targetPort"], 443);
    let port = http_port["number"].as_u64().unwrap();
    assert_eq!(jwks_cluster, format!("outbound|{port}||{host}"));
    let dr = kind("DestinationRule");
    assert_eq!(dr["spec"]["host"], host);
    let tls = dr["spec"]["trafficPolicy"]["portLevelSettings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["port"]["number"] == port)
        .expect("TLS settings for the JWKS port");
    assert_eq!(tls["tls"]["mode"], "SIMPLE");
    assert_eq!(tls["tls"]["sni"], host);

    // Same policy as the Envoy recipe.
    let envoy = yaml(
        &filled(&repo_file("envoy/agentcore.yaml")),
        "agentcore.yaml",
    );
    let recipe: Value = serde_json::from_str(&plugin_configs(&envoy)[0]).unwrap();
    assert_eq!(config["tools"], recipe["tools"]);
    assert_eq!(config["agentcore"], recipe["agentcore"]);
    assert_eq!(
        config["providers"]["cognito"]["issuer"],
        recipe["providers"]["cognito"]["issuer"]
    );

    // And the real module accepts it inside Envoy (its on_configure runs).
    let bootstrap = Bootstrap::new().plugin_config_json(&config);
    if let Err(e) = test_harness::envoy::validate_bootstrap(&bootstrap) {
        panic!("{what}: Envoy with this pluginConfig does not validate:\n{e}");
    }
}

/// The rate-limit recipes are their base recipes plus `rate_limits` (and the
/// service): the rest of the policy cannot drift apart.
#[test]
fn ratelimit_recipes_are_the_base_recipes_plus_rate_limits() {
    let envoy_config = |file: &str| {
        let what = format!("envoy/{file}");
        let config = yaml(&filled(&repo_file(&what)), &what);
        let plugin: Value = serde_json::from_str(&plugin_configs(&config)[0]).unwrap();
        (config, plugin)
    };
    let (_, base) = envoy_config("agentcore.yaml");
    let (config, mut with_limits) = envoy_config("agentcore-ratelimit.yaml");
    let rate_limits = with_limits
        .as_object_mut()
        .unwrap()
        .remove("rate_limits")
        .expect("agentcore-ratelimit.yaml: rate_limits");
    assert_eq!(
        with_limits, base,
        "agentcore-ratelimit.yaml: the rest is agentcore.yaml"
    );
    assert_eq!(rate_limits["service"]["domain"], "agents");
    assert_eq!(rate_limits["service"]["failure_mode_deny"], false);
    assert_eq!(
        rate_limits["requests"],
        json!([[{"key": "user", "from": "claim:sub"}]])
    );
    let c = cluster(&config, rate_limits["service"]["cluster"].as_str().unwrap());
    let endpoint = &c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        ["socket_address"];
    assert_eq!(
        endpoint,
        &json!({"address": "127.0.0.1", "port_value": 8081})
    );

    let istio = |file: &str| {
        let what = format!("envoy/istio/{file}");
        yaml_documents(&filled(&repo_file(&what)), &what)
    };
    let base = istio("wasmplugin.yaml");
    let docs = istio("wasmplugin-ratelimit.yaml");
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d["kind"] == k)
            .unwrap_or_else(|| panic!("wasmplugin-ratelimit.yaml: no {k}"))
    };
    let mut plugin = kind("WasmPlugin").clone();
    let rate_limits = plugin["spec"]["pluginConfig"]
        .as_object_mut()
        .unwrap()
        .remove("rate_limits")
        .expect("wasmplugin-ratelimit.yaml: rate_limits");
    assert_eq!(
        plugin, base[0],
        "the WasmPlugin is wasmplugin.yaml's plus rate_limits"
    );
    assert_eq!(
        &docs[1..3],
        &base[1..3],
        "the JWKS ServiceEntry and DestinationRule are wasmplugin.yaml's"
    );
    // The cluster the plugin names is the one Istio generates for the Service.
    let service = kind("Service");
    let port = &service["spec"]["ports"][0];
    assert_eq!(port["name"], "grpc");
    assert_eq!(port["appProtocol"], "grpc");
    let host = format!(
        "{}.{}.svc.cluster.local",
        service["metadata"]["name"].as_str().unwrap(),
        service["metadata"]["namespace"].as_str().unwrap()
    );
    assert_eq!(
        rate_limits["service"]["cluster"],
        format!("outbound|{}||{host}", port["port"])
    );
    let dr = docs
        .iter()
        .find(|d| d["kind"] == "DestinationRule" && d["spec"]["host"] == host.as_str())
        .expect("a DestinationRule for the rate-limit service");
    assert_eq!(
        dr["spec"]["trafficPolicy"]["connectionPool"]["http"]["h2UpgradePolicy"],
        "UPGRADE"
    );
    // The Limitador limits in the ConfigMap are the shipped ones, and parse.
    let limits = kind("ConfigMap")["data"]["limits.yaml"].as_str().unwrap();
    let shipped = std::fs::read_to_string(repo_file("envoy/ratelimit/limits.yaml")).unwrap();
    let parse = |text: &str| test_harness::ratelimit::parse_limits("agents", text).unwrap();
    assert_eq!(parse(limits), parse(&shipped));
    // The same descriptors as the Envoy recipe, and the filter accepts them.
    let envoy_limits = envoy_config("agentcore-ratelimit.yaml").1["rate_limits"].clone();
    assert_eq!(rate_limits["requests"], envoy_limits["requests"]);
    assert_eq!(rate_limits["tools"], envoy_limits["tools"]);
    assert_eq!(rate_limits["tokens"], envoy_limits["tokens"]);
    check_plugin_config(
        &kind("WasmPlugin")["spec"]["pluginConfig"].to_string(),
        "wasmplugin-ratelimit.yaml",
    );
}

// ---------------------------------------------------------------------------
// The AgentCore recipes, run: AWS endpoints replaced by local mocks.

/// The recipe with its listener and admin on free loopback ports, the
/// `agentcore` and `cognito_jwks` clusters pointing at the mocks in plain
/// HTTP/1.1 (TLS, SNI and ALPN need the real hosts), and, for the signer,
/// fixed inline credentials (no credential chain, no metadata service).
fn localized(file: &str, agent: &MockAgent, jwks: &MockJwks) -> String {
    let mut config = yaml(&filled(&repo_file(&format!("envoy/{file}"))), file);
    config["admin"]["address"]["socket_address"] = json!({"address": "127.0.0.1", "port_value": 0});
    config["static_resources"]["listeners"][0]["address"]["socket_address"] =
        json!({"address": "127.0.0.1", "port_value": 0});
    for c in config["static_resources"]["clusters"]
        .as_array_mut()
        .unwrap()
    {
        let addr = match c["name"].as_str().unwrap() {
            "agentcore" => agent.addr(),
            "cognito_jwks" => jwks.addr(),
            other => panic!("unexpected cluster {other}"),
        };
        c["type"] = json!("STATIC");
        c.as_object_mut().unwrap().remove("dns_lookup_family");
        c.as_object_mut().unwrap().remove("transport_socket");
        c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
            ["socket_address"] =
            json!({"address": addr.ip().to_string(), "port_value": addr.port()});
        if let Some(opts) = c["typed_extension_protocol_options"]
            .get_mut("envoy.extensions.upstreams.http.v3.HttpProtocolOptions")
        {
            let o = opts.as_object_mut().unwrap();
            o.remove("upstream_http_protocol_options");
            o.remove("auto_config");
            o.insert(
                "explicit_http_config".into(),
                json!({"http_protocol_options": {}}),
            );
            if let Some(filters) = o.get_mut("http_filters").and_then(|f| f.as_array_mut()) {
                for f in filters {
                    if f["name"] == "envoy.filters.http.aws_request_signing" {
                        f["typed_config"]["credential_provider"] = json!({"inline_credential": {
                            "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY}});
                    }
                }
            }
        }
    }
    serde_json::to_string_pretty(&config).unwrap()
}

struct Running {
    agent: MockAgent,
    _jwks: MockJwks,
    envoy: Envoy,
    token: String,
    /// The agent's SSE answer, as sent.
    answer: String,
}

fn run_recipe(file: &str, listener: &str) -> Running {
    let agent = MockAgent::start().unwrap();
    let s = demo_script::script("find ACME's filings", demo_script::Pacing::FAST);
    let answer: String = s.frames.iter().map(|(_, f)| f.as_str()).collect();
    agent.route_prefix(
        "/runtimes/",
        Reply::sse(answer.clone().into_bytes()).delay(Duration::from_millis(2)),
    );
    let jwks = MockJwks::start_with(
        0,
        &format!("/{POOL}/.well-known/jwks.json"),
        tokens::jwks(&[Key::Rsa1]),
    )
    .unwrap();
    let config = localized(file, &agent, &jwks);
    let bootstrap = Bootstrap::from_file(config, listener).env("AWS_EC2_METADATA_DISABLED", "true");
    let envoy = Envoy::start(&bootstrap).unwrap_or_else(|e| panic!("{file}: {e}"));
    let token = Token::new(Key::Rsa1)
        .iss(&format!(
            "https://cognito-idp.{REGION}.amazonaws.com/{POOL}"
        ))
        .aud(CLIENT_ID)
        .token_use("id")
        .sub(SUB)
        .claim("email", "ana@filings.example")
        .groups(&["analysts"])
        .mint();
    Running {
        agent,
        _jwks: jwks,
        envoy,
        token,
        answer,
    }
}

/// POST /chat, GET /ping, a wrong method and a wrong path through the recipe.
fn exercise(r: &Running) -> test_harness::RecordedRequest {
    // /ping: answered by Envoy (toolguard bypasses it), never upstream.
    let ping = client::get(&r.envoy.url("/ping")).send_blocking().unwrap();
    assert_eq!(
        (ping.status, ping.text().as_str()),
        (200, "{\"status\":\"Healthy\"}")
    );
    let wrong_method = client::get(&r.envoy.url("/chat"))
        .bearer(&r.token)
        .send_blocking()
        .unwrap();
    assert_eq!(wrong_method.status, 405, "{}", wrong_method.text());
    let wrong_path = client::post(&r.envoy.url("/runtimes/other/invocations"))
        .bearer(&r.token)
        .send_blocking()
        .unwrap();
    assert_eq!(wrong_path.status, 404, "{}", wrong_path.text());
    // toolguard guards /chat with the recipe's Cognito provider.
    let anonymous = client::post(&r.envoy.url("/chat"))
        .json(&json!({"prompt": "hi"}))
        .send_blocking()
        .unwrap();
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    assert_eq!(
        r.agent.request_count(),
        0,
        "only /chat with a token goes upstream"
    );

    let resp = client::post(&r.envoy.url("/chat"))
        .bearer(&r.token)
        .header(
            "x-amzn-bedrock-agentcore-runtime-session-id",
            "a-session-id-of-at-least-33-characters",
        )
        .header("x-amz-security-token", "client-sent")
        .json(&json!({"prompt": "find ACME's filings"}))
        .send_blocking()
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        resp.text(),
        r.answer,
        "the answer streams through unchanged"
    );
    let seen = r
        .agent
        .wait_requests(1, Duration::from_secs(5))
        .unwrap()
        .remove(0);
    assert_eq!(seen.method, "POST");
    assert_eq!(
        seen.path, INVOKE_PATH,
        "/chat becomes InvokeAgentRuntime of the ARN"
    );
    assert_eq!(seen.header("host"), Some(AGENTCORE_HOST));
    assert_eq!(seen.body_text(), "{\"prompt\":\"find ACME's filings\"}");
    // The identity toolguard derived from the token (the recipe's agentcore block).
    let custom =
        |suffix: &str| seen.header(&format!("x-amzn-bedrock-agentcore-runtime-custom-{suffix}"));
    assert_eq!(custom("user-sub"), Some(SUB));
    assert_eq!(custom("user-groups"), Some("analysts"));
    assert_eq!(
        custom("allowed-tools"),
        Some("search_filings,generate_report")
    );
    assert!(custom("request-id").is_some());
    let session = seen
        .header("x-amzn-bedrock-agentcore-runtime-session-id")
        .unwrap();
    assert!(
        session.ends_with("-a-session-id-of-at-least-33-characters") && session.len() == 17 + 38,
        "the session id is bound to the user: {session}"
    );
    // The router adds none of its x-envoy-* headers (suppress_envoy_headers);
    // the connection manager's x-envoy-external-address may stay.
    assert!(
        seen.headers
            .iter()
            .all(|(n, _)| !n.starts_with("x-envoy-") || n == "x-envoy-external-address"),
        "x-envoy-* headers sent to AWS: {:?}",
        seen.headers
    );
    seen
}

#[test]
fn agentcore_recipe_sends_chat_to_the_runtime_with_the_users_token() {
    let r = run_recipe("agentcore.yaml", "agentcore_ingress");
    let seen = exercise(&r);
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {}", r.token).as_str()),
        "JWT mode: AgentCore validates the same token again"
    );
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SigV4's URI encoding: unreserved characters stay, every other byte is
/// %XX (upper-case).
fn uri_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The SigV4 signature AWS computes for the request as received. For every
/// service but S3 the canonical URI is the path with each segment
/// URI-encoded once more (the path on the wire is already encoded once, so
/// the ARN's `%3A` becomes `%253A`).
fn expected_signature(
    seen: &test_harness::RecordedRequest,
    signed_headers: &str,
    scope: &str,
) -> String {
    let (path, query) = seen.path.split_once('?').unwrap_or((&seen.path, ""));
    let canonical_uri = path
        .split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/");
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    params.sort();
    let canonical_query = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_headers: String = signed_headers
        .split(';')
        .map(|h| {
            let value = seen.header_values(h).join(",");
            let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
            format!("{h}:{value}\n")
        })
        .collect();
    let payload_hash = seen
        .header("x-amz-content-sha256")
        .unwrap_or("")
        .to_string();
    let canonical_request = format!(
        "{}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        seen.method
    );
    let amz_date = seen.header("x-amz-date").unwrap();
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut parts = scope.split('/');
    let (date, region, service) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let k_date = hmac(format!("AWS4{SECRET_KEY}").as_bytes(), date);
    let k_region = hmac(&k_date, region);
    let k_service = hmac(&k_region, service);
    let k_signing = hmac(&k_service, "aws4_request");
    hex(&hmac(&k_signing, &string_to_sign))
}

#[test]
fn agentcore_iam_recipe_signs_the_rewritten_request_with_sigv4() {
    let r = run_recipe("agentcore-iam.yaml", "agentcore_iam_ingress");
    let seen = exercise(&r);
    let auth = seen
        .header("authorization")
        .expect("an Authorization header");
    assert!(
        !auth.contains(&r.token),
        "the user's JWT is replaced by the signature"
    );
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .unwrap_or_else(|| panic!("not a SigV4 Authorization: {auth}"));
    let field = |name: &str| {
        rest.split(", ")
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {auth}"))
            .to_string()
    };
    let credential = field("Credential");
    let (key, scope) = credential.split_once('/').unwrap();
    assert_eq!(key, ACCESS_KEY);
    let amz_date = seen.header("x-amz-date").expect("x-amz-date");
    assert_eq!(
        scope,
        format!("{}/{REGION}/bedrock-agentcore/aws4_request", &amz_date[..8])
    );
    assert_eq!(
        seen.header("x-amz-content-sha256"),
        Some("UNSIGNED-PAYLOAD")
    );
    assert_eq!(
        seen.header_values("x-amz-security-token"),
        Vec::<&str>::new(),
        "a client's x-amz-security-token is removed (the credentials have none)"
    );
    let signed = field("SignedHeaders");
    let signed_list: Vec<&str> = signed.split(';').collect();
    for h in ["host", "x-amz-date", "x-amz-content-sha256"] {
        assert!(signed_list.contains(&h), "{h} is signed: {signed}");
    }
    // The identity headers toolguard adds are covered by the signature.
    for (name, _) in &seen.headers {
        if name.starts_with("x-amzn-bedrock-agentcore-runtime-") {
            assert!(
                signed_list.contains(&name.as_str()),
                "{name} is signed: {signed}"
            );
        }
    }
    assert_eq!(
        field("Signature"),
        expected_signature(&seen, &signed, scope),
        "the signature AWS computes for the request as received (path {}, host {:?}, signed {signed})",
        seen.path,
        seen.header("host")
    );
}
