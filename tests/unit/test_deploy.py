"""Deployment files: Dockerfile, docker-compose.yml, Prometheus rules, Grafana provisioning.

No container engine runs where the tests do, so each file is parsed and checked for what a
mistake would break at deploy time: a container option the sandboxes need, an AIRLOCK_*
variable naming no setting, a scrape target on the wrong port, a panel or alert querying a
metric the gateway does not export, a dashboard pointing at another datasource.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import os
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from gateway.config import GatewayConfig
from gateway.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = DEPLOY / "grafana" / "provisioning" / "dashboards" / "airlock.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "airlock.json"

#: What the gateway's container must be given, and nothing more (docker-compose.yml says why).
REQUIRED_CAPABILITIES = frozenset({"SYS_ADMIN", "SETUID", "SETGID", "DAC_OVERRIDE", "KILL"})
REQUIRED_SECURITY_OPTS = frozenset(
    {"seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined", "no-new-privileges=true"}
)
#: Time `docker stop` must leave past the shutdown grace: killing sandboxes, removing cgroups.
STOP_MARGIN_SECONDS = 10.0
PROMETHEUS_PORT = 9090


# -- reading the files ---------------------------------------------------------------------


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    result = services[name]
    assert isinstance(result, dict)
    return result


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continuation line"
    return instructions


def dockerfile_args(keyword: str) -> list[str]:
    return [arguments for name, arguments in dockerfile() if name == keyword]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for arguments in dockerfile_args("ENV"):
        for word in shlex.split(arguments):
            name, sep, value = word.partition("=")
            assert sep, f"ENV {word!r}: use the NAME=value form"
            env[name] = value
    return env


def environment(definition: dict[str, Any]) -> dict[str, str]:
    """A compose service's environment, from either of its two spellings."""
    env = definition.get("environment", {})
    if isinstance(env, list):
        env = dict(str(item).split("=", 1) for item in env)
    return {str(name): str(value) for name, value in env.items()}


def gateway_env() -> dict[str, str]:
    """What the gateway process sees: the image's ENV, overridden by the compose file."""
    return {**dockerfile_env(), **environment(service("gateway"))}


def host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    assert sep, f"{address!r} is not HOST:PORT"
    assert host, f"{address!r} is not HOST:PORT"
    assert port.isdigit(), f"{address!r} is not HOST:PORT"
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def published_ports(definition: dict[str, Any]) -> list[tuple[str, int]]:
    """(host address, container port) of each port a compose service publishes."""
    result = []
    for port in definition.get("ports", []):
        if isinstance(port, dict):
            result.append((str(port.get("host_ip", "")), int(port["target"])))
            continue
        parts = str(port).split(":")
        host_ip = parts[0] if len(parts) == 3 else ""
        result.append((host_ip, int(parts[-1].split("/")[0])))
    return result


