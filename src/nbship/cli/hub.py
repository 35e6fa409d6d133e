"""nbship hub up, down, status, image and k8s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from nbship import contract as c
from nbship.cli import console
from nbship.cli.app import json_option
from nbship.cli.options import (
    build_options,
    build_options_from,
    container_options,
    env_from,
    optional_path_arg,
    resources_from,
)
from nbship.sources.refs import ProjectPath


@click.group()
def hub() -> None:
    """Serve PATH to a lab or a class with JupyterHub, on this machine or a Swarm.

    Each user gets a server from the project's image and a volume of their own for their work,
    which the image fills and brings up to date at every start, as for `nbship up`."""


@hub.command("up")
@optional_path_arg
@click.option("--image", help="Serve this image as given (made hub-ready); without PATH, from any folder.")
@click.option("-p", "--port", type=int, help=f"Host port (default {c.HUB_PORT}, or `port` in [hub]).")
@click.option(
    "--bind",
    help=f"Host address to publish on (default {c.LOOPBACK}); 0.0.0.0 opens the hub to the network.",
)
@click.option("--user", "users", multiple=True, metavar="NAME", help="A user of the hub (repeatable); gets a password.")
@click.option("--admin", "admins", multiple=True, metavar="NAME", help="An admin of the hub (repeatable).")
@click.option(
    "--swarm/--no-swarm",
    default=None,
    help="Run each user's server as a Docker Swarm service (the engine must be a swarm manager).",
)
@click.option(
    "--idle-timeout",
    type=int,
    metavar="SECONDS",
    help="Stop a user's server after this long without activity (default 3600; 0: never).",
)
@click.option("--new-passwords", is_flag=True, help="Give every user named a new password (default: new users only).")
@click.option("-d", "--detach", is_flag=True, help="Return once the hub answers; leave it running.")
@json_option
@container_options
@build_options
def hub_up(
    path: ProjectPath | None,
    image: str | None,
    port: int | None,
    bind: str | None,
    users: tuple[str, ...],
    admins: tuple[str, ...],
    swarm: bool | None,
    idle_timeout: int | None,
    new_passwords: bool,
    detach: bool,
    as_json: bool,
    **kwargs: Any,
) -> None:
    """Start JupyterHub for PATH: each user's server from its image, each user's work in a volume.

    The users named get random passwords, shown once (the hub keeps only their hashes); run it
    again with other users to change who may log in. `-e`, `--memory` and `--cpus` apply to each
    user's server."""
    from nbship import api
    from nbship.errors import UsageError

    if as_json and not detach:
        raise UsageError("--json prints the running hub and returns, so it goes with --detach (-d).")
    options = api.HubOptions(
        image=image,
        port=port,
        bind=bind,
        users=users,
        admins=admins,
        swarm=swarm,
        idle_timeout=idle_timeout,
        new_passwords=new_passwords,
        env=env_from(kwargs),
        resources=resources_from(kwargs),
    )
    with console.progress() as reporter:
        outcome = api.hub_up(
            path=path,
            options=options,
            build_options=build_options_from(kwargs),
            reporter=reporter,
            engine=console.engine(),
        )
    found = outcome.hub
    mode = "as Swarm services" if found.swarm else "on this machine"
    console.say(f"JupyterHub for {found.project_path} is ready; users' servers run {found.image} {mode}:")
    if as_json:
        from nbship.cli import jsonout

        console.emit_json(jsonout.hub(outcome))
    else:
        console.out(found.url)
        for user in outcome.users:
            password = outcome.passwords.get(user.name)
            role = " (admin)" if user.admin else ""
            if outcome.login != "password":
                shown = f"logs in with {outcome.login}"
            else:
                shown = f"password {password}" if password else "keeps their password"
            console.out(f"{user.name}{role}\t{shown}")
        if outcome.passwords:
            console.say(
                "The passwords are shown only now: the hub keeps their hashes, nbship keeps nothing. "
                "`nbship hub up --new-passwords` makes new ones."
            )
    again = f"--image {image}" if path is None and image else str(path or ".")
    if detach:
        console.say(f"Stop it with: nbship hub down {again}")
        return
    console.follow_log(
        api.hub_logs(hub=found, engine=console.engine()),
        intro="Showing the hub's log; press Ctrl-C to stop the hub (every user's work stays in their volume).",
        stop=lambda: api.hub_down(path=path, image=image, engine=console.engine()),
        ended=f"The hub stopped on its own; `docker logs {found.container_name}` shows why.",
    )


