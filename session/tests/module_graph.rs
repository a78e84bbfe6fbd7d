//! The shape of the `plexus` crate, read from its source: the modules at the top of
//! `session/src` depend on each other one way only (no cycle), and the routing layer never
//! reaches the handles users hold (`api`). Only code counts: a path in a comment or a doc
//! link is no dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `text` without its `//` comments (doc comments included) and string literals.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut prev = '\0';
        let mut kept = String::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if in_string {
                if c == '"' && prev != '\\' {
                    in_string = false;
                }
            } else if c == '"' {
                in_string = true;
            } else if c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            } else {
                kept.push(c);
            }
            prev = if prev == '\\' && c == '\\' { '\0' } else { c };
            i += 1;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// The top-level modules each top-level module's code names through `crate::`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let top_of = |p: &Path| -> Option<String> {
        let rel = p.strip_prefix(&src).ok()?;
        let first = rel.components().next()?.as_os_str().to_str()?;
        let name = first.trim_end_matches(".rs");
        (name != "lib").then(|| name.to_string())
    };
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(top) = top_of(file) else { continue };
        let text = code_only(&std::fs::read_to_string(file).expect("readable source"));
        let deps = graph.entry(top.clone()).or_default();
        // `crate::x…` and the items of `use crate::{x::…, y::…}`.
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                let end = group.find("};").unwrap_or(group.len());
                group[..end]
                    .split([',', '\n', ' ', '{'])
                    .filter_map(|part| part.trim().split("::").next())
                    .collect()
            } else {
                rest.split("::").next().into_iter().collect()
            };
            for name in names {
                let name = name.trim_matches(|c: char| !c.is_alphanumeric() && c != '_');
                if name != top && modules.contains(name) {
                    deps.insert(name.to_string());
                }
            }
        }
    }
    graph
}

/// A cycle through `graph`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_top_level_modules_depend_one_way() {
    let graph = module_graph();
    // The reader sees the crate's rooms: if these are missing, the scan found nothing.
    for room in ["api", "routing", "runtime", "config", "acl"] {
        assert!(graph.contains_key(room), "no module {room} in {graph:?}");
    }
    assert!(
        graph["api"].contains("routing"),
        "the scan must see api's use of routing: {graph:?}"
    );
    assert_eq!(find_cycle(&graph), None, "module graph: {graph:#?}");
}

#[test]
fn routing_never_reaches_the_user_handles() {
    let graph = module_graph();
    assert!(
        !graph["routing"].contains("api"),
        "routing uses api: {:?}",
        graph["routing"]
    );
}

#[test]
fn the_scan_sees_a_cycle_and_ignores_comments() {
    let text = code_only("use crate::a; // crate::b\n/// [`crate::c`]\nlet s = \"crate::d\";");
    assert!(text.contains("crate::a"));
    assert!(!text.contains("crate::b") && !text.contains("crate::c") && !text.contains("crate::d"));
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&g), None);
    g.entry("c".into()).or_default().insert("a".into());
    let cycle = find_cycle(&g).expect("a → b → c → a");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4);
}
