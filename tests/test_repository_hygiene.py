"""No secret, database, virtual environment or dependency folder is ever committed."""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret": re.compile(r"aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}"),
    "Baton API key": re.compile(r"\bbk_[A-Za-z0-9_-]{40,}"),
    "VAPID private key assignment": re.compile(r"VAPID_PRIVATE_KEY\s*[=:]\s*['\"][A-Za-z0-9_-]{40,}"),
}
FORBIDDEN_PATHS = re.compile(r"(^|/)(\.venv|node_modules|instance|__pycache__)/|\.(db|sqlite|sqlite3|pem|key)$|(^|/)static/dist/")


def _tracked() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [p for p in out.stdout.decode().split("\0") if p]


def test_no_generated_or_local_files_are_tracked():
    offenders = [p for p in _tracked() if FORBIDDEN_PATHS.search(p)]
    assert offenders == []


def test_no_secrets_in_tracked_files():
    findings = []
    for path in _tracked():
        if path == "tests/test_repository_hygiene.py":
            continue  # its own self-test strings
        file = ROOT / path
        if not file.is_file() or file.stat().st_size > 2_000_000:
            continue
        try:
            text = file.read_text(errors="ignore")
        except OSError:
            continue
        for name, pattern in PATTERNS.items():
            if pattern.search(text):
                findings.append(f"{path}: {name}")
    assert findings == []


def test_the_scanner_catches_what_it_should():
    assert PATTERNS["private key"].search("-----BEGIN EC " + "PRIVATE KEY-----")
    assert PATTERNS["AWS access key"].search("key = AKIA" + "ABCDEFGHIJKLMNOP")
    assert PATTERNS["Baton API key"].search("bk_" + "a" * 43)
    assert FORBIDDEN_PATHS.search("instance/baton.db") and FORBIDDEN_PATHS.search("static/node_modules/x.js")
