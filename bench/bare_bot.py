"""The obvious alternative to imagine-bot, as a baseline for the end-to-end benchmark.

A minimal discord.py bot, as a server owner might write in an afternoon: ``/imagine`` defers,
submits to fal's queue, polls the status every second, fetches the result and the image,
and puts the file on the deferred reply. No queue, no limits, no credits, no persistence,
no failover: nothing survives a restart and nothing is checked.

    FAKE_DISCORD_URL=... DISCORD_TOKEN=... FAL_KEY=... FAL_BASE_URL=... python -m bench.bare_bot

It runs against the same fake Discord and fake fal as the real bot (``bench.e2e``). It is
benchmark code: never run it against the real Discord.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal

import aiohttp
import discord
import yarl
from discord import app_commands

APP = "fal-ai/flux-pro/v1.1-ultra"
POLL_EVERY = 1.0


class BareBot(discord.Client):
    """One slash command, one aiohttp session, discord.py's defaults for everything else."""

    def __init__(self, fal_url: str, fal_key: str) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(intents=intents, guild_ready_timeout=0.1)
        self.tree = app_commands.CommandTree(self)
        self.fal_url = fal_url.rstrip("/")
        self.headers = {"Authorization": f"Key {fal_key}"}
        self.session: aiohttp.ClientSession | None = None
        self.tree.add_command(
            app_commands.Command(name="imagine", description="Make an image", callback=self.imagine)
        )

    async def setup_hook(self) -> None:
        """Open the HTTP session and register the command."""
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        await self.tree.sync()

    async def close(self) -> None:
        """Close the session, then the client."""
        if self.session is not None:
            await self.session.close()
        await super().close()

    async def imagine(self, interaction: discord.Interaction, prompt: str) -> None:
        """Defer, submit, poll every second, fetch, post."""
        assert self.session is not None
        await interaction.response.defer(thinking=True)
        body = {"prompt": prompt, "aspect_ratio": "1:1", "output_format": "jpeg"}
        async with self.session.post(
            f"{self.fal_url}/{APP}", json=body, headers=self.headers
        ) as resp:
            submitted = await resp.json()
        while True:
            await asyncio.sleep(POLL_EVERY)
            async with self.session.get(submitted["status_url"], headers=self.headers) as resp:
                status = await resp.json()
            if status["status"] == "COMPLETED":
                break
        async with self.session.get(submitted["response_url"], headers=self.headers) as resp:
            result = await resp.json()
        async with self.session.get(result["images"][0]["url"]) as resp:
            image = await resp.read()
        await interaction.edit_original_response(
            attachments=[discord.File(io.BytesIO(image), filename="image.jpg")]
        )


async def main() -> None:
    """Run until SIGTERM."""
    base = yarl.URL(os.environ["FAKE_DISCORD_URL"])
    discord.http.Route.BASE = str(base / "api" / "v10")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = base.with_scheme("ws") / "gateway"
    bot = BareBot(os.environ["FAL_BASE_URL"], os.environ["FAL_KEY"])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with bot:
        runner = asyncio.create_task(bot.start(os.environ["DISCORD_TOKEN"]))
        await stop.wait()
        await bot.close()
        await asyncio.gather(runner, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
