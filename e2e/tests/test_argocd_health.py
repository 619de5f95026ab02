"""The Argo CD health checks in charts/meshplane/health/, run the way Argo CD runs them.

The layout is Argo CD's resource_customizations one: `<group>/<Kind>/health.lua`, with
`health_test.yaml` listing `testdata/*.yaml` inputs and the status and message each must
give. Each input becomes the global `obj` (a Lua table, as Argo CD makes from the JSON
object) and the script runs under `lua5.1`: Argo CD's gopher-lua implements Lua 5.1.

Needs no cluster or stack: only `lua5.1` on PATH.
"""
import glob
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HEALTH = os.path.join(REPO, "charts", "meshplane", "health")
STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

# Argo CD's shape: the script is a chunk that reads the global `obj` and returns `hs`.
WRAPPER = """
obj = %s
local hs = dofile(%s)
assert(type(hs) == "table", "the health script returned no table")
io.write(tostring(hs.status), "\\n", tostring(hs.message or ""))
"""


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def lua_string(value):
    """A Lua 5.1 string literal for `value`, bytes outside printable ASCII escaped."""
    out = []
    for byte in value.encode("utf-8"):
        ch = chr(byte)
        if ch in "\\\"":
            out.append("\\" + ch)
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append("\\%d" % byte)
    return '"' + "".join(out) + '"'


def lua_value(value):
    """The Lua value Argo CD gives a script for a JSON value."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return lua_string(value)
    if isinstance(value, list):
        if any(v is None for v in value):
            raise ValueError("null inside a list has no Lua table form")
        return "{" + ", ".join(lua_value(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{lua_string(str(k))}] = {lua_value(v)}"
                               for k, v in value.items() if v is not None) + "}"
    raise TypeError(f"no Lua form for {type(value).__name__}")


def lua():
    path = shutil.which("lua5.1")
    if not path:
        pytest.fail("lua5.1 is not installed (Argo CD's gopher-lua is Lua 5.1): "
                    "apt-get install lua5.1")
    return path


def run_health(script, obj):
    """(status, message) that `script` gives for `obj`."""
    wrapper = WRAPPER % (lua_value(obj), lua_string(script))
    proc = subprocess.run([lua(), "-"], input=wrapper, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"{script} failed under lua5.1:\n{proc.stderr}"
    status, _, message = proc.stdout.partition("\n")
    return status, message


def kind_dirs():
    return sorted(os.path.dirname(p) for p in glob.glob(os.path.join(HEALTH, "*", "*", "health.lua")))


def cases():
    found = []
    for directory in kind_dirs():
        tests = load_yaml(os.path.join(directory, "health_test.yaml"))["tests"]
        for test in tests:
            name = os.path.relpath(os.path.join(directory, test["inputPath"]), HEALTH)
            found.append(pytest.param(directory, test, id=name))
    return found


def test_every_kind_is_laid_out_as_argo_cd_resource_customizations():
    dirs = kind_dirs()
    kinds = {os.path.relpath(d, HEALTH) for d in dirs}
    assert kinds == {"meshplane.dev/DataProduct", "meshplane.dev/GovernancePolicy", "meshplane.dev/AccessRequest"}, kinds
    for directory in dirs:
        tests = load_yaml(os.path.join(directory, "health_test.yaml"))["tests"]
        listed = {os.path.normpath(t["inputPath"]) for t in tests}
        on_disk = {os.path.relpath(p, directory) for p in glob.glob(os.path.join(directory, "testdata", "*.yaml"))}
        assert listed == on_disk, f"{directory}: listed but missing {listed - on_disk}, unlisted {on_disk - listed}"
        statuses = {t["healthStatus"]["status"] for t in tests}
        for wanted in ("Healthy", "Progressing", "Degraded"):
            assert wanted in statuses, f"{directory}/health_test.yaml has no {wanted} case"


@pytest.mark.parametrize("directory,test", cases())
def test_health_script_gives_the_expected_status(directory, test):
    obj = load_yaml(os.path.join(directory, test["inputPath"]))
    kind = os.path.basename(directory)
    assert obj["kind"] == kind, f"{test['inputPath']} is a {obj['kind']}, not a {kind}"
    status, message = run_health(os.path.join(directory, "health.lua"), obj)
    expected = test["healthStatus"]
    assert status in STATUSES, f"{status!r} is not an Argo CD health status"
    assert (status, message) == (expected["status"], expected.get("message", ""))
