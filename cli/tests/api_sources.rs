//! API sources through `masa contribute --source`: a Hacker News id range served on
//! 127.0.0.1 in the API's format lands in the dataset, searchable, with deleted and dead
//! items counted as drops; the same command again adds nothing.

mod common;

#[path = "../../connectors/tests/common/site.rs"]
mod site;

use common::{Env, random_text};
use serde_json::json;
use site::{Reply, Server};

fn hacker_news() -> Server {
    Server::start(|path, _h, _n| {
        let json =
            |v: serde_json::Value| Reply::typed("application/json", v.to_string().into_bytes());
        if path == "/v0/maxitem.json" {
            return json(json!(6));
        }
        let Some(id) = path
            .strip_prefix("/v0/item/")
            .and_then(|i| i.strip_suffix(".json"))
            .and_then(|i| i.parse::<u64>().ok())
        else {
            return Reply::status(404);
        };
        let text = format!("{}<p>{}", random_text(id, 60), random_text(100 + id, 60));
        json(match id {
            3 => json!({"deleted": true, "id": 3, "type": "comment", "time": 1}),
            5 => {
                json!({"by": "x", "dead": true, "id": 5, "type": "comment", "text": text, "time": 1})
            }
            1..=6 => json!({"by": format!("user{id}"), "id": id, "type": "comment", "parent": 1,
                            "text": text, "time": 1314211127}),
            _ => serde_json::Value::Null,
        })
    })
}

#[test]
fn a_hacker_news_range_is_contributed_and_searchable() {
    let env = Env::new();
    let server = hacker_news();
    let source = env.path("hn.toml");
    std::fs::write(
        &source,
        format!(
            "kind = \"hackernews\"\nbase_url = \"{}\"\nfrom_id = 1\n",
            server.url("/v0")
        ),
    )
    .unwrap();
    let ds = env.path("data").display().to_string();
    let args = [
        "contribute",
        "--source",
        source.to_str().unwrap(),
        "--dataset",
        &ds,
    ];
    let summary = env.json(&args);
    let stats = env.json(&["stats", "--dataset", &ds]);
    assert_eq!(stats["records"], 4, "{summary}\n{stats}");
    assert_eq!(stats["drops"]["api:deleted"], 1, "{stats}");
    assert_eq!(stats["drops"]["api:dead"], 1, "{stats}");
    let phrase: Vec<String> = random_text(104, 60)
        .split(' ')
        .take(6)
        .map(str::to_owned)
        .collect();
    let hits = env.json(&[
        "search",
        &format!("\"{}\"", phrase.join(" ")),
        "--dataset",
        &ds,
    ]);
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["uri"], "https://news.ycombinator.com/item?id=4");
    // The same source again: the run finished, so a new one finds nothing new to add.
    env.json(&args);
    assert_eq!(env.json(&["stats", "--dataset", &ds])["records"], 4);

    // Not the API: one message naming the source, nothing committed.
    let html = Server::start(|_, _, _| Reply::html("<html>sign in</html>"));
    std::fs::write(
        &source,
        format!(
            "kind = \"hackernews\"\nbase_url = \"{}\"\nfrom_id = 1\n",
            html.url("/v0")
        ),
    )
    .unwrap();
    let other = env.path("other").display().to_string();
    let err = env.fails(&[
        "contribute",
        "--source",
        source.to_str().unwrap(),
        "--dataset",
        &other,
    ]);
    assert!(
        err.contains("hackernews source") && err.contains("instead of JSON"),
        "{err}"
    );
    assert!(
        !env.path("other/table").exists(),
        "a failed check wrote a table"
    );
}