@hub.command("down")
@optional_path_arg
@click.option("--image", help="The hub started with `nbship hub up --image IMAGE`.")
@click.option("--volumes", is_flag=True, help="Also remove every user's work volume and the hub's own.")
def hub_down(path: ProjectPath | None, image: str | None, volumes: bool) -> None:
    """Stop PATH's hub and every user's server (their work stays in their volumes)."""
    from nbship import api

    with console.progress() as reporter:
        outcome = api.hub_down(path=path, image=image, volumes_too=volumes, reporter=reporter, engine=console.engine())
    console.say(f"Stopped {outcome.hub.container_name}." if outcome.hub else "No hub was running for this project.")
    if outcome.removed_servers:
        console.say(f"Removed the servers the hub left: {', '.join(outcome.removed_servers)}.")
    for name in outcome.removed_volumes:
        console.say(f"Removed the volume {name}.")
    if outcome.kept_volumes:
        console.say(
            f"The work is kept in {len(outcome.kept_volumes)} volume(s) ({', '.join(outcome.kept_volumes)}); "
            "`nbship hub up` finds it again, `nbship hub down --volumes` removes it."
        )


@hub.command("status")
@optional_path_arg
@json_option
def hub_status(path: ProjectPath | None, as_json: bool) -> None:
    """List the hubs on this machine: their URLs, users and users' servers."""
    from nbship import api

    found = api.hub_status(path=path, engine=console.engine())
    if as_json:
        from nbship.cli import jsonout

        console.emit_json(jsonout.hubs(found))
        return
    if not found:
        console.say("No nbship hub is on this machine.")
        return
    for item in found:
        where = "swarm" if item.hub.swarm else "host"
        console.out(f"{item.hub.project_path}\t{item.hub.status}\t{item.hub.url}\t{item.hub.image}\t{where}")
        for user in item.users:
            role = " (admin)" if user.admin else ""
            console.out(f"  {user.name}{role}\t{user.server or 'no server'}\t{user.url}")
        if item.note:
            console.say(f"  {item.note}")


@hub.command("image")
@optional_path_arg
@click.option("--image", help="Make this image hub-ready instead of PATH's.")
@click.option("--name", "name", help="The hub-ready image's name (default: the image's tag plus -hub).")
@json_option
@build_options
def hub_image(path: ProjectPath | None, image: str | None, name: str | None, as_json: bool, **kwargs: Any) -> None:
    """Build PATH's image made hub-ready: what each user's server runs (push it for a cluster)."""
    from nbship import api

    with console.progress() as reporter:
        outcome = api.hub_image(
            path=path,
            image=image,
            tag=name,
            build_options=build_options_from(kwargs),
            reporter=reporter,
            engine=console.engine(),
        )
    if as_json:
        console.emit_json({"format": 1, "image": outcome.image, "source": outcome.source, "built": outcome.built})
        return
    console.say(f"{outcome.image} is {outcome.source} made hub-ready" + ("." if outcome.built else " (up to date)."))
    console.out(outcome.image)


@hub.command("k8s")
@optional_path_arg
@click.option("--image", required=True, help="The hub-ready image, with a tag, in a registry the cluster reaches.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("values.yaml"),
    show_default=True,
    help="The values file to write (secrets go to NAME.secret.yaml beside it).",
)
@click.option("--storage", default="10Gi", show_default=True, help="Each user's volume, as Kubernetes writes sizes.")
@click.option("--force", is_flag=True, help="Replace files nbship did not write.")
def hub_k8s(path: ProjectPath | None, image: str, output: Path, storage: str, force: bool) -> None:
    """Write Zero to JupyterHub Helm values for PATH's image (no Docker or cluster needed)."""
    from nbship import api

    outcome = api.hub_k8s(path=path, image=image, output=output, storage=storage, force=force, engine=console.engine())
    console.say(f"Wrote {outcome.values_file}.")
    if outcome.secrets_file is not None:
        console.say(f"Wrote the secrets into {outcome.secrets_file} (readable by you only; keep it out of git).")
    files = f"-f {outcome.values_file}" + (f" -f {outcome.secrets_file}" if outcome.secrets_file else "")
    console.out(f"helm upgrade --install hub jupyterhub/jupyterhub {files}")
