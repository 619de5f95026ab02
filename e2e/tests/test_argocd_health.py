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
    """One YAML document as Python data: PyYAML when installed, else `_SubsetYaml`."""
    with open(path) as f:
        text = f.read()
    try:
        import yaml
    except ImportError:
        return _SubsetYaml(text, path).load()
    return yaml.safe_load(text)


class _SubsetYaml:
    """The YAML the health test data uses, for a venv without PyYAML: block mappings and
    sequences, plain and quoted scalars, ints, booleans, null, `{}` and `[]`, comments.
    Anything else fails loudly, naming the line, rather than being misread."""

    def __init__(self, text, path):
        self.path = path
        self.lines = []
        for number, raw in enumerate(text.splitlines(), 1):
            line = self._strip_comment(raw).rstrip()
            if line.strip() and line.strip() != "---":
                self.lines.append((number, len(line) - len(line.lstrip(" ")), line.strip()))
        self.i = 0

    def fail(self, number, why):
        raise ValueError(f"{self.path}:{number}: {why} (install PyYAML for full YAML)")

    @staticmethod
    def _strip_comment(line):
        quote = None
        for k, ch in enumerate(line):
            if quote:
                if ch == quote:
                    quote = None
            elif ch in "'\"":
                quote = ch
            elif ch == "#" and (k == 0 or line[k - 1] in " \t"):
                return line[:k]
        return line

    def load(self):
        if not self.lines:
            return None
        value = self.block(self.lines[0][1])
        if self.i < len(self.lines):
            self.fail(self.lines[self.i][0], "unexpected indentation")
        return value

    def block(self, indent):
        number, _, text = self.lines[self.i]
        if text == "-" or text.startswith("- "):
            return self.sequence(indent)
        return self.mapping(indent)

    def sequence(self, indent):
        items = []
        while self.i < len(self.lines):
            number, ind, text = self.lines[self.i]
            if ind < indent:
                break
            if ind > indent or not (text == "-" or text.startswith("- ")):
                self.fail(number, "expected a sequence item")
            rest = text[1:].strip()
            if not rest:
                self.i += 1
                items.append(self.nested(indent, number))
            elif self._is_key(rest):
                # "- key: value" opens a mapping indented past the dash.
                self.lines[self.i] = (number, ind + 2, rest)
                items.append(self.mapping(ind + 2))
            else:
                self.i += 1
                items.append(self.scalar(rest, number))
        return items

    def mapping(self, indent):
        result = {}
        while self.i < len(self.lines):
            number, ind, text = self.lines[self.i]
            if ind < indent:
                break
            if ind > indent or not self._is_key(text):
                self.fail(number, "expected `key: value`")
            key, rest = self._split_key(text, number)
            if key in result:
                self.fail(number, f"duplicate key {key!r}")
            self.i += 1
            if rest:
                result[key] = self.scalar(rest, number)
            else:
                result[key] = self.nested(indent, number, allow_same_indent_sequence=True)
        return result

    def nested(self, indent, number, allow_same_indent_sequence=False):
        """The block after `key:` or `-`, or null when none follows."""
        if self.i >= len(self.lines):
            return None
        _, ind, text = self.lines[self.i]
        is_item = text == "-" or text.startswith("- ")
        if ind > indent or (allow_same_indent_sequence and ind == indent and is_item):
            return self.block(ind)
        return None

    @staticmethod
    def _is_key(text):
        return re.match(r"""^(?:"[^"]*"|'[^']*'|[^\s'"{\[][^:]*?):(?:\s|$)""", text) is not None

    def _split_key(self, text, number):
        m = re.match(r"""^("[^"]*"|'[^']*'|[^\s'"{\[][^:]*?):(?:\s+(.*))?$""", text)
        if not m:
            self.fail(number, "cannot read the key")
        key = m.group(1)
        if key[0] in "'\"":
            key = self.scalar(key, number)
        return key, (m.group(2) or "").strip()

    def scalar(self, text, number):
        if text.startswith('"'):
            if not text.endswith('"') or len(text) < 2:
                self.fail(number, "unterminated double-quoted string")
            return json.loads(text)
        if text.startswith("'"):
            if not text.endswith("'") or len(text) < 2:
                self.fail(number, "unterminated single-quoted string")
            return text[1:-1].replace("''", "'")
        if text == "{}":
            return {}
        if text == "[]":
            return []
        if text[0] in "{[&*!|>%@`":
            self.fail(number, f"unsupported YAML: {text!r}")
        if re.fullmatch(r"[-+]?[0-9]+", text):
            return int(text)
        if text in ("true", "True", "TRUE"):
            return True
        if text in ("false", "False", "FALSE"):
            return False
        if text in ("null", "Null", "NULL", "~"):
            return None
        if re.fullmatch(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?", text):
            return float(text)
        if ": " in text or " #" in text:
            self.fail(number, f"ambiguous plain scalar {text!r}; quote it")
        return text


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
    assert kinds == {"meshplane.dev/DataProduct", "meshplane.dev/GovernancePolicy"}, kinds
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


def test_the_subset_loader_reads_the_test_data_as_pyyaml_does():
    """When PyYAML is there, the fallback loader must agree with it on every file."""
    yaml = pytest.importorskip("yaml")
    files = glob.glob(os.path.join(HEALTH, "*", "*", "health_test.yaml"))
    files += glob.glob(os.path.join(HEALTH, "*", "*", "testdata", "*.yaml"))
    assert files
    for path in files:
        with open(path) as f:
            text = f.read()
        assert _SubsetYaml(text, path).load() == yaml.safe_load(text), path
