"""``lastcall.httpx.AsyncTransport``: lastcall's client under httpx's API.

An alias module so that ``import lastcall.httpx`` reads naturally; the
implementation is ``lastcall.client.httpx_transport``. Needs ``httpx``
(``pip install 'lastcall[httpx]'``).
"""

from __future__ import annotations

from lastcall.client.httpx_transport import AsyncTransport

__all__ = ["AsyncTransport"]
