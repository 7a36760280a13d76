"""deploy/kubernetes/*.yaml: valid Kubernetes objects, and a drain that fits its budget.

Schema: every object is checked offline against the Kubernetes OpenAPI schemas
bundled in the ``kubernetes-validate`` package (PyPI), in strict mode (an
unknown or misspelt field fails), for the oldest and the newest Kubernetes
versions we claim.

Arithmetic: the kubelet sends SIGTERM (after the preStop hook, if any) and
SIGKILL ``terminationGracePeriodSeconds`` after the pod began terminating. Every
phase lastcall goes through after SIGTERM is bounded by a flag, so the sum
preStop + ``--pre-stop-delay`` + ``--graceful-timeout`` + ``--close-timeout``
+ ``--lifespan-shutdown-timeout`` must stay below it, or the drain is cut by a
SIGKILL. Flags the manifest leaves out count with lastcall's own defaults
(read from ``ServerConfig``, so the test follows the code).
"""

from __future__ import annotations

import copy
import dataclasses
import pathlib
from typing import Any

import pytest

from lastcall.server.config import ServerConfig

yaml = pytest.importorskip("yaml")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

MANIFESTS = sorted((pathlib.Path(__file__).parents[2] / "deploy" / "kubernetes").glob("*.yaml"))

#: The Kubernetes versions the manifests must be valid for: the oldest we
#: claim (``policy/v1`` PodDisruptionBudget and ``appProtocol`` are older) and
#: the newest the validator knows.
KUBERNETES_VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]

#: Flags whose durations add up after SIGTERM, and their ServerConfig fields.
BUDGET_FLAGS = {
    "--pre-stop-delay": "pre_stop_delay",
    "--graceful-timeout": "graceful_timeout",
    "--close-timeout": "close_timeout",
    "--lifespan-shutdown-timeout": "lifespan_shutdown_timeout",
}


def load(path: pathlib.Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def flag_values(args: list[str]) -> dict[str, str]:
    """``--name value`` and ``--name=value`` pairs of a container's args."""
    values: dict[str, str] = {}
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            if "=" in arg:
                name, value = arg.split("=", 1)
                values[name] = value
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                values[arg] = args[i + 1]
    return values


def termination_budget(pod_spec: dict[str, Any]) -> list[str]:
    """What is wrong with one pod's termination arithmetic (empty when it holds)."""
    defaults = {f.name: f.default for f in dataclasses.fields(ServerConfig)}
    grace = pod_spec.get("terminationGracePeriodSeconds", 30)
    problems = []
    for container in pod_spec["containers"]:
        args = [*container.get("command", []), *container.get("args", [])]
        if "lastcall" not in args[0]:
            continue
        flags = flag_values(args)
        total = 0.0
        for flag, field in BUDGET_FLAGS.items():
            total += float(flags.get(flag, defaults[field]))
        pre_stop = container.get("lifecycle", {}).get("preStop", {})
        total += float(pre_stop.get("sleep", {}).get("seconds", 0))
        command = pre_stop.get("exec", {}).get("command", [])
        if command[:1] == ["sleep"]:
            total += float(command[1])
        if not total < grace:
            problems.append(
                f"{container['name']}: preStop + drain flags = {total:g} s, "
                f"not below terminationGracePeriodSeconds {grace}"
            )
        readiness = container.get("readinessProbe", {}).get("httpGet", {})
        if readiness.get("path") != flags.get("--readiness-path"):
            problems.append(f"{container['name']}: readinessProbe path != --readiness-path")
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        port = readiness.get("port")
        bind_port = int(flags["--bind"].rsplit(":", 1)[1])
        if ports.get(port, port) != bind_port:
            problems.append(f"{container['name']}: readinessProbe port is not the --bind port")
        liveness = container.get("livenessProbe", {}).get("httpGet", {})
        if liveness and liveness.get("path") == flags.get("--readiness-path"):
            problems.append(
                f"{container['name']}: liveness on the readiness path kills draining pods"
            )
    return problems


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_are_valid_kubernetes_objects(path: pathlib.Path, version: str) -> None:
    docs = load(path)
    assert {d["kind"] for d in docs} == {"Deployment", "Service", "PodDisruptionBudget"}
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_strict_validation_catches_a_misspelt_field() -> None:
    deployment = next(d for d in load(MANIFESTS[0]) if d["kind"] == "Deployment")
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 45
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_drain_fits_the_termination_grace_period(path: pathlib.Path) -> None:
    docs = load(path)
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert deployments
    for deployment in deployments:
        assert termination_budget(deployment["spec"]["template"]["spec"]) == []
        rolling = deployment["spec"]["strategy"]["rollingUpdate"]
        assert rolling["maxUnavailable"] == 0 and rolling["maxSurge"] not in (0, "0%")
        labels = deployment["spec"]["selector"]["matchLabels"]
        assert deployment["spec"]["template"]["metadata"]["labels"] == labels
        budgets = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
        assert [b["spec"]["selector"]["matchLabels"] for b in budgets] == [labels]
        services = [d for d in docs if d["kind"] == "Service"]
        assert [s["spec"]["selector"] for s in services] == [labels]


def test_the_budget_check_fails_when_the_drain_outlasts_the_grace_period() -> None:
    deployment = next(d for d in load(MANIFESTS[0]) if d["kind"] == "Deployment")
    pod = copy.deepcopy(deployment["spec"]["template"]["spec"])
    args = pod["containers"][0]["args"]
    args[args.index("--graceful-timeout") + 1] = "60"
    assert "not below terminationGracePeriodSeconds" in " ".join(termination_budget(pod))
    # A flag left out counts with lastcall's default (lifespan shutdown: 60 s).
    pod = copy.deepcopy(deployment["spec"]["template"]["spec"])
    args = pod["containers"][0]["args"]
    del args[
        args.index("--lifespan-shutdown-timeout") : args.index("--lifespan-shutdown-timeout") + 2
    ]
    assert termination_budget(pod) != []
    # A preStop sleep counts too.
    pod = copy.deepcopy(deployment["spec"]["template"]["spec"])
    pod["containers"][0]["lifecycle"] = {"preStop": {"sleep": {"seconds": 10}}}
    assert termination_budget(pod) != []
