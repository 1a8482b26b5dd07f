"""`o2o simulate ...` (play the WeChat server against a running instance) and `o2o wechat menu`."""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from o2o.config import Settings, get_settings
from o2o.errors import ConfigError, O2OError
from o2o.wechat import simulator

EVENT_HELP = ("subscribe | unsubscribe | click KEY | location_select LAT LNG [LABEL] | "
              "LOCATION LAT LNG [PRECISION] | subscribe_msg_popup TEMPLATE_ID accept|reject | "
              "subscribe_msg_change TEMPLATE_ID | subscribe_msg_sent TEMPLATE_ID [MSGID] "
              "[success|failed:CODE]")


def register(subparsers: Any) -> None:
    """Add `simulate` and `wechat` to the main CLI (each command sets `func`)."""
    sim = subparsers.add_parser("simulate", help="play the WeChat server: send a push, print the reply")
    kinds = sim.add_subparsers(dest="kind", required=True, metavar="KIND")
    loc = kinds.add_parser("location", help="share a location in chat")
    loc.add_argument("lat", type=float)
    loc.add_argument("lng", type=float)
    loc.add_argument("label", nargs="?", default="")
    text = kinds.add_parser("text", help="type a text message")
    text.add_argument("content")
    event = kinds.add_parser("event", help=EVENT_HELP)
    event.add_argument("event", metavar="EVENT")
    event.add_argument("params", nargs="*", metavar="ARG")
    for parser in (loc, text, event):
        _common_options(parser)
        parser.set_defaults(func=run)
    platform = kinds.add_parser("platform", help="play WeChat's server API locally (token, "
                                "ticket, OAuth, menu, subscribe messages) for a demo")
    platform.add_argument("--host", default="127.0.0.1")
    platform.add_argument("--port", type=int, default=8089)
    platform.set_defaults(func=_standin)

    wechat = subparsers.add_parser("wechat", help="Official Account setup")
    tasks = wechat.add_subparsers(dest="task", required=True, metavar="TASK")
    menu = tasks.add_parser("menu", help="print the menu JSON; --create installs it")
    menu.add_argument("--create", action="store_true", help="create it through WeChat's API")
    menu.add_argument("--appid", help="default: O2O_WECHAT_APPID")
    menu.add_argument("--secret", help="default: O2O_WECHAT_SECRET")
    menu.set_defaults(func=run)


#: The lead's brief named it so; both names mount the same commands.
add_arguments = register


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=simulator.DEFAULT_URL)
    parser.add_argument("--crs", choices=("gcj02", "wgs84", "bd09"), default="gcj02",
                        help="datum of the coordinates typed (WeChat sends GCJ-02; default)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--encrypt", action="store_const", dest="mode", const="safe",
                      help="安全模式: AES-encrypt the push (the default when a key is configured)")
    mode.add_argument("--compat", action="store_const", dest="mode", const="compat",
                      help="兼容模式: encrypted, with the fields repeated in clear")
    mode.add_argument("--plain", action="store_const", dest="mode", const="plain",
                      help="明文: unencrypted (refused by a server with a key, unless "
                           "O2O_WECHAT_ACCEPT_PLAINTEXT is set)")
    parser.add_argument("--token", help="default: O2O_WECHAT_TOKEN (or the development token)")
    parser.add_argument("--aes-key", help="default: O2O_WECHAT_AES_KEY")
    parser.add_argument("--appid", help="default: O2O_WECHAT_APPID")
    parser.add_argument("--openid", default=simulator.OPENID, help="the simulated customer")
    parser.add_argument("--json", action="store_true", help="print the decoded reply as JSON")


def run(args: argparse.Namespace) -> int:
    """Execute a parsed `simulate` or `wechat` command; return the exit code."""
    if getattr(args, "task", None) == "menu":
        return _menu(args)
    settings = _settings()
    token = args.token or settings.wechat_token
    aes_key = None if args.mode == "plain" else (args.aes_key or settings.wechat_aes_key or None)
    if aes_key is None and args.mode in ("safe", "compat"):
        raise ConfigError("encrypting needs the EncodingAESKey (--aes-key or O2O_WECHAT_AES_KEY)")
    appid = args.appid or settings.wechat_appid
    xml = _push(args)
    reply = simulator.send(xml, url=args.url, token=token, aes_key=aes_key, appid=appid,
                           openid=args.openid, compat=args.mode == "compat")
    if args.json:
        print(json.dumps({"kind": reply.kind, "text": reply.text,
                          "articles": [dict(a) for a in reply.articles]}, ensure_ascii=False))
    else:
        print(reply)
    return 0


