//! The migrations are embedded by `sqlx::migrate!`; rebuild when they change.
//!
//! The browser console (`console/`, built by `npm run build:console` into
//! `console/dist`) is embedded too, so that the binary needs no files beside
//! it. Without a build the binary still compiles and serves a page at
//! `/console/` that says how to build it: a Rust-only `cargo build` or
//! `cargo test` must keep working, and `scripts/start` / `scripts/test`
//! always build the console first.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    embed_console();
}

fn embed_console() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = manifest.join("console").join("dist");
    let mut files = Vec::new();
    let built = dist.join("index.html").is_file();
    if built {
        println!("cargo:rerun-if-changed={}", dist.display());
        collect(&dist, &dist, &mut files);
        files.sort();
    } else {
        // Watch the console directory, so that a build made later is seen.
        println!(
            "cargo:rerun-if-changed={}",
            manifest.join("console").display()
        );
        println!(
            "cargo:warning=the console is not built (review-svc/console/dist): /console/ serves a placeholder; run `npm ci && npm run build:console`"
        );
    }
    let mut out = String::new();
    writeln!(
        out,
        "/// Whether `console/dist` was built when this binary was."
    )
    .unwrap();
    writeln!(out, "pub const BUILT: bool = {built};").unwrap();
    writeln!(out, "/// Path below `/console/`, content type, bytes.").unwrap();
    writeln!(out, "pub static ASSETS: &[(&str, &str, &[u8])] = &[").unwrap();
    for (relative, absolute) in &files {
        writeln!(
            out,
            "    ({relative:?}, {:?}, include_bytes!({absolute:?})),",
            content_type(relative)
        )
        .unwrap();
    }
    writeln!(out, "];").unwrap();
    let target =
        PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("console_assets.rs");
    std::fs::write(target, out).expect("write console_assets.rs");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if path.is_file() {
            let relative = path
                .strip_prefix(root)
                .expect("below root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push((relative, path.display().to_string()));
        }
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
