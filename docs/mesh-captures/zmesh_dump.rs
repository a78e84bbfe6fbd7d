//! Prints every message of a wire-proxy capture with the Plexus codec, link states decoded
//! (docs/mesh.md). Not part of the build: copy to `examples/`, then
//! `cargo run --example zmesh_dump -- docs/mesh-captures/chain1-x1.jsonl`.
use bytes::Bytes;
use plexus_transport::wire::linkstate::LinkStateList;
use plexus_transport::wire::network::NetworkMessage;
use plexus_transport::wire::transport::{BatchItem, BatchReader, TransportMessage};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn main() {
    let path = std::env::args().nth(1).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let dir = if v["dir"] == "opener->acceptor" {
            ">>"
        } else {
            "<<"
        };
        let t = v["t_ms"].as_f64().unwrap();
        let hex = v["hex"].as_str().unwrap();
        let items = match BatchReader::read_all(Bytes::from(unhex(hex))) {
            Ok(i) => i,
            Err(e) => {
                println!("#{i} {dir} {t:.1} ERR {e} {hex}");
                continue;
            }
        };
        for it in items {
            match it {
                BatchItem::Transport(TransportMessage::KeepAlive) => {
                    println!("#{i} {dir} {t:.1} KEEPALIVE")
                }
                BatchItem::Transport(TransportMessage::Frame(f)) => {
                    println!("#{i} {dir} {t:.1} FRAME {:?}", f)
                }
                BatchItem::Transport(m) => println!("#{i} {dir} {t:.1} {:?}", m),
                BatchItem::Network(NetworkMessage::Oam(o)) => match LinkStateList::from_oam(&o) {
                    Ok(l) => {
                        println!("#{i} {dir} {t:.1}   LINKSTATE");
                        for s in l.states {
                            println!("        {:?}", s);
                        }
                    }
                    Err(e) => println!("#{i} {dir} {t:.1}   OAM ERR {e}"),
                },
                BatchItem::Network(m) => println!("#{i} {dir} {t:.1}   {:?}", m),
            }
        }
    }
}
