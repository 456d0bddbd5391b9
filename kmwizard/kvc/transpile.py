"""Fakeroot directory -> Ignition ``storage.files`` entries.

Replaces filetranspiler (see docs: its bugs are not copied):
- deterministic: entries sorted by path;
- the node path is built from the path components below the fakeroot, never by string replacement;
- symlinks inside the tree are dereferenced (links to files and to directories); absolute, dangling,
  looping and escaping links are errors naming the link, all reported in one pass;
- each file is encoded with the shortest of ``data:,<percent>``, base64 and gzip+base64.

Encoding is the hot path (the preview re-renders on every keystroke), so per-file results are cached
on (real path, size, mtime_ns, ctime_ns, inode, device); an unchanged tree costs one stat per file.
"""
from __future__ import annotations

import base64
import os
import re
import stat
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Optional

from kmwizard.findings import Finding, error, warning
from kmwizard.kvc.node_files import holds_private_key, is_secret
from kmwizard.regexps import lazy
from kmwizard.textfiles import pseudo_filesystem

WHERE = "kvc.fakeroot"

# RFC 2397 `urlchar` = RFC 2396 reserved + unreserved; everything else is %XX-escaped. This is also
# exactly what Ignition's data URL parser (vincent-petithory/dataurl) accepts unescaped: printable
# ASCII except space, <>#"{}|\^[]` and "%" (which starts an escape).
_SAFE = (b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
         b"-_.!~*'()" b";/?:@&=+$,")
_ESCAPE = {bytes([b]): b"%%%02X" % b for b in range(256) if bytes([b]) not in _SAFE}
_PERCENT_PREFIX = "data:,"
_BASE64_PREFIX = "data:;base64,"
# what `"compression":"gzip",` costs in the serialized config; gzip must beat the others by more.
_GZIP_FIELD_COST = len('"compression": "gzip", ')
# Below this size gzip's 18-byte frame plus base64 growth never wins; skip the work.
_GZIP_MIN_SIZE = 64
# zlib level 6 takes about half the time of level 9 and is within 0.5 % of its size (benchmarks/README.md).
_GZIP_LEVEL = 6
# Incompressible data (random, already compressed) is detected on two 4 KiB samples (head and middle)
# before paying for a full deflate: if they do not shrink by this fraction, gzip cannot win.
_SAMPLE = 8 * 1024
_SAMPLE_MIN_GAIN = 0.03

_MAX_LINK_HOPS = 40  # the kernel's limit (MAXSYMLINKS)
# Links to directories multiply a tree (ten links to a sibling per level make 10^depth copies): the
# walk stops at these, far above what a MachineConfig can carry (etcd takes objects up to 1.5 MiB).
MAX_FILES = 20_000
MAX_BYTES = 256 << 20


_UNSAFE_RE = lazy(b"[^" + re.escape(_SAFE) + b"]")


def _percent_encode(data: bytes) -> str:
    # Percent-encoding only wins when few bytes need escaping, so a regex over the escapes is cheap.
    return _UNSAFE_RE.sub(lambda m: _ESCAPE[m.group()], data).decode("ascii")


