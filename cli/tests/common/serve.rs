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
