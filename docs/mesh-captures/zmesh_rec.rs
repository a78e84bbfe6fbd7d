//! Zenoh 1.10.2 nodes (router, client pub/sub/queryable/get/token) for recording router-mesh
//! traffic (docs/mesh.md). Not part of the build: copy to `examples/` and run
//! `cargo build --example zmesh_rec` (it uses the `zenoh` dev-dependency).
use std::time::Duration;

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// router | sub | pub | qabl | get | admin
    role: String,
    #[arg(long)]
    id: Option<String>,
    #[arg(long)]
    listen: Vec<String>,
    #[arg(long)]
    connect: Vec<String>,
    #[arg(long, default_value = "mesh/**")]
    key: String,
    #[arg(long, default_value_t = 3)]
    count: usize,
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    #[arg(long)]
    weights: Option<String>,
    #[arg(long, default_value = "client")]
    mode: String,
}

fn cfg(a: &Args, mode: &str) -> zenoh::Config {
    let mut c = zenoh::Config::default();
    c.insert_json5("mode", &format!(r#""{mode}""#)).unwrap();
    c.insert_json5("scouting/multicast/enabled", "false")
        .unwrap();
    if let Some(id) = &a.id {
        c.insert_json5("id", &format!(r#""{id}""#)).unwrap();
    }
    let l: Vec<String> = a.listen.iter().map(|e| format!(r#""{e}""#)).collect();
    c.insert_json5("listen/endpoints", &format!("[{}]", l.join(",")))
        .unwrap();
    let k: Vec<String> = a.connect.iter().map(|e| format!(r#""{e}""#)).collect();
    c.insert_json5("connect/endpoints", &format!("[{}]", k.join(",")))
        .unwrap();
    if let Some(w) = &a.weights {
        c.insert_json5("routing/router/linkstate/transport_weights", w)
            .unwrap();
    }
    c.insert_json5("adminspace/enabled", "true").unwrap();
    c
}

#[tokio::main]
async fn main() {
    let a = Args::parse();
    let dur = Duration::from_secs_f64(a.secs);
    match a.role.as_str() {
        "router" => {
            let s = zenoh::open(cfg(&a, "router")).await.unwrap();
            println!("ready {}", s.zid());
            tokio::time::sleep(dur).await;
            s.close().await.unwrap();
        }
        "sub" => {
            let s = zenoh::open(cfg(&a, &a.mode)).await.unwrap();
            let sub = s.declare_subscriber(&a.key).await.unwrap();
            println!("ready {}", s.zid());
            let end = tokio::time::Instant::now() + dur;
            let mut n = 0;
            while let Ok(Ok(smp)) = tokio::time::timeout_at(end, sub.recv_async()).await {
                n += 1;
                println!(
                    "sample {} {}",
                    smp.key_expr(),
                    String::from_utf8_lossy(&smp.payload().to_bytes())
                );
                if n == a.count {
                    break;
                }
            }
            println!("got {n}");
        }
        "qabl" => {
            let s = zenoh::open(cfg(&a, &a.mode)).await.unwrap();
            let q = s.declare_queryable(&a.key).await.unwrap();
            println!("ready {}", s.zid());
            let end = tokio::time::Instant::now() + dur;
            while let Ok(Ok(query)) = tokio::time::timeout_at(end, q.recv_async()).await {
                query
                    .reply(query.key_expr().clone(), "answer")
                    .await
                    .unwrap();
                println!("answered");
            }
        }
        "pub" => {
            let s = zenoh::open(cfg(&a, &a.mode)).await.unwrap();
            println!("ready {}", s.zid());
            for i in 0..a.count {
                s.put(&a.key, format!("msg-{i}")).await.unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            s.close().await.unwrap();
        }
        "get" | "admin" => {
            let s = zenoh::open(cfg(&a, &a.mode)).await.unwrap();
            println!("ready {}", s.zid());
            let replies = s.get(&a.key).timeout(dur).await.unwrap();
            while let Ok(r) = replies.recv_async().await {
                match r.result() {
                    Ok(smp) => println!(
                        "reply {} [{}]\n{}",
                        smp.key_expr(),
                        smp.encoding(),
                        String::from_utf8_lossy(&smp.payload().to_bytes())
                    ),
                    Err(e) => println!("err {:?}", e),
                }
            }
            s.close().await.unwrap();
        }
        "token" => {
            let s = zenoh::open(cfg(&a, &a.mode)).await.unwrap();
            let _t = s.liveliness().declare_token(&a.key).await.unwrap();
            println!("ready {}", s.zid());
            tokio::time::sleep(dur).await;
        }
        "lsub" => {
            let s = zenoh::open(cfg(&a, &a.mode)).await.unwrap();
            let sub = s.liveliness().declare_subscriber(&a.key).history(true).await.unwrap();
            println!("ready {}", s.zid());
            let end = tokio::time::Instant::now() + dur;
            while let Ok(Ok(smp)) = tokio::time::timeout_at(end, sub.recv_async()).await {
                println!("token {} {:?}", smp.key_expr(), smp.kind());
            }
        }
        r => panic!("role {r}"),
    }
}