def encode_contents(data: bytes, *, gzip_allowed: bool) -> dict:
    """Ignition ``contents`` for ``data``: the shortest of percent-encoding, base64, gzip+base64.

    Returns ``{"source": ...}`` or ``{"source": ..., "compression": "gzip"}``.  Sizes are compared
    before building strings so that the losing encodings cost nothing but a count.
    """
    n = len(data)
    unsafe = len(data.translate(None, _SAFE))       # bytes that need %XX
    percent_len = len(_PERCENT_PREFIX) + n + 2 * unsafe
    base64_len = len(_BASE64_PREFIX) + 4 * ((n + 2) // 3)
    best_len = min(percent_len, base64_len)
    if gzip_allowed and n >= _GZIP_MIN_SIZE and _may_compress(data):
        packed = zlib.compress(data, _GZIP_LEVEL, 31)   # wbits 31: gzip framing, mtime 0
        gzip_len = len(_BASE64_PREFIX) + 4 * ((len(packed) + 2) // 3) + _GZIP_FIELD_COST
        if gzip_len < best_len:
            return {"source": _BASE64_PREFIX + base64.b64encode(packed).decode("ascii"),
                    "compression": "gzip"}
    if percent_len <= base64_len:
        return {"source": _PERCENT_PREFIX + (_percent_encode(data) if unsafe else data.decode("ascii"))}
    return {"source": _BASE64_PREFIX + base64.b64encode(data).decode("ascii")}


def _may_compress(data: bytes) -> bool:
    if len(data) <= 2 * _SAMPLE:
        return True
    # Sample the middle too: ELF files start with compressible headers.
    mid = len(data) // 2
    sample = data[:_SAMPLE // 2] + data[mid:mid + _SAMPLE // 2]
    return len(zlib.compress(sample, 1)) <= len(sample) * (1 - _SAMPLE_MIN_GAIN)


@lru_cache(maxsize=4096)
def _encode_file(real: str, size: int, mtime_ns: int, ctime_ns: int, ino: int, dev: int,
                 gzip_allowed: bool) -> tuple[tuple[tuple[str, str], ...], bool]:
    """(contents items, holds a private key); cached per file version: the stat fields are the
    cache key, not used inside."""
    with open(real, "rb") as f:
        data = f.read()
    return tuple(encode_contents(data, gzip_allowed=gzip_allowed).items()), holds_private_key(data)


def clear_cache() -> None:
    _encode_file.cache_clear()


def _file_entry(job: tuple[str, str, os.stat_result, bool]) -> tuple[dict, bool] | OSError:
    node_path, real, st, gzip_allowed = job
    try:
        items, has_key = _encode_file(real, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
                                      st.st_dev, gzip_allowed)
    except OSError as exc:
        return exc
    mode = stat.S_IMODE(st.st_mode)
    return ({"path": node_path, "mode": mode, "overwrite": True, "contents": dict(items)},
            has_key or is_secret(b"", mode))


# zlib releases the GIL while it deflates, so big trees are encoded on a few threads.
_PARALLEL_MIN_BYTES = 1 << 20
_MAX_THREADS = 4


def _encode_all(jobs: list) -> list:
    if sum(job[2].st_size for job in jobs) < _PARALLEL_MIN_BYTES or (os.cpu_count() or 1) < 2:
        return [_file_entry(job) for job in jobs]
    from concurrent.futures import ThreadPoolExecutor
    # largest first, so that one big file does not finish last on its own
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i][2].st_size)
    with ThreadPoolExecutor(max_workers=min(_MAX_THREADS, os.cpu_count() or 1)) as pool:
        done = dict(zip(order, pool.map(_file_entry, (jobs[i] for i in order))))
    return [done[i] for i in range(len(jobs))]


class _Walker:
    def __init__(self, root: Path, gzip_allowed: bool, where: str) -> None:
        self.root = os.path.realpath(root)
        # absolute link targets below the tree (`ln -s $(DESTDIR)/lib/x $(DESTDIR)/bin/y`) name it
        # by the path it was given as, or by its real path
        self.root_names = tuple({os.path.abspath(root), self.root})
        self.gzip_allowed = gzip_allowed
        self.where_key = where
        self.jobs: list[tuple[str, str, os.stat_result, bool]] = []   # encoded after the walk
        self.findings: list[Finding] = []
        self.total_bytes = 0
        self.over_cap = False

    def where(self, parts: tuple[str, ...]) -> str:
        return f"{self.where_key}:{_node_path(parts)}"

    def real(self, parts: tuple[str, ...]) -> str:
        return os.path.join(self.root, *parts)

    def walk_dir(self, real_parts: tuple[str, ...], node_parts: tuple[str, ...],
                 active: frozenset[tuple[str, ...]]) -> None:
        """Walk the real directory ``real_parts``, emitting its files under ``node_parts``.

        ``active`` holds the real directories being expanded on this branch: a directory link
        pointing at one of them would recurse forever.
        """
        try:
            entries = sorted(os.scandir(self.real(real_parts)), key=lambda e: e.name)
        except OSError as exc:
            self.findings.append(error(self.where(node_parts), f"cannot read directory: {exc.strerror}",
                                       "make the fakeroot readable by the user running kmwizard",
                                       "kvc-fakeroot-unreadable"))
            return
        if not entries and node_parts:
            self.findings.append(warning(
                self.where(node_parts), f"empty directory {_node_path(node_parts)} is not delivered: "
                "a MachineConfig carries files only, the MCO rejects directories",
                "put a file in it, or create it at runtime (e.g. from the unit)", "kvc-empty-dir"))
        for entry in entries:
            self.visit(real_parts + (entry.name,), node_parts + (entry.name,), active, entry)

    def visit(self, real_parts, node_parts, active, entry: os.DirEntry | None = None) -> None:
        if self.over_cap:
            return
        node = _node_path(node_parts)
        if any(ord(c) < 0x20 or ord(c) == 0x7f for c in node_parts[-1]):
            self.findings.append(error(
                f"{self.where_key}:{node!r}", "file name holds a line break or another control character: the file list "
                "and the unit files cannot name it safely", "rename the file", "kvc-bad-name"))
            return
        if not _is_utf8(node):
            self.findings.append(error(
                f"{self.where_key}:{node.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace')}",
                "file name is not valid UTF-8; Ignition paths are JSON strings",
                "rename the file with a UTF-8 name", "kvc-bad-name"))
            return
        try:
            st = entry.stat(follow_symlinks=False) if entry else os.lstat(self.real(real_parts))
        except OSError as exc:
            self.findings.append(error(self.where(node_parts), f"cannot stat: {exc.strerror}", "", "kvc-stat"))
            return
        if stat.S_ISLNK(st.st_mode):
            self.follow_link(real_parts, node_parts, active)
        elif stat.S_ISDIR(st.st_mode):
            self.walk_dir(real_parts, node_parts, active | {real_parts})
        elif stat.S_ISREG(st.st_mode):
            self.add_file(node, self.real(real_parts), st)
        else:
            self.findings.append(error(
                self.where(node_parts), f"{_kind(st.st_mode)} {node} cannot be delivered: Ignition "
                "in a MachineConfig writes regular files only",
                "remove it from the fakeroot (create it at runtime if the module needs it)",
                "kvc-special-file"))

    def add_file(self, node: str, real: str, st: os.stat_result) -> None:
        self.jobs.append((node, real, st, self.gzip_allowed))
        self.total_bytes += st.st_size
        if len(self.jobs) > MAX_FILES or self.total_bytes > MAX_BYTES:
            self.over_cap = True
            self.findings.append(error(
                self.where_key, f"the tree expands to more than {MAX_FILES} files or {MAX_BYTES >> 20} MiB (links to "
                "directories repeat what they point at): far more than a MachineConfig can carry",
                "remove the links that repeat directories, or give the tree of the module's files only",
                "kvc-fakeroot-too-big"))

    def follow_link(self, link_parts, node_parts, active) -> None:
        target, problem = _resolve(self.root, link_parts, self.root_names)
        if problem:
            link = _node_path(link_parts)
            self.findings.append(error(self.where(node_parts), problem.replace("{link}", link, 1),
                                       "make the link relative and pointing at a file or directory "
                                       "inside the fakeroot, or replace it with the file itself",
                                       "kvc-link"))
            return
        st = os.stat(self.real(target))
        if stat.S_ISDIR(st.st_mode):
            if any(target == a[:len(target)] for a in active):
                self.findings.append(error(
                    self.where(node_parts), f"symlink {_node_path(link_parts)} points at its own parent "
                    f"directory {_node_path(target)}: following it would loop forever",
                    "remove the link or point it at a directory that does not contain it", "kvc-link"))
                return
            self.walk_dir(target, node_parts, active | {target})
        else:
            self.visit(target, node_parts, active)


def _inside(target: str, root_names: tuple[str, ...]) -> str | None:
    """The part of an absolute ``target`` below one of the tree's names ("" for the tree itself)."""
    for name in root_names:
        if target == name or target.startswith(name.rstrip("/") + "/"):
            return target[len(name):].lstrip("/")
    return None


def _resolve(root: str, link_parts: tuple[str, ...],
             root_names: tuple[str, ...] = ()) -> tuple[tuple[str, ...], str | None]:
    """Resolve a symlink inside ``root`` hop by hop; returns (real parts, None) or ((), problem).

    Resolution is done by hand rather than with realpath so that every hop can be checked: a
    ``..`` above the root is an error even if it would land inside again.  An absolute target is
    followed only when it names a path inside the tree itself (a Makefile's
    ``ln -s $(DESTDIR)/lib/x $(DESTDIR)/bin/y``); any other would be the node's own file.
    """
    first = os.readlink(os.path.join(root, *link_parts))
    head = "symlink {link} -> " + first
    parts = list(link_parts[:-1])
    if first.startswith("/"):
        below = _inside(first, root_names)
        if below is None:
            return (), (f"{head} is absolute: on the node it would point at the "
                        "node's own file, not the delivered one")
        parts, first = [], below
    pending = first.split("/")
    hops = 1
    while pending:
        comp = pending.pop(0)
        if comp in ("", "."):
            continue
        if comp == "..":
            if not parts:
                return (), f"{head} points outside the fakeroot"
            parts.pop()
            continue
        parts.append(comp)
        real = os.path.join(root, *parts)
        try:
            st = os.lstat(real)
        except OSError:
            return (), f"{head} is dangling: {_node_path(tuple(parts))} does not exist in the fakeroot"
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > _MAX_LINK_HOPS:
                return (), f"{head} loops (more than {_MAX_LINK_HOPS} links to follow)"
            target = os.readlink(real)
            parts.pop()
            if target.startswith("/"):
                below = _inside(target, root_names)
                if below is None:
                    return (), (f"{head} leads to {_node_path(tuple(parts + [comp]))} -> {target}, which is "
                                "absolute: on the node it would point outside the delivered files")
                parts, target = [], below
            pending = target.split("/") + pending
        elif pending and not stat.S_ISDIR(st.st_mode):
            return (), f"{head} is dangling: {_node_path(tuple(parts))} is not a directory"
    if not parts:
        return (), f"{head} points at the fakeroot itself, which would loop forever"
    return tuple(parts), None


def _node_path(parts: tuple[str, ...]) -> str:
    return "/" + "/".join(parts)


def _is_utf8(s: str) -> bool:
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:  # os.scandir hands undecodable bytes back as surrogates
        return False


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "named pipe"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def transpile_tree(root: Path, *, gzip_allowed: bool, secrets: Optional[set] = None, where: str = WHERE,
                   label: str = "") -> tuple[list[dict], list[Finding]]:
    """Ignition ``storage.files`` for every regular file below ``root`` (sorted by path) and the
    problems found (all of them, not just the first).  ``secrets``, when given, receives the node
    paths of files only their owner may read or that hold a private key.  ``where`` is the answer
    the findings name and ``label`` how messages call the tree (default: its path)."""
    root = Path(root)
    label = label or f"fakeroot {root}"
    pseudo = pseudo_filesystem(root)
    if pseudo:  # /proc/self/cwd and /proc/1/root lead anywhere, /sys never ends
        return [], [error(where, f"{label} lies in {pseudo}, whose entries the kernel generates (and whose "
                          "links such as /proc/*/cwd lead into other trees)",
                          "give the directory that `make install DESTDIR=... CONFDIR=...` filled",
                          "kvc-fakeroot-missing")]
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a directory"
        return [], [error(where, f"{label} {what}",
                          "give the directory that `make install DESTDIR=$FAKEROOT/usr/local "
                          "CONFDIR=$FAKEROOT/etc/` filled", "kvc-fakeroot-missing")]
    walker = _Walker(root, gzip_allowed, where)
    walker.walk_dir((), (), frozenset({()}))
    files = []
    for job, entry in zip(walker.jobs, _encode_all(walker.jobs)):
        if isinstance(entry, OSError):
            walker.findings.append(error(f"{where}:{job[0]}", f"cannot read file: {entry.strerror}",
                                         "make the file readable by the user running kmwizard",
                                         "kvc-unreadable"))
        else:
            files.append(entry[0])
            if entry[1] and secrets is not None:
                secrets.add(job[0])
    if walker.over_cap:
        return [], walker.findings
    if not files and not walker.findings:
        walker.findings.append(warning(where, f"{label} holds no files: nothing would be delivered",
                                       "run the two `make install` steps into it first", "kvc-fakeroot-empty"))
    files.sort(key=lambda f: f["path"])
    return files, walker.findings
