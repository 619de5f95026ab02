#!/usr/bin/env python3
"""Builds a container image without a Docker daemon: one layer from a root filesystem
directory, written as an image archive (the `docker save` layout) that
`ctr images import` and `podman load` read.

    oci_image.py --rootfs DIR --ref NAME:TAG --out FILE.tar [--entrypoint JSON]
                 [--user UID:GID] [--env K=V]... [--label K=V]... [--workdir DIR]

The layer is reproducible: entries sorted, owned by root unless the rootfs says
otherwise through --owner PATH=UID:GID, times set to 0, so the same inputs give the
same image digest.
"""
import argparse
import hashlib
import io
import json
import os
import sys
import tarfile


def layer_tar(rootfs, owners):
    """The rootfs as an uncompressed tar (bytes), deterministic."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        paths = []
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                paths.append(os.path.join(dirpath, name))
        for path in sorted(paths):
            arcname = os.path.relpath(path, rootfs)
            info = tar.gettarinfo(path, arcname)
            info.mtime = 0
            uid, gid = owners.get(arcname, (0, 0))
            info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
            if info.isfile():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return buf.getvalue()


def parse_pairs(items, what):
    pairs = {}
    for item in items:
        if "=" not in item:
            sys.exit(f"oci_image: {what} {item!r} is not KEY=VALUE")
        key, value = item.split("=", 1)
        pairs[key] = value
    return pairs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rootfs", required=True)
    parser.add_argument("--ref", required=True, help="image reference, e.g. meshplane.local/pause:3.10")
    parser.add_argument("--out", required=True)
    parser.add_argument("--entrypoint", default="[]", help="JSON list")
    parser.add_argument("--cmd", default="[]", help="JSON list")
    parser.add_argument("--user", default="")
    parser.add_argument("--workdir", default="/")
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--label", action="append", default=[])
    parser.add_argument("--owner", action="append", default=[], help="PATH=UID:GID inside the rootfs")
    args = parser.parse_args()
    if not os.path.isdir(args.rootfs):
        sys.exit(f"oci_image: rootfs {args.rootfs} is not a directory")
    if ":" not in args.ref.rsplit("/", 1)[-1]:
        sys.exit(f"oci_image: --ref {args.ref!r} needs a tag (NAME:TAG)")
    try:
        entrypoint, cmd = json.loads(args.entrypoint), json.loads(args.cmd)
    except json.JSONDecodeError as e:
        sys.exit(f"oci_image: --entrypoint/--cmd must be JSON lists: {e}")
    owners = {}
    for path, ids in parse_pairs(args.owner, "--owner").items():
        uid, _, gid = ids.partition(":")
        owners[path.strip("/")] = (int(uid), int(gid or uid))

    layer = layer_tar(args.rootfs, owners)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": args.user,
            "Env": [f"{k}={v}" for k, v in parse_pairs(args.env, "--env").items()]
            or ["PATH=/usr/local/bin:/usr/bin:/bin"],
            "Entrypoint": entrypoint or None,
            "Cmd": cmd or None,
            "WorkingDir": args.workdir,
            "Labels": parse_pairs(args.label, "--label"),
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "e2e/stack/oci_image.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id.split(":", 1)[1] + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [args.ref], "Layers": [layer_name]}]

    tmp = args.out + ".tmp"
    with tarfile.open(tmp, mode="w") as out:
        for name, data in ((config_name, config_bytes), (layer_name, layer),
                           ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            out.addfile(info, io.BytesIO(data))
    os.replace(tmp, args.out)
    print(f"{args.ref} {diff_id} {len(layer) // 1024} KiB", file=sys.stderr)


if __name__ == "__main__":
    main()
