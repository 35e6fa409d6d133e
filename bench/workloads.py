"""The workload: the project copy in the tutorial's layout, the tutorial's baseline Dockerfile, the
steps both sides run on it (builds, start-up, push), the notebook edit, the dependency add and the
generated data.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from measure import (
    TAG_PREFIX,
    BenchError,
    Completed,
    Docker,
    Registry,
    Shell,
    Side,
    answers,
    free_port,
    token_in_log,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "sea-surface-temperature"
BASE_IMAGE = "python:3.11-slim"
READY_TIMEOUT = 120.0
ADDED_DEPENDENCY = "scipy==1.17.1"
# The uv nbship installs (nbship.project.plan.UV_REQUIREMENT; a unit test keeps the two equal), so
# the expert's Dockerfile and nbship resolve and install with the same tool.
EXPERT_UV = "uv==0.13.8"
LOCK_NAME = "requirements.lock"
# make_data.py at this grid spacing writes ~18 MB of netCDF (the example ships 4 degrees, 0.5 MB).
DATA_RESOLUTION = 0.6


def baseline_dockerfile(deps: Sequence[str], base: str = BASE_IMAGE) -> str:
    """The tutorial's Dockerfile: one stage, pip install, then README, data and notebooks, root."""
    return (
        f"FROM {base}\n"
        "WORKDIR /work\n"
        f"RUN pip install {' '.join(deps)} jupyterlab\n"
        "COPY README.md README.md\n"
        "COPY data data\n"
        "COPY notebooks notebooks\n"
        "CMD jupyter-lab --ip=0.0.0.0 --allow-root\n"
    )


def expert_dockerfile(cache_id: str, base: str = BASE_IMAGE) -> str:
    """What a Docker-savvy user writes from uv's Docker guide: a builder stage that installs the same
    lock nbship installs with `uv pip install` (BuildKit cache mount, bytecode compiled), only the
    virtualenv copied into the final stage, data and notebooks copied last; root, as in the guide.
    Two departures, both forced by this machine: uv comes from PyPI (the guide copies it from its image
    on ghcr.io, which nothing here can pull), and uv trusts the system's CA bundle (the proxy). The
    cache mount has an id of the run's own, so that no other build's downloads (nbship's included)
    land in it."""
    mount = f"--mount=type=cache,id={cache_id},target=/root/.cache/uv,sharing=locked"
    return (
        f"FROM {base} AS builder\n"
        f"RUN pip install --no-cache-dir {EXPERT_UV}\n"
        "ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_SYSTEM_CERTS=1\n"
        "RUN uv venv /opt/venv\n"
        f"COPY {LOCK_NAME} /tmp/{LOCK_NAME}\n"
        f"RUN {mount} \\\n"
        f"    VIRTUAL_ENV=/opt/venv uv pip install --require-hashes -r /tmp/{LOCK_NAME}\n"
        "\n"
        f"FROM {base}\n"
        "COPY --from=builder /opt/venv /opt/venv\n"
        "ENV PATH=/opt/venv/bin:$PATH\n"
        "WORKDIR /work\n"
        "COPY README.md README.md\n"
        "COPY data data\n"
        "COPY notebooks notebooks\n"
        'CMD ["jupyter-lab", "--ip=0.0.0.0", "--allow-root", "--no-browser"]\n'
    )


def requirement_lines(text: str) -> list[str]:
    """The requirement specifiers of a plain requirements.txt (comments and blank lines dropped)."""
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def cache_mount_ids(dockerfile: str) -> list[str]:
    """The ids of the BuildKit cache mounts a Dockerfile's RUN steps use (a mount's id is its
    target when it names none), each once, in order."""
    ids: list[str] = []
    for spec in re.findall(r"--mount=(\S+)", dockerfile):
        options = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
        name = options.get("id", options.get("target"))
        if options.get("type") == "cache" and name and name not in ids:
            ids.append(name)
    return ids


# --------------------------------------------------------------------------------------------
# The project and its edits


