"""The ``lms-bridge`` command.  Each command lives with its area and is imported only when used,
so that ``lms-bridge check`` starts fast and a problem in one area never breaks the others."""

from __future__ import annotations

import importlib
from typing import Any

import click

from lms_bridge.backends import use_sandbox_starter
from lms_bridge.config import Settings

# name -> "module:attribute" of a click.Command / click.Group
COMMANDS: dict[str, str] = {
    "check": "lms_bridge.sessionfile.commands:check_cmd",
    "import": "lms_bridge.sessionfile.commands:import_cmd",
    "provision": "lms_bridge.provisioning.commands:provision_cmd",
    "db": "lms_bridge.store.commands:db_group",
    "demo": "lms_bridge.demo:demo_cmd",
    "serve": "lms_bridge.demo:serve_cmd",
    "worker": "lms_bridge.jobs.commands:worker_cmd",
    "sandbox": "lms_bridge.sandbox:sandbox_group",
    "verify-draw": "lms_bridge.domain.verify_draw:verify_draw_cmd",
    "user": "lms_bridge.admin.commands:user_group",
    "doctor": "lms_bridge.doctor:doctor_cmd",
    "ratings": "lms_bridge.results.commands:ratings_cmd",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


def _start_embedded_sandbox(settings: Settings) -> str:
    from lms_bridge.sandbox import start_embedded

    return start_embedded(settings)


def _stop_embedded_sandboxes() -> None:
    from lms_bridge.sandbox import stop_embedded

    use_sandbox_starter(None)
    stop_embedded()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lms-bridge")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """lms_bridge: remote final attestation through Google Classroom, Forms, Sheets and Moodle."""
    # The embedded default: a command that needs Google or Moodle in sandbox mode, with no
    # LMS_BRIDGE_SANDBOX_URL, starts the sandbox in this process when it first builds the clients
    # (`provision`, `worker`), and the sandbox stops when the command ends.
    use_sandbox_starter(_start_embedded_sandbox)
    ctx.call_on_close(_stop_embedded_sandboxes)


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="lms-bridge")


if __name__ == "__main__":
    main()
