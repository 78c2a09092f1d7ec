"""Hatchling build hook: generate the Hubble protobuf/gRPC modules at build time, and
put the built web console into the wheel.

Runs ``grpc_tools.protoc`` (grpcio-tools, a build requirement in pyproject.toml)
on the ``.proto`` files under ``src/netwarden/flows/proto/`` and writes
``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` into
``src/netwarden/flows/_generated/`` (git-ignored). It runs for wheel builds,
standard and editable, so ``uv sync`` on a fresh clone produces the modules.

protoc names modules after the proto include paths (``flow/flow.proto`` ->
``flow.flow_pb2``); the hook rewrites those imports to
``netwarden.flows._generated.flow.flow_pb2`` so the modules live inside the
package without touching ``sys.path``. The proto file names registered in the
protobuf descriptor pool stay Hubble's (``flow/flow.proto``).

Generation is skipped when a stamp file says the inputs (proto files, this
hook, the grpcio-tools version) are unchanged, so repeated builds are cheap and
leave the directory's modification time alone.

The console (``web/``, built by ``make web`` into the git-ignored ``web/dist``) goes
into a standard wheel as ``netwarden/api/static``, where the server looks first
(``api/console.py``), so an installed ``netwarden serve`` has it without Node.js. The
hook does not build it (that needs Node.js): without ``web/dist/index.html`` the wheel
has no console and ``/`` answers 503 saying how to build it. Editable installs serve
``web/dist`` from the checkout.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from importlib.metadata import version as package_version
from importlib.resources import files
from pathlib import Path
from typing import Any

from grpc_tools import protoc
from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PROTO_ROOT = Path("src/netwarden/flows/proto")
OUTPUT = Path("src/netwarden/flows/_generated")
PACKAGE = "netwarden.flows._generated"
STAMP = "STAMP"
CONSOLE_BUILD = Path("web/dist")
CONSOLE_IN_WHEEL = "netwarden/api/static"


class ProtoStubsBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return  # the sdist ships the .proto files and this hook, not generated code
        generate(Path(self.root))
        if version == "standard":
            # Git-ignored files are left out of a wheel unless listed as artifacts.
            build_data["artifacts"].append(f"/{OUTPUT.as_posix()}/")
            build_data["force_include"].update(console_files(Path(self.root)))


def console_files(root: Path) -> dict[str, str]:
    """The built console as a ``force_include`` mapping (source -> path in the wheel), or
    nothing when it is not built."""
    build = root / CONSOLE_BUILD
    if not (build / "index.html").is_file():
        return {}
    return {str(build): CONSOLE_IN_WHEEL}


def _inputs_digest(root: Path, protos: list[Path]) -> str:
    digest = hashlib.sha256()
    digest.update(_grpc_tools_version().encode())
    digest.update(Path(__file__).read_bytes())
    for proto in protos:
        digest.update(proto.relative_to(root).as_posix().encode())
        digest.update(proto.read_bytes())
    return digest.hexdigest()


def _grpc_tools_version() -> str:
    return package_version("grpcio-tools")


def generate(root: Path) -> bool:
    """Generate the modules under ``root``; False when they were already up to date."""
    proto_root = root / PROTO_ROOT
    output = root / OUTPUT
    protos = sorted(proto_root.rglob("*.proto"))
    if not protos:
        raise RuntimeError(f"no .proto files under {proto_root}")
    digest = _inputs_digest(root, protos)
    stamp = output / STAMP
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return False

    well_known = str(files("grpc_tools") / "_proto")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".generated-", dir=output.parent))
    try:
        names = [proto.relative_to(proto_root).as_posix() for proto in protos]
        args = [
            "grpc_tools.protoc",
            f"--proto_path={proto_root}",
            f"--proto_path={well_known}",
            f"--python_out={staging}",
            f"--pyi_out={staging}",
            f"--grpc_python_out={staging}",
            *names,
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"grpc_tools.protoc failed: {' '.join(args)}")
        _postprocess(staging, sorted({name.split("/")[0] for name in names}))
        (staging / STAMP).write_text(digest + "\n")
        _replace(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def _postprocess(staging: Path, proto_packages: list[str]) -> None:
    """Package imports, drop empty gRPC modules, add ``__init__.py`` files.

    ``proto_packages`` are the top directories of the proto files (``flow``,
    ``observer``, ...): each becomes a subpackage of PACKAGE.
    """
    alternatives = "|".join(map(re.escape, proto_packages))
    imports = re.compile(rf"^(\s*)from ({alternatives})(\.\w+_pb2)? import ", re.MULTILINE)
    module_names = re.compile(rf"(DESCRIPTOR, )'((?:{alternatives})\.\w+_pb2)'")
    for path in sorted(staging.rglob("*_pb2_grpc.py")):
        if "Stub" not in path.read_text():  # a proto file without services
            path.unlink()
    for path in sorted([*staging.rglob("*.py"), *staging.rglob("*.pyi")]):
        text = path.read_text()
        text = imports.sub(lambda m: f"{m[1]}from {PACKAGE}.{m[2]}{m[3] or ''} import ", text)
        text = module_names.sub(lambda m: f"{m[1]}'{PACKAGE}.{m[2]}'", text)
        path.write_text(text)
    (staging / "__init__.py").write_text(
        '"""Generated at build time from ../proto by hatch_build.py. Do not edit."""\n'
    )
    for package in staging.iterdir():
        if package.is_dir():
            (package / "__init__.py").write_text("")


def _replace(staging: Path, output: Path) -> None:
    """Swap the freshly generated tree in place of the old one."""
    if output.exists():
        old = output.with_name(f".old-{os.getpid()}-{output.name}")
        output.rename(old)
        try:
            staging.rename(output)
        finally:
            shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(output)
