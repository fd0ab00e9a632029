//! The archive container (docs/backup-format.md): a tar file whose first member,
//! `format.json`, names the format and its version, and whose last member,
//! `manifest.json`, lists every other member with its size and SHA-256. Reading checks
//! the version first, then every member against the manifest, so a truncated, tampered
//! or foreign file is refused before anything is restored.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

/// Name of the format, in `format.json` and the manifest.
pub const FORMAT_NAME: &str = "rivia-backup";
/// The version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// The first member.
pub const FORMAT_MEMBER: &str = "format.json";
/// The last member.
pub const MANIFEST_MEMBER: &str = "manifest.json";
/// A table or object chunk is cut once it passes this many bytes.
pub const CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Largest member a reader accepts (a chunk is at most one row past [`CHUNK_BYTES`]; a
/// file at most an upload).
pub const MEMBER_LIMIT: u64 = 256 * 1024 * 1024;

/// Why an archive cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Written by a newer Rivia.
    #[error(
        "This backup was written in archive format version {0}; this Rivia reads up to version {FORMAT_VERSION}. Upgrade Rivia to restore it."
    )]
    NewerVersion(u32),
    /// Not a Rivia backup at all.
    #[error("This file is not a Rivia backup archive.")]
    NotAnArchive,
    /// Cut short, or changed after it was written.
    #[error("The backup archive is damaged: {0}.")]
    Damaged(String),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(String),
}

impl From<std::io::Error> for ArchiveError {
    fn from(e: std::io::Error) -> Self {
        ArchiveError::Io(e.to_string())
    }
}

/// `format.json`.
#[derive(Debug, Serialize, Deserialize)]
struct FormatHeader {
    format: String,
    version: u32,
}

/// One member as listed in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemberInfo {
    /// Path inside the archive.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
    /// Rows (table and object chunks; 0 for other members).
    #[serde(default)]
    pub rows: u64,
}

/// `manifest.json`: the members and what the archive holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT_NAME`].
    pub format: String,
    /// Format version.
    pub version: u32,
    /// When the snapshot was taken, µs.
    pub created_at: i64,
    /// Backend the backup was taken from (`sqlite` or `postgres`), for information.
    pub source: String,
    /// Name of the instance backed up.
    pub instance: String,
    /// Totals (`objects`, `files`, `file_bytes`, and rows per table).
    pub counts: serde_json::Map<String, serde_json::Value>,
    /// Every member but `format.json` and this manifest, in archive order.
    pub members: Vec<MemberInfo>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            read: 0,
        }
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Where [`read_archive`] puts a member's content.
pub enum Sink {
    /// Into memory, handed to the visitor as [`Content::Bytes`] (table and object chunks,
    /// `instance.json`: at most about [`CHUNK_BYTES`]).
    Memory,
    /// Into a new file at this path as it is read, handed over as [`Content::File`]: the
    /// uploaded files, which are large, so that a restore holds none of them whole.
    File(std::path::PathBuf),
    /// Nowhere: only hashed (the checking pass).
    Discard,
}

/// A member's content as [`read_archive`] hands it to its visitor, checksum computed.
pub enum Content {
    /// Read into memory.
    Bytes(Vec<u8>),
    /// Written to this file (which the visitor now owns).
    File(std::path::PathBuf),
    /// Hashed and dropped.
    Discarded,
}

/// Writes an archive member by member; [`ArchiveWriter::finish`] adds the manifest.
pub struct ArchiveWriter<W: Write> {
    tar: tar::Builder<W>,
    members: Vec<MemberInfo>,
    written: u64,
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

impl<W: Write> ArchiveWriter<W> {
    /// Starts an archive with its `format.json`.
    pub fn new(out: W) -> Result<Self, ArchiveError> {
        let mut w = ArchiveWriter {
            tar: tar::Builder::new(out),
            members: Vec::new(),
            written: 0,
        };
        let head = serde_json::to_vec(&FormatHeader {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
        })
        .map_err(|e| ArchiveError::Io(e.to_string()))?;
        w.append(FORMAT_MEMBER, &head)?;
        Ok(w)
    }

