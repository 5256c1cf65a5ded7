"""The secured channel: TLS (optionally mutual) plus a bearer token, and loopback by default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rigbench.agent.server import AgentConfig, check_exposure
from rigbench.controller.client import AgentClient, ChannelConfig
from rigbench.controller.local_agent import LocalAgent, start_local_agent
from rigbench.errors import AgentError, AgentUnreachableError
from tests.certs import ThrowawayCA
from tests.conftest import run

pytestmark = pytest.mark.e2e

TOKEN = "s3cret-token-0123456789"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("pki")
    ca = ThrowawayCA(folder / "ca")
    other = ThrowawayCA(folder / "other", name="untrusted CA")
    return {
        "ca": ca,
        "server": ca.issue("server", "agent", server=True),
        "client": ca.issue("client", "controller", server=False),
        "other_ca": other,
        "rogue_client": other.issue("rogue", "rogue", server=False),
    }


def tls_channel(
    pki: dict, token: str | None = TOKEN, client: str | None = None, ca: str = "ca"
) -> object:
    def make(address: str) -> ChannelConfig:
        pem = pki[client] if client else None
        return ChannelConfig(
            address,
            tls_ca=pki[ca].pem.cert.read_bytes(),
            tls_cert=pem.cert.read_bytes() if pem else None,
            tls_key=pem.key.read_bytes() if pem else None,
            token=token,
        )

    return make


def start_tls_agent(tmp_path: Path, pki: dict, mutual: bool = False) -> LocalAgent:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    args = [
        "--tls-cert",
        str(pki["server"].cert),
        "--tls-key",
        str(pki["server"].key),
        "--token-file",
        str(token_file),
    ]
    if mutual:
        args += ["--tls-client-ca", str(pki["ca"].pem.cert)]
    return run(
        start_local_agent(
            tmp_path / "home",
            extra_args=args,
            channel_for=tls_channel(pki, client="client" if mutual else None),
        )
    )


def describe_with(cfg: ChannelConfig) -> str:
    async def go() -> str:
        async with AgentClient(cfg, call_timeout_s=5) as c:
            return (await c.describe()).protocol_version

    return run(go())


@pytest.fixture
def tls_agent(tmp_path, pki):
    a = start_tls_agent(tmp_path, pki)
    yield a
    a.stop()


@pytest.fixture
def mtls_agent(tmp_path, pki):
    a = start_tls_agent(tmp_path, pki, mutual=True)
    yield a
    a.stop()


def test_tls_agent_serves_a_client_with_the_ca_and_the_token(tls_agent, pki):
    assert describe_with(tls_channel(pki)(tls_agent.address)) == "v1"


def test_tls_agent_refuses_a_wrong_token(tls_agent, pki):
    with pytest.raises(AgentUnreachableError, match="refused the credentials"):
        describe_with(tls_channel(pki, token="wrong")(tls_agent.address))


def test_tls_agent_refuses_a_missing_token(tls_agent, pki):
    with pytest.raises(AgentUnreachableError, match="refused the credentials"):
        describe_with(tls_channel(pki, token=None)(tls_agent.address))


def test_client_refuses_an_agent_whose_certificate_it_does_not_trust(tls_agent, pki):
    with pytest.raises(AgentUnreachableError):
        describe_with(tls_channel(pki, ca="other_ca")(tls_agent.address))


def test_tls_agent_refuses_a_plaintext_client(tls_agent):
    with pytest.raises(AgentUnreachableError):
        describe_with(ChannelConfig(tls_agent.address, token=TOKEN))


def test_mutual_tls_agent_serves_a_client_certificate_from_its_ca(mtls_agent, pki):
    assert describe_with(tls_channel(pki, client="client")(mtls_agent.address)) == "v1"


def test_mutual_tls_agent_refuses_a_client_without_a_certificate(mtls_agent, pki):
    with pytest.raises(AgentUnreachableError):
        describe_with(tls_channel(pki)(mtls_agent.address))


def test_mutual_tls_agent_refuses_a_certificate_from_another_ca(mtls_agent, pki):
    with pytest.raises(AgentUnreachableError):
        describe_with(tls_channel(pki, client="rogue_client")(mtls_agent.address))


def test_agent_refuses_to_listen_beyond_loopback_without_tls_and_token(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rigbench",
            "agent",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--home",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "refusing to bind 0.0.0.0" in proc.stderr and "--insecure" in proc.stderr


def test_exposure_rule_allows_loopback_tls_with_token_or_explicit_insecure(tmp_path):
    check_exposure(AgentConfig(home=tmp_path, host="127.0.0.1"))
    check_exposure(AgentConfig(home=tmp_path, host="::1"))
    check_exposure(AgentConfig(home=tmp_path, host="10.1.2.3", insecure=True))
    check_exposure(
        AgentConfig(
            home=tmp_path,
            host="10.1.2.3",
            tls_cert=tmp_path / "c",
            tls_key=tmp_path / "k",
            token="t",
        )
    )
    with pytest.raises(AgentError):
        check_exposure(AgentConfig(home=tmp_path, host="10.1.2.3", token="t"))
    with pytest.raises(AgentError):
        check_exposure(AgentConfig(home=tmp_path, host="10.1.2.3", tls_cert=tmp_path / "c"))
