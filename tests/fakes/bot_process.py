"""``imagine-bot run`` in its own process, pointed at a local fake Discord.

    FAKE_DISCORD_URL=http://127.0.0.1:PORT python -m tests.fakes.bot_process

Everything else comes from the environment, as for the real command. Used by the
shutdown tests and the end-to-end benchmark. With ``IMAGINE_PROFILE=FILE`` the run is
profiled (cProfile) and the statistics written to FILE when the bot stops.
"""

from __future__ import annotations

import os
import sys

import discord
import yarl

from bot.__main__ import main

if __name__ == "__main__":
    base = yarl.URL(os.environ["FAKE_DISCORD_URL"])
    discord.http.Route.BASE = str(base / "api" / "v10")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = base.with_scheme("ws") / "gateway"
    profile_to = os.environ.get("IMAGINE_PROFILE")
    if not profile_to:
        sys.exit(main(["run"]))
    import cProfile

    profiler = cProfile.Profile()
    code = profiler.runcall(main, ["run"])
    profiler.dump_stats(profile_to)
    sys.exit(code)