def _push(args: argparse.Namespace) -> str:
    """Build the push XML the command describes."""
    common = {"from_user": args.openid}
    if args.kind == "text":
        return simulator.text_xml(args.content, **common)
    if args.kind == "location":
        lat, lng = _to_gcj02(args.lat, args.lng, args.crs)
        return simulator.location_xml(lat, lng, args.label, **common)
    name, params = args.event.lower(), list(args.params)
    try:
        if name in ("location_select", "location"):
            lat, lng = _to_gcj02(float(params[0]), float(params[1]), args.crs)
            params[:2] = [lat, lng]
        return simulator.event_xml(name, *params, **common)
    except (IndexError, ValueError) as exc:
        raise O2OError(f"event arguments: {EVENT_HELP} ({exc})", code="usage") from exc


def _to_gcj02(lat: float, lng: float, crs: str) -> tuple[float, float]:
    """Convert typed coordinates to GCJ-02, as a phone in mainland China would report them."""
    if crs == "gcj02":
        return lat, lng
    from o2o.geo.datum import Datum, from_wgs84, to_wgs84  # the geo package owns datums

    wlat, wlng = to_wgs84(lat, lng, Datum(crs))
    glat, glng = from_wgs84(wlat, wlng, Datum.GCJ02)
    return float(glat), float(glng)


def _menu(args: argparse.Namespace) -> int:
    """Print the menu JSON, or create it on the Official Account."""
    menu = simulator.menu_json()
    print(json.dumps(menu, ensure_ascii=False, indent=2))
    if not args.create:
        return 0
    settings = _settings()
    updates = {k: v for k, v in (("wechat_appid", args.appid), ("wechat_secret", args.secret)) if v}
    settings = settings.model_copy(update=updates)
    from o2o.services import connect_redis
    from o2o.wechat.platform import build_platform
    from o2o.wechat.platform.client import DEFAULT_BASE

    # The development appid only exists on the stand-in (`o2o simulate platform`).
    if settings.wechat_api_base.rstrip("/") == DEFAULT_BASE and \
            settings.wechat_appid == "wxo2odevelopment":
        raise ConfigError("creating the menu needs the real appid and secret (--appid/--secret)")

    # The shared token service: with O2O_REDIS_URL this reuses the workers' token.
    redis = connect_redis(settings.redis_url) if settings.redis_url else None
    platform = build_platform(settings, redis=redis)
    try:
        platform.create_menu(menu)
    finally:
        platform.close()
        if redis is not None:
            redis.close()
    print("menu created")
    return 0


def _standin(args: argparse.Namespace) -> int:
    """Serve the WeChat API stand-in for the configured appid and secret until Ctrl-C."""
    from o2o.wechat.platform.standin import StandIn
    from o2o.wechat.platform.standin_http import make_server

    settings = _settings()
    templates = {settings.wechat_subscribe_template_id or "o2o-standin-template"}
    standin = StandIn(appid=settings.wechat_appid, secret=settings.wechat_secret,
                      template_ids=templates)
    server = make_server(standin, args.host, args.port)
    base = f"http://{args.host}:{server.server_address[1]}"
    print(f"WeChat API stand-in for {settings.wechat_appid} on {base} "
          f"(subscribe template {', '.join(templates)}); point the app at it with\n"
          f"  export O2O_WECHAT_API_BASE={base}\ncalls: {base}/_standin/calls", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def _settings() -> Settings:
    """The secrets the server uses. The simulator is only a client: the development-secrets
    warning is the server's to give, not repeated on every simulated message."""
    config_log = logging.getLogger("o2o.config")
    level = config_log.level
    config_log.setLevel(logging.ERROR)
    try:
        return get_settings()
    finally:
        config_log.setLevel(level)
