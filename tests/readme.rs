//! The quick start and the feature table, on both front pages: README.md
//! (GitHub, crates.io) and src/docs/crate.md (docs.rs).
//!
//! * Their code blocks and feature tables must agree (the crate page may
//!   hide lines rustdoc needs, and links what the README names).
//! * Both pages' Rust blocks compile as doc tests (`cargo test
//!   --all-features --doc`); what doc tests cannot check is the
//!   `[dependencies]` a newcomer copies. The ignored test builds each quick
//!   start as a crate of its own, from those lines only:
//!   `cargo test --all-features --test readme -- --ignored` (offline, from
//!   the crates cargo already has; a few minutes the first time).

use std::path::{Path, PathBuf};
use std::process::Command;

const README: &str = include_str!("../README.md");
const CRATE_PAGE: &str = include_str!("../src/docs/crate.md");

/// The text of `page` from the line `start` to the line `end` (excluded).
fn section<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let from = page
        .find(&format!("\n{start}\n"))
        .unwrap_or_else(|| panic!("no line {start:?}"));
    let to = page[from..]
        .find(&format!("\n{end}\n"))
        .unwrap_or_else(|| panic!("no line {end:?} after {start:?}"));
    &page[from + 1..from + to + 1]
}

/// A fenced block: its info string and its lines as a reader sees them
/// (rustdoc's hidden `# ` lines dropped from Rust blocks).
#[derive(Debug, PartialEq, Eq)]
struct Block {
    info: String,
    code: String,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let rust = info.starts_with("rust");
        let mut code = String::new();
        for line in lines.by_ref() {
            if line == "```" {
                break;
            }
            let trimmed = line.trim_start();
            if rust && (trimmed == "#" || trimmed.starts_with("# ")) {
                continue;
            }
            code.push_str(line);
            code.push('\n');
        }
        found.push(Block {
            info: info.to_owned(),
            code,
        });
    }
    found
}

/// The feature table and the paragraph under it, links reduced to the
/// names they show.
fn features(text: &str) -> String {
    let table = &text[text.find("| feature |").expect("a feature table")..];
    let end = table.find("\n\n").expect("a paragraph under the table");
    let paragraph = &table[end + 2..];
    let paragraph = &paragraph[..paragraph.find("\n\n").unwrap_or(paragraph.len())];
    format!("{}\n\n{paragraph}", &table[..end])
        .replace("[`", "`")
        .replace("`]", "`")
}

#[test]
fn quick_starts_agree() {
    let readme = blocks(section(README, "## Quick start", "## The two commands"));
    let page = blocks(section(CRATE_PAGE, "# Quick start", "# Where to read next"));
    let infos: Vec<&str> = readme.iter().map(|b| b.info.as_str()).collect();
    assert_eq!(
        infos,
        ["toml", "rust,no_run", "toml", "rust,no_run", "rust,no_run"],
        "server, client, one stream"
    );
    assert_eq!(readme, page);
    // The rustls#959 advice stands where a server is started.
    assert!(readme[0]
        .code
        .contains("[profile.dev.package.rustls]\ndebug-assertions = false\n"));
    // Re-exports, not crates of their own (the versions always match).
    for block in &readme {
        assert!(!block.code.contains("tokio_util"), "{}", block.code);
        assert!(!block.code.contains("tokio-rustls"), "{}", block.code);
    }
}

#[test]
fn feature_tables_agree() {
    let readme = features(section(README, "## Cargo features", "## What it costs"));
    let page = features(section(
        CRATE_PAGE,
        "# Cargo features",
        "# Minimum supported Rust version",
    ));
    assert_eq!(readme, page);
    // Every feature of Cargo.toml has its row.
    let manifest = include_str!("../Cargo.toml");
    let declared = &manifest[manifest.find("\n[features]\n").expect("[features]")..];
    let declared = &declared[..declared[1..].find("\n[").expect("a table after") + 1];
    for line in declared.lines() {
        let Some((name, _)) = line.split_once(" = ") else {
            continue;
        };
        if name.starts_with('#') || name.starts_with(' ') {
            continue;
        }
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "no row for feature {name:?}"
        );
    }
}

/// Writes a crate of its own from the quick start's `[dependencies]`
/// (graceful-tls taken from this repository) and `sources`, and builds it
/// offline with this repository's Cargo.lock.
fn build_alone(name: &str, toml: &str, sources: &[(&str, &str)]) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("quickstart");
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let patched = toml.replacen(
        "graceful-tls = { version = \"0.1\",",
        &format!("graceful-tls = {{ path = {:?},", repo.display().to_string()),
        1,
    );
    assert_ne!(patched, toml, "graceful-tls's line: {toml}");
    let manifest = format!(
        "[package]\nname = \"quickstart-{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n{patched}\n[workspace]\n"
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    for (path, code) in sources {
        std::fs::write(dir.join(path), code).unwrap();
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "--offline", "--quiet"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "{name}: cargo build failed in {dir:?}");
}

#[test]
#[ignore = "builds two crates of their own (minutes); run with --ignored"]
fn quick_starts_build_as_crates_of_their_own() {
    let readme = blocks(section(README, "## Quick start", "## The two commands"));
    let [server_toml, server, client_toml, client, stream] = &readme[..] else {
        panic!("five blocks: {readme:?}");
    };
    // The stream block says it needs the server's dependencies.
    build_alone(
        "server",
        &server_toml.code,
        &[("src/main.rs", &server.code), ("src/lib.rs", &stream.code)],
    );
    build_alone(
        "client",
        &client_toml.code,
        &[("src/main.rs", &client.code)],
    );
}