def prepare_project(example: Path, dest: Path) -> None:
    """The example in the layout the tutorial's Dockerfile copies: notebooks in notebooks/."""
    shutil.copytree(example, dest)
    (dest / "notebooks").mkdir()
    for notebook in sorted(dest.glob("*.ipynb")):
        text = notebook.read_text(encoding="utf-8").replace('"data/', '"../data/').replace("`data/", "`../data/")
        (dest / "notebooks" / notebook.name).write_text(text, encoding="utf-8")
        notebook.unlink()


def edit_notebook(project: Path, marker: str) -> None:
    """Appends a markdown cell to the first notebook, as a researcher's small edit would."""
    notebook = sorted((project / "notebooks").glob("*.ipynb"))[0]
    data = json.loads(notebook.read_text(encoding="utf-8"))
    data["cells"].append(
        {"cell_type": "markdown", "id": f"bench-{marker}", "metadata": {}, "source": [f"Edit {marker}."]}
    )
    notebook.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------
# The steps both sides run


@dataclass
class Bench:
    shell: Shell
    docker: Docker
    nbship: str
    project: Path
    baseline_dir: Path
    deps: list[str]
    run_id: str
    # One registry per side: the hand-written images share layers byte for byte (the same COPY of
    # the same files), so in one store the side pushed second would find them there already.
    registries: dict[Side, Registry] = field(default_factory=dict)
    images: set[str] = field(default_factory=set)
    base: str = BASE_IMAGE
    bases: list[str] = field(default_factory=list)

    def new_base(self, label: str) -> str:
        """A base image no build has used: python:3.11-slim plus a one-file layer of its own. BuildKit
        keys cache on the chain of layers (a label alone would not do), so no layer cached on the daemon
        (anyone's) matches a step built on it, and a `--no-cache` build on it shares no step with the
        other builds running on the daemon (see bench/README.md). Built without --no-cache."""
        folder = self.baseline_dir.parent / f"base-{label}"
        folder.mkdir(exist_ok=True)
        (folder / "Dockerfile").write_text(
            f"FROM {BASE_IMAGE}\nRUN echo {self.run_id}-{label} > /etc/nbship-bench-base\n", encoding="utf-8"
        )
        tag = self.tag(f"base-{label}")
        self.docker("build", "-q", "-t", tag, str(folder), quiet=True)
        self.bases.append(tag)
        self.base = tag
        return tag

    def tag(self, name: str) -> str:
        return f"{TAG_PREFIX}/{self.run_id}-{name}:latest"

    def write_baseline(self, extra: Iterable[str] = ()) -> None:
        """Both hand-written Dockerfiles: the tutorial's names the packages, the expert's copies the lock."""
        text = baseline_dockerfile([*self.deps, *extra], self.base)
        (self.baseline_dir / "Dockerfile").write_text(text, encoding="utf-8")
        expert = expert_dockerfile(f"{TAG_PREFIX}-{self.run_id}-uv", self.base)
        (self.baseline_dir / "Dockerfile.expert").write_text(expert, encoding="utf-8")

    def write_requirements(self, extra: Iterable[str] = ()) -> None:
        lines = ["# The example's requirements (JupyterLab is added by nbship).", *self.deps, *extra]
        (self.project / "requirements.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def lock(self) -> float:
        """`nbship lock`, untimed in the build rows: the user locks after editing requirements.txt, and
        the expert's Dockerfile installs the same lock (its seconds are reported apart)."""
        return self.shell.run([self.nbship, "lock", str(self.project)]).seconds

    def empty_cache_mounts(self, side: Side) -> None:
        """Empties the cache mounts the side's Dockerfile uses, untimed, before its cold build. On
        Engine 20.10 a `--no-cache` build empties them itself, at its start: deleting what the
        previous round downloaded (uv's cache, ~1 GB: about 2 s) would count as building."""
        if side == "nbship":
            command = [self.nbship, "dockerfile", str(self.project), "--base-image", self.base]
            text = self.shell.run(command, quiet=True).output
        else:
            text = (self.baseline_dir / ("Dockerfile" if side == "baseline" else "Dockerfile.expert")).read_text()
        ids = cache_mount_ids(text)
        if not ids:
            return
        folder = self.baseline_dir.parent / "empty-mounts"
        folder.mkdir(exist_ok=True)
        mounts = " ".join(f"--mount=type=cache,id={name},target=/mnt/{n}" for n, name in enumerate(ids))
        (folder / "Dockerfile").write_text(f"FROM {self.base}\nRUN {mounts} true\n", encoding="utf-8")
        self.docker("build", "--no-cache", "-q", "-t", self.tag("empty-mounts"), str(folder), quiet=True)
        # Its work is done (the mounts are emptied): kept, each cold build would leave one more image.
        self.docker("rmi", self.tag("empty-mounts"), check=False, quiet=True)

    def build(self, side: Side, *, cold: bool = False, expect: str = "build") -> Completed:
        if side == "nbship":
            return self.build_nbship(cold=cold, expect=expect)
        return self.build_dockerfile(side, cold=cold)

    def build_dockerfile(self, side: Side, *, cold: bool = False) -> Completed:
        """`docker build` of the tutorial's or the expert's Dockerfile, the project copy as context."""
        name = "Dockerfile" if side == "baseline" else "Dockerfile.expert"
        args = ["build", "--progress=plain", "-f", str(self.baseline_dir / name), "-t", self.tag(side)]
        done = self.docker(*args, *(["--no-cache"] if cold else []), str(self.project))
        self._remember(side)
        return done

    def build_nbship(self, *, cold: bool = False, strip: bool = True, expect: str = "build") -> Completed:
        """`nbship -v build` (-v puts the build log in the output: downloads and the strip summary)."""
        name = "nbship" if strip else "nbship-nostrip"
        command = [self.nbship, "-v", "build", str(self.project), "-t", self.tag(name), "--builder", "buildkit"]
        command += ["--base-image", self.base]
        command += (["--no-cache"] if cold else []) + ([] if strip else ["--no-strip"])
        done = self.shell.run(command)
        skipped = "is up to date" in done.output
        if (expect == "skip") != skipped:
            raise BenchError(f"nbship {'skipped' if skipped else 'ran'} the build of {name}; expected: {expect}")
        self._remember(name)
        return done

    def rebuild_nbship(self, *, reproducible: bool) -> Completed:
        """`nbship build --rebuild` of the built project (layer cache warm), with or without
        --reproducible (the clock from SOURCE_DATE_EPOCH: the workload is no git repository)."""
        name = "nbship-repro" if reproducible else "nbship"
        command = [self.nbship, "build", str(self.project), "-t", self.tag(name), "--builder", "buildkit", "--rebuild"]
        command += ["--base-image", self.base] + (["--reproducible"] if reproducible else [])
        done = self.shell.run(command, env={"SOURCE_DATE_EPOCH": "1700000000"})
        self._remember(name)
        return done

    def _remember(self, name: str) -> None:
        self.images.add(str(self.docker.image(self.tag(name))["Id"]))

    def size(self, name: str) -> int:
        return self.size_and_layers(name)[0]

    def size_and_layers(self, name: str) -> tuple[int, int]:
        """The image's size and its layer count, from one inspect."""
        image = self.docker.image(self.tag(name))
        rootfs = image["RootFS"]
        return int(str(image["Size"])), len(rootfs["Layers"]) if isinstance(rootfs, dict) else 0

    def ready_nbship_up(self) -> float:
        """`nbship up --detach` returns once JupyterLab answers with its token; checked once more after."""
        port = free_port()
        command = [self.nbship, "up", str(self.project), "-t", self.tag("nbship"), "--detach", "--port", str(port)]
        command += ["--base-image", self.base]  # the image's own: `up` finds it up to date
        done = self.shell.run(command)
        try:
            token = token_in_log(done.output)
            if token is None or not answers(port, token):
                raise BenchError(f"nbship up returned, but no server answers with its token:\n{done.output[-800:]}")
        finally:
            self.shell.run([self.nbship, "down", str(self.project)])
        return done.seconds

    def ready_docker_run(self, image: str, *, token: str | None = None) -> float:
        """`docker run -d` then poll: the token from the log (as the tutorial's user reads it), then
        /api/status with it. With `token`, the image takes JUPYTER_TOKEN (nbship's images)."""
        port = free_port()
        env = ["-e", f"JUPYTER_TOKEN={token}"] if token else []
        start = time.perf_counter()
        done = self.docker("run", "-d", "-p", f"127.0.0.1:{port}:8888", *env, image, quiet=True)
        container = done.output.strip().splitlines()[-1]
        try:
            known = token
            while time.perf_counter() - start < READY_TIMEOUT:
                if known is None:
                    logs = subprocess.run(
                        [self.docker.cli, "logs", container], capture_output=True, text=True, check=False
                    )
                    known = token_in_log(logs.stdout + logs.stderr)
                if known is not None and answers(port, known):
                    return time.perf_counter() - start
                time.sleep(0.05)
            raise BenchError(f"{image} did not answer within {READY_TIMEOUT:.0f} s")
        finally:
            self.docker("rm", "-f", container, check=False, quiet=True)

    def ready(self, side: Side) -> float:
        return self.ready_nbship_up() if side == "nbship" else self.ready_docker_run(self.tag(side))

    def push(self, side: Side, label: str) -> tuple[int, int]:
        """Pushes the side's image to its own registry; returns (bytes, blobs) the registry stored anew."""
        registry = self.registries[side]
        before = registry.blobs()
        target = f"{registry.host}/bench/{side}:{label}"
        if side == "nbship":
            tag = self.tag("nbship")
            self.shell.run(
                [self.nbship, "push", str(self.project), "--to", target, "-t", tag, "--base-image", self.base]
            )
        else:
            self.docker("tag", self.tag(side), target)
            try:
                self.docker("push", target)
            finally:
                self.docker("rmi", target, check=False, quiet=True)
        after = registry.blobs()
        new = {d: s for d, s in after.items() if d not in before}
        return sum(new.values()), len(new)

    def cleanup(self) -> list[str]:
        problems: list[str] = []
        done = self.shell.run([self.nbship, "down", str(self.project), "--volumes"], check=False)
        if done.returncode != 0:
            problems.append(f"nbship down --volumes: {done.output.strip()[-300:]}")
        for name in ("baseline", "expert", "nbship", "nbship-nostrip", "probe", "datagen"):
            if self.docker.exists(self.tag(name)):
                self.docker("rmi", self.tag(name), check=False, quiet=True)
        for image_id in sorted(self.images):
            if self.docker.exists(image_id):
                self.docker("rmi", image_id, check=False, quiet=True)
        for base in self.bases:
            if self.docker.exists(base):
                self.docker("rmi", base, check=False, quiet=True)
        return problems


def generate_data(bench: Bench) -> int:
    """~18 MB of data: the example's own make_data.py at a finer grid, run in an image of the example
    (built untimed from a copy, before anything is measured)."""
    scratch = bench.project.parent / "datagen"
    shutil.copytree(EXAMPLE, scratch)
    bench.shell.run([bench.nbship, "build", str(scratch), "-t", bench.tag("datagen")])
    script = (
        "import sys; sys.path.insert(0, '/w'); import make_data as m; from pathlib import Path; "
        f"m.RESOLUTION = {DATA_RESOLUTION}; m.OUT_FILE = Path('/w/data/sst_monthly.nc'); m.main()"
    )
    bench.docker(
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        "0",
        "-v",
        f"{bench.project}:/w",
        bench.tag("datagen"),
        "python",
        "-c",
        script,
    )
    bench.docker("rmi", bench.tag("datagen"), check=False, quiet=True)
    bench.shell.run([bench.nbship, "down", str(scratch), "--volumes"], check=False)
    shutil.rmtree(scratch, ignore_errors=True)
    return sum(f.stat().st_size for f in (bench.project / "data").rglob("*") if f.is_file())
