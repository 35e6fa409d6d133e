"""Podman behind the engine seam, through the podman command (no service socket is needed, which
login nodes and fresh Fedora machines lack): JSON from its inspect and list commands, tar
streams from `podman cp` and `podman volume export|import`, builds with `podman build`.

Where Podman differs from Docker, it is handled here, not by callers:
- Rootless Podman runs containers in a user namespace. A bind-mounted folder would get files
  owned by a sub-uid, so a container writing into one maps its own user onto the host user
  (`--userns=keep-id:uid=U,gid=G`, Podman 4.3+), and runs as the host user's uid where that
  cannot be done.
- Its volume copy-up gives a volume's root the owner of the folder it is first mounted on, and
  `podman cp` into a created container does not reach its volumes: volumes go in and out with
  `podman volume export|import`.
- Registries on loopback are used without TLS, as Docker does by default for 127.0.0.0/8.
- Builds write OCI images unless told `--format docker`, which drops HEALTHCHECK: nbship asks for
  Docker's format. Buildah keeps cache mounts under TMPDIR (/var/tmp by default) in a folder
  every user shares before Buildah 1.29, so the first user's cache blocks everyone else's
  builds: a rootless build gets a TMPDIR of its own user.
- Values reach `podman run` as arguments; environment values never do: they are passed by name,
  the value in the podman process's own environment, so no token is in a process list.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from nbship import contract as c
from nbship.engine import docker_cli
from nbship.engine.base import (
    Builder,
    BuildReport,
    BuildRequest,
    ContainerInfo,
    ContainerSpec,
    DiskUsage,
    ImageInfo,
    VolumeInfo,
    unreachable_host,
)
from nbship.engine.buildlog import BuildahLog
from nbship.engine.podman_values import (
    GPU_DEVICE,
    INSTALL_HINT,
    container_info,
    docker_hub_name,
    gpu_error,
    image_info,
    loopback_registry,
    mount_arg,
    push_events,
    resource_args,
    unique_sizes,
    user_args,
    version_refusal,
    version_tuple,
    volume_info,
)
from nbship.errors import (
    BuildError,
    DockerCommandError,
    DockerUnavailableError,
    Interrupted,
    NotFoundError,
    RunError,
    UsageError,
    VolumeInUseError,
)
from nbship.options import BuilderChoice
from nbship.reporter import Reporter

_NOT_FOUND = ("no such container", "no such image", "no such volume", "image not known", "no such object")


class PodmanEngine:
    """The podman command behind the engine seam; every failure becomes an nbship error."""

    name = "podman"

    def __init__(self, *, chosen_by: str = "", program: str | None = None) -> None:
        self._chosen_by = chosen_by
        self._program = program

    # -- the command -------------------------------------------------------------------------

    @property
    def program(self) -> str:
        if self._program is None:
            found = shutil.which("podman")
            if found is None:
                why = f" ({self._chosen_by})" if self._chosen_by else ""
                raise DockerUnavailableError(
                    f"Podman was chosen{why}, but there is no `podman` command on PATH. {INSTALL_HINT}"
                )
            self._program = found
        return self._program

    def run_podman(
        self,
        args: Sequence[str],
        *,
        what: str | None = None,
        input: bytes | None = None,
        env: Mapping[str, str | None] | None = None,
        timeout: float | None = 600,
    ) -> bytes:
        """Runs podman; its stdout, or the nbship error its failure means."""
        command = [self.program, *args]
        shown = what or f"podman {' '.join(args[:2])}"
        try:
            result = subprocess.run(
                command, input=input, capture_output=True, timeout=timeout, check=False, env=docker_cli.with_env(env)
            )
        except subprocess.TimeoutExpired as exc:
            raise DockerCommandError(
                f"`{shown}` did not finish within {timeout:.0f} s.", command=shown, returncode=None, output=""
            ) from exc
        except OSError as exc:
            raise DockerUnavailableError(f"Could not run {command[0]}: {exc}. {INSTALL_HINT}") from exc
        if result.returncode != 0:
            raise self._error(shown, result.returncode, result.stderr.decode(errors="replace"))
        return result.stdout

    @staticmethod
    def _error(what: str, code: int, stderr: str) -> Exception:
        lines = [line for line in stderr.splitlines() if line.strip() and "level=" not in line]
        text = (lines[-1] if lines else stderr.strip() or f"exit code {code}").removeprefix("Error: ")
        lowered = text.lower()
        if any(marker in lowered for marker in _NOT_FOUND):
            return NotFoundError(f"{what}: not found ({text[:300]}).")
        if what.startswith("podman volume rm") and "being used" in lowered:
            return VolumeInUseError(f"Podman refused `{what}`: {text[:300]}")
        if f"unresolvable cdi devices {GPU_DEVICE}" in lowered:
            return gpu_error(text[:300])
        return DockerCommandError(
            f"Podman refused `{what}`: {text[:300]}", command=what, returncode=code, output=stderr
        )

    def _json(self, args: Sequence[str], *, what: str | None = None) -> Any:
        out = self.run_podman(args, what=what)
        return json.loads(out or b"null")

    @functools.cached_property
    def facts(self) -> dict[str, Any]:
        """`podman info`, checked once: Podman runs here and is recent enough."""
        why = f" (chosen by {self._chosen_by})" if self._chosen_by else ""
        try:
            info = self._json(["info", "--format", "json"], what="podman info")
        except (DockerCommandError, NotFoundError) as exc:
            raise DockerUnavailableError(
                f"Podman{why} does not work here: `podman info` failed ({exc.message}). Run `podman info` to see "
                "why; a rootless user needs entries in /etc/subuid and /etc/subgid."
            ) from exc
        refusal = version_refusal(str((info.get("version") or {}).get("Version") or "0"), self.program, why)
        if refusal is not None:
            raise DockerUnavailableError(refusal)
        return dict(info)

    @property
    def version(self) -> tuple[int, int]:
        return version_tuple(str(self.facts["version"].get("Version")))

    @property
    def rootless(self) -> bool:
        return bool(((self.facts.get("host") or {}).get("security") or {}).get("rootless"))

    @property
    def description(self) -> str:
        return f"Podman {self.facts['version'].get('Version')}{' (rootless)' if self.rootless else ''}"

    @property
    def compose_command(self) -> str:
        # `podman compose` (a front end to a compose provider) exists from Podman 4.7 on.
        return "podman compose" if self.version >= (4, 7) else "podman-compose"

    def _tls(self, reference: str) -> list[str]:
        return ["--tls-verify=false"] if loopback_registry(reference) else []

    # -- images ------------------------------------------------------------------------------

    def image(self, reference: str) -> ImageInfo | None:
        # As given first (nbship's own tags are in localhost/), then with Docker's meaning of a name
        # without a registry, which is where a pull puts it.
        for candidate in dict.fromkeys((reference, docker_hub_name(reference))):
            try:
                found = self._json(["image", "inspect", candidate], what=f"podman image inspect {candidate}")
            except NotFoundError:
                continue
            if found:
                return image_info(found[0])
        return None

    def remove_untagged_image(self, image_id: str) -> bool:
        found = self.image(image_id)
        if found is None or found.tags:
            return False
        try:
            self.run_podman(["rmi", image_id])
        except (DockerCommandError, NotFoundError, VolumeInUseError):
            return False  # in use, or already gone
        return True

    def images(self, *, labels: Mapping[str, str] | None = None) -> list[ImageInfo]:
        args = ["images", "--quiet", "--no-trunc"]
        for key, value in (labels or {}).items():
            args += ["--filter", f"label={key}={value}"]
        ids = list(dict.fromkeys(self.run_podman(args, what="podman images --filter label=...").decode().split()))
        if not ids:
            return []
        return [image_info(entry) for entry in self._json(["image", "inspect", *ids], what="podman image inspect")]

    def remove_image(self, reference: str) -> None:
        self.run_podman(["rmi", reference], what=f"podman rmi {reference}")

    def disk_usage(self) -> DiskUsage:
        # Buildah keeps no build cache apart from images: its step images go with the image they
        # made (`podman rmi` removes untagged parents), so there are no cache records to list.
        table = self.run_podman(["system", "df", "--verbose"], what="podman system df -v").decode()
        full_ids = self.run_podman(["images", "--all", "--quiet", "--no-trunc"]).decode().split()
        return DiskUsage(layers_size=self._storage_size(), unique_sizes=unique_sizes(table, full_ids), build_cache=())

    def _storage_size(self) -> int:
        """Bytes of image layers on disk (a rootless store holds sub-uid files: measured inside its namespace)."""
        root = Path(str((self.facts.get("store") or {}).get("graphRoot") or ""))
        driver = str((self.facts.get("store") or {}).get("graphDriverName") or "overlay")
        if not (root / driver).is_dir():
            return 0
        command = ["du", "--summarize", "--bytes", str(root / driver)]
        try:
            out = (
                self.run_podman(["unshare", *command], what="du")
                if self.rootless
                else subprocess.run(command, capture_output=True, check=False, timeout=300).stdout
            )
        except DockerCommandError:
            return 0
        first = out.decode().split()
        return int(first[0]) if first and first[0].isdigit() else 0

    def prune_build_cache(self, record_ids: tuple[str, ...]) -> int:
        return 0  # no records: see disk_usage

    def tag_image(self, source: str, repository: str, tag: str) -> None:
        self.run_podman(["tag", source, f"{repository}:{tag}"], what=f"podman tag {source} {repository}:{tag}")

    def import_image(self, tar_bytes: bytes, *, repository: str, tag: str) -> None:
        self.run_podman(["import", "--quiet", "-", f"{repository}:{tag}"], input=tar_bytes)

    def choose_builder(self, requested: BuilderChoice, *, needs_secrets: bool) -> Builder:
        if requested == "classic":
            if needs_secrets:
                raise UsageError(
                    "This build needs build secrets (--ca-bundle, channel credentials, or a local conda channel), and "
                    "--builder classic renders the Dockerfile without them. Leave --builder at auto with Podman."
                )
            return Builder("classic", f"podman build, without cache mounts (as asked), on {self.description}")
        # Buildah runs the BuildKit features nbship's Dockerfile uses: cache mounts and secrets.
        return Builder(
            "buildkit",
            f"podman build (Buildah {self.facts['host'].get('buildahVersion', '?')}) on {self.description}",
            mounts_keyed=False,
        )

    def _build_env(self) -> dict[str, str | None]:
        if not self.rootless:
            return {}
        cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        own = cache_home / "nbship" / "buildah"
        own.mkdir(parents=True, exist_ok=True, mode=0o700)
        return {"TMPDIR": str(own)}

    def build(self, request: BuildRequest, reporter: Reporter) -> BuildReport:
        if self.facts.get("store", {}).get("graphDriverName") == "vfs":
            reporter.warn(
                "Podman stores images with the vfs driver here, which copies every layer in full: builds are slow "
                'and take much disk. Set driver = "overlay" in ~/.config/containers/storage.conf '
                "(Linux 5.13 or later, or with fuse-overlayfs) and run `podman system reset`."
            )
        with tempfile.TemporaryDirectory(prefix="nbship-build-") as tmp:
            dockerfile = Path(tmp) / "Dockerfile"
            dockerfile.write_text(docker_cli.dockerfile_with_labels(request), encoding="utf-8")
            ignore = Path(tmp) / "ignore"
            ignore.write_text("\n".join(request.ignore) + "\n", encoding="utf-8")
            command = [self.program, "build", "--format", "docker", "-f", str(dockerfile), "--ignorefile", str(ignore)]
            process = docker_cli.CliProcess([*command, *docker_cli.request_args(request)], env=self._build_env())
            done = docker_cli.run_build(process, BuildahLog(), reporter)
        if self.image(request.tag) is None:
            raise BuildError(f"The build finished but the image {request.tag} is not there. Build again with --debug.")
        return done

    def build_host(self) -> str:
        if self.rootless:
            raise unreachable_host("Podman")
        networks = self._json(["network", "inspect", "podman"], what="podman network inspect podman")
        for network in networks or []:
            for subnet in network.get("subnets") or []:
                if subnet.get("gateway"):
                    return str(subnet["gateway"])
        return "10.88.0.1"

    # -- containers --------------------------------------------------------------------------

    def _inspect(self, ids: Sequence[str]) -> list[ContainerInfo]:
        if not ids:
            return []
        found = self._json(["container", "inspect", *ids], what="podman container inspect")
        return [container_info(entry) for entry in found or []]

    def _ids(self, filters: Sequence[str], *, all: bool) -> list[str]:
        args = ["ps", "--quiet", "--no-trunc", *(["--all"] if all else [])]
        for item in filters:
            args += ["--filter", item]
        return self.run_podman(args, what="podman ps --filter ...").decode().split()

    def containers(self, *, labels: Mapping[str, str], all: bool = True) -> list[ContainerInfo]:
        return self._inspect(self._ids([f"label={key}={value}" for key, value in labels.items()], all=all))

    def container(self, name: str) -> ContainerInfo | None:
        try:
            found = self._inspect([name])
        except NotFoundError:
            return None
        return found[0] if found else None

    def containers_using(self, volume: str) -> list[ContainerInfo]:
        return self._inspect(self._ids([f"volume={volume}"], all=True))

    def _spec_args(self, spec: ContainerSpec) -> tuple[list[str], dict[str, str | None]]:
        """The options of `podman run/create` for `spec`, and the environment that carries its values."""
        args: list[str] = []
        env: dict[str, str | None] = {}
        if spec.name:
            args += ["--name", spec.name]
        for key, value in spec.labels.items():
            args += ["--label", f"{key}={value}"]
        for key, value in spec.env.items():
            args += ["--env", key]
            env[key] = value
        for port in spec.ports:
            args += ["--publish", f"{port.host_ip}:{port.host_port}:{port.container_port}"]
        selinux = bool(((self.facts.get("host") or {}).get("security") or {}).get("selinuxEnabled"))
        for mount in spec.mounts:
            args += ["--mount", mount_arg(mount, relabel=selinux)]
        if spec.host_user is not None:
            image = self.image(spec.image)
            args += user_args(spec, image.user if image else "", rootless=self.rootless, version=self.version)
        if not spec.network:
            args += ["--network", "none"]
        if spec.workdir:
            args += ["--workdir", spec.workdir]
        if spec.no_new_privileges:
            args += ["--security-opt", c.NO_NEW_PRIVILEGES]
        cgroups = str((self.facts.get("host") or {}).get("cgroupVersion") or "")
        args += resource_args(spec.resources, rootless=self.rootless, cgroups=cgroups)
        return args, env

    def run(self, spec: ContainerSpec) -> ContainerInfo:
        args, env = self._spec_args(spec)
        out = self.run_podman(
            ["run", "--detach", *args, spec.image, *(spec.command or ())], env=env, what=f"podman run -d {spec.image}"
        )
        return self._inspect([out.decode().split()[-1]])[0]

    def create(self, spec: ContainerSpec) -> ContainerInfo:
        args, env = self._spec_args(spec)
        out = self.run_podman(
            ["create", *args, spec.image, *(spec.command or ())], env=env, what=f"podman create {spec.image}"
        )
        return self._inspect([out.decode().split()[-1]])[0]

    def start(self, container: str) -> None:
        self.run_podman(["start", container], what=f"podman start {container}")

    def wait(self, container: str) -> int:
        out = self.run_podman(["wait", container], what=f"podman wait {container}", timeout=None)
        text = out.decode().strip().splitlines()
        return int(text[-1]) if text and text[-1].lstrip("-").isdigit() else -1

    def remove_container(self, container: str, *, stop_timeout: int = 10) -> None:
        # Already gone is the goal reached. --volumes: an anonymous volume (--mount none) goes with
        # its container; named ones never do.
        with contextlib.suppress(NotFoundError):
            self.run_podman(
                ["rm", "--force", "--volumes", "--time", str(stop_timeout), container], what=f"podman rm -f {container}"
            )

    def _stream(self, args: Sequence[str], what: str) -> Iterator[bytes]:
        """The stdout of a long podman command, chunk by chunk; its failure raised at the end."""
        process = subprocess.Popen(
            [self.program, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        assert process.stdout is not None
        assert process.stderr is not None
        try:
            while chunk := os.read(process.stdout.fileno(), 1 << 16):
                yield chunk
            code = process.wait()
            if code != 0:
                raise self._error(what, code, process.stderr.read().decode(errors="replace"))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
            process.stderr.close()

    def logs(self, container: str, *, follow: bool, tail: int | None = None) -> Iterator[bytes]:
        args = ["logs", *(["--follow"] if follow else []), *(["--tail", str(tail)] if tail is not None else [])]
        if self.container(container) is None:
            raise NotFoundError(f"podman logs {container}: not found.")
        # The container's stderr is podman's stderr: both streams, merged as Docker's logs are.
        process = subprocess.Popen(
            [self.program, *args, container], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        assert process.stdout is not None
        return self._drain(process)

    @staticmethod
    def _drain(process: subprocess.Popen[bytes]) -> Iterator[bytes]:
        assert process.stdout is not None
        try:
            while chunk := os.read(process.stdout.fileno(), 1 << 16):
                yield chunk
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait()
            process.stdout.close()

    def put_archive(self, container: str, path: str, data: bytes | IO[bytes]) -> None:
        payload = data if isinstance(data, bytes) else data.read()
        # --archive=false: owners as the tar records them, as Docker's archive endpoint keeps them.
        self.run_podman(
            ["cp", "--archive=false", "-", f"{container}:{path}"], input=payload, what=f"podman cp - {container}:{path}"
        )

    def get_archive(self, container: str, path: str) -> bytes:
        try:
            return self.run_podman(["cp", f"{container}:{path}", "-"], what=f"podman cp {container}:{path} -")
        except DockerCommandError as exc:
            if "no such file or directory" in exc.output.lower():
                raise NotFoundError(f"podman cp {container}:{path}: not found.") from exc
            raise

    def exec_interactive(
        self, container: str, command: tuple[str, ...], *, tty: bool, env: Mapping[str, str] | None = None
    ) -> int:
        names = [arg for name in (env or {}) for arg in ("--env", name)]  # values by environment, as for run
        return docker_cli.run_attached(
            ["exec", "-it" if tty else "-i", *names, container, *command], env=dict(env or {}), program=self.program
        )

    def run_interactive(self, spec: ContainerSpec, *, tty: bool, stdin: bool = True) -> int:
        name = spec.name or f"nbship-shell-{secrets.token_hex(4)}"  # known, so that it is removed in every case
        args, env = self._spec_args(dataclasses.replace(spec, name=name))
        flags = [*(["--interactive"] if stdin else []), *(["--tty"] if tty else [])]
        # No healthcheck for a one-off command: without systemd Podman only prints errors about it.
        command = ["run", *flags, "--no-healthcheck", *args, spec.image, *(spec.command or ())]
        try:
            try:
                code = docker_cli.run_attached(command, env=env, program=self.program)
            except KeyboardInterrupt:
                raise Interrupted("Interrupted: the container was stopped and removed.") from None
            ended = self.container(name)
            if ended is None or ended.status == "created":  # it never ran: Podman said why, above
                if spec.resources.gpus is not None:
                    raise gpu_error(f"podman run exited with {code}; its message is above")
                raise RunError(f"A container of {spec.image} could not start; Podman's message is above.")
            return ended.exit_code if ended.exit_code is not None else code
        finally:
            self.remove_container(name, stop_timeout=3)

    # -- volumes -----------------------------------------------------------------------------

    def volume(self, name: str) -> VolumeInfo | None:
        try:
            found = self._json(["volume", "inspect", name], what=f"podman volume inspect {name}")
        except NotFoundError:
            return None
        return volume_info(found[0]) if found else None

    def volumes(self, *, labels: Mapping[str, str]) -> list[VolumeInfo]:
        args = ["volume", "ls", "--format", "json"]
        for key, value in labels.items():
            args += ["--filter", f"label={key}={value}"]
        return [volume_info(entry) for entry in self._json(args, what="podman volume ls --filter label=...") or []]

    def create_volume(self, name: str, *, labels: Mapping[str, str]) -> VolumeInfo:
        args = ["volume", "create"]
        for key, value in labels.items():
            args += ["--label", f"{key}={value}"]
        self.run_podman([*args, name], what=f"podman volume create {name}")
        created = self.volume(name)
        if created is None:
            raise NotFoundError(f"podman volume create {name}: the volume is not there afterwards.")
        return created

    def remove_volume(self, name: str) -> None:
        self.run_podman(["volume", "rm", name], what=f"podman volume rm {name}")

    def export_volume(self, name: str) -> Iterator[bytes]:
        return self._stream(["volume", "export", name], f"podman volume export {name}")

    def import_volume(self, name: str, data: IO[bytes]) -> None:
        self._feed(["volume", "import", name, "-"], data, f"podman volume import {name}")

    def _feed(self, args: Sequence[str], data: IO[bytes], what: str) -> bytes:
        """Runs podman with `data` streamed to its stdin (a volume or an image can be large); its stdout."""
        with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as errors:
            process = subprocess.Popen([self.program, *args], stdin=subprocess.PIPE, stdout=output, stderr=errors)
            assert process.stdin is not None
            try:
                shutil.copyfileobj(data, process.stdin, 1 << 20)
            except BrokenPipeError:
                pass  # podman stopped reading; its exit code and message say why
            finally:
                process.stdin.close()
            code = process.wait()
            if code != 0:
                errors.seek(0)
                raise self._error(what, code, errors.read().decode(errors="replace"))
            output.seek(0)
            return output.read()

    def save_image(self, reference: str) -> Iterator[bytes]:
        return self._stream(["save", "--format", "docker-archive", reference], f"podman save {reference}")

    def load_image(self, data: IO[bytes]) -> tuple[str, ...]:
        said = self._feed(["load"], data, "podman load").decode(errors="replace")
        loaded: list[str] = []
        for line in said.splitlines():
            # Podman 4 says "Loaded image: REF" (older releases "Loaded image(s): REF,REF").
            head, sep, rest = line.partition(":")
            if sep and head.strip().startswith("Loaded image"):
                loaded.extend(part.strip() for part in rest.split(",") if part.strip())
        return tuple(loaded)

    # -- registries --------------------------------------------------------------------------

    def _transfer(self, action: str, reference: str, extra: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        command = [self.program, action, *self._tls(reference), *extra, reference]
        process = docker_cli.CliProcess(command)
        lines = list(process.lines())
        if process.wait() != 0:
            message = next((line.removeprefix("Error: ") for line in reversed(lines) if line.startswith("Error")), "")
            yield {"error": message or "\n".join(lines[-3:])}
            return
        yield from push_events(lines)

    def push(self, repository: str, tag: str) -> Iterator[dict[str, Any]]:
        with tempfile.TemporaryDirectory(prefix="nbship-push-") as tmp:
            digest_file = Path(tmp) / "digest"
            yield from self._transfer("push", f"{repository}:{tag}", ["--digestfile", str(digest_file)])
            if digest_file.is_file():
                yield {"aux": {"Digest": digest_file.read_text().strip()}}

    def pull(self, repository: str, tag: str | None, digest: str | None) -> Iterator[dict[str, Any]]:
        # Docker's meaning of a name without a registry (Podman would ask which registry to use).
        qualified = docker_hub_name(repository)
        return self._transfer("pull", f"{qualified}@{digest}" if digest else f"{qualified}:{tag or 'latest'}")

    def login(self, registry: str, username: str, password: str) -> tuple[int, str]:
        # Podman keeps the credentials in its auth file (REGISTRY_AUTH_FILE, else
        # $XDG_RUNTIME_DIR/containers/auth.json), where its pushes and pulls look.
        return docker_cli.run_with_input(
            ["login", *self._tls(f"{registry}/x"), "--username", username, "--password-stdin", registry],
            password,
            program=self.program,
        )