def mounts(definition: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read-only) of each volume or bind of a compose service."""
    result = []
    for volume in definition.get("volumes", []):
        if isinstance(volume, dict):
            result.append((str(volume["source"]), str(volume["target"]), bool(volume.get("read_only", False))))
            continue
        source, target, *options = str(volume).split(":")
        result.append((source, target, "ro" in options))
    return result


def host_file(definition: dict[str, Any], container_path: str) -> Path:
    """The repository file a service sees at ``container_path`` through a ./ bind."""
    for source, target, _ in mounts(definition):
        if source.startswith("./") and (container_path == target or container_path.startswith(target + "/")):
            return ROOT / source / container_path.removeprefix(target).lstrip("/")
    raise AssertionError(f"nothing in the repository is mounted at {container_path}")


def networks(definition: dict[str, Any]) -> set[str]:
    return set(definition.get("networks", ["default"]))


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(duration: str) -> float:
    """Seconds of a compose duration such as ``45s`` or ``1m30s``."""
    parts = _DURATION.findall(duration)
    assert parts, f"{duration!r} is not a duration"
    assert "".join(number + unit for number, unit in parts) == duration, f"{duration!r} is not a duration"
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


# -- metric names ------------------------------------------------------------------------------

#: The series names a family of each type is exposed as (text format, prometheus_client).
_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}
#: Series Prometheus makes itself for every target.
PROMETHEUS_SERIES = frozenset({"up"})


def exported_series(registry: CollectorRegistry) -> set[str]:
    """Every series name ``registry`` exposes, whether or not a family has samples yet."""
    names: set[str] = set()
    for family in registry.collect():
        assert family.type in _SUFFIXES, f"{family.name}: unexpected metric type {family.type}"
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPINGS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
#: A name not preceded by a word character or a dot (so not the "e3" of 1e3 nor the "m" of
#: 5m), and whether a call parenthesis follows it (a function, not a metric).
_NAME = re.compile(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = frozenset(
    {
        *("sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk"),
        *("quantile", "count_values", "by", "without", "on", "ignoring", "group_left", "group_right"),
        *("bool", "and", "or", "unless", "offset", "atan2", "le", "inf", "nan"),
    }
)


def metric_names(expr: str) -> set[str]:
    """Series names a PromQL expression selects: no functions, labels, durations, keywords."""
    text = _STRINGS.sub(" ", expr)
    text = _VARIABLES.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPINGS.sub(" ", text)
    return {match[1] for match in _NAME.finditer(text) if match[2] is None and match[1].lower() not in _KEYWORDS}


def unknown_series(expr: str) -> set[str]:
    return metric_names(expr) - exported_series(Metrics().registry) - PROMETHEUS_SERIES


# -- the helpers themselves --------------------------------------------------------------------


def test_metric_names_skip_functions_labels_durations_and_keywords() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, profile) (rate(a_seconds_bucket{profile=~"$profile", '
        'x="sum(y) {z}"}[$__rate_interval] offset 1h)))'
        " / on (instance) group_left (profile) max without (job) (b_total) > bool 1e3"
        ' and absent(up{job="airlock"}) or c:recorded:rate5m unless d_total[5m:1m]'
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b_total", "up", "c:recorded:rate5m", "d_total"}


def test_exported_series_expand_each_family_type() -> None:
    registry = CollectorRegistry()
    Counter("c", "counter", registry=registry)
    Gauge("g", "gauge", ("profile",), registry=registry)  # labelled, no sample yet
    Histogram("h_seconds", "histogram", registry=registry)
    Info("build", "info", registry=registry)
    assert exported_series(registry) == {
        "c_total",
        "g",
        "h_seconds_bucket",
        "h_seconds_sum",
        "h_seconds_count",
        "build_info",
    }


# -- the image -------------------------------------------------------------------------------


def test_image_base_packages_and_install() -> None:
    assert dockerfile_args("FROM") == ["python:3.11-slim-bookworm"]
    runs = " ".join(dockerfile_args("RUN"))
    assert re.search(r"apt-get install -y --no-install-recommends libseccomp2\b", runs)
    assert "rm -rf /var/lib/apt/lists/*" in runs
    assert re.search(r"pip install --no-cache-dir \S+", runs)
    copied = {word for arguments in dockerfile_args("COPY") for word in shlex.split(arguments)[:-1]}
    # What hatchling builds the wheel from: the packages, the shipped profiles, and the
    # README that pyproject.toml names as the long description.
    assert {"pyproject.toml", "README.md", "gateway", "runner", "sandbox_profiles"} <= copied


def test_image_runs_the_gateway_as_root_and_stops_it_with_sigterm() -> None:
    assert dockerfile_args("ENTRYPOINT") == ['["airlock"]']
    assert dockerfile_args("CMD") == ['["serve"]']
    assert dockerfile_args("STOPSIGNAL") == ["SIGTERM"]
    assert dockerfile_args("USER") == []  # the gateway must be root: it maps sandbox uids


def test_image_exposes_its_listeners_and_keeps_its_data_in_a_volume() -> None:
    env = dockerfile_env()
    assert env["AIRLOCK_LOG_FORMAT"] == "json"
    ports = {port for arguments in dockerfile_args("EXPOSE") for port in arguments.split()}
    assert ports == {str(host_port(env["AIRLOCK_LISTEN"])[1]), str(host_port(env["AIRLOCK_METRICS_LISTEN"])[1])}
    assert dockerfile_args("VOLUME") == [env["AIRLOCK_DATA_DIR"]]


def test_health_checks_ask_the_grpc_listener() -> None:
    _, port = host_port(gateway_env()["AIRLOCK_LISTEN"])
    expected = ["airlock", "--target", f"127.0.0.1:{port}", "health"]
    (healthcheck,) = dockerfile_args("HEALTHCHECK")
    _, _, command = healthcheck.partition("CMD ")
    assert json.loads(command) == expected
    assert service("gateway")["healthcheck"]["test"] == ["CMD", *expected]


def test_build_context_holds_the_sources_and_no_secrets() -> None:
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    patterns = [line for line in patterns if line and not line.startswith("#")]

    def sent(path: str) -> bool:
        included = True
        for pattern in patterns:
            bare = pattern.removeprefix("!")
            if fnmatch.fnmatch(path, bare) or path.startswith(bare + "/"):
                included = pattern.startswith("!")
        return included

    for path in ("pyproject.toml", "README.md", "gateway/server.py", "runner/boot.py", "sandbox_profiles/default.toml"):
        assert sent(path), f"{path} is left out of the build context"
    for path in (".env", ".git/config", ".venv/bin/python", "tests/conftest.py", "airlock-data/registry.sqlite3"):
        assert not sent(path), f"{path} is sent to the build context"


# -- settings ----------------------------------------------------------------------------------


def test_every_airlock_variable_names_a_setting() -> None:
    structured = {name for name in (*dockerfile_env(), *environment(service("gateway"))) if name.startswith("AIRLOCK_")}
    assert {"AIRLOCK_LISTEN", "AIRLOCK_METRICS_LISTEN", "AIRLOCK_ADMIN_TOKEN"} <= structured
    # Comments and alert texts name variables too: a typo there misleads an operator.
    mentioned: set[str] = set()
    for path in (DOCKERFILE, COMPOSE, *DEPLOY.rglob("*.yml")):
        mentioned.update(re.findall(r"\bAIRLOCK_[A-Z][A-Z0-9_]*", path.read_text()))
    unknown = {
        name
        for name in structured | mentioned
        if name.removeprefix("AIRLOCK_").lower() not in GatewayConfig.model_fields
    }
    assert not unknown, f"not settings: {sorted(unknown)}"


def test_the_gateway_environment_is_a_valid_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("AIRLOCK_")]:
        monkeypatch.delenv(name)
    values: dict[str, Any] = {}
    for name, value in gateway_env().items():
        if not name.startswith("AIRLOCK_"):
            continue
        # ${VAR:?message} comes from the operator's shell: stand in a strong token per variable.
        values[name.removeprefix("AIRLOCK_").lower()] = (
            f"{name.lower()}-0123456789abcdef" if value.startswith("${") else value
        )
    config = GatewayConfig(**values)
    assert config.auth_enabled


def test_a_non_loopback_listener_never_runs_without_tokens() -> None:
    host, _ = host_port(gateway_env()["AIRLOCK_LISTEN"])
    assert not is_loopback(host), "the container must listen beyond loopback for published ports to work"
    env = environment(service("gateway"))
    for name in ("AIRLOCK_ADMIN_TOKEN", "AIRLOCK_INVOKER_TOKEN"):
        # ${NAME:?message}: compose refuses to start the stack while the variable is unset or empty.
        assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", env.get(name, "")), f"{name} is not required"


def test_docker_stop_waits_longer_than_the_shutdown_grace() -> None:
    env = gateway_env()
    default = GatewayConfig.model_fields["shutdown_grace_seconds"].default
    grace = float(env.get("AIRLOCK_SHUTDOWN_GRACE_SECONDS", default))
    assert seconds(service("gateway")["stop_grace_period"]) >= grace + STOP_MARGIN_SECONDS


# -- the gateway's container -------------------------------------------------------------------


def test_compose_has_the_gateway_and_its_monitoring() -> None:
    services = compose()["services"]
    assert set(services) == {"gateway", "prometheus", "grafana"}
    assert service("gateway")["build"] == "."
    # Pinned, so that a pull never changes the alert or dashboard semantics underneath.
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", service("prometheus")["image"])
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", service("grafana")["image"])


def test_gateway_gets_exactly_the_capabilities_sandboxes_need() -> None:
    gateway = service("gateway")
    assert not gateway.get("privileged", False)
    assert gateway["cap_drop"] == ["ALL"]
    assert {cap.removeprefix("CAP_") for cap in gateway["cap_add"]} == REQUIRED_CAPABILITIES


def test_gateway_lifts_the_confinement_that_blocks_sandbox_construction() -> None:
    # Docker accepts both NAME=VALUE and NAME:VALUE.
    options = {re.sub(r"^([\w-]+):", r"\1=", option) for option in service("gateway")["security_opt"]}
    assert options == REQUIRED_SECURITY_OPTS


def test_gateway_can_create_cgroups_where_it_looks_for_them() -> None:
    gateway = service("gateway")
    # The host's cgroup namespace: /proc/self/cgroup then names paths in the host's tree,
    # which is what the bind of /sys/fs/cgroup shows, writable.
    assert gateway["cgroup"] == "host"
    assert ("/sys/fs/cgroup", "/sys/fs/cgroup", False) in mounts(gateway)


def test_gateway_is_pid_1_with_a_read_only_root() -> None:
    gateway = service("gateway")
    assert gateway["init"] is False  # on cgroup v2 an init would block enabling controllers
    assert gateway["read_only"] is True
    assert any(str(entry).split(":")[0] == "/tmp" for entry in gateway["tmpfs"])
    data_dir = gateway_env()["AIRLOCK_DATA_DIR"]
    assert any(target == data_dir and not source.startswith(("/", ".")) for source, target, _ in mounts(gateway))


def test_only_loopback_ports_are_published() -> None:
    for name in ("gateway", "prometheus", "grafana"):
        for host_ip, port in published_ports(service(name)):
            assert is_loopback(host_ip), f"{name} publishes {port} beyond this host"
    env = gateway_env()
    published = {port for _, port in published_ports(service("gateway"))}
    assert published == {host_port(env["AIRLOCK_LISTEN"])[1]}  # /metrics stays on the compose network


def test_bind_sources_exist() -> None:
    for name in ("gateway", "prometheus", "grafana"):
        for source, target, _ in mounts(service(name)):
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} (for {target}) does not exist"


# -- Prometheus ----------------------------------------------------------------------------------


def test_prometheus_scrapes_the_gateway_metrics_listener() -> None:
    host, port = host_port(gateway_env()["AIRLOCK_METRICS_LISTEN"])
    assert not is_loopback(host), "a loopback metrics listener cannot be scraped from another container"
    config = load_yaml(PROMETHEUS_CONFIG)
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "airlock"]
    targets = [target for group in job["static_configs"] for target in group["targets"]]
    assert targets == [f"gateway:{port}"]
    assert config["global"]["scrape_interval"] == "15s"
    assert networks(service("gateway")) & networks(service("prometheus"))


def test_prometheus_reads_this_config_and_its_rules() -> None:
    prometheus = service("prometheus")
    (flag,) = [arg for arg in prometheus["command"] if arg.startswith("--config.file=")]
    assert host_file(prometheus, flag.partition("=")[2]) == PROMETHEUS_CONFIG
    rule_files = [PROMETHEUS_CONFIG.parent / name for name in load_yaml(PROMETHEUS_CONFIG)["rule_files"]]
    assert rule_files == [ALERTS]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def test_alert_rules_are_complete() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "duplicate alert names"
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        seconds(rule["for"])


def test_alert_rules_query_only_exported_metrics() -> None:
    for rule in alert_rules():
        assert not unknown_series(rule["expr"]), f"{rule['alert']}: {unknown_series(rule['expr'])}"


def test_alert_rules_cover_the_failure_modes() -> None:
    used = set().union(*(metric_names(rule["expr"]) for rule in alert_rules()))
    assert {
        "up",  # gateway down, scrape failing
        "airlock_rejected_total",  # sustained RESOURCE_EXHAUSTED
        "airlock_warm_pool_misses_total",  # cold starts on the latency path
        "airlock_warm_pool_ready",  # pool empty
        "airlock_limit_kills_total",  # limit kills spike
        "airlock_invocations_total",  # CRASHED rate
        "airlock_invocation_queue_wait_seconds_bucket",  # p95 queue wait
        "airlock_max_inflight",  # in flight near the limit
        "grpc_server_handled_total",  # INTERNAL/UNKNOWN answers
    } <= used


# -- Grafana -------------------------------------------------------------------------------------


def datasource() -> dict[str, Any]:
    (source,) = load_yaml(DATASOURCES)["datasources"]
    assert isinstance(source, dict)
    return source


def test_datasource_is_the_compose_prometheus() -> None:
    source = datasource()
    assert source["type"] == "prometheus"
    url = urlsplit(source["url"])
    assert (url.hostname, url.port) == ("prometheus", PROMETHEUS_PORT)
    assert networks(service("grafana")) & networks(service("prometheus"))
    assert source["jsonData"]["timeInterval"] == load_yaml(PROMETHEUS_CONFIG)["global"]["scrape_interval"]


def test_grafana_loads_the_provisioning_and_the_dashboards() -> None:
    grafana = service("grafana")
    assert host_file(grafana, "/etc/grafana/provisioning/datasources/prometheus.yml") == DATASOURCES
    (provider,) = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    assert provider["type"] == "file"
    assert host_file(grafana, provider["options"]["path"] + "/airlock.json") == DASHBOARD
    home = environment(grafana).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    assert home is None or host_file(grafana, home) == DASHBOARD
    # Grafana talks to Prometheus only: the gateway's network is not its business.
    assert not networks(grafana) & networks(service("gateway"))


def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


def test_dashboard_panels_are_laid_out_and_use_the_provisioned_datasource() -> None:
    uid = datasource()["uid"]
    board = dashboard()
    assert board["schemaVersion"] >= 36
    panels = board["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        assert panel["type"] in {"timeseries", "stat"}, panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid, panel["title"]
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area


def test_dashboard_queries_only_exported_metrics() -> None:
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            assert not unknown_series(target["expr"]), f"{panel['title']}: {unknown_series(target['expr'])}"


def test_dashboard_filters_by_profile() -> None:
    (variable,) = [v for v in dashboard()["templating"]["list"] if v["name"] == "profile"]
    assert variable["datasource"]["uid"] == datasource()["uid"]
    query = variable["query"] if isinstance(variable["query"], str) else variable["query"]["query"]
    match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
    assert match, query
    metric, label = match.groups()
    assert (metric, label) == ("airlock_invocations_total", "profile")
    assert not unknown_series(metric)
    filtered = [t["expr"] for p in dashboard()["panels"] for t in p["targets"] if "$profile" in t["expr"]]
    assert filtered, "no panel uses $profile"


OPENWEBUI_COMPOSE = ROOT / "examples" / "openwebui" / "docker-compose.yml"


def test_the_open_webui_example_joins_the_gateway_as_its_bridges_expect() -> None:
    example = load_yaml(OPENWEBUI_COMPOSE)
    openwebui = example["services"]["open-webui"]
    # The pinned release is the one the bridges are tested against (tests/openwebui).
    assert openwebui["image"].endswith(":v0.12.4")
    env = environment(openwebui)
    # The bridges read these at each click (airlock/openwebui/bridge_runtime.py, Connection):
    # the gateway's name and port on the shared network, and the invoker token (never the admin's).
    gateway_host, gateway_port = host_port(env["AIRLOCK_ADDRESS"])
    assert gateway_host in compose()["services"]
    assert gateway_port == host_port(dockerfile_env()["AIRLOCK_LISTEN"])[1]
    assert "AIRLOCK_INVOKER_TOKEN" in env["AIRLOCK_TOKEN"]
    assert "ADMIN" not in env["AIRLOCK_TOKEN"]
    assert networks(openwebui) & networks(service(gateway_host))
    assert openwebui["depends_on"][gateway_host]["condition"] == "service_healthy"

    # Published on loopback only, and not on a host port the main file already uses (Grafana: 3000).
    def host_ports(definition: dict[str, Any]) -> set[int]:
        return {int(str(port).split(":")[-2]) for port in definition.get("ports", [])}

    taken = set().union(*(host_ports(service(name)) for name in compose()["services"]))
    assert host_ports(openwebui) == {8080}
    assert not host_ports(openwebui) & taken
    assert all(is_loopback(host_ip) for host_ip, _ in published_ports(openwebui))
