//! The runtime table of spec-scripts §1.1 and the host toolchains behind it (§13).
//!
//! Every key the platform listed maps onto one [`Toolchain`]: the Python family runs on the host's
//! `python3`, the Node family on the host's `node`, and `ruby`/`php`/`golang`/`swift` on their
//! toolchain where installed. [`Toolchains::probe`] finds the binaries and their real versions once
//! (at start-up); `runtimes/` then reports the version actually used instead of the platform's.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

/// A host toolchain a runtime key runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Toolchain {
    Python,
    Node,
    Ruby,
    Php,
    Go,
    Swift,
}

impl Toolchain {
    /// Every toolchain, in the order of the start-up log line.
    pub const ALL: [Toolchain; 6] = [
        Toolchain::Python,
        Toolchain::Node,
        Toolchain::Ruby,
        Toolchain::Php,
        Toolchain::Go,
        Toolchain::Swift,
    ];

    /// The executable looked up on the host.
    pub fn binary(self) -> &'static str {
        match self {
            Toolchain::Python => "python3",
            Toolchain::Node => "node",
            Toolchain::Ruby => "ruby",
            Toolchain::Php => "php",
            Toolchain::Go => "go",
            Toolchain::Swift => "swift",
        }
    }

    /// The file name the user's source is stored under inside the sandbox (`/code/<name>`).
    pub fn source_file(self) -> &'static str {
        match self {
            Toolchain::Python => "main.py",
            Toolchain::Node => "main.js",
            Toolchain::Ruby => "main.rb",
            Toolchain::Php => "main.php",
            Toolchain::Go => "main.go",
            Toolchain::Swift => "main.swift",
        }
    }

    /// Arguments that make the binary print its version (parsed by [`parse_version`]).
    fn version_args(self) -> &'static [&'static str] {
        match self {
            Toolchain::Python | Toolchain::Node => &["--version"],
            Toolchain::Ruby => &["-e", "print RUBY_VERSION"],
            Toolchain::Php => &["-r", "echo PHP_VERSION;"],
            Toolchain::Go => &["version"],
            Toolchain::Swift => &["--version"],
        }
    }
}

/// One row of spec-scripts §1.1.
#[derive(Clone, Copy, Debug)]
pub struct Runtime {
    pub key: &'static str,
    pub name: &'static str,
    /// The platform's version string; replaced by the host's in [`Toolchains::listing`].
    pub platform_version: &'static str,
    /// `L` of `https://github.com/Syncano/syncano-<L>`, if the runtime shipped a library.
    pub library: Option<&'static str>,
    pub library_version: Option<&'static str>,
    pub deprecated: bool,
    /// `I` of the image and packages URLs.
    pub image: &'static str,
    /// `P` of the packages URL, if any.
    pub packages: Option<&'static str>,
    pub toolchain: Toolchain,
}

use Toolchain::{Go, Node, Php, Python, Ruby, Swift};

/// The ten listed keys of spec-scripts §1.1, in the spec's order.
pub const RUNTIMES: [Runtime; 10] = [
    Runtime {
        key: "nodejs_library_v0.4",
        name: "Node.js",
        platform_version: "6.10.0",
        library: Some("js"),
        library_version: Some("0.4.x"),
        deprecated: true,
        image: "nodejs",
        packages: Some("nodejs/files/package.json.v04"),
        toolchain: Node,
    },
    Runtime {
        key: "nodejs_library_v1.0",
        name: "Node.js",
        platform_version: "6.10.0",
        library: Some("js"),
        library_version: Some("1.x"),
        deprecated: false,
        image: "nodejs",
        packages: Some("nodejs/files/package.json.j2"),
        toolchain: Node,
    },
    Runtime {
        key: "nodejs_v6",
        name: "Node.js",
        platform_version: "6.10.0",
        library: None,
        library_version: None,
        deprecated: false,
        image: "nodejs",
        packages: None,
        toolchain: Node,
    },
    Runtime {
        key: "python_library_v4.2",
        name: "Python",
        platform_version: "2.7.x",
        library: Some("python"),
        library_version: Some("4.2.x"),
        deprecated: true,
        image: "python",
        packages: Some("python/files/requirements_v42.txt"),
        toolchain: Python,
    },
    Runtime {
        key: "python_library_v5.0",
        name: "Python",
        platform_version: "2.7.x",
        library: Some("python"),
        library_version: Some("5.x"),
        deprecated: false,
        image: "python",
        packages: Some("python/files/requirements.txt"),
        toolchain: Python,
    },
    Runtime {
        key: "python3",
        name: "Python 3",
        platform_version: "3.4.x",
        library: Some("python"),
        library_version: Some("5.x"),
        deprecated: false,
        image: "python",
        packages: Some("python/files/requirements_python3.txt"),
        toolchain: Python,
    },
    Runtime {
        key: "ruby",
        name: "Ruby",
        platform_version: "2.2.x",
        library: Some("ruby"),
        library_version: Some("4.0"),
        deprecated: false,
        image: "ruby",
        packages: Some("ruby/files/Gemfile"),
        toolchain: Ruby,
    },
    Runtime {
        key: "golang",
        name: "Golang",
        platform_version: "1.4.x",
        library: None,
        library_version: None,
        deprecated: false,
        image: "golang",
        packages: None,
        toolchain: Go,
    },
    Runtime {
        key: "swift",
        name: "Swift",
        platform_version: "3.0.x",
        library: None,
        library_version: None,
        deprecated: false,
        image: "swift",
        packages: None,
        toolchain: Swift,
    },
    Runtime {
        key: "php",
        name: "PHP",
        platform_version: "5.5.x",
        library: None,
        library_version: None,
        deprecated: false,
        image: "php",
        packages: None,
        toolchain: Php,
    },
];

