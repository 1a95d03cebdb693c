"""`marketplace-agent`: enroll, run (poll, download, verify, install, report), verify a bundle
offline, and install one offline writing a signed receipt (air-gapped sites)."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from marketplace_agent import __version__, jose
from marketplace_agent.bundle import install_bundle, newest_revocations, verify_bundle

RECEIPT_TYP = "receipt+jwt"
DEFAULT_STATE = Path(os.environ.get("MARKETPLACE_AGENT_STATE", "~/.marketplace-agent")).expanduser()


class AgentError(Exception):
    pass


# --- state -------------------------------------------------------------------------------------


class State:
    """The agent's folder: its Ed25519 key, its credential, the pinned JWKS, the newest
    revocation list and what it installed. Files are private to the agent's user."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        self.file = folder / "state.json"
        self.data: dict[str, Any] = json.loads(self.file.read_text()) if self.file.exists() else {}

    def save(self) -> None:
        temporary = self.file.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.data, indent=2))
        os.chmod(temporary, 0o600)
        temporary.replace(self.file)

    def private_key(self) -> Any:
        path = self.folder / "agent-key.pem"
        if not path.exists():
            path.write_bytes(jose.new_private_key_pem())
            os.chmod(path, 0o600)
        return jose.load_private_key(path.read_bytes())


# --- talking to the marketplace ------------------------------------------------------------------


def _url(server: str, path: str) -> str:
    if not server.startswith(("https://", "http://")):
        raise AgentError(f"the server must be an http(s) address, not {server!r}")
    return server.rstrip("/") + path


