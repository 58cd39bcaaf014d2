"""What the bot trusts: which URLs it fetches, which addresses it connects to, where keys go.

Rules, one home for each (the README's Security section says the same in words):

- Every URL the bot fetches must be https and reach only public addresses, unless its
  origin is *trusted*. A trusted origin is fetched exactly as written: it may be http when
  written so, and it may resolve to a private address. Nothing else private is ever fetched.
- Trusted origins are: the configured base URL of each enabled provider; the operator's
  ``TRUSTED_HOSTS`` and ``PROVIDER_API_HOSTS``; and, built in, each enabled provider's own
  domains over https (``PROVIDER_DOMAINS``, from the providers' documentation).
- A provider's key is attached only to requests for its own API: the origin of its base
  URL, its extra ``PROVIDER_API_HOSTS`` entries, and its documented API hosts over https
  (``DOCUMENTED_API_HOSTS`` below, e.g. BFL's regional polling hosts). An answer pointing
  elsewhere is a provider fault: not followed, and logged without the key.

Host patterns: ``example.com`` matches that host and its subdomains; ``api.*.bfl.ai``
matches one label in place of the ``*``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.errors import ProviderFault
from bot.origins import BadOrigin, Origin, authority, origin_of, parse_origin
from bot.providers.addresses import address_problem, parse_address

if TYPE_CHECKING:
    from bot.settings import Settings

# Each provider's own domains (API and media/CDN), trusted over https for downloads.
PROVIDER_DOMAINS: dict[str, tuple[str, ...]] = {
    "bfl": ("bfl.ai", "bfl.ml"),  # api[.eu|.us|.eu1…].bfl.ai, delivery-eu1.bfl.ai, legacy bfl.ml
    "fal": ("fal.run", "fal.media"),  # queue.fal.run, fal.run, v3.fal.media
    "replicate": ("replicate.com", "replicate.delivery"),
    "wavespeed": ("wavespeed.ai",),
    "apiframe": ("apiframe.ai",),
    "aimlapi": ("aimlapi.com",),  # api.aimlapi.com, cdn.aimlapi.com
    "openai_compat": (),  # only its configured base URL
}

# Hosts that receive a provider's key (https, port 443), besides its base URL's origin.
DOCUMENTED_API_HOSTS: dict[str, tuple[str, ...]] = {
    "bfl": ("api.bfl.ai", "api.*.bfl.ai", "api.bfl.ml"),  # polling_url may name a region
    "fal": ("queue.fal.run", "fal.run"),
    "replicate": ("api.replicate.com",),
    "wavespeed": ("api.wavespeed.ai",),
    "apiframe": ("api.apiframe.ai",),
    "aimlapi": ("api.aimlapi.com",),
    "openai_compat": (),
}


log = logging.getLogger(__name__)


class UnsafeUrl(ValueError):
    """A URL the bot will not fetch; the message is the bot's own words (safe to show)."""


def host_matches(host: str, pattern: str) -> bool:
    """Whether ``host`` is ``pattern``'s domain (or a subdomain), or fits its ``*`` label."""
    if "*" in pattern:
        want, got = pattern.split("."), host.split(".")
        return len(want) == len(got) and all(
            w == g or (w == "*" and g) for w, g in zip(want, got, strict=True)
        )
    return host == pattern or host.endswith("." + pattern)


@dataclass(frozen=True)
class TrustPolicy:
    """The trusted origins and domains for fetching; immutable, built once from settings."""

    origins: frozenset[Origin] = frozenset()
    domains: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> TrustPolicy:
        """Trust the enabled providers' base URLs and domains plus the operator's entries."""
        enabled = settings.enabled_providers()
        origins: set[Origin] = set(settings.trusted_hosts)
        for name in enabled:
            url = settings.base_url(name)
            if url is not None:
                origins.add(origin_of(url))
            origins.update(settings.provider_api_hosts.get(name, ()))
        domains = tuple(d for name in enabled for d in PROVIDER_DOMAINS[name])
        return cls(frozenset(origins), domains)

    def trusting(self, origins: Iterable[str | Origin]) -> TrustPolicy:
        """This policy with more trusted origins (URLs or hosts, as an operator writes them)."""
        more = {o if isinstance(o, Origin) else parse_origin(o) for o in origins}
        return TrustPolicy(self.origins | more, self.domains)

    def trusts(self, origin: Origin) -> bool:
        """Whether ``origin`` may be fetched as written, private addresses included."""
        if origin in self.origins:
            return True
        return (
            origin.scheme == "https"
            and origin.port == 443
            and any(host_matches(origin.host, d) for d in self.domains)
        )

    def trusts_name(self, host: str, port: int) -> bool:
        """The resolver's question: may this host name resolve to a private address?"""
        return self.trusts(Origin("https", host, port)) or any(
            o.host == host and o.port == port for o in self.origins
        )

    def check(self, url: str) -> Origin:
        """The URL's origin if the bot may fetch it; UnsafeUrl saying why not.

        A host name is judged again at connect time on every address it resolves to
        (``guard.AddressGuard``); here an IP address in the URL is judged at once. The
        verdict depends on the URL's scheme and authority alone, so it is kept per authority.
        """
        return self._check(authority(url))

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - policies live as long as the process
    def _check(self, url: str) -> Origin:
        try:
            origin = origin_of(url)
            parts = urlsplit(url)
        except (BadOrigin, ValueError) as exc:
            raise UnsafeUrl(f"it is not a web link ({exc})") from None
        if parts.username is not None or parts.password is not None:
            raise UnsafeUrl("it carries a user name or password")
        if self.trusts(origin):
            return origin
        if origin.scheme != "https":
            raise UnsafeUrl("it is not https")
        address = parse_address(origin.host)
        if address is not None and (problem := address_problem(address)) is not None:
            raise UnsafeUrl(f"it points to {problem}")
        return origin


@dataclass(frozen=True)
class ApiHosts:
    """Where one provider's key may go."""

    provider: str
    base_url: str
    extra: frozenset[Origin] = field(default_factory=frozenset)

    def allows(self, url: str) -> bool:
        """Whether a request to ``url`` may carry this provider's key."""
        try:
            origin, base = origin_of(url), origin_of(self.base_url)
        except BadOrigin:
            return False
        if origin == base or origin in self.extra:
            return True
        return (
            origin.scheme == "https"
            and origin.port == 443
            and any(
                host_matches(origin.host, p) for p in DOCUMENTED_API_HOSTS.get(self.provider, ())
            )
        )

    def refusal(self, url: str) -> ProviderFault:
        """The provider fault for an answer that points the key elsewhere; logged, key-free."""
        try:
            where = str(origin_of(url))
        except BadOrigin:
            where = "an unreadable link"
        log.warning(
            "%s answered with a link to %s, which is not one of its API hosts; "
            "not followed, and the key was not sent",
            self.provider,
            where,
        )
        return ProviderFault(
            f"an answer pointed the key at {where}",
            reason="it sent the bot to a host that is not the provider's own API",
            provider=self.provider,
        )
