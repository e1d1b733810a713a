//! The layout keeps its layers: a check of the imports of the extension (`src/`) and of this crate
//! (`core/src/`), read from their source files.
//!
//! - `src/`: every folder is in [`LAYERS`], each importing (by `crate::` or `super::` paths, in
//!   `use` declarations or in code) only from the folders of the layers below its own, never from
//!   one beside it or above it; within a folder, its files import each other without a circle.
//!   `lib.rs` and `tests.rs` (the crate root and its `#[pg_test]`s) may import anything, and no
//!   other file sits beside them. Every folder has a `mod.rs` that opens with a `//!` comment.
//! - `core/src/`: the modules import each other without a circle.
//!
//! The tests at the end run the checks on the real trees, and on made-up ones that break each
//! rule (the controls: each violation is reported).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The extension's folders, from the top layer down. A folder may import only from the layers
/// below its own.
const LAYERS: &[&[&str]] =
    &[&["api"], &["workers"], &["cluster", "login", "request"], &["registry"], &["shmem"], &["pg"]];

/// The files of `src/` allowed outside the folders: the crate root and its tests.
const ROOT_FILES: &[&str] = &["lib.rs", "tests.rs"];

/// Source files: path relative to the tree's root (with `/`), and text.
type Tree = Vec<(String, String)>;

/// `source` with comments, string and character literals blanked out (newlines kept), so that a
/// path written in a comment or a string is not taken for an import.
fn code_only(source: &str) -> String {
    let s: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, s[i]);
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&s, i) && raw_start(&s, i + 1) {
            // A raw string: r"...", r#"..."#, ...
            let mut j = i + 1;
            let mut hashes = 0;
            while s.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                if j >= s.len() {
                    break;
                }
                if s[j] == '"' && (0..hashes).all(|k| s.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                blank(&mut out, s[j]);
                j += 1;
            }
            i = j;
        } else if c == '"' {
            i += 1;
            while i < s.len() && s[i] != '"' {
                if s[i] == '\\' {
                    blank(&mut out, s[i]);
                    i += 1;
                }
                if i < s.len() {
                    blank(&mut out, s[i]);
                    i += 1;
                }
            }
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}'), or a lifetime ('a), which is code.
            let close = if next == Some('\\') {
                (i + 3..s.len().min(i + 12)).find(|&k| s[k] == '\'')
            } else if s.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(k) => i = k + 1,
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether an identifier goes on before `i` (so an `r` at `i` is not a raw string's prefix); the
/// `b` of `br"..."` does not count, unless an identifier goes on before it.
fn ident_before(s: &[char], i: usize) -> bool {
    if i == 0 {
        return false;
    }
    let c = s[i - 1];
    (c.is_alphanumeric() || c == '_') && (c != 'b' || ident_before(s, i - 1))
}

/// Whether `r` followed by `#`s and a `"` starts at `i` (the character after the `r`).
fn raw_start(s: &[char], mut i: usize) -> bool {
    while s.get(i) == Some(&'#') {
        i += 1;
    }
    s.get(i) == Some(&'"')
}

/// Every path that starts with `crate` or `super` in `code`, as its segments (groups in braces
/// expanded: `crate::{a::b, c}` is `crate::a::b` and `crate::c`).
fn paths(code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == ':');
        if starts_word {
            for head in ["crate", "super"] {
                let w: Vec<char> = head.chars().collect();
                if chars[i..].starts_with(&w) && chars.get(i + w.len()) == Some(&':') {
                    let mut j = i + w.len();
                    let mut found = Vec::new();
                    parse_rest(&chars, &mut j, vec![head.to_string()], &mut found);
                    out.extend(found);
                    i = j.max(i + 1);
                }
            }
        }
        i += 1;
    }
    out
}

