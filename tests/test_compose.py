"""compose.yaml and the Dockerfile use only what exists: Docker is not available to run them.

Every `hsl` command and option compose runs parses with ``hsl``'s own parser; every variable
it sets on a service built from this repository is one the code reads; every variable the
NATS configuration files reference is set on each NATS service, and nothing else; NATS_URL
carries the right role's user and names NATS services of the same stack; the cluster profile
has three nodes that route to each other and writes streams at three replicas.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from events.jetstream import JetStreamFactory
from events.jetstream.server_version import MIN_SERVER_VERSION
from projections.views_wire import query_subject, reply_subjects
from service.cli.main import build_parser
from service.nats.compose_config import compose_password_variables
from service.nats.passwords import PASSWORD_VARIABLES
from service.nats.permissions import EVENT_STREAM, USER_NAMES, role_permissions

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"

Service = dict[str, Any]


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _services() -> dict[str, Service]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _is_hsl(service: Service) -> bool:
    """Built from this repository (the image whose entry point is ``hsl``)."""
    return "build" in service


def _is_nats(service: Service) -> bool:
    return str(service.get("image", "")).startswith("nats:")


def _stack(service: Service) -> str:
    profiles = service.get("profiles") or ["default"]
    assert len(profiles) == 1, "each service belongs to one stack"
    return str(profiles[0])


def _interpolate(text: str, values: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``, for the test's values."""

    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2), match.group(3)
        if name in values:
            return values[name]
        if op == ":-":
            return rest or ""
        pytest.fail(f"compose.yaml needs {name} and gives no default: {rest}")

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:[-?])([^}]*))?\}", one, text)


def _code_variables() -> set[str]:
    """The environment variables the code reads: settings, the log's factory, NATS users."""
    settings = (ROOT / "service" / "settings.py").read_text()
    names = set(re.findall(r"""env\.get\(\s*["']([A-Z][A-Z0-9_]*)["']""", settings))
    assert {"NATS_URL", "HSL_DATA_DIR", "HSL_LOG_LEVEL"} <= names
    factory = {
        value
        for key, value in vars(JetStreamFactory).items()
        if key.isupper() and isinstance(value, str) and value.isupper()
    }
    assert {"NATS_URL", "JETSTREAM_REPLICAS", "CREATE_TABLE"} <= factory
    return names | factory | set(PASSWORD_VARIABLES.values())


def _dockerfile_json(instruction: str) -> list[str]:
    match = re.search(rf"^{instruction}\s+(\[.*\])\s*$", DOCKERFILE.read_text(), re.MULTILINE)
    assert match, f"the Dockerfile has no {instruction} in exec form"
    value = yaml.safe_load(match.group(1))
    assert isinstance(value, list)
    return [str(v) for v in value]


def _config_variables(path: Path) -> set[str]:
    """``$VAR`` references in a nats-server config file and the files it includes."""
    text = path.read_text()
    unquoted = re.sub(r'"[^"]*"', "", _without_comments(text))  # "$JS.API…" is a subject
    found = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", unquoted))
    for include in re.findall(r"^\s*include\s+(\S+)", text, re.MULTILINE):
        found |= _config_variables(path.parent / include.strip("\"'"))
    return found


def _without_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def _nats_config(service: Service) -> Path:
    """The config file a NATS service runs with, mapped from its mount to the repository."""
    command = [str(c) for c in service["command"]]
    assert command[0] in ("--config", "-c")
    in_container = Path(command[1])
    for volume in service["volumes"]:
        source, _, rest = str(volume).partition(":")
        target = rest.split(":")[0]
        if source.startswith(".") and in_container.is_relative_to(target):
            return ROOT / source / in_container.relative_to(target)
    pytest.fail(f"{in_container} is not in a volume from the repository")


PASSWORDS = {name: f"pw-{name.lower()}" for name in PASSWORD_VARIABLES.values()}


