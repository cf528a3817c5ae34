//! A `masa serve` process on loopback for the tests: started on a free port, asked over
//! HTTP, stopped with SIGTERM.

use super::Env;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub fn start(env: &Env, dataset: &str, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--dataset", dataset, "--listen", "127.0.0.1:0"];
        args.extend(extra);
        let mut child = env
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // The first line says where it listens, once the socket is bound.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        Server { child, base }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(mut self) -> std::process::ExitStatus {
        // SIGTERM: requests in flight finish, then the process exits.
        terminate(self.child.id());
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn terminate(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// A GET with a key (as `masa keys create` printed it), straight to the loopback server
/// whatever proxy the environment names.
pub async fn get_as(url: &str, key: Option<&str>) -> reqwest::Response {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut req = client.get(url);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send().await.unwrap()
}

pub fn create_key(env: &Env, args: &[&str]) -> String {
    let mut a = vec!["keys", "create"];
    a.extend(args);
    let out = env.ok(&a);
    let key = out.trim().to_owned();
    assert!(key.starts_with("masa_"), "{out}");
    key
}

/// Checks `value` against the schema `name` of the service's OpenAPI document: types,
/// required properties, and no property the document does not name. Panics with the path
/// of the first difference.
pub fn conforms(value: &serde_json::Value, name: &str) {
    let doc: serde_json::Value = serde_json::from_str(masa_serve::OPENAPI).unwrap();
    let schema = doc["components"]["schemas"][name].clone();
    assert!(schema.is_object(), "no schema {name}");
    check(&doc, &schema, value, name);
}

fn check(doc: &serde_json::Value, schema: &serde_json::Value, v: &serde_json::Value, at: &str) {
    use serde_json::Value;
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap();
        return check(doc, &doc["components"]["schemas"][name], v, at);
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let fits = types.is_empty()
        || types.contains(&kind)
        || (kind == "integer" && types.contains(&"number"));
    assert!(
        fits,
        "{at}: a {kind} where the document says {types:?}: {v}"
    );
    match v {
        Value::Object(map) => {
            for r in schema["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap();
                assert!(map.contains_key(r), "{at}: required {r:?} is missing: {v}");
            }
            let props = schema["properties"].as_object();
            for (k, x) in map {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => check(doc, s, x, &format!("{at}.{k}")),
                    None if schema["additionalProperties"].is_object() => check(
                        doc,
                        &schema["additionalProperties"],
                        x,
                        &format!("{at}.{k}"),
                    ),
                    None if props.is_some() => {
                        panic!("{at}: {k:?} is not in the document")
                    }
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(prefix) = schema["prefixItems"].as_array() {
                for (i, (s, x)) in prefix.iter().zip(items).enumerate() {
                    check(doc, s, x, &format!("{at}[{i}]"));
                }
            } else if schema["items"].is_object() {
                for (i, x) in items.iter().enumerate() {
                    check(doc, &schema["items"], x, &format!("{at}[{i}]"));
                }
            }
        }
        _ => {}
    }
}