/// After `prefix`, at `::`: the rest of a path, or a group of paths.
fn parse_rest(c: &[char], j: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    loop {
        skip_space(c, j);
        if !(c.get(*j) == Some(&':') && c.get(*j + 1) == Some(&':')) {
            out.push(path);
            return;
        }
        *j += 2;
        skip_space(c, j);
        if c.get(*j) == Some(&'{') {
            *j += 1;
            loop {
                skip_space(c, j);
                match c.get(*j) {
                    Some('}') => {
                        *j += 1;
                        return;
                    }
                    Some(',') => *j += 1,
                    None => return,
                    _ => {
                        let name = ident(c, j);
                        if name.is_empty() {
                            *j += 1;
                            continue;
                        }
                        let mut p = path.clone();
                        if name != "self" {
                            p.push(name);
                        }
                        parse_rest(c, j, p, out);
                        // `as alias`
                        skip_space(c, j);
                        let save = *j;
                        if ident(c, j) == "as" {
                            skip_space(c, j);
                            ident(c, j);
                        } else {
                            *j = save;
                        }
                    }
                }
            }
        }
        let name = ident(c, j);
        if name.is_empty() {
            // `crate::*` or the like
            out.push(path);
            return;
        }
        path.push(name);
    }
}

fn skip_space(c: &[char], j: &mut usize) {
    while c.get(*j).is_some_and(|x| x.is_whitespace()) {
        *j += 1;
    }
}

fn ident(c: &[char], j: &mut usize) -> String {
    let mut s = String::new();
    while let Some(x) = c.get(*j) {
        if x.is_alphanumeric() || *x == '_' {
            s.push(*x);
            *j += 1;
        } else {
            break;
        }
    }
    s
}

/// A circle in `graph`, if there is one (as the nodes around it, the first repeated at the end).
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|x| x == m).unwrap_or(0);
                    let mut c = stack[at..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn layer_of(folder: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&folder))
}

/// The folders of the extension and the imports between them: what [`check_src`] reads.
#[derive(Debug, Default)]
struct SrcGraph {
    /// Folder -> the folders it imports from.
    folders: BTreeMap<String, BTreeSet<String>>,
    /// Within each folder, module -> the modules of the same folder it imports from.
    modules: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// What does not fit the layout.
    problems: Vec<String>,
}

/// Read the extension's tree (paths relative to `src/`).
fn src_graph(tree: &Tree) -> SrcGraph {
    let mut g = SrcGraph::default();
    let folder_modules: BTreeMap<String, BTreeSet<String>> = tree.iter().fold(BTreeMap::new(), |mut m, (path, _)| {
        let parts: Vec<&str> = path.split('/').collect();
        if parts.len() >= 2 {
            let module = parts[1].trim_end_matches(".rs");
            m.entry(parts[0].to_string()).or_default().insert(module.to_string());
        }
        m
    });
    for folder in folder_modules.keys() {
        if layer_of(folder).is_none() {
            g.problems.push(format!("src/{folder}/ is in no layer (add it to LAYERS in core/tests/layers.rs)"));
        }
        match tree.iter().find(|(p, _)| *p == format!("{folder}/mod.rs")) {
            None => g.problems.push(format!("src/{folder}/ has no mod.rs")),
            Some((_, text)) if !text.starts_with("//!") => {
                g.problems.push(format!("src/{folder}/mod.rs does not open with a //! comment saying its concern"))
            }
            Some(_) => {}
        }
        g.folders.entry(folder.clone()).or_default();
    }
    for (path, text) in tree {
        let parts: Vec<&str> = path.split('/').collect();
        if parts.len() == 1 {
            if !ROOT_FILES.contains(&parts[0]) {
                g.problems.push(format!("src/{path} is outside the folders (only {} are)", ROOT_FILES.join(" and ")));
            }
            continue;
        }
        let folder = parts[0].to_string();
        let module = parts[1].trim_end_matches(".rs").to_string();
        // How deep its module is: a folder's mod.rs is one level under the crate (its `super` is
        // the crate), a file in it two (its `super` is the folder), and so on.
        let depth = parts.len() - usize::from(parts[parts.len() - 1] == "mod.rs");
        for p in paths(&code_only(text)) {
            let mut segments: Vec<&str> = p.iter().map(String::as_str).collect();
            let mut level = depth;
            if segments[0] == "super" {
                while segments.first() == Some(&"super") {
                    segments.remove(0);
                    level = level.saturating_sub(1);
                }
            } else {
                segments.remove(0);
                level = 0;
            }
            // Where the path lands: the crate (level 0), the folder (1), or deeper in a module.
            let (target_folder, target_module) = match level {
                0 => match segments.first() {
                    Some(f) => (f.to_string(), segments.get(1).map(|m| m.to_string())),
                    None => continue,
                },
                1 => (folder.clone(), segments.first().map(|m| m.to_string())),
                _ => continue, // inside its own module
            };
            if target_folder == folder {
                let target = match target_module {
                    Some(m) if folder_modules.get(&folder).is_some_and(|ms| ms.contains(&m)) => m,
                    _ => "mod".to_string(),
                };
                if target != module {
                    g.modules.entry(folder.clone()).or_default().entry(module.clone()).or_default().insert(target);
                }
                continue;
            }
            if !folder_modules.contains_key(&target_folder) {
                let problem = format!(
                    "src/{path} imports crate::{target_folder} (only the folders may be imported, not the root)"
                );
                if !g.problems.contains(&problem) {
                    g.problems.push(problem);
                }
                continue;
            }
            g.folders.entry(folder.clone()).or_default().insert(target_folder);
        }
    }
    g
}

