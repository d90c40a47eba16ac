"""``make lint``'s dependency audit: pip-audit over requirements.txt, told apart from an outage.

pip-audit asks PyPI's vulnerability service about every pinned package. Offline (or with the
service down) it marks each one "could not be audited" and still exits 0 saying "No known
vulnerabilities found", which would read as a clean bill of health. This wrapper says what
actually happened:

- exit 1: a known vulnerability in some dependency (each is printed): the run must fail;
- exit 0: every dependency checked and clean, or nothing could be checked (the service or the
  package index was unreachable), which is printed as such and does not fail the run;
- exit 2: pip-audit failed for another reason (a bad requirements file, say): shown as it is.

Usage: ``python -m config.audit_dependencies [requirements.txt]``.
"""

from __future__ import annotations

import json

# bandit B404/B603: subprocess runs this interpreter's pip-audit only (main), with fixed arguments.
import subprocess  # nosec B404
import sys
from typing import Any

# What pip (resolving the requirements) or pip-audit's HTTP client prints when it cannot connect.
_NETWORK_ERRORS = (
    "ConnectionError",
    "ConnectTimeout",
    "ReadTimeout",
    "Max retries exceeded",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "No matching distribution found",
)


def verdict(returncode: int, stdout: str, stderr: str) -> tuple[int, str]:
    """(exit status, message) for one pip-audit run with ``--format json``; see the module docstring."""
    try:
        report: dict[str, Any] = json.loads(stdout)
        dependencies = report["dependencies"]
    except (ValueError, KeyError, TypeError):
        if any(marker in stderr for marker in _NETWORK_ERRORS):
            return 0, "pip-audit: could not check dependencies: the package index or the vulnerability service is down"
        return 2, f"pip-audit failed (exit {returncode}):\n{stderr.strip()}"
    vulnerable = [dep for dep in dependencies if dep.get("vulns")]
    if vulnerable:
        lines = [
            f"  {dep['name']} {dep.get('version', '?')}: {vuln['id']}"
            + (f" (fixed in {', '.join(vuln['fix_versions'])})" if vuln.get("fix_versions") else "")
            for dep in vulnerable
            for vuln in dep["vulns"]
        ]
        return 1, "pip-audit: known vulnerabilities:\n" + "\n".join(lines)
    skipped = [dep["name"] for dep in dependencies if "skip_reason" in dep]
    if dependencies and len(skipped) == len(dependencies):
        return 0, (
            f"pip-audit: could not check any of {len(dependencies)} dependencies: the vulnerability service "
            "did not answer (offline?). Not a pass: run it again with network access."
        )
    if skipped:
        return 0, (
            f"pip-audit: no known vulnerabilities in {len(dependencies) - len(skipped)} dependencies; "
            f"could not check {len(skipped)}: {', '.join(skipped)}"
        )
    return 0, f"pip-audit: no known vulnerabilities in {len(dependencies)} dependencies"


def main(requirements: str = "requirements.txt") -> int:
    result = subprocess.run(  # noqa: S603  # nosec B603
        [sys.executable, "-m", "pip_audit", "-r", requirements, "--format", "json", "--progress-spinner", "off"],
        capture_output=True,
        text=True,
        check=False,
    )
    status, message = verdict(result.returncode, result.stdout, result.stderr)
    print(message, file=sys.stderr if status else sys.stdout)
    return status


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
