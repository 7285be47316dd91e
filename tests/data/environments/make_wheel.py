#!/usr/bin/env python3
"""Writes a minimal pure-Python wheel for tests: make_wheel.py OUT_DIR NAME VERSION.

The wheel (OUT_DIR/NAME-VERSION-py3-none-any.whl) holds the package NAME whose __init__.py sets
VERSION, and the dist-info files pip needs (METADATA, WHEEL, RECORD). NAME must be a valid
Python identifier.
"""
import base64
import hashlib
import pathlib
import sys
import zipfile


def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def make_wheel(out_dir, name, version):
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f'VERSION = "{version}"\n'.encode(),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        ).encode(),
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: make_wheel.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ).encode(),
    }
    record = [record_line(path, data) for path, data in files.items()]
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = pathlib.Path(out_dir) / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: make_wheel.py OUT_DIR NAME VERSION")
    print(make_wheel(*sys.argv[1:]))