/// Everything in the extension's tree that breaks the layers.
fn check_src(tree: &Tree) -> Vec<String> {
    let g = src_graph(tree);
    let mut problems = g.problems.clone();
    for (folder, targets) in &g.folders {
        let Some(mine) = layer_of(folder) else { continue };
        for t in targets {
            match layer_of(t) {
                Some(theirs) if theirs > mine => {}
                Some(theirs) if theirs == mine => {
                    problems.push(format!("{folder} imports from {t}, beside it in the same layer"))
                }
                Some(_) => problems.push(format!("{folder} imports from {t}, a layer above it")),
                None => {}
            }
        }
    }
    for (folder, modules) in &g.modules {
        if let Some(c) = circle(modules) {
            problems.push(format!("in src/{folder}/, an import circle: {}", c.join(" -> ")));
        }
    }
    problems
}

/// The module graph of a library crate (paths relative to its `src/`): each top-level module and
/// the modules it imports from, re-exports of `lib.rs` followed to their module.
fn crate_graph(tree: &Tree) -> BTreeMap<String, BTreeSet<String>> {
    let module_of = |path: &str| path.split('/').next().unwrap_or_default().trim_end_matches(".rs").to_string();
    let modules: BTreeSet<String> =
        tree.iter().map(|(p, _)| module_of(p)).filter(|m| m != "lib" && m != "main" && m != "bin").collect();
    // `pub use module::{Item, ...}` in lib.rs: item -> module.
    let mut reexported: BTreeMap<String, String> = BTreeMap::new();
    if let Some((_, lib)) = tree.iter().find(|(p, _)| p == "lib.rs") {
        let code = code_only(lib);
        for stmt in code.split(';') {
            let stmt = stmt.trim();
            let Some(rest) = stmt.strip_prefix("pub use ") else { continue };
            for p in paths(&format!("crate::{rest}")) {
                if p.len() >= 3 && modules.contains(&p[1]) {
                    reexported.insert(p[p.len() - 1].clone(), p[1].clone());
                }
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for (path, text) in tree {
        let module = module_of(path);
        if !modules.contains(&module) {
            continue;
        }
        let top_file = !path.contains('/');
        for p in paths(&code_only(text)) {
            let target = match (p[0].as_str(), top_file) {
                ("crate", _) => p.get(1).cloned(),
                // A top-level module's `super` is the crate; a submodule's is its module.
                ("super", true) => p.get(1).cloned(),
                _ => continue,
            };
            let Some(t) = target else { continue };
            let t = reexported.get(&t).cloned().unwrap_or(t);
            if t != module && modules.contains(&t) {
                graph.entry(module.clone()).or_default().insert(t);
            }
        }
    }
    graph
}

/// Every `.rs` file under `dir`, relative to it.
fn read_tree(dir: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, out: &mut Tree) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(root).expect("under the root").to_string_lossy().replace('\\', "/");
                out.push((rel, std::fs::read_to_string(&p).expect("a readable source file")));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    assert!(!out.is_empty(), "no source files under {}", dir.display());
    out
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("core/ is in the workspace")
}

fn arrows(g: &BTreeMap<String, BTreeSet<String>>) -> usize {
    g.values().map(BTreeSet::len).sum()
}

#[test]
fn the_extension_imports_only_downward() {
    let tree = read_tree(&workspace().join("src"));
    let problems = check_src(&tree);
    assert!(problems.is_empty(), "the layers of src/ are broken:\n  {}", problems.join("\n  "));
    // Every layer is there, and the graph is what CONTRIBUTING.md describes (run with
    // --nocapture to see it).
    let g = src_graph(&tree);
    for layer in LAYERS {
        for folder in *layer {
            assert!(g.folders.contains_key(*folder), "src/{folder}/ is in LAYERS but not in src/");
        }
    }
    for (folder, targets) in &g.folders {
        eprintln!("{folder} -> {}", targets.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    eprintln!("{} folders, {} arrows between them", g.folders.len(), arrows(&g.folders));
}

#[test]
fn the_core_has_no_import_circle() {
    let tree = read_tree(&workspace().join("core/src"));
    let g = crate_graph(&tree);
    assert!(g.contains_key("schedule") && g.contains_key("config"), "the core's modules were not found");
    if let Some(c) = circle(&g) {
        panic!("an import circle in core/src: {}", c.join(" -> "));
    }
    eprintln!("{} modules, {} arrows between them", g.len(), arrows(&g));
}

// --- the controls: made-up trees that break each rule ---------------------------------------------

fn tree(files: &[(&str, &str)]) -> Tree {
    files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect()
}

/// A tree that keeps the layers: one file per folder and a mod.rs each.
fn good() -> Vec<(&'static str, &'static str)> {
    vec![
        ("lib.rs", "//! root\nmod api;\nuse crate::pg::settings;"),
        ("tests.rs", "use crate::registry::cache::current;"),
        ("api/mod.rs", "//! api\nmod a;"),
        ("api/a.rs", "use crate::workers::job;\nuse crate::{request::identity, pg::errors};"),
        ("workers/mod.rs", "//! workers\npub(crate) mod job;"),
        ("workers/job.rs", "use crate::cluster::citus;\nfn f() { crate::login::snapshot::write(); }"),
        ("cluster/mod.rs", "//! cluster"),
        ("cluster/citus.rs", "use crate::registry::{tables::{self, Access}, trusted};"),
        ("login/mod.rs", "//! login"),
        ("login/snapshot.rs", "use crate::shmem::served;"),
        ("request/mod.rs", "//! request"),
        ("request/identity.rs", "use super::token::now;\nuse crate::registry::cache;"),
        ("request/token.rs", "use crate::pg::settings;"),
        ("registry/mod.rs", "//! registry\npub(crate) mod cache;\npub fn init() { cache::init(); }"),
        ("registry/cache.rs", "use crate::shmem::served;\nuse crate::pg::spi;"),
        ("shmem/mod.rs", "//! shmem"),
        ("shmem/served.rs", "const N: usize = crate::pg::settings::LIMIT;"),
        ("pg/mod.rs", "//! pg"),
        ("pg/settings.rs", "use super::errors::raise;"),
        ("pg/errors.rs", "fn raise() {}"),
    ]
}

fn with(changes: &[(&'static str, &'static str)]) -> Tree {
    let mut files = good();
    for (path, text) in changes {
        match files.iter_mut().find(|(p, _)| p == path) {
            Some(f) => f.1 = text,
            None => files.push((path, text)),
        }
    }
    tree(&files)
}

#[test]
fn control_a_tree_that_keeps_the_layers_passes() {
    assert_eq!(check_src(&tree(&good())), Vec::<String>::new());
}

#[test]
fn control_an_import_from_a_layer_above_is_caught() {
    let problems = check_src(&with(&[("pg/settings.rs", "use crate::registry::cache::current;")]));
    assert_eq!(problems, ["pg imports from registry, a layer above it"]);
    // In code rather than in a use declaration, and through super::super.
    let problems = check_src(&with(&[("shmem/served.rs", "fn f() { let _ = crate::workers::job::argument(1); }")]));
    assert_eq!(problems, ["shmem imports from workers, a layer above it"]);
    let problems = check_src(&with(&[("registry/cache.rs", "use super::super::request::identity;")]));
    assert_eq!(problems, ["registry imports from request, a layer above it"]);
    // In a group, beside imports that are fine.
    let problems = check_src(&with(&[("shmem/served.rs", "use crate::{pg::settings, registry::{cache, store}};")]));
    assert_eq!(problems, ["shmem imports from registry, a layer above it"]);
    // A mod.rs's super is the crate.
    let problems = check_src(&with(&[("pg/mod.rs", "//! pg\nuse super::api::a;")]));
    assert_eq!(problems, ["pg imports from api, a layer above it"]);
}

#[test]
fn control_an_import_from_beside_is_caught() {
    let problems = check_src(&with(&[("login/snapshot.rs", "use crate::request::identity::current;")]));
    assert_eq!(problems, ["login imports from request, beside it in the same layer"]);
}

#[test]
fn control_a_path_in_a_comment_or_a_string_is_not_an_import() {
    let text = "// crate::api::a\n/* crate::workers::job /* nested crate::api */ */\n\
                const A: &str = \"crate::api::a\";\nconst B: &str = r#\"crate::api::\"#;\n\
                const C: char = '\"';\nfn f<'a>(x: &'a str) -> &'a str { x }\nuse crate::pg::errors;";
    assert_eq!(check_src(&with(&[("shmem/served.rs", text)])), Vec::<String>::new());
    assert_eq!(paths(&code_only(text)), [vec!["crate", "pg", "errors"]]);
}

#[test]
fn control_a_circle_inside_a_folder_is_caught() {
    let problems = check_src(&with(&[
        ("pg/errors.rs", "use super::settings::get;"),
        ("pg/settings.rs", "use crate::pg::errors::raise;"),
    ]));
    assert_eq!(problems, ["in src/pg/, an import circle: errors -> settings -> errors"]);
}

#[test]
fn control_a_folder_or_a_file_outside_the_layout_is_caught() {
    let problems = check_src(&with(&[("extra/mod.rs", "//! extra"), ("loose.rs", "fn f() {}")]));
    assert_eq!(
        problems,
        [
            "src/extra/ is in no layer (add it to LAYERS in core/tests/layers.rs)",
            "src/loose.rs is outside the folders (only lib.rs and tests.rs are)"
        ]
    );
    let problems = check_src(&with(&[("shmem/mod.rs", "pub(crate) mod served;")]));
    assert_eq!(problems, ["src/shmem/mod.rs does not open with a //! comment saying its concern"]);
    let problems = check_src(&with(&[("pg/spi.rs", "use crate::pg_test::setup;")]));
    assert_eq!(problems, ["src/pg/spi.rs imports crate::pg_test (only the folders may be imported, not the root)"]);
}

#[test]
fn control_a_circle_in_a_crate_is_caught() {
    let core = tree(&[
        ("lib.rs", "mod config;\nmod login;\nmod error;\npub use error::{quote, ConfigError};"),
        ("config.rs", "use crate::error::ConfigError;\nuse crate::login::LoginPolicy;"),
        ("login.rs", "use crate::config::Provider;\nmod line;"),
        ("login/line.rs", "use super::Line;\nuse crate::quote;"),
        ("error.rs", "fn quote() {}"),
    ]);
    let g = crate_graph(&core);
    // A re-export of lib.rs is followed to its module; a submodule's super is its module.
    assert_eq!(g["login"], BTreeSet::from(["config".to_string(), "error".to_string()]));
    assert_eq!(circle(&g), Some(vec!["config".to_string(), "login".to_string(), "config".to_string()]));
    let fixed = tree(&[
        ("lib.rs", "mod config;\nmod login;\nmod error;"),
        ("config.rs", "use crate::error::ConfigError;\nmod login;"),
        ("config/login.rs", "use super::Provider;"),
        ("login.rs", "use crate::config::Provider;"),
        ("error.rs", ""),
    ]);
    assert_eq!(circle(&crate_graph(&fixed)), None);
}