    fn append(&mut self, name: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
        let mut h = header(bytes.len() as u64);
        self.tar.append_data(&mut h, name, bytes)?;
        self.written += 512 + (bytes.len() as u64).div_ceil(512) * 512;
        Ok(())
    }

    /// Adds a member listed in the manifest.
    pub fn add(&mut self, name: &str, bytes: &[u8], rows: u64) -> Result<(), ArchiveError> {
        self.append(name, bytes)?;
        self.members.push(MemberInfo {
            name: name.to_string(),
            size: bytes.len() as u64,
            sha256: sha256_hex(bytes),
            rows,
        });
        Ok(())
    }

    /// Adds a member listed in the manifest whose `size` bytes are copied from `content`
    /// as they are hashed, never held whole (the files of a backup).
    pub fn add_reader(
        &mut self,
        name: &str,
        content: impl Read,
        size: u64,
    ) -> Result<(), ArchiveError> {
        let mut h = header(size);
        let mut hashed = Hashing::new(content.take(size));
        self.tar.append_data(&mut h, name, &mut hashed)?;
        // A source shorter than its stated size would leave a tar whose next header is
        // misplaced; fail the backup instead.
        if hashed.read != size {
            return Err(ArchiveError::Io(format!(
                "{name} shrank while it was being backed up"
            )));
        }
        self.written += 512 + size.div_ceil(512) * 512;
        self.members.push(MemberInfo {
            name: name.to_string(),
            size,
            sha256: hex::encode(hashed.hasher.finalize()),
            rows: 0,
        });
        Ok(())
    }