def _call(server: str, method: str, path: str, *, body: Any = None, credential: str = "", timeout: float = 30.0) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(_url(server, path), data=data, method=method)  # noqa: S310 - http(s) only
    request.add_header("Accept", "application/json")
    request.add_header("User-Agent", f"marketplace-site-agent/{__version__}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if credential:
        request.add_header("Authorization", f"Agent {credential}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the configured server
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read()).get("error", {})
        except ValueError:
            error = {}
        raise AgentError(f"{method} {path}: {exc.code} {error.get('message', exc.reason)}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise AgentError(f"{method} {path}: cannot reach {server}: {exc}") from None


def _download(server: str, path: str, credential: str, target: Path, expected_sha256: str) -> None:
    request = urllib.request.Request(_url(server, path))  # noqa: S310 - http(s) only
    request.add_header("Authorization", f"Agent {credential}")
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=300) as response, partial.open("wb") as sink:  # noqa: S310
            for chunk in iter(lambda: response.read(1024 * 1024), b""):
                digest.update(chunk)
                sink.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise AgentError(f"download of {path} failed: {exc}") from None
    if digest.hexdigest() != expected_sha256:
        partial.unlink(missing_ok=True)
        raise AgentError("the downloaded bundle does not match its checksum")
    partial.replace(target)


# --- commands --------------------------------------------------------------------------------


def enroll(args: argparse.Namespace) -> int:
    state = State(args.state_dir)
    key = state.private_key()
    answer = _call(
        args.server,
        "POST",
        "/api/v1/agent/enroll/",
        body={
            "token": args.token,
            "name": args.name,
            "hostname": socket.gethostname(),
            "agent_version": __version__,
            "public_key": jose.public_jwk(key),
        },
    )
    jwks = _call(args.server, "GET", "/api/v1/licensing/public-key/")
    state.data.update(
        {
            "server": args.server.rstrip("/"),
            "agent": answer["agent"],
            "site": answer["site"],
            "organization": answer["organization"],
            "credential": answer["credential"],
            "jwks": jwks,
            "installed": state.data.get("installed", {}),
        }
    )
    state.save()
    print(f"Enrolled as agent {answer['agent']} for site {answer['site']} of {answer['organization']}.")
    return 0


def _refresh_jwks(state: State, token: str) -> None:
    """Fetch the JWKS again when a document names a key the agent has not pinned yet (rotation)."""
    kid = jose.unverified_header(token).get("kid")
    if kid and kid not in {key.get("kid") for key in state.data.get("jwks", {}).get("keys", [])}:
        state.data["jwks"] = _call(state.data["server"], "GET", "/api/v1/licensing/public-key/")
        state.save()


def _report(state: State, bundle: str, kind: str, reason: str = "") -> dict[str, Any]:
    return _call(
        state.data["server"],
        "POST",
        "/api/v1/agent/reports/",
        credential=state.data["credential"],
        body={"bundle": bundle, "kind": kind, "reason": reason[:2000]},
    )


def run_once(state: State, install_dir: Path) -> dict[str, int]:
    server, credential = state.data["server"], state.data["credential"]
    counts = {"installed": 0, "failed": 0, "removed": 0}
    beat = _call(
        server,
        "POST",
        "/api/v1/agent/heartbeat/",
        credential=credential,
        body={"agent_version": __version__, "hostname": socket.gethostname()},
    )
    _refresh_jwks(state, beat["revocations"])
    tokens = [beat["revocations"], *([state.data["revocations"]] if state.data.get("revocations") else [])]
    iat, revoked = newest_revocations(tokens, state.data["jwks"])
    if iat >= 0:
        state.data["revocations"] = next(t for t in tokens if newest_revocations([t], state.data["jwks"])[0] == iat)
    bundles = _call(server, "GET", "/api/v1/agent/bundles/", credential=credential)
    listed = {bundle["id"] for bundle in bundles}
    installed: dict[str, Any] = state.data.setdefault("installed", {})
    # Bundles whose license is revoked (bundle id -> license id): not downloaded again while the
    # license stays revoked, or every round would fetch the whole bundle only to refuse it.
    refused: dict[str, str] = state.data.setdefault("refused", {})
    # Installed bundles whose license was revoked are removed before anything new is installed.
    _remove(installed, refused, revoked, counts, keep=lambda bundle_id, info: info.get("license") not in revoked)
    for bundle_id, license_id in list(refused.items()):
        if bundle_id not in listed or license_id not in revoked:
            del refused[bundle_id]
    for bundle in bundles:
        info = installed.get(bundle["id"])
        if info is not None and not info.get("reported", True):
            # Installed, but the report did not get through: the deployment waits for it.
            with contextlib.suppress(AgentError):
                _report(state, bundle["id"], "installed")
                info["reported"] = True
        if info is not None or bundle["id"] in refused or bundle["deployment_status"] == "suspended":
            continue
        target = state.folder / "bundles" / f"{bundle['id']}.zip"
        target.parent.mkdir(exist_ok=True)
        try:
            _download(server, bundle["download_url"], credential, target, bundle["sha256"])
            _report(state, bundle["id"], "downloaded")
            _refresh_jwks(state, bundle["manifest"])
            verification = verify_bundle(
                target, jwks=state.data["jwks"], revocation_tokens=tokens, site=state.data.get("site")
            )
            if not verification.ok:
                license_id = str(verification.license_claims.get("jti") or "")
                if license_id and not verification.not_revoked:
                    refused[bundle["id"]] = license_id
                raise AgentError("; ".join(verification.problems) or "verification failed")
            _report(state, bundle["id"], "verified")
            path = install_bundle(target, verification, install_dir)
            installed[bundle["id"]] = {
                "path": str(path),
                "license": verification.license_claims.get("jti"),
                "reported": False,
            }
            state.save()
            counts["installed"] += 1
        except (AgentError, jose.VerificationError, OSError) as exc:
            counts["failed"] += 1
            with contextlib.suppress(AgentError):  # reported again at the next round
                _report(state, bundle["id"], "failed", str(exc))
            print(f"bundle {bundle['id']}: {exc}", file=sys.stderr)
        else:
            # Outside the `try`: an installed bundle whose report does not get through is not
            # reported as failed; the report is sent again at the next round.
            with contextlib.suppress(AgentError):
                _report(state, bundle["id"], "installed")
                installed[bundle["id"]]["reported"] = True
        finally:
            target.unlink(missing_ok=True)  # installed or refused: the zip is not needed any more
    # What the marketplace no longer lists is removed after the new bundles are in place (a new
    # bundle of the same deployment, e.g. with a renewed license, replaces the old one).
    _remove(installed, refused, revoked, counts, keep=lambda bundle_id, info: bundle_id in listed)
    state.save()
    return counts


def _remove(
    installed: dict[str, Any], refused: dict[str, str], revoked: set[str], counts: dict[str, int], keep: Any
) -> None:
    """Uninstall the installed bundles `keep` rejects (a newer bundle in the same folder stays)."""
    for bundle_id, info in list(installed.items()):
        if keep(bundle_id, info):
            continue
        del installed[bundle_id]
        if not any(other["path"] == info["path"] for other in installed.values()):
            shutil.rmtree(info["path"], ignore_errors=True)
        if info.get("license") in revoked:
            refused[bundle_id] = info["license"]
        counts["removed"] += 1


def run(args: argparse.Namespace) -> int:
    state = State(args.state_dir)
    if not state.data.get("credential"):
        print("Not enrolled: run `marketplace-agent enroll` first.", file=sys.stderr)
        return 2
    while True:
        try:
            counts = run_once(state, args.install_dir)
            print(f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} {json.dumps(counts)}", flush=True)
        except AgentError as exc:  # the marketplace is unreachable: keep what runs, try later
            print(f"{exc}", file=sys.stderr, flush=True)
        if args.once:
            return 0
        time.sleep(args.interval)


def _trust(args: argparse.Namespace, state: State) -> dict[str, Any]:
    if args.jwks:
        return json.loads(Path(args.jwks).read_text())
    if state.data.get("jwks"):
        return state.data["jwks"]
    raise AgentError("No trusted keys: pass --jwks (saved from /api/v1/licensing/public-key/) or enroll first.")


def _revocation_tokens(args: argparse.Namespace, state: State) -> list[str]:
    tokens = [state.data["revocations"]] if state.data.get("revocations") else []
    if args.revocations:
        text = Path(args.revocations).read_text().strip()
        tokens.append(json.loads(text)["token"] if text.startswith("{") else text)
    return tokens


def verify(args: argparse.Namespace) -> int:
    state = State(args.state_dir)
    verification = verify_bundle(
        Path(args.bundle), jwks=_trust(args, state), revocation_tokens=_revocation_tokens(args, state)
    )
    print(json.dumps({"ok": verification.ok, **verification.results(), "problems": verification.problems}, indent=2))
    return 0 if verification.ok else 1


def install_offline(args: argparse.Namespace) -> int:
    """Air-gapped: verify and install without the network, then write the signed receipt a
    member carries back and uploads at /api/v1/agent/receipts/."""
    state = State(args.state_dir)
    bundle_path = Path(args.bundle)
    verification = verify_bundle(
        bundle_path, jwks=_trust(args, state), revocation_tokens=_revocation_tokens(args, state)
    )
    installed = False
    if verification.ok:
        install_bundle(bundle_path, verification, args.install_dir)
        installed = True
    key = state.private_key()
    public = jose.public_jwk(key)
    receipt = jose.sign(
        {
            "type": "installation_receipt",
            "iat": int(time.time()),
            "bundle": verification.manifest_claims.get("bundle") or verification.enrollment.get("bundle"),
            "deployment": verification.manifest_claims.get("deployment"),
            "enrollment_token": verification.enrollment.get("token"),
            "results": verification.results(),
            "problems": verification.problems,
            "installed": installed,
            "installed_at": datetime.now(timezone.utc).isoformat() if installed else None,
            "agent": {
                "name": args.name or socket.gethostname(),
                "hostname": socket.gethostname(),
                "version": __version__,
            },
            "public_key": public,
        },
        key,
        kid=jose.key_id(public),
        typ=RECEIPT_TYP,
    )
    Path(args.receipt).write_text(receipt)
    print(
        json.dumps(
            {
                "installed": installed,
                **verification.results(),
                "problems": verification.problems,
                "receipt": str(args.receipt),
            },
            indent=2,
        )
    )
    return 0 if installed else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marketplace-agent", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE, help="the agent's private folder")
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("enroll", help="exchange a one-time enrollment token for credentials")
    p.add_argument("--server", required=True, help="e.g. https://marketplace.example.org")
    p.add_argument("--token", required=True)
    p.add_argument("--name", default=socket.gethostname())
    p.set_defaults(func=enroll)
    p = commands.add_parser("run", help="poll, download, verify, install and report")
    p.add_argument("--install-dir", type=Path, required=True)
    p.add_argument("--interval", type=float, default=60.0)
    p.add_argument("--once", action="store_true")
    p.set_defaults(func=run)
    for name, func, help_text in (
        ("verify", verify, "verify a bundle offline"),
        ("install-offline", install_offline, "air-gapped install writing a receipt"),
    ):
        p = commands.add_parser(name, help=help_text)
        p.add_argument("bundle")
        p.add_argument("--jwks", help="the marketplace's keys (JSON from /api/v1/licensing/public-key/)")
        p.add_argument(
            "--revocations", help="a revocation list (JSON from /api/v1/licensing/revocations/ or its token)"
        )
        if name == "install-offline":
            p.add_argument("--install-dir", type=Path, required=True)
            p.add_argument("--receipt", default="receipt.jws")
            p.add_argument("--name", default="")
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except AgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
