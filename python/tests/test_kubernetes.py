"""deploy/kubernetes/: every manifest validates offline against the Kubernetes schemas
(kubernetes-validate ships them), the pieces agree with each other and with the binary
(flags, paths, the Containerfile), and the ConfigMap's config mounts with the real binary."""

from __future__ import annotations

import copy
import subprocess
import tomllib

import kubernetes_validate
import pytest
import yaml

import mastfs
from conftest import REPO, binary

DEPLOY = REPO / "deploy" / "kubernetes"
K8S_VERSION = "1.37.0"


def documents() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return found


def find(kind: str, name: str) -> dict:
    for _, doc in documents():
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name} in {DEPLOY}")


def pod_spec(doc: dict) -> dict:
    return doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]


def host_mounts(doc: dict) -> dict[str, tuple[str, str | None]]:
    """hostPath of each volume mount of the first container: {mountPath: (hostPath, propagation)}."""
    spec = pod_spec(doc)
    host = {v["name"]: v["hostPath"]["path"] for v in spec.get("volumes", []) if "hostPath" in v}
    return {m["mountPath"]: (host[m["name"]], m.get("mountPropagation"))
            for m in spec["containers"][0].get("volumeMounts", []) if m["name"] in host}


def test_the_manifests_are_there():
    kinds = sorted(name for name, _ in documents())
    for wanted in ("DaemonSet/mastfs", "ConfigMap/mastfs-config", "Pod/fits-header", "Deployment/dask-worker"):
        assert any(wanted in k for k in kinds), f"{wanted} missing from {kinds}"


@pytest.mark.parametrize("name,doc", documents(), ids=[n for n, _ in documents()])
def test_manifest_validates_against_the_kubernetes_schema(name, doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_rejects_a_broken_manifest():
    broken = copy.deepcopy(find("DaemonSet", "mastfs"))
    pod_spec(broken)["containers"][0]["volumeMounts"][1]["mountPropagaton"] = "Bidirectional"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_daemonset_mounts_privileged_with_fuse_bidirectional_and_a_node_cache():
    ds = find("DaemonSet", "mastfs")
    container = pod_spec(ds)["containers"][0]
    assert container["securityContext"]["privileged"] is True
    mounts = host_mounts(ds)
    assert mounts["/dev/fuse"] == ("/dev/fuse", None)
    mountpoint = container["args"][1]
    assert mounts[mountpoint] == ("/mnt/mastfs", "Bidirectional"), mounts
    assert mounts["/var/cache/mastfs"][0] == "/var/cache/mastfs"
    assert container["readinessProbe"]["exec"]["command"][1:] == ["stats", mountpoint]
    config = tomllib.loads(find("ConfigMap", "mastfs-config")["data"]["config.toml"])
    assert config["cache"]["dir"].startswith("/var/cache/mastfs/"), "the disk cache is not on the node's hostPath"


@pytest.mark.parametrize("kind,name", [("Pod", "fits-header"), ("Deployment", "dask-worker")])
def test_readers_see_the_node_mount_host_to_container(kind, name):
    assert host_mounts(find(kind, name))["/mnt/mastfs"] == ("/mnt/mastfs", "HostToContainer")


def test_daemonset_runs_the_binary_the_containerfile_installs_with_flags_it_has():
    container = pod_spec(find("DaemonSet", "mastfs"))["containers"][0]
    containerfile = (REPO / "deploy" / "Containerfile").read_text()
    assert f"target/release/mastfs {container['command'][0]}" in containerfile
    assert "FROM docker.io/library/debian:" in containerfile and "fuse3" in containerfile
    help_text = subprocess.run([binary("mastfs"), "mount", "--help"], capture_output=True, text=True).stdout
    flags = [a for a in container["args"] if a.startswith("--")]
    missing = [f for f in flags if f not in help_text]
    assert not missing, f"`mastfs mount` has no {missing}"


def test_configmap_config_mounts_and_the_readiness_probe_answers(mountpoint, standins):
    s3_url, mast_url = standins
    text = find("ConfigMap", "mastfs-config")["data"]["config.toml"]
    config = tomllib.loads(text)
    cache_dir = mountpoint.parent / "blocks"
    config["cache"]["dir"] = str(cache_dir)
    mnt = mastfs.mount(mountpoint, config=config, endpoint_url=s3_url, force_path_style=True, mast_url=mast_url)
    try:
        views = sorted(p.name for p in (mnt.path / "views").iterdir())
        assert views == sorted(v["name"] for v in config["views"])
        probe = pod_spec(find("DaemonSet", "mastfs"))["containers"][0]["readinessProbe"]["exec"]["command"]
        done = subprocess.run([binary("mastfs"), probe[1], str(mountpoint)], capture_output=True, text=True)
        assert done.returncode == 0 and "bytes_fetched" in done.stdout, done.stderr
        assert mnt.stats()["disk_cache"]["enabled"] is True
    finally:
        mastfs.unmount(mountpoint)