class TestHslServices:
    def test_the_image_runs_hsl(self) -> None:
        assert _dockerfile_json("ENTRYPOINT") == ["hsl"]
        build_parser().parse_args(_dockerfile_json("CMD"))

    def test_the_image_installs_the_package(self) -> None:
        text = DOCKERFILE.read_text()
        assert "COPY requirements.lock " in text
        assert "pip install --no-deps -r requirements.lock" in text
        assert "pip install --no-deps --no-build-isolation ." in text
        for package in ("events", "service", "projections", "replay"):
            assert f"COPY {package} " in text

    def test_dockerfile_variables_are_read_by_the_code(self) -> None:
        text = DOCKERFILE.read_text()
        known = _code_variables()
        for line in re.findall(r"^ENV\s+(.*)$", text, re.MULTILINE):
            name = line.split("=", 1)[0].strip()
            if not name.startswith(("PYTHON", "PIP_")):
                assert name in known

    @pytest.mark.parametrize("name", [n for n, s in _services().items() if _is_hsl(s)], ids=str)
    def test_every_command_and_option_exists(self, name: str) -> None:
        command = [str(part) for part in _services()[name]["command"]]
        parser = build_parser()
        try:
            args = parser.parse_args(command)
        except SystemExit:
            pytest.fail(f"service {name!r}: `hsl {' '.join(command)}` is not a valid command")
        assert callable(args.handler)

    @pytest.mark.parametrize("name", [n for n, s in _services().items() if _is_hsl(s)], ids=str)
    def test_every_variable_is_read_by_the_code(self, name: str) -> None:
        environment = _services()[name]["environment"]
        unknown = set(environment) - _code_variables()
        assert not unknown, f"service {name!r} sets variables no code reads: {sorted(unknown)}"

    @pytest.mark.parametrize(
        ("name", "role"),
        [("api", "service"), ("projector", "projector"), ("feed", "service"),
         ("api-r3", "service"), ("projector-r3", "projector"), ("feed-r3", "service")],
    )  # fmt: skip
    def test_nats_url_carries_the_role_and_names_its_stacks_nats(
        self, name: str, role: str
    ) -> None:
        services = _services()
        service = services[name]
        url = _interpolate(str(service["environment"]["NATS_URL"]), PASSWORDS)
        nats_of_stack = {
            n for n, s in services.items() if _is_nats(s) and _stack(s) == _stack(service)
        }
        hosts = set()
        for one in url.split(","):
            parts = urlsplit(one.strip())
            assert parts.scheme == "nats"
            assert parts.username == USER_NAMES[role]  # type: ignore[index]
            assert parts.password == PASSWORDS[PASSWORD_VARIABLES[role]]  # type: ignore[index]
            hosts.add(parts.hostname)
        assert hosts == nats_of_stack
        assert set(service["depends_on"]) >= nats_of_stack

    def test_every_hsl_service_has_its_role_checked(self) -> None:
        hsl = {n for n, s in _services().items() if _is_hsl(s)}
        assert hsl == {"api", "projector", "feed", "api-r3", "projector-r3", "feed-r3"}

    def test_the_api_listens_where_it_is_published_and_checked(self) -> None:
        for name in ("api", "api-r3"):
            service = _services()[name]
            environment = service["environment"]
            assert environment["HSL_HTTP_HOST"] == "0.0.0.0"
            port = str(environment["HSL_HTTP_PORT"])
            assert all(str(p).endswith(f":{port}") for p in service["ports"])
            assert f":{port}/healthz" in " ".join(service["healthcheck"]["test"])

    def test_readers_do_not_ask_to_create_streams(self) -> None:
        for name, service in _services().items():
            if _is_hsl(service) and service["command"][0] == "project":
                assert service["environment"]["CREATE_TABLE"] == "no", name

    def test_an_api_without_its_projector_has_one_that_answers_its_view_reads(self) -> None:
        """DuckDB lets no other process open the views file while the projector holds it: an
        API run with ``--no-projector`` reads through its stack's ``hsl project`` over NATS,
        so that one must answer (no ``--no-queries``) and the users must allow it."""
        services = _services()
        for name, api in services.items():
            if not _is_hsl(api) or api["command"][0] != "serve":
                continue
            assert "--no-projector" in api["command"], name
            projectors = [
                s
                for s in services.values()
                if _is_hsl(s) and s["command"][0] == "project" and _stack(s) == _stack(api)
            ]
            assert len(projectors) == 1, name
            assert "--no-queries" not in projectors[0]["command"], name
        subject = query_subject(EVENT_STREAM)
        assert subject in role_permissions("service").publish_allow
        assert subject in role_permissions("projector").subscribe_allow
        assert reply_subjects(EVENT_STREAM) in role_permissions("projector").publish_allow
        assert reply_subjects(EVENT_STREAM) in role_permissions("service").subscribe_allow

    def test_every_hsl_service_keeps_its_data_in_a_volume(self) -> None:
        for name, service in _services().items():
            if _is_hsl(service):
                data_dir = service["environment"]["HSL_DATA_DIR"]
                assert any(str(v).endswith(f":{data_dir}") for v in service["volumes"]), name


class TestNats:
    def test_official_image_new_enough(self) -> None:
        for name, service in _services().items():
            if _is_nats(service):
                tag = str(service["image"]).split(":", 1)[1]
                version = tuple(int(p) for p in re.findall(r"\d+", tag.split("-")[0])[:2])
                assert version >= MIN_SERVER_VERSION[:2], name

    def test_each_node_sets_exactly_the_variables_its_config_references(self) -> None:
        for name, service in _services().items():
            if _is_nats(service):
                referenced = _config_variables(_nats_config(service))
                assert set(service["environment"]) == referenced, name
                assert set(compose_password_variables()) <= referenced  # roles, systems

    def test_jetstream_store_is_a_volume(self) -> None:
        for name, service in _services().items():
            if _is_nats(service):
                config = _nats_config(service).read_text()
                store = re.search(r"store_dir:\s*(\S+)", config)
                assert store, name
                assert any(str(v).endswith(f":{store.group(1)}") for v in service["volumes"])
                named = str(service["volumes"][-1]).split(":")[0]
                assert named in _compose()["volumes"]


class TestClusterProfile:
    def test_three_nodes_routing_to_each_other(self) -> None:
        nodes = {n: s for n, s in _services().items() if _is_nats(s) and _stack(s) == "cluster"}
        assert len(nodes) == 3
        names = {s["environment"]["NATS_SERVER_NAME"] for s in nodes.values()}
        assert len(names) == 3
        configs = {_nats_config(s) for s in nodes.values()}
        assert len(configs) == 1
        routes = re.findall(r"nats-route://([\w-]+):6222", configs.pop().read_text())
        assert set(routes) == set(nodes)

    def test_streams_at_three_replicas(self) -> None:
        """Whichever command creates a stream first (the log and checkpoints: serve; the
        public stream: feed) gives it three replicas: every one of them is set so."""
        for name, service in _services().items():
            if _is_hsl(service) and _stack(service) == "cluster":
                assert service["environment"].get("JETSTREAM_REPLICAS") == "3", name

    def test_the_default_stack_is_one_node(self) -> None:
        default = [n for n, s in _services().items() if _is_nats(s) and _stack(s) == "default"]
        assert default == ["nats"]
        for service in _services().values():
            if _is_hsl(service) and _stack(service) == "default":
                assert service["environment"].get("JETSTREAM_REPLICAS", "1") == "1"