/// Hidden aliases: valid `runtime_name`s, stored as given, run like their target, not listed.
pub const ALIASES: [(&str, &str); 2] = [
    ("nodejs", "nodejs_library_v0.4"),
    ("python", "python_library_v4.2"),
];

/// Looks a runtime key up, aliases included.
pub fn lookup(key: &str) -> Option<&'static Runtime> {
    let target = ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key, |(_, t)| t);
    RUNTIMES.iter().find(|r| r.key == target)
}

/// Whether `key` is a valid `runtime_name` (listed or hidden alias).
pub fn is_valid_key(key: &str) -> bool {
    lookup(key).is_some()
}

/// A toolchain found on the host.
#[derive(Clone, Debug)]
pub struct Installed {
    /// Absolute path of the binary (under a directory the sandbox binds read-only).
    pub path: PathBuf,
    /// The version it reports, e.g. `3.11.2`.
    pub version: String,
}

/// Which toolchains this host has; probe once, share everywhere.
#[derive(Clone, Debug, Default)]
pub struct Toolchains {
    found: Vec<(Toolchain, Installed)>,
}

/// Directories searched for interpreters. Only `/usr` is bound into the sandbox, so a binary
/// elsewhere (a pyenv shim, a home directory) could not run there and is not offered.
const SEARCH_DIRS: [&str; 2] = ["/usr/local/bin", "/usr/bin"];

impl Toolchains {
    /// Finds each toolchain's binary and asks it for its version (a few ms per toolchain).
    pub async fn probe() -> Toolchains {
        let mut found = Vec::new();
        for toolchain in Toolchain::ALL {
            if let Some(installed) = probe_one(toolchain).await {
                found.push((toolchain, installed));
            }
        }
        Toolchains { found }
    }

    /// A table with exactly these toolchains (tests, or a host with unusual paths).
    pub fn with(found: Vec<(Toolchain, Installed)>) -> Toolchains {
        Toolchains { found }
    }

    /// The installed toolchain, if any.
    pub fn get(&self, toolchain: Toolchain) -> Option<&Installed> {
        self.found
            .iter()
            .find(|(t, _)| *t == toolchain)
            .map(|(_, i)| i)
    }

    /// One line for the start-up log, e.g. `python3 3.11.2, node 20.20.2, ruby 3.1.2; missing: go, swift`.
    pub fn summary(&self) -> String {
        let mut have = Vec::new();
        let mut missing = Vec::new();
        for toolchain in Toolchain::ALL {
            match self.get(toolchain) {
                Some(i) => have.push(format!("{} {}", toolchain.binary(), i.version)),
                None => missing.push(toolchain.binary()),
            }
        }
        let have = if have.is_empty() {
            "none".to_owned()
        } else {
            have.join(", ")
        };
        if missing.is_empty() {
            have
        } else {
            format!("{have}; missing: {}", missing.join(", "))
        }
    }

    /// The body of `GET snippets/scripts/runtimes/` (spec-scripts §1.1): the ten listed keys,
    /// `version` = the host's version where installed, else the platform's.
    pub fn listing(&self) -> Value {
        let mut out = Map::new();
        for r in &RUNTIMES {
            let version = self
                .get(r.toolchain)
                .map_or(r.platform_version, |i| i.version.as_str());
            let library = r
                .library
                .map(|l| format!("https://github.com/Syncano/syncano-{l}"));
            let packages = r.packages.map(|p| {
                format!(
                    "https://github.com/Syncano/{}-codebox/blob/master/{p}",
                    r.image
                )
            });
            out.insert(
                r.key.to_owned(),
                json!({
                    "name": r.name,
                    "version": version,
                    "library": library,
                    "library_version": r.library_version,
                    "deprecated": r.deprecated,
                    "image": format!("quay.io/syncano/{}-codebox", r.image),
                    "packages": packages,
                }),
            );
        }
        Value::Object(out)
    }
}

async fn probe_one(toolchain: Toolchain) -> Option<Installed> {
    let path = SEARCH_DIRS
        .iter()
        .map(|dir| Path::new(dir).join(toolchain.binary()))
        .find(|p| p.is_file())?;
    let output = tokio::process::Command::new(&path)
        .args(toolchain.version_args())
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let version = parse_version(&text)?;
    Some(Installed { path, version })
}

/// The first dotted number in a `--version` output: `Python 3.11.2` → `3.11.2`, `v20.1.0` →
/// `20.1.0`, `go version go1.19.8 linux/amd64` → `1.19.8`.
pub fn parse_version(text: &str) -> Option<String> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let version = rest[..end].trim_end_matches('.');
    (!version.is_empty()).then(|| version.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve_and_are_not_listed() {
        assert_eq!(lookup("nodejs").map(|r| r.key), Some("nodejs_library_v0.4"));
        assert_eq!(lookup("python").map(|r| r.key), Some("python_library_v4.2"));
        assert!(lookup("perl").is_none());
        let listing = Toolchains::default().listing();
        assert_eq!(listing.as_object().map(|o| o.len()), Some(10));
        assert!(listing.get("nodejs").is_none());
        assert_eq!(listing["php"]["version"], "5.5.x");
        assert_eq!(
            listing["python3"]["image"],
            "quay.io/syncano/python-codebox"
        );
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("Python 3.11.2\n").as_deref(), Some("3.11.2"));
        assert_eq!(parse_version("v20.20.2").as_deref(), Some("20.20.2"));
        assert_eq!(
            parse_version("go version go1.19.8 linux/amd64").as_deref(),
            Some("1.19.8")
        );
        assert_eq!(parse_version("none"), None);
    }
}
