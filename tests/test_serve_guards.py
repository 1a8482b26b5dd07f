"""What keeps development defaults out of deployments: the image runs in production and
refuses to start without secrets; a public development token never listens beyond this
machine; workers share the secrets their parent settled on."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from o2o.config import PLACEHOLDER, SECRET_FIELDS, Settings
from o2o.errors import ConfigError
from o2o.serve_cli import hand_secrets_to_workers, refuse_public_dev_token
from tests.test_serve import _free_port

ROOT = Path(__file__).resolve().parents[1]


def _o2o(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `o2o ARGS`; a server that starts instead of refusing is stopped after 60 s."""
    env = {**env, "PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}
    try:
        return subprocess.run([sys.executable, "-m", "o2o.cli", *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`o2o {shlex.join(args)}` started serving instead of refusing")


def _dockerfile() -> tuple[dict[str, str], list[str]]:
    """The image's environment (ENV lines) and command (CMD, exec form)."""
    env: dict[str, str] = {}
    cmd: list[str] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("ENV "):
            env |= dict(word.split("=", 1) for word in shlex.split(line[4:]))
        elif line.startswith("CMD "):
            cmd = json.loads(line[4:])
    return env, cmd


def test_the_image_runs_in_production_and_refuses_to_start_without_secrets(tmp_path) -> None:
    env, cmd = _dockerfile()
    assert env.get("O2O_ENV") == "production" and cmd[:2] == ["o2o", "serve"]
    args = cmd[1:]
    args[args.index("--port") + 1] = str(_free_port())
    done = _o2o(args, tmp_path, env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("o2o: Refusing to start in production: set real values for")
    assert "Traceback" not in done.stderr and not (tmp_path / ".o2o-dev-secrets").exists()


def test_development_refuses_to_listen_beyond_this_machine_with_the_public_token(
        tmp_path) -> None:
    done = _o2o(["serve", "--host", "0.0.0.0", "--port", str(_free_port())], tmp_path, {})
    assert done.returncode == 2
    assert done.stderr == ("o2o: Refusing to listen on 0.0.0.0 with the public development "
                           "WeChat token: set O2O_WECHAT_TOKEN and the other secrets (and "
                           "O2O_ENV=production), or listen on 127.0.0.1.\n")
    assert not (tmp_path / "o2o.db").exists()  # refused before touching anything


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_is_fine_with_the_development_token(host: str) -> None:
    refuse_public_dev_token(Settings(wechat_token="o2o-dev-token"), host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "store-guide.local"])
def test_any_other_address_needs_a_token_of_its_own(host: str) -> None:
    with pytest.raises(ConfigError, match=f"Refusing to listen on {host} "):
        refuse_public_dev_token(Settings(wechat_token="o2o-dev-token"), host)
    refuse_public_dev_token(Settings(wechat_token="a-token-of-our-own"), host)


def test_workers_share_the_parents_secrets_even_when_they_cannot_be_kept(
        tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for env in SECRET_FIELDS.values():
        monkeypatch.setenv(env, PLACEHOLDER)  # restored after the test
    monkeypatch.setenv("O2O_DEV_SECRETS_FILE", str(tmp_path / "no-such-dir" / "secrets"))
    parent = Settings().checked()
    assert Settings().checked().signing_key != parent.signing_key  # nothing kept: each invents
    hand_secrets_to_workers(parent)
    code = ("from o2o.config import get_settings as g; s = g(); "
            "print(s.signing_key, s.customer_hash_key, s.wechat_aes_key)")
    workers = {subprocess.run([sys.executable, "-c", code], env=os.environ, cwd=tmp_path,
                              capture_output=True, text=True, check=True).stdout
               for _ in range(2)}
    assert workers == {f"{parent.signing_key} {parent.customer_hash_key} "
                       f"{parent.wechat_aes_key}\n"}
