"""Signed WeChat pushes for the load generators: built right before a run (fresh timestamps),
each with its own MsgId so the reply cache never short-circuits them.

A request is kept as (path with the signed query, body); `raw_http` turns it into the exact
bytes of an HTTP/1.1 request, `write_wrk_file` into the one-per-line file the Lua script reads.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from benchmarks._wechat_data import query_points
from o2o.config import Settings
from o2o.wechat.simulator import build_request, decode_reply, location_xml

#: Distinct customers the pushes come from (openids are hashed by the server).
CUSTOMERS = 2_000
LABELS = ["人民广场", "中关村大街", "天河路", "科技园", "春熙路", "解放碑", "江汉路"]


@dataclass(frozen=True)
class Keys:
    """The Official Account's credentials, shared by the server and the load generator."""

    token: str = "bench-token"
    aes_key: str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    appid: str = "wxbench0000000001"

    def env(self) -> dict[str, str]:
        # Plain pushes are measured too: a server with a key accepts them only so told.
        return {"O2O_WECHAT_TOKEN": self.token, "O2O_WECHAT_AES_KEY": self.aes_key,
                "O2O_WECHAT_APPID": self.appid, "O2O_WECHAT_ACCEPT_PLAINTEXT": "true"}

    def settings(self, url: str, **extra: Any) -> Settings:
        """In-process settings on the existing chain at `url` (no migration, no demo data),
        with these credentials and the same acceptance of plain pushes as `env`."""
        return Settings(
            database_url=url, auto_migrate=False, load_demo_data=False,
            wechat_token=self.token, wechat_aes_key=self.aes_key, wechat_appid=self.appid,
            wechat_accept_plaintext=True, wechat_secret="bench", signing_key="s" * 40,
            customer_hash_key="h" * 40, **extra)


class Pushes:
    """An endless supply of distinct location messages: positions cycle, MsgIds never repeat."""

    def __init__(self, keys: Keys, *, points: int = 20_000) -> None:
        self.keys = keys
        self.points = query_points(points)
        self._msg_ids = itertools.count(10**15)
        self._next = 0

    def build(self, n: int, *, aes: bool) -> list[tuple[str, bytes]]:
        """n signed requests with the current time as their timestamp."""
        now = int(time.time())
        out = []
        for _ in range(n):
            i = self._next
            self._next += 1
            lat, lng = self.points[i % len(self.points)]
            openid = f"o_bench_{i % CUSTOMERS:06d}"
            xml = location_xml(lat, lng, LABELS[i % len(LABELS)], from_user=openid,
                               create_time=now, msg_id=next(self._msg_ids))
            query, body = build_request(
                xml, token=self.keys.token, timestamp=now, nonce=str(i), openid=openid,
                aes_key=self.keys.aes_key if aes else None, appid=self.keys.appid)
            out.append(("/wechat?" + urlencode(query), body))
        return out

    def repeat(self, n: int, *, aes: bool, distinct: int = 100) -> list[tuple[str, bytes]]:
        """n requests that are WeChat's retries of only `distinct` messages (cached path)."""
        first = self.build(distinct, aes=aes)
        return [first[i % distinct] for i in range(n)]

    def decode(self, body: bytes, *, aes: bool) -> object:
        k = self.keys
        return decode_reply(body, token=k.token, aes_key=k.aes_key if aes else None,
                            appid=k.appid, encrypted=aes)


def raw_http(requests: list[tuple[str, bytes]], host: str) -> list[bytes]:
    """The bytes of each request as a keep-alive HTTP/1.1 POST."""
    return [(f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
             f"Content-Type: text/xml; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n"
             ).encode("ascii") + body for path, body in requests]


def write_wrk_file(requests: list[tuple[str, bytes]], path: Path) -> Path:
    """One request per line, `path TAB body`; neither contains a tab or a newline."""
    with path.open("wb") as out:
        for target, body in requests:
            if b"\n" in body or b"\t" in body:
                raise ValueError("a body with a newline or tab cannot go in the wrk file")
            out.write(target.encode("ascii") + b"\t" + body + b"\n")
    return path
