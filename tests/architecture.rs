//! The shape of the code, held by a test: the modules of the proxy (and
//! of the sample image service) import each other without cycles, and the
//! ground floor imports no subsystem above it. A newcomer can then read
//! the code bottom-up, and a change that tangles it fails here, named.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Modules every subsystem may use, which use none of them.
const GROUND_FLOOR: &[&str] = &[
    "clock",
    "config",
    "error",
    "hop_by_hop",
    "metrics",
    "pem",
    "route",
];

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("a source directory").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found
}

/// The top-level module a source file belongs to: `src/proxy/read.rs`
/// and `src/proxy.rs` are both `proxy`.
fn module_of(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).expect("under the root");
    let first = relative.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_owned()
}

/// The top-level modules named after `prefix` (`crate::` or `super::`)
/// in code (comments are not imports), `use prefix{a, b::c}` included.
fn imports(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for (at, _) in code.match_indices(prefix) {
            let rest = &code[at + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or("");
                names.extend(group.split(',').filter_map(|part| ident(part.trim())));
            } else if let Some(name) = ident(rest) {
                names.insert(name);
            }
        }
    }
    names
}

/// The identifier at the start of `text`.
fn ident(text: &str) -> Option<String> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| text[..end].to_owned())
}

/// The module graph of the sources under `root`, as `prefix` names them;
/// `skip` modules (test-only) are left out.
fn graph(root: &Path, prefix: &str, skip: &[&str]) -> Graph {
    let mut graph = Graph::new();
    for file in sources(root) {
        let module = module_of(root, &file);
        if skip.contains(&module.as_str()) {
            continue;
        }
        let text = fs::read_to_string(&file).expect("a source file");
        let edges = graph.entry(module.clone()).or_default();
        edges.extend(imports(&text, prefix).into_iter().filter(|m| *m != module));
    }
    let known: BTreeSet<String> = graph.keys().cloned().collect();
    for edges in graph.values_mut() {
        edges.retain(|m| known.contains(m));
    }
    graph
}

/// A cycle, as the modules on it, if the graph has one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        graph: &Graph,
        node: &str,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = path.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_owned(), Mark::Open);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(graph, next, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph
        .keys()
        .find_map(|node| visit(graph, node, &mut marks, &mut Vec::new()))
}

fn crate_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The proxy's modules import each other one way only.
#[test]
fn the_proxy_has_no_import_cycle() {
    let graph = graph(&crate_root(), "crate::", &["lib", "main"]);
    assert!(graph.len() > 10, "the modules were not found: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("an import cycle: {}", cycle.join(" → "));
    }
}

/// The ground floor uses nothing above it.
#[test]
fn the_ground_floor_imports_no_subsystem() {
    let graph = graph(&crate_root(), "crate::", &["lib", "main"]);
    for ground in GROUND_FLOOR {
        let above: Vec<&String> = graph[*ground]
            .iter()
            .filter(|m| !GROUND_FLOOR.contains(&m.as_str()))
            .collect();
        assert!(above.is_empty(), "{ground} imports {above:?}");
    }
}

/// The sample image service's modules import each other one way only.
#[test]
fn the_sample_has_no_import_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/glance-sample/src");
    let mut merged = graph(&root, "super::", &["lib", "tests"]);
    for (module, edges) in graph(&root, "crate::", &["lib", "tests"]) {
        merged.entry(module).or_default().extend(edges);
    }
    assert!(merged.len() > 10, "the modules were not found: {merged:?}");
    if let Some(cycle) = find_cycle(&merged) {
        panic!("an import cycle in the sample: {}", cycle.join(" → "));
    }
}

/// The checker finds what it is for: a cycle, and none in a line.
#[test]
fn the_checker_sees_cycles() {
    let mut graph = Graph::new();
    let edge =
        |from: &str, to: &[&str]| (from.to_owned(), to.iter().map(|s| s.to_string()).collect());
    graph.extend([edge("a", &["b"]), edge("b", &["c"]), edge("c", &[])]);
    assert_eq!(find_cycle(&graph), None);
    graph.insert("c".into(), ["a".to_owned()].into());
    assert_eq!(find_cycle(&graph).map(|c| c.len()), Some(4));
    let text = "use crate::{cache::Entry, metrics};\n// crate::config in a comment\nlet x = crate::route::classify;";
    let names: Vec<String> = imports(text, "crate::").into_iter().collect();
    assert_eq!(names, ["cache", "metrics", "route"]);
}