    /// Bytes written so far (headers and padding included).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends the manifest (with the members added) and ends the tar.
    pub fn finish(mut self, mut manifest: Manifest) -> Result<W, ArchiveError> {
        manifest.members = std::mem::take(&mut self.members);
        let bytes = serde_json::to_vec(&manifest).map_err(|e| ArchiveError::Io(e.to_string()))?;
        self.append(MANIFEST_MEMBER, &bytes)?;
        Ok(self.tar.into_inner()?)
    }
}

/// Checks that the first member names this format at a version this build reads.
fn check_format(bytes: &[u8]) -> Result<(), ArchiveError> {
    let head: FormatHeader =
        serde_json::from_slice(bytes).map_err(|_| ArchiveError::NotAnArchive)?;
    if head.format != FORMAT_NAME {
        return Err(ArchiveError::NotAnArchive);
    }
    if head.version > FORMAT_VERSION {
        return Err(ArchiveError::NewerVersion(head.version));
    }
    Ok(())
}

fn damaged(what: impl Into<String>) -> ArchiveError {
    ArchiveError::Damaged(what.into())
}

/// Reads a whole member (bounded by [`MEMBER_LIMIT`]).
fn read_member(entry: &mut impl Read, size: u64) -> Result<Vec<u8>, ArchiveError> {
    if size > MEMBER_LIMIT {
        return Err(damaged("a member is larger than any Rivia writes"));
    }
    let mut buf = Vec::with_capacity(size as usize);
    entry
        .take(size)
        .read_to_end(&mut buf)
        .map_err(|e| damaged(format!("it ends early ({e})")))?;
    if buf.len() as u64 != size {
        return Err(damaged("it ends early"));
    }
    Ok(buf)
}

/// Copies a member into `sink` as it is read, hashing it; the content and its SHA-256.
fn take_member(
    entry: &mut impl Read,
    size: u64,
    sink: Sink,
) -> Result<(Content, String), ArchiveError> {
    if size > MEMBER_LIMIT {
        return Err(damaged("a member is larger than any Rivia writes"));
    }
    let mut hashed = Hashing::new(entry.take(size));
    let content = match sink {
        Sink::Memory => {
            let mut buf = Vec::with_capacity(size as usize);
            hashed
                .read_to_end(&mut buf)
                .map_err(|e| damaged(format!("it ends early ({e})")))?;
            Content::Bytes(buf)
        }
        Sink::File(path) => {
            let copied = std::fs::File::create(&path).and_then(|file| {
                let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
                std::io::copy(&mut hashed, &mut out)?;
                out.flush()
            });
            if let Err(e) = copied {
                let _ = std::fs::remove_file(&path);
                return Err(ArchiveError::Io(format!("{}: {e}", path.display())));
            }
            Content::File(path)
        }
        Sink::Discard => {
            std::io::copy(&mut hashed, &mut std::io::sink())
                .map_err(|e| damaged(format!("it ends early ({e})")))?;
            Content::Discarded
        }
    };
    if hashed.read != size {
        if let Content::File(path) = &content {
            let _ = std::fs::remove_file(path);
        }
        return Err(damaged("it ends early"));
    }
    Ok((content, hex::encode(hashed.hasher.finalize())))
}

/// Reads every member of the archive at `path`, checking the format version, each
/// member's size and checksum against the manifest, and that nothing is missing or
/// added. `sink(name)` says where each member's content goes; `visit(info, content)` is
/// then called for every listed member in order with its checksum computed. The visit
/// pass of a restore uses it; the checking pass discards everything and visits nothing.
pub fn read_archive(
    path: &Path,
    mut sink: impl FnMut(&str) -> Sink,
    mut visit: impl FnMut(&MemberInfo, Content) -> Result<(), ArchiveError>,
) -> Result<Manifest, ArchiveError> {
    let file = std::fs::File::open(path)?;
    let mut archive = tar::Archive::new(std::io::BufReader::with_capacity(1 << 20, file));
    let mut entries = archive.entries().map_err(|_| ArchiveError::NotAnArchive)?;
    // The first member decides whether this is ours and whether we can read it.
    let mut first = match entries.next() {
        Some(Ok(e)) => e,
        _ => return Err(ArchiveError::NotAnArchive),
    };
    let first_name = entry_name(&first).ok_or(ArchiveError::NotAnArchive)?;
    if first_name != FORMAT_MEMBER {
        return Err(ArchiveError::NotAnArchive);
    }
    let size = first
        .header()
        .size()
        .map_err(|_| ArchiveError::NotAnArchive)?;
    check_format(&read_member(&mut first, size.min(4096))?)?;
    drop(first);
    // The others: their checksums are known only from the manifest at the end, so the
    // members are hashed as read and compared once it arrives. A visiting pass runs
    // after a checking pass, so it may compare as it goes with the manifest it was given.
    let mut seen: Vec<MemberInfo> = Vec::new();
    let mut manifest: Option<Manifest> = None;
    for entry in entries {
        let mut entry = entry.map_err(|e| damaged(format!("it ends early ({e})")))?;
        let name = entry_name(&entry).ok_or_else(|| damaged("a member has an unreadable name"))?;
        let size = entry
            .header()
            .size()
            .map_err(|_| damaged("a member header is invalid"))?;
        if manifest.is_some() {
            return Err(damaged("members follow the manifest"));
        }
        if name == MANIFEST_MEMBER {
            let bytes = read_member(&mut entry, size)?;
            manifest = Some(
                serde_json::from_slice(&bytes)
                    .map_err(|_| damaged("the manifest is unreadable"))?,
            );
            continue;
        }
        let (content, sha256) = take_member(&mut entry, size, sink(&name))?;
        let info = MemberInfo {
            sha256,
            size,
            rows: 0,
            name,
        };
        seen.push(info.clone());
        visit(&info, content)?;
    }
    let manifest = manifest.ok_or_else(|| damaged("it ends before its manifest (truncated)"))?;
    if manifest.format != FORMAT_NAME {
        return Err(ArchiveError::NotAnArchive);
    }
    if manifest.version > FORMAT_VERSION {
        return Err(ArchiveError::NewerVersion(manifest.version));
    }
    compare_members(&manifest.members, &seen)?;
    Ok(manifest)
}

/// The members read must be exactly those listed, with the listed sizes and checksums.
fn compare_members(listed: &[MemberInfo], seen: &[MemberInfo]) -> Result<(), ArchiveError> {
    let by_name: HashMap<&str, &MemberInfo> = seen.iter().map(|m| (m.name.as_str(), m)).collect();
    if by_name.len() != seen.len() {
        return Err(damaged("a member appears twice"));
    }
    for m in listed {
        let Some(got) = by_name.get(m.name.as_str()) else {
            return Err(damaged(format!("member {} is missing", m.name)));
        };
        if got.size != m.size || got.sha256 != m.sha256 {
            return Err(damaged(format!(
                "member {} does not match its checksum",
                m.name
            )));
        }
    }
    if listed.len() != seen.len() {
        return Err(damaged("it holds members its manifest does not list"));
    }
    Ok(())
}

fn entry_name<R: Read>(entry: &tar::Entry<'_, R>) -> Option<String> {
    let path = entry.path().ok()?;
    path.to_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            created_at: 1,
            source: "sqlite".into(),
            instance: "x".into(),
            counts: Default::default(),
            members: vec![],
        }
    }

    fn write(path: &Path, members: &[(&str, &[u8])]) {
        let file = std::fs::File::create(path).expect("create");
        let mut w = ArchiveWriter::new(file).expect("writer");
        for (name, bytes) in members {
            if name.starts_with("files/") {
                // Streamed, as a backup copies files.
                w.add_reader(name, *bytes, bytes.len() as u64).expect("add");
            } else {
                w.add(name, bytes, 1).expect("add");
            }
        }
        w.finish(manifest()).expect("finish");
    }

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("rivia-archive-{}-{name}", std::process::id()))
    }

    #[test]
    fn a_streamed_member_shorter_than_its_size_fails_the_archive() {
        let path = temp("short");
        let file = std::fs::File::create(&path).expect("create");
        let mut w = ArchiveWriter::new(file).expect("writer");
        let err = w
            .add_reader("files/1/x", &b"abc"[..], 10)
            .expect_err("short source");
        assert!(matches!(err, ArchiveError::Io(_)), "{err}");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn members_round_trip_and_damage_is_found() {
        let path = temp("rt");
        write(
            &path,
            &[("tables/a/0.jsonl", b"[1]\n"), ("files/1/x", b"abc")],
        );
        let mut got = Vec::new();
        let m = read_archive(
            &path,
            |_| Sink::Memory,
            |info, content| {
                if let Content::Bytes(bytes) = content {
                    got.push((info.name.clone(), bytes));
                }
                Ok(())
            },
        )
        .expect("read");
        assert_eq!(m.members.len(), 2);
        assert_eq!(got[1], ("files/1/x".to_string(), b"abc".to_vec()));

        // Spooled to a file as read, with the same checksum as in memory.
        let spooled = temp("spool");
        let mut files = Vec::new();
        read_archive(
            &path,
            |name| {
                if name.starts_with("files/") {
                    Sink::File(spooled.clone())
                } else {
                    Sink::Discard
                }
            },
            |info, content| {
                files.push((info.name.clone(), matches!(content, Content::File(_))));
                Ok(())
            },
        )
        .expect("spool");
        assert_eq!(files[1], ("files/1/x".to_string(), true));
        assert_eq!(std::fs::read(&spooled).expect("spooled"), b"abc");
        let _ = std::fs::remove_file(&spooled);

        // Flip one byte of a member's content: its checksum no longer matches.
        let mut bytes = std::fs::read(&path).expect("read");
        let at = bytes.windows(3).position(|w| w == b"abc").expect("content");
        bytes[at] = b'X';
        std::fs::write(&path, &bytes).expect("write");
        let err = read_archive(&path, |_| Sink::Discard, |_, _| Ok(())).expect_err("tampered");
        assert!(matches!(err, ArchiveError::Damaged(_)), "{err}");

        // Cut before the manifest.
        std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
        let err = read_archive(&path, |_| Sink::Discard, |_, _| Ok(())).expect_err("truncated");
        assert!(matches!(err, ArchiveError::Damaged(_)), "{err}");
        std::fs::write(&path, b"definitely not an archive").expect("write");
        let err = read_archive(&path, |_| Sink::Discard, |_, _| Ok(())).expect_err("garbage");
        assert!(matches!(err, ArchiveError::NotAnArchive), "{err}");
        let _ = std::fs::remove_file(&path);
    }
}
