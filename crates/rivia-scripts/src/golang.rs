//! The `golang` runtime (spec-scripts §1.3): the user's source follows `package main` and
//! `import "encoding/json"` as on the platform, and is compiled together with
//! `wrappers/go_inputs.go`, which defines `ARGS`, `CONFIG`, `META` (`map[string]interface{}`)
//! and reads them from one stdin line at run time. Compiling takes seconds, so the binary is
//! built once per source (keyed by SHA-256 of the toolchain version, the inputs file and the
//! source) in a sandbox of its own, cached under `<work_dir>/go-cache/`, and each run links
//! it into its private directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::run_dir::RunDir;
use crate::runtimes::Installed;
use crate::sandbox::CODE_DIR;
use crate::{Engine, Limits, SandboxMode};

const GO_INPUTS: &str = include_str!("../wrappers/go_inputs.go");
/// The name of the compiled binary in a run's directory.
pub(crate) const BINARY: &str = "main";

/// The limits of a compile: longer and larger than a run's (the compiler and linker are
/// several processes with many threads), output big enough for the binary itself.
fn compile_limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(120),
        memory_bytes: 1 << 30,
        processes: 256,
        file_size_bytes: 256 << 20,
        scratch_bytes: 512 << 20,
        output_bytes: 128 << 20,
    }
}

/// The user's file: the platform's template head, the source, and a use of `json` so that a
/// script not using it still compiles. A source importing `encoding/json` itself keeps its
/// own import (the platform's template made that a compile error).
fn user_file(source: &str) -> String {
    let imports_json = source.contains("\"encoding/json\"");
    let mut file = String::from("package main\n\n");
    if !imports_json {
        file.push_str("import \"encoding/json\"\n\n");
    }
    file.push_str(source);
    file.push_str("\n\nvar _ = json.Marshal\n");
    file
}

fn cache_key(installed: &Installed, source: &str) -> String {
    let mut hash = Sha256::new();
    for part in [installed.version.as_str(), GO_INPUTS, source] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(hash.finalize())
}

/// The compiled binary of `source`: from the cache, else compiled now. `Err` holds what the
/// user should read (compiler errors included).
pub(crate) async fn binary(
    engine: &Engine,
    installed: &Installed,
    source: &str,
) -> Result<PathBuf, String> {
    let config = engine.config();
    let cache = config.work_dir.join("go-cache");
    let path = cache.join(cache_key(installed, source));
    if path.is_file() {
        return Ok(path);
    }
    let dir = {
        let (config, source) = (config.clone(), source.to_owned());
        tokio::task::spawn_blocking(move || {
            let dir = RunDir::create(&config)?;
            dir.write("main.go", &user_file(&source))?;
            dir.write("rivia_inputs.go", GO_INPUTS)?;
            Ok::<_, std::io::Error>(dir)
        })
        .await
        .map_err(|e| format!("Cannot prepare the compile: {e}"))?
        .map_err(|e| format!("Cannot prepare the compile: {e}"))?
    };
    let seen = match config.sandbox {
        SandboxMode::Bubblewrap => PathBuf::from(CODE_DIR),
        SandboxMode::UnsafeNoSandbox => dir.path().to_owned(),
    };
    let argv = compile_argv(&installed.path, &seen);
    let limits = compile_limits();
    let launch = crate::exec::Launch {
        argv,
        own_limits: false,
        stdin: None,
    };
    let raw =
        crate::exec::execute(config, &limits, false, launch, dir.path(), String::new()).await?;
    let compiled = matches!(raw.exit, crate::protocol::Exit::Code(0))
        && !raw.stdout.bytes.is_empty()
        && raw.stdout.total == raw.stdout.bytes.len() as u64;
    if !compiled {
        let errors = String::from_utf8_lossy(&raw.stderr.bytes);
        return Err(format!("Compilation failed:\n{}", errors.trim_end()));
    }
    let (bytes, owner) = (raw.stdout.bytes, config.run_as);
    let target = path.clone();
    tokio::task::spawn_blocking(move || store(&cache, &target, &bytes, owner))
        .await
        .map_err(|e| format!("Cannot store the compiled script: {e}"))?
        .map_err(|e| format!("Cannot store the compiled script: {e}"))?;
    Ok(path)
}

/// `sh -c 'go build … >&2 && cat <binary>'`: the binary comes back on stdout, so the compile
/// needs no writable mount; compiler messages go to stderr.
fn compile_argv(go: &Path, seen: &Path) -> Vec<OsString> {
    let script = format!(
        "export GOCACHE=\"$HOME/.gocache\" GOPATH=\"$HOME/go\" CGO_ENABLED=0 GO111MODULE=off GOTOOLCHAIN=local; \
         '{go}' build -o ./rivia-main.bin '{seen}/main.go' '{seen}/rivia_inputs.go' >&2 && cat ./rivia-main.bin",
        go = go.display(),
        seen = seen.display(),
    );
    vec!["/bin/sh".into(), "-c".into(), script.into()]
}

/// Writes the binary into the cache atomically (a temporary name, then a rename), readable
/// and executable by the sandbox user only.
fn store(
    cache: &Path,
    target: &Path,
    bytes: &[u8],
    owner: Option<(u32, u32)>,
) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(cache)?;
    let tmp = target.with_extension(format!("tmp-{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o500)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&tmp, Some(uid), Some(gid))?;
    }
    std::fs::rename(&tmp, target)
}

/// Puts the cached binary into a run's directory (a hard link; a copy across file systems).
pub(crate) fn place(dir: &RunDir, binary: &Path) -> std::io::Result<()> {
    let target = dir.path().join(BINARY);
    if std::fs::hard_link(binary, &target).is_err() {
        std::fs::copy(binary, &target)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_files_import_json_once() {
        let plain = user_file("func main() {}");
        assert!(plain.starts_with("package main\n\nimport \"encoding/json\"\n\nfunc main() {}"));
        let own = user_file("import (\n\t\"encoding/json\"\n\t\"fmt\"\n)\nfunc main() {}");
        assert_eq!(own.matches("encoding/json").count(), 1);
        assert!(own.ends_with("var _ = json.Marshal\n"));
    }
}
